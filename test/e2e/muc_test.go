package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"
)

// TestMUC drives group chat with slixmpp: a members-only moderated room
// created and configured, refusals, nick conflict, history on join,
// subject, private messages, voice, kick and ban with their status
// codes, occupant-id across a nick change, the room archive paged with
// MAM, moderation, self-ping, mediated and direct invitations,
// destruction; then a room that survives a restart.
func TestMUC(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false"})
	const pw = "correct horse battery staple"
	for _, u := range []string{"mo", "mm", "mx", "md"} {
		s.AddUser(u, pw)
	}
	t.Run("rooms", func(t *testing.T) { s.slixMUC(t, "rooms", pw, "mo", "mm", "mx", "md") })
	t.Run("restart", func(t *testing.T) {
		s.slixMUC(t, "persist", pw, "mo", "mm")
		s.Restart()
		s.slixMUC(t, "persisted", pw, "mo", "mm", "mx")
	})
}

// slixMUC runs a scenario of interop/slix_muc.py.
func (s *Server) slixMUC(t *testing.T, scenario, password string, users ...string) {
	t.Helper()
	requireSlixmpp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"interop/slix_muc.py", scenario, "--port", Port(s.C2S), "--tls-port", Port(s.TLS),
		"--domain", s.Domain, "--ca", s.CA(), "--password", password, "--users"}
	args = append(args, users...)
	cmd := exec.CommandContext(ctx, python, args...)
	out, err := cmd.CombinedOutput()
	t.Logf("slixmpp %s:\n%s", scenario, out)
	if err != nil || !bytes.Contains(out, []byte("PASS "+scenario)) {
		t.Fatalf("slixmpp scenario %s failed: %v", scenario, err)
	}
}
