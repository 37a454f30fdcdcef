package e2e

import (
	"testing"
)

// TestMUC drives group chat with slixmpp: a members-only moderated room
// created and configured, refusals, nick conflict, history on join,
// subject, private messages, voice, kick and ban with their status
// codes, occupant-id across a nick change, the room archive paged with
// MAM, moderation, self-ping, mediated and direct invitations,
// destruction; registration with a room (XEP-0045 §7.10) and its
// reserved nick, and an owner's approval of a registration with a
// members-only room; then a room that survives a restart, and one whose
// only owner's account is removed, which the host's administrator gives
// a new owner.
func TestMUC(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false", Host: `admins = ["ma@localhost"]`})
	const pw = "correct horse battery staple"
	for _, u := range []string{"mo", "mm", "mx", "md", "mq", "ma"} {
		s.AddUser(u, pw)
	}
	t.Run("rooms", func(t *testing.T) { s.slixMUC(t, "rooms", pw, "mo", "mm", "mx", "md") })
	t.Run("register", func(t *testing.T) { s.slixMUC(t, "register", pw, "mo", "mm", "mx") })
	t.Run("approve", func(t *testing.T) { s.slixMUC(t, "approve", pw, "mo", "mx") })
	t.Run("restart", func(t *testing.T) {
		s.slixMUC(t, "persist", pw, "mo", "mm")
		s.Restart()
		s.slixMUC(t, "persisted", pw, "mo", "mm", "mx")
	})
	t.Run("orphan", func(t *testing.T) { s.slixMUC(t, "orphan", pw, "mq", "ma", "mx") })
}

// slixMUC runs a scenario of interop/slix_muc.py.
func (s *Server) slixMUC(t *testing.T, scenario, password string, users ...string) {
	t.Helper()
	s.slixScript(t, "interop/slix_muc.py", scenario, password, nil, users...)
}
