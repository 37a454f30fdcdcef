package e2e

import (
	"strings"
	"testing"
)

// TestInviteRegistration makes invitations with `samtal invite create`
// and registers with them from slixmpp on an invite-only server.
func TestInviteRegistration(t *testing.T) {
	s := StartServer(t, Options{Registration: "invite", Top: "sasl_channel_binding = false"})
	out, err := s.Run("", "invite", "create", "--ttl", "2h")
	if err != nil {
		t.Fatalf("samtal invite create: %v\n%s", err, out)
	}
	if !strings.Contains(out, "uri:     xmpp:localhost?register;preauth=") {
		t.Errorf("no XEP-0401 URI in %q", out)
	}
	tok1, tok2 := s.Invite(t), s.Invite(t)
	s.SlixWith(t, []string{"--expect", tok1 + "," + tok2}, "invite", "correct horse battery staple", "invitee", "second")
}
