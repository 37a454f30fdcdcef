package e2e

import (
	"encoding/base64"
	"testing"
	"time"

	"samtal.org/samtal/internal/xmlstream"
)

// dialRawFrom is dialRaw from the loopback source address 127.0.0.n.
func dialRawFrom(t *testing.T, n int, addr string) *raw {
	t.Helper()
	c, err := dialFrom(n, addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, conn: c, r: xmlstream.NewReader(c, xmlstream.Limits{})}
}

// plainAttempt logs in with PLAIN on a new connection from 127.0.0.n and
// returns whether it succeeded and how long the answer took.
func plainAttempt(t *testing.T, s *Server, n int, user, password string) (bool, time.Duration) {
	t.Helper()
	c := dialRawFrom(t, n, s.C2S)
	c.starttls("localhost")
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	start := time.Now()
	c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>")
	el := c.next()
	d := time.Since(start)
	c.conn.Close()
	return el.Local == "success", d
}

// TestAuthBackoffPerAccount guesses one account's password from
// different addresses: past auth_failures_per_account the answers to the
// guesses slow down wherever they come from, while the right password is
// still answered at once (a back-off, not a lockout) and other accounts
// are not slowed.
func TestAuthBackoffPerAccount(t *testing.T) {
	s := StartServer(t, Options{Limits: "auth_failures_per_ip = 1000\nauth_failures_per_account = 2"})
	s.AddUser("alice", "right-horse")
	s.AddUser("bob", "battery-staple")
	const fast = 800 * time.Millisecond
	for i := range 4 {
		ok, d := plainAttempt(t, s, 10+i, "alice", "wrong")
		if ok {
			t.Fatal("a wrong password succeeded")
		}
		switch {
		case i < 2 && d >= fast:
			t.Errorf("failure %d for alice took %v; only failures past the limit wait", i+1, d)
		case i >= 2 && d < time.Second:
			t.Errorf("failure %d for alice, from a new address, took %v, want at least 1s", i+1, d)
		}
	}
	if ok, d := plainAttempt(t, s, 20, "bob", "wrong"); ok || d >= fast {
		t.Errorf("bob's first failure: success %v after %v; another account must not wait", ok, d)
	}
	if ok, d := plainAttempt(t, s, 21, "alice", "right-horse"); !ok || d >= fast {
		t.Errorf("alice with her password: success %v after %v, want success at once", ok, d)
	}
	// The success forgot alice's failures.
	if ok, d := plainAttempt(t, s, 22, "alice", "wrong"); ok || d >= fast {
		t.Errorf("alice's first failure after a login: success %v after %v, want a quick failure", ok, d)
	}
}
