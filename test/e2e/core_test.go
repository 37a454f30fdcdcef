package e2e

import (
	"testing"
)

// TestSlixmpp drives the core server with slixmpp: every SASL mechanism
// it has, registration and removal, the subscription handshake, message
// routing, offline delivery and blocking.
func TestSlixmpp(t *testing.T) {
	// slixmpp 1.8 binds with tls-unique, which TLS 1.3 does not have:
	// it can use SCRAM only from a server that offers no -PLUS.
	s := StartServer(t, Options{Registration: "open", Top: "sasl_channel_binding = false"})
	const pw = "correct horse battery staple"
	for _, u := range []string{"mech", "ra", "rb", "ma", "mb", "oa", "ob", "ba", "bb", "sa", "sb"} {
		s.AddUser(u, pw)
	}
	t.Run("mechanisms", func(t *testing.T) { s.Slix(t, "mechanisms", pw, "mech") })
	t.Run("register", func(t *testing.T) { s.Slix(t, "register", pw, "newcomer") })
	t.Run("roster", func(t *testing.T) { s.Slix(t, "roster", pw, "ra", "rb") })
	t.Run("messages", func(t *testing.T) { s.Slix(t, "messages", pw, "ma", "mb") })
	t.Run("offline", func(t *testing.T) { s.Slix(t, "offline", pw, "oa", "ob") })
	t.Run("blocking", func(t *testing.T) { s.Slix(t, "blocking", pw, "ba", "bb") })
	t.Run("services", func(t *testing.T) { s.Slix(t, "services", pw, "sa", "sb") })
}

// TestRosterVersioning checks roster versioning (RFC 6121 §2.6) with
// slixmpp.
func TestRosterVersioning(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false"})
	const pw = "correct horse battery staple"
	s.AddUser("va", pw)
	s.AddUser("vb", pw)
	s.Slix(t, "rosterver", pw, "va", "vb")
}
