package e2e

import "testing"

// TestComponent connects slixmpp's ComponentXMPP as an external component
// (XEP-0114) for bot.localhost, the domain the harness configures.
func TestComponent(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false"})
	const pw = "correct horse battery staple"
	s.AddUser("alice", pw)
	s.SlixWith(t, []string{"--comp-port", Port(s.Comp), "--component", "bot.localhost", "--secret", "component-secret"}, "component", pw, "alice")
}
