package e2e

import (
	"testing"
)

// TestStreamManagementSlixmpp cuts the TCP connection of a slixmpp client
// with stream management (XEP-0198) while 50 messages are in flight:
// resumed, it gets each exactly once; not resumed within the window, its
// next session gets them from offline storage, exactly once.
func TestStreamManagementSlixmpp(t *testing.T) {
	s := StartServer(t, Options{
		Top:   "sasl_channel_binding = false",
		Extra: "[stream]\nresume_window = \"3s\"\n",
	})
	const pw = "stream management"
	for _, u := range []string{"sa", "sb", "oa", "ob"} {
		s.AddUser(u, pw)
	}
	t.Run("resume", func(t *testing.T) { s.SlixWith(t, []string{"--window", "3"}, "sm_resume", pw, "sa", "sb") })
	t.Run("offline", func(t *testing.T) { s.SlixWith(t, []string{"--window", "3"}, "sm_offline", pw, "oa", "ob") })
}

// TestCSISlixmpp checks client state indication (XEP-0352) with slixmpp:
// presence is held while inactive and flushed before a message.
func TestCSISlixmpp(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false"})
	const pw = "client state"
	s.AddUser("ca", pw)
	s.AddUser("cb", pw)
	s.Slix(t, "csi", pw, "ca", "cb")
}
