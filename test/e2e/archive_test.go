package e2e

import (
	"strings"
	"testing"
)

// TestArchive drives the message archive (XEP-0313, XEP-0441), carbons
// (XEP-0280), push notifications (XEP-0357, with an app server double
// connected as an XEP-0114 component) and the command that empties an
// archive (XEP-0050) with slixmpp.
func TestArchive(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false", Limits: "stanza_rate = 400"})
	const pw = "correct horse battery staple"
	for _, u := range []string{"ca", "cb", "pa", "pb", "pc", "fa", "fb", "ea", "eb", "qa", "qb"} {
		s.AddUser(u, pw)
	}
	t.Run("carbons", func(t *testing.T) { s.Slix(t, "carbons", pw, "ca", "cb") })
	t.Run("paging", func(t *testing.T) { s.Slix(t, "mam_paging", pw, "pa", "pb", "pc") })
	t.Run("prefs", func(t *testing.T) { s.Slix(t, "mam_prefs", pw, "fa", "fb") })
	t.Run("empty", func(t *testing.T) { s.Slix(t, "mam_empty", pw, "ea", "eb") })
	t.Run("push", func(t *testing.T) { s.Slix(t, "push", pw, "qa", "qb") })
	// Privacy: nothing of the messages reached the log at debug level
	// either, save what the debug level may hold (addresses).
	for _, secret := range []string{"Wherefore art thou", "s3cr3t-token", "msg 100"} {
		if strings.Contains(s.Output(), secret) {
			t.Errorf("the server log contains %q", secret)
		}
	}
}
