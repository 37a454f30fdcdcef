package e2e

import (
	"strings"
	"testing"
)

// TestLogsKeepNoPersonalData runs a server at the default log level
// through logins, registration, roster, messages, offline storage,
// failed logins and stream errors, and scans what it printed after its
// start-up banner for the users' JIDs and localparts, the client
// address and the message bodies: none may be there. At debug level the
// server says at once that its log may hold them.
func TestLogsKeepNoPersonalData(t *testing.T) {
	s := StartServer(t, Options{LogLevel: "info", Registration: "open", Top: "sasl_channel_binding = false"})
	const pw = "pw-privacy"
	users := []string{"privacyann", "privacybob"}
	for _, u := range users {
		s.AddUser(u, pw)
	}
	s.Slix(t, "register", pw, "privacynew")
	s.Slix(t, "roster", pw, users...)
	s.Slix(t, "messages", pw, users...)
	s.Slix(t, "offline", pw, users...)
	s.Slix(t, "blocking", pw, users...)
	if ok, _ := plainAttempt(t, s, 1, "privacyann", "wrong password"); ok {
		t.Fatal("a wrong password succeeded")
	}
	if ok, _ := plainAttempt(t, s, 1, "privacynobody", "wrong password"); ok {
		t.Fatal("an unknown user logged in")
	}
	c := dialRaw(t, s.C2S)
	c.login("localhost", "privacyann", pw)
	c.send("<message to='privacybob@localhost'><body>secret words in a flood</body></message><iq type='get' id='x'><bogus/></iq><garbage/>")
	c.streamError()
	s.Stop()

	out := s.Output()
	_, logs, ok := strings.Cut(out, "create the first account with:")
	if !ok {
		t.Fatalf("no start-up banner in:\n%s", out)
	}
	if _, rest, ok := strings.Cut(logs, "\n"); ok {
		logs = rest // the banner's own line
	}
	t.Logf("the log after start-up:\n%s", logs)
	if !strings.Contains(logs, "account created") {
		t.Errorf("the scenario left no trace in the log, so the scan proves nothing")
	}
	for _, secret := range []string{
		"privacyann", "privacybob", "privacynew", "privacynobody", "127.0.0.1",
		"to the bare JID", "to the full JID", "offline 0", "secret words", pw,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log at info level contains %q:\n%s", secret, logs)
		}
	}
	if strings.Contains(out, "debug logging is on") {
		t.Error("the info level warns of debug logging")
	}

	d := StartServer(t, Options{})
	d.Stop()
	if !strings.Contains(d.Output(), "debug logging is on: the log may contain IP addresses and JIDs") {
		t.Errorf("debug logging starts without a warning:\n%s", d.Output())
	}
}
