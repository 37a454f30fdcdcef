package e2e

import (
	"testing"
)

// TestPEP drives PEP with slixmpp: OMEMO device lists and bundles of both
// namespaces with publish-options, +notify delivery through entity
// capabilities, the last item on presence, preconditions, access models,
// bookmarks in step between private storage and XEP-0402, vCard
// avatars published as XEP-0084, and explicit subscriptions.
func TestPEP(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false"})
	const pw = "correct horse battery staple"
	for _, u := range []string{"pa", "pb", "pc", "bk", "bx", "ea", "eb", "sa", "sb"} {
		s.AddUser(u, pw)
	}
	t.Run("omemo", func(t *testing.T) { s.slixPEP(t, "omemo", pw, "pa", "pb", "pc") })
	t.Run("bookmarks", func(t *testing.T) { s.slixPEP(t, "bookmarks", pw, "bk", "bx") })
	t.Run("avatar", func(t *testing.T) { s.slixPEP(t, "avatar", pw, "ea", "eb") })
	t.Run("subscribe", func(t *testing.T) { s.slixPEP(t, "subscribe", pw, "sa", "sb") })
}

// slixPEP runs a scenario of interop/slix_pep.py.
func (s *Server) slixPEP(t *testing.T, scenario, password string, users ...string) {
	t.Helper()
	s.slixScript(t, "interop/slix_pep.py", scenario, password, nil, users...)
}
