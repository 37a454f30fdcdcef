package web

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

type boshClient struct {
	t   *testing.T
	ts  *httptest.Server
	sid string
	rid int64
}

func (c *boshClient) post(body string) *xmlel.Element {
	c.t.Helper()
	resp, err := http.Post(c.ts.URL+"/http-bind", "text/xml; charset=utf-8", strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	el, err := xmlstream.Parse(b, xmlstream.Limits{})
	if err != nil || !el.Is(NSHTTPBind, "body") {
		c.t.Fatalf("answer %q: %v", b, err)
	}
	return el
}

// send posts a body with the next rid and the given attributes and
// payload.
func (c *boshClient) send(attrs, payload string) *xmlel.Element {
	c.t.Helper()
	c.rid++
	return c.post("<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' sid='" + c.sid + "' rid='" + strconv.FormatInt(c.rid, 10) + "' " + attrs + ">" + payload + "</body>")
}

func startBOSH(t *testing.T, ts *httptest.Server) (*boshClient, *xmlel.Element) {
	c := &boshClient{t: t, ts: ts, rid: 1000}
	resp := c.post("<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' content='text/xml; charset=utf-8' hold='1' rid='1000' to='example.org' ver='1.6' wait='60' ack='1' xml:lang='en' xmpp:version='1.0'/>")
	c.sid = resp.Attr("sid")
	return c, resp
}

// TestBOSHSession follows XEP-0206: session creation with the features,
// SASL, restart, a stanza each way, retransmission, termination.
func TestBOSHSession(t *testing.T) {
	ts := newTestServer(t, Config{})
	c, resp := startBOSH(t, ts)
	if len(c.sid) < 32 {
		t.Fatalf("sid %q is too short to be a secret", c.sid)
	}
	for attr, want := range map[string]string{"from": "example.org", "authid": "s1", "hold": "1", "requests": "2", "ver": "1.6", "ack": "1000", "wait": "2"} {
		if got := resp.Attr(attr); got != want {
			t.Errorf("creation %s = %q, want %q", attr, got, want)
		}
	}
	if attrNS(resp, NSXBOSH, "version") != "1.0" || attrNS(resp, NSXBOSH, "restartlogic") != "true" {
		t.Errorf("creation lacks xmpp:version or xmpp:restartlogic: %v", resp)
	}
	if f := resp.FirstElement(); f == nil || f.Local != "features" || f.Space != "http://etherx.jabber.org/streams" {
		t.Fatalf("creation answer has no features: %v", resp)
	}
	resp = c.send("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>")
	if f := resp.FirstElement(); f == nil || f.Local != "success" {
		t.Fatalf("auth answer: %v", resp)
	}
	resp = c.send("xmpp:restart='true' xml:lang='en'", "")
	if f := resp.FirstElement(); f == nil || f.Local != "features" || f.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind") == nil {
		t.Fatalf("restart answer: %v", resp)
	}
	// A stanza goes in; the fake stream echoes it into the next answer.
	resp = c.send("", "<message xmlns='jabber:client' to='a@example.org'><body>hi</body></message>")
	if resp.FirstElement() == nil {
		resp = c.send("", "")
	}
	if m := resp.FirstElement(); m == nil || m.Local != "message" || m.Space != "" || m.ChildText("", "body") != "hi" {
		t.Fatalf("echo: %v", resp)
	}
	// XEP-0124 §14.3: a repeated request gets the same answer.
	again := c.post("<body xmlns='http://jabber.org/protocol/httpbind' sid='" + c.sid + "' rid='" + strconv.FormatInt(c.rid, 10) + "'/>")
	if again.String() != resp.String() {
		t.Errorf("retransmission = %v, want %v", again, resp)
	}
	// An empty request is held until 'wait' runs out.
	start := time.Now()
	resp = c.send("", "")
	if d := time.Since(start); d < time.Second || resp.FirstElement() != nil {
		t.Errorf("empty request answered after %v with %v, want an empty answer after wait", d, resp)
	}
	resp = c.send("type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>")
	if resp.Attr("type") != "terminate" {
		t.Errorf("terminate answer: %v", resp)
	}
	resp = c.send("", "")
	if resp.Attr("type") != "terminate" {
		t.Errorf("after terminate: %v", resp)
	}
}

