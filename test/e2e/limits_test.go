package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strings"
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

// TestReadRate sends 80 KB of white space (allowed between stanzas)
// and then a ping: with read_rate 16 KB/s and a burst of 16 KB the
// answer cannot come before about four seconds.
func TestReadRate(t *testing.T) {
	s := StartServer(t, Options{Limits: "read_rate = 16384\nread_burst = 16384"})
	s.AddUser("reader", "pw-r")
	c := dialRaw(t, s.C2S)
	c.login("localhost", "reader", "pw-r")
	start := time.Now()
	c.send(strings.Repeat(" ", 80<<10) + "<iq type='get' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>")
	for {
		if el := c.next(); el.Attr("id") == "ping1" {
			break
		}
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("80 KB read in %v at 16 KB/s with a 16 KB burst, want about 4s", d)
	} else {
		t.Logf("80 KB read in %v", d)
	}
}

// TestStanzaRate sends 100 pings at once: with stanza_rate 20 (burst
// 40) the last answer cannot come before about three seconds, and every
// ping is answered (a flood slows the flooder, it is not dropped).
func TestStanzaRate(t *testing.T) {
	s := StartServer(t, Options{Limits: "stanza_rate = 20"})
	s.AddUser("pinger", "pw-p")
	c := dialRaw(t, s.C2S)
	c.login("localhost", "pinger", "pw-p")
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "<iq type='get' id='p%d'><ping xmlns='urn:xmpp:ping'/></iq>", i)
	}
	start := time.Now()
	c.send(b.String())
	for n := 0; n < 100; {
		if el := c.next(); el.Local == "iq" && el.Attr("type") == "result" {
			n++
		}
	}
	if d := time.Since(start); d < 2500*time.Millisecond {
		t.Errorf("100 stanzas handled in %v at 20/s with a burst of 40, want about 3s", d)
	} else {
		t.Logf("100 stanzas handled in %v", d)
	}
}

// TestUnauthTotal opens connections from several addresses: past
// unauth_total in all, further ones are refused with policy-violation,
// whatever their address.
func TestUnauthTotal(t *testing.T) {
	s := StartServer(t, Options{Limits: "unauth_per_ip = 5\nunauth_total = 8"})
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	accepted, refused := 0, 0
	for i := range 12 {
		c, err := dialFrom(40+i/4, s.C2S)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		_, _ = io.WriteString(c, streamHeader)
		// Read until the features or the error: held connections must
		// stay well within auth_timeout.
		var got []byte
		buf := make([]byte, 4096)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for !bytes.Contains(got, []byte("</stream:features>")) && !bytes.Contains(got, []byte("</stream:error>")) {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		switch {
		case bytes.Contains(got, []byte("policy-violation")):
			refused++
		case bytes.Contains(got, []byte("</stream:features>")):
			accepted++
		default:
			t.Errorf("connection %d got %q", i, got)
		}
	}
	if accepted != 8 || refused != 4 {
		t.Errorf("%d accepted and %d refused, want 8 and 4", accepted, refused)
	}
}

// TestAuthBackoffPerIP fails to log in from one address, to different
// accounts: past auth_failures_per_ip the answers slow down.
func TestAuthBackoffPerIP(t *testing.T) {
	s := StartServer(t, Options{Limits: "auth_failures_per_ip = 2\nauth_failures_per_account = 1000"})
	for i := range 4 {
		ok, d := plainAttempt(t, s, 50, fmt.Sprintf("nobody%d", i), "wrong")
		if ok {
			t.Fatal("a login with a made-up account succeeded")
		}
		switch {
		case i < 2 && d >= 800*time.Millisecond:
			t.Errorf("failure %d took %v; only failures past the limit wait", i+1, d)
		case i >= 2 && d < time.Second:
			t.Errorf("failure %d from the same address took %v, want at least 1s", i+1, d)
		}
	}
	if ok, d := plainAttempt(t, s, 51, "nobody9", "wrong"); ok || d >= 800*time.Millisecond {
		t.Errorf("a failure from another address: success %v after %v, want a quick failure", ok, d)
	}
}

// TestSessionsPerAccount binds one resource more than
// sessions_per_account allows: the bind fails with resource-constraint.
func TestSessionsPerAccount(t *testing.T) {
	s := StartServer(t, Options{Limits: "sessions_per_account = 2"})
	s.AddUser("many", "pw-m")
	for range 2 {
		c := dialRaw(t, s.C2S)
		c.login("localhost", "many", "pw-m")
	}
	c := dialRaw(t, s.C2S)
	c.starttls("localhost")
	c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00many\x00pw-m")) + "</auth>")
	if el := c.next(); el.Local != "success" {
		t.Fatalf("auth: %v", el)
	}
	c.r.Reset(c.conn)
	c.open("localhost")
	c.next()
	c.send("<iq type='set' id='b3'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
	el := c.next()
	if el.Attr("type") != "error" || el.Child("", "error").Child("urn:ietf:params:xml:ns:xmpp-stanzas", "resource-constraint") == nil {
		t.Errorf("a third bind with sessions_per_account = 2: %v, want resource-constraint", el)
	}
}
