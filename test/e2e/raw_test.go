package e2e

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// raw is a hand-driven client connection for checks of exact wire
// behaviour that a client library would hide.
type raw struct {
	t    *testing.T
	conn net.Conn
	r    *xmlstream.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, conn: c, r: xmlstream.NewReader(c, xmlstream.Limits{})}
}

func (c *raw) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *raw) open(to string) {
	c.t.Helper()
	c.send(fmt.Sprintf("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>", to))
	if _, err := c.r.Header(); err != nil {
		c.t.Fatalf("stream header: %v", err)
	}
}

func (c *raw) next() *xmlel.Element {
	c.t.Helper()
	el, err := c.r.Next()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return el
}

// streamError reads until a stream error and returns its condition.
func (c *raw) streamError() string {
	c.t.Helper()
	for {
		el, err := c.r.Next()
		if err != nil {
			c.t.Fatalf("no stream error before %v", err)
		}
		if el.Is("http://etherx.jabber.org/streams", "error") {
			for _, ch := range el.Elements() {
				if ch.Local != "text" {
					return ch.Local
				}
			}
		}
	}
}

// auth negotiates STARTTLS and authenticates with PLAIN, and returns the
// server's answer: <success/> or <failure/>.
func (c *raw) auth(domain, user, password string) *xmlel.Element {
	c.t.Helper()
	c.starttls(domain)
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>")
	return c.next()
}

// login negotiates STARTTLS, SASL PLAIN and a resource.
func (c *raw) login(domain, user, password string) string {
	c.t.Helper()
	if el := c.auth(domain, user, password); el.Local != "success" {
		c.t.Fatalf("auth: %v", el)
	}
	c.r.Reset(c.conn)
	c.open(domain)
	c.next()
	c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
	el := c.next()
	full := el.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind").ChildText("urn:ietf:params:xml:ns:xmpp-bind", "jid")
	if full == "" {
		c.t.Fatalf("bind: %v", el)
	}
	return full
}

func TestStreamErrors(t *testing.T) {
	s := StartServer(t, Options{Limits: "max_stanza_bytes = 65536"})
	header := "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
	cases := []struct {
		name, input, want string
	}{
		{"not well-formed", header + "<message><body></message>", "not-well-formed"},
		{"comment", header + "<!-- hello -->", "restricted-xml"},
		{"processing instruction", header + "<?foo bar?>", "restricted-xml"},
		{"doctype", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>", "restricted-xml"},
		{"entity reference", header + "<message><body>&foo;</body></message>", "restricted-xml"},
		{"content namespace", strings.Replace(header, "jabber:client", "jabber:server", 1), "invalid-namespace"},
		{"stream namespace", strings.Replace(header, "http://etherx.jabber.org/streams", "urn:wrong", 1), "invalid-namespace"},
		{"unknown host", strings.Replace(header, "to='localhost'", "to='elsewhere.example'", 1), "host-unknown"},
		{"no version", strings.Replace(header, "to='localhost' version='1.0'", "to='localhost'", 1), "unsupported-version"},
		{"oversized stanza", header + "<message><body>" + strings.Repeat("x", 70000) + "</body></message>", "policy-violation"},
		{"stanza before auth", header + "<message to='a@localhost'><body>hi</body></message>", "not-authorized"},
		{"undeclared prefix", header + "<foo:bar/>", "bad-namespace-prefix"},
		{"invalid utf-8", header + "<message><body>\xff\xfe</body></message>", "unsupported-encoding"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, s.C2S)
			c.send(tc.input)
			// The server answers with its own header first (RFC 6120
			// §4.9.1.2), then the error.
			if _, err := c.r.Header(); err != nil {
				t.Fatalf("no stream header: %v", err)
			}
			if got := c.streamError(); got != tc.want {
				t.Errorf("stream error = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestStanzaErrorsAfterLogin(t *testing.T) {
	s := StartServer(t, Options{})
	s.AddUser("alice", "secret-a")
	s.AddUser("mallory", "secret-m")
	c := dialRaw(t, s.C2S)
	c.login("localhost", "alice", "secret-a")

	// An unknown namespace gets service-unavailable with the request's id.
	c.send("<iq type='get' id='q1' to='localhost'><query xmlns='urn:example:unknown'/></iq>")
	el := c.next()
	if el.Attr("type") != "error" || el.Attr("id") != "q1" || el.Child("", "error").Child("urn:ietf:params:xml:ns:xmpp-stanzas", "service-unavailable") == nil {
		t.Errorf("unknown namespace: %v", el)
	}
	// Legacy session establishment succeeds, with or without 'to'
	// (RFC 3921 §3 addresses it to the host).
	for _, to := range []string{"", " to='localhost'"} {
		c.send("<iq type='set' id='sess'" + to + "><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
		if el := c.next(); el.Attr("type") != "result" || el.Attr("id") != "sess" {
			t.Errorf("session establishment%s: %v", to, el)
		}
	}
	// A malformed 'to' gets jid-malformed.
	c.send("<message to='a@b@c' id='m1'><body>x</body></message>")
	el = c.next()
	if el.Attr("id") != "m1" || el.Child("", "error").Child("urn:ietf:params:xml:ns:xmpp-stanzas", "jid-malformed") == nil {
		t.Errorf("malformed to: %v", el)
	}
	// An iq get with two payloads is a bad request.
	c.send("<iq type='get' id='q2' to='localhost'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>")
	el = c.next()
	if el.Attr("id") != "q2" || el.Child("", "error").Child("urn:ietf:params:xml:ns:xmpp-stanzas", "bad-request") == nil {
		t.Errorf("two payloads: %v", el)
	}
	// Claiming someone else's address ends the stream (RFC 6120 §8.1.2.1).
	c.send("<message from='mallory@localhost' to='alice@localhost'><body>spoof</body></message>")
	if got := c.streamError(); got != "invalid-from" {
		t.Errorf("spoofed from: stream error %s, want invalid-from", got)
	}
}