func TestBOSHErrors(t *testing.T) {
	ts := newTestServer(t, Config{})
	for _, tc := range []struct{ name, body, cond string }{
		{"unknown sid", "<body xmlns='http://jabber.org/protocol/httpbind' sid='nope' rid='5'/>", "item-not-found"},
		{"no to", "<body xmlns='http://jabber.org/protocol/httpbind' rid='5'/>", "improper-addressing"},
		{"bad rid", "<body xmlns='http://jabber.org/protocol/httpbind' rid='x' to='example.org'/>", "bad-request"},
		{"not a body", "<iq xmlns='jabber:client'/>", "bad-request"},
		{"not XML", "<body", "bad-request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &boshClient{t: t, ts: ts}
			resp := c.post(tc.body)
			if resp.Attr("type") != "terminate" || resp.Attr("condition") != tc.cond {
				t.Errorf("answer %v, want terminate %s", resp, tc.cond)
			}
		})
	}
	t.Run("rid far ahead", func(t *testing.T) {
		c, _ := startBOSH(t, ts)
		c.rid += 50
		if resp := c.send("", ""); resp.Attr("condition") != "item-not-found" {
			t.Errorf("answer %v, want item-not-found", resp)
		}
	})
	t.Run("foreign origin", func(t *testing.T) {
		req, _ := http.NewRequest("POST", ts.URL+"/http-bind", strings.NewReader("<body/>"))
		req.Header.Set("Origin", "https://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("status %d, want 403", resp.StatusCode)
		}
	})
}

// TestBOSHOutOfOrder: requests are processed in rid order even when they
// arrive out of it (XEP-0124 §14.1).
func TestBOSHOutOfOrder(t *testing.T) {
	ts := newTestServer(t, Config{})
	c, _ := startBOSH(t, ts)
	c.send("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>")
	c.send("xmpp:restart='true'", "")
	base := c.rid
	body := func(rid int64, text string) string {
		return "<body xmlns='http://jabber.org/protocol/httpbind' sid='" + c.sid + "' rid='" + strconv.FormatInt(rid, 10) + "'><message xmlns='jabber:client'><body>" + text + "</body></message></body>"
	}
	done := make(chan *xmlel.Element, 1)
	go func() { done <- c.post(body(base+2, "second")) }()
	time.Sleep(200 * time.Millisecond)
	first := c.post(body(base+1, "first"))
	second := <-done
	var got []string
	answers := []*xmlel.Element{first, second}
	c.rid = base + 2
	for i := 0; len(got) < 2 && i < 4; i++ {
		for _, r := range answers {
			for _, m := range r.Elements() {
				got = append(got, m.ChildText("", "body"))
			}
		}
		answers = []*xmlel.Element{c.send("", "")}
	}
	if strings.Join(got, ",") != "first,second" {
		t.Errorf("echoed %v, want first,second", got)
	}
}

func TestBOSHVersion(t *testing.T) {
	for in, want := range map[string]string{"1.6": "1.6", "1.11": "1.11", "1.12": "1.11", "2.0": "1.11", "": "1.11", "x": "1.11", "1.10": "1.10"} {
		if got := boshVersion(in); got != want {
			t.Errorf("boshVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBOSHInactivity: a session whose client stops asking ends
// (XEP-0124 §12), and a later request finds no session.
func TestBOSHInactivity(t *testing.T) {
	ended := make(chan struct{})
	ts := newTestServer(t, Config{
		BOSH: BOSHConfig{Inactivity: time.Second},
		ServeXMPP: func(c net.Conn) {
			fakeStream(c)
			close(ended)
		},
	})
	c, _ := startBOSH(t, ts)
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end after the inactivity period")
	}
	if resp := c.send("", ""); resp.Attr("condition") != "item-not-found" {
		t.Errorf("request after the session ended: %v, want item-not-found", resp)
	}
}
