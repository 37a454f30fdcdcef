package e2e

import "testing"

// TestReports blocks and reports a spammer from slixmpp (XEP-0377 on
// XEP-0191), as a client's "block and report" does, and checks what the
// host's administrators receive, online and offline.
func TestReports(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false", Host: `admins = ["admin@localhost", "root@localhost"]`})
	const pw = "report-secret"
	for _, u := range []string{"admin", "root", "alice", "mallory"} {
		s.AddUser(u, pw)
	}
	s.slixScript(t, "interop/slix_report.py", "report", pw, nil, "admin", "root", "alice", "mallory")
}
