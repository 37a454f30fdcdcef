package c2s

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// testClient is a raw client stream over TCP and TLS.
type testClient struct {
	t    *testing.T
	conn net.Conn
	w    io.Writer
	r    *xmlstream.Reader
}

func dialTLS(t *testing.T, addr string) *testClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := &testClient{t: t, conn: conn, w: conn, r: xmlstream.NewReader(conn, xmlstream.Limits{})}
	c.open()
	fmt.Fprint(c.w, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	c.next()
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: "example.org"})
	c.w = tc
	c.r.Reset(tc)
	c.open()
	return c
}

func (c *testClient) open() *xmlel.Element {
	c.t.Helper()
	fmt.Fprint(c.w, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>")
	if _, err := c.r.Header(); err != nil {
		c.t.Fatal(err)
	}
	return c.next()
}

func (c *testClient) next() *xmlel.Element {
	c.t.Helper()
	el, err := c.r.Next()
	if err != nil {
		c.t.Fatal(err)
	}
	return el
}

// authenticate logs in with SASL2 PLAIN and sends inner inside
// <authenticate/> (a Bind 2 request, a resumption).
func (c *testClient) authenticate(inner string) *xmlel.Element {
	c.t.Helper()
	fmt.Fprint(c.w, "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>"+
		base64.StdEncoding.EncodeToString([]byte("\x00juliet\x00secret"))+"</initial-response>"+inner+"</authenticate>")
	succ := c.next()
	if !succ.Is(nsSASL2, "success") {
		c.t.Fatalf("want <success/>: %v", succ)
	}
	return succ
}

// A bound client that falls quiet has its connection parked, with no
// goroutine of its session left; it is served again when it speaks, and
// a resumption from another connection (XEP-0198 §5) ends the parked
// connection with conflict at once, not at its idle time.
func TestParkedSession(t *testing.T) {
	svc, addr := listenJuliet(t, Config{ResumeWindow: time.Minute})
	closed := false
	t.Cleanup(func() {
		if !closed {
			svc.Close(context.Background())
		}
	})

	a := dialTLS(t, addr)
	succ := a.authenticate("<bind xmlns='urn:xmpp:bind:0'><tag>Test</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>")
	enabled := succ.Child(nsBind2, "bound").Child(nsSM, "enabled")
	if enabled == nil || enabled.Attr("id") == "" {
		t.Fatalf("want a resumable <enabled/>: %v", succ)
	}
	if f := a.next(); !f.Is(stream.NS, "features") {
		t.Fatalf("after <success/>: %v, want the stream features", f)
	}
	time.Sleep(quietAfter + time.Second)
	if n := sessionGoroutines(); n != 0 {
		t.Errorf("%d goroutines of a quiet session, want 0 (parked)", n)
	}

	// Speaking again resumes the session where it waited.
	fmt.Fprint(a.w, "<r xmlns='urn:xmpp:sm:3'/>")
	if el := a.next(); !el.Is(nsSM, "a") || el.Attr("h") != "0" {
		t.Fatalf("after the quiet, <r/> answered with %v, want <a h='0'/>", el)
	}
	time.Sleep(quietAfter + time.Second)

	// Another connection resumes the parked one's session.
	b := dialTLS(t, addr)
	succ = b.authenticate("<resume xmlns='urn:xmpp:sm:3' previd='" + enabled.Attr("id") + "' h='0'/>")
	if succ.Child(nsSM, "resumed") == nil {
		t.Fatalf("want <resumed/> in %v", succ)
	}
	el := a.next()
	if !el.Is(stream.NS, "error") || el.Child(stream.NSErrors, string(stream.Conflict)) == nil {
		t.Fatalf("parked connection got %v, want a conflict stream error", el)
	}
	if _, err := a.r.Next(); err == nil {
		t.Fatal("the parked connection stayed open after the conflict")
	}

	// Shutdown ends the parked new connection too, and waits for it.
	time.Sleep(quietAfter + time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	svc.Close(ctx)
	closed = true
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Close took %v with a parked session", d)
	}
	if n := svc.Sessions(); n != 0 {
		t.Errorf("%d sessions after Close, want 0", n)
	}
	if el := b.next(); !el.Is(stream.NS, "error") || el.Child(stream.NSErrors, string(stream.SystemShutdown)) == nil {
		t.Errorf("parked connection got %v at shutdown, want system-shutdown", el)
	}
}

// sessionGoroutines counts goroutines running a c2s session's code.
func sessionGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "c2s.(*Session)") {
			n++
		}
	}
	return n
}
