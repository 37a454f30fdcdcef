package e2e

import "testing"

// TestPubsub drives the publish-subscribe service at pubsub.DOMAIN
// (XEP-0060) with slixmpp, as Movim uses it for communities: creation
// with a configuration, subscription, notifications of Atom entries,
// retrieval (all, by ID, max_items, RSM pages), disco and metadata,
// affiliations, retraction, unsubscription, deletion, a whitelist node,
// and an authorize node whose owner approves and denies subscriptions.
func TestPubsub(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false"})
	const pw = "correct horse battery staple"
	for _, u := range []string{"alice", "bob", "wa", "wc", "za", "zc", "zd"} {
		s.AddUser(u, pw)
	}
	t.Run("community", func(t *testing.T) {
		s.slixScript(t, "interop/slix_pubsub.py", "community", pw, nil, "alice", "bob")
	})
	t.Run("whitelist", func(t *testing.T) {
		s.slixScript(t, "interop/slix_pubsub.py", "whitelist", pw, nil, "wa", "wc")
	})
	t.Run("authorize", func(t *testing.T) {
		s.slixScript(t, "interop/slix_pubsub.py", "authorize", pw, nil, "za", "zc", "zd")
	})
}
