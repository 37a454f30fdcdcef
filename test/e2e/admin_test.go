package e2e

import "testing"

// TestAdministration runs the service administration commands
// (XEP-0133) from slixmpp, as an administrator's XMPP client does.
func TestAdministration(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false", Host: `admins = ["root@localhost"]`})
	const pw = "admin-secret"
	for _, u := range []string{"root", "bob"} {
		s.AddUser(u, pw)
	}
	s.slixScript(t, "interop/slix_admin.py", "admin", pw, nil, "root", "bob", "newbie")
}
