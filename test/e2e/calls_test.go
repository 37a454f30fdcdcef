package e2e

import "testing"

// TestSlixmppCalls drives call signalling and file transfer with
// slixmpp: Jingle Message Initiation and a Jingle session between two
// users' devices, and a SOCKS5 bytestream through samtal's proxy.
func TestSlixmppCalls(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false"})
	const pw = "correct horse battery staple"
	for _, u := range []string{"romeo", "juliet", "sender", "receiver"} {
		s.AddUser(u, pw)
	}
	t.Run("jingle", func(t *testing.T) { s.Slix(t, "jingle", pw, "romeo", "juliet") })
	t.Run("bytestreams", func(t *testing.T) { s.Slix(t, "bytestreams", pw, "sender", "receiver") })
}
