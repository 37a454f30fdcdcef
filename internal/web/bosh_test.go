package web

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
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

// boshRequestBody returns the body of a request of session sid.
func boshRequestBody(sid string, rid int, attrs, payload string) []byte {
	return []byte("<body xmlns='http://jabber.org/protocol/httpbind' sid='" + sid + "' rid='" + strconv.Itoa(rid) + "'" + attrs + ">" + payload + "</body>")
}

// boshCreate is a session creation request with rid 1000; hold='0'
// answers every request at once (XEP-0124 §10).
func boshCreate(hold string) []byte {
	return []byte("<body xmlns='http://jabber.org/protocol/httpbind' rid='1000' to='example.org' hold='" + hold + "' wait='60' ver='1.6'/>")
}

// TestBOSHRepeatedHeldRequest: a request sent again while its first copy
// is held (that connection broke without the server noticing) takes the
// first copy's place: the first copy gets a recoverable binding
// condition, and the session goes on (XEP-0124 §14.3).
func TestBOSHRepeatedHeldRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newBOSHRun(t, fuzzBOSH)
		sid := r.post(boshCreate("1")).body().Attr("sid")
		first := r.post(boshRequestBody(sid, 1001, "", ""))
		if b := first.body(); b != nil {
			t.Fatalf("an empty request was answered at once: %v", b)
		}
		again := r.post(boshRequestBody(sid, 1001, "", ""))
		if b := first.body(); b == nil || b.Attr("type") != "error" {
			t.Errorf("first copy answered %v, want a recoverable binding condition", b)
		}
		if b := again.body(); b != nil {
			t.Fatalf("second copy answered %v, want it held as the first was", b)
		}
		// The next request lets the held one go (§11), and the echo
		// goes with it.
		next := r.post(boshRequestBody(sid, 1002, "", "<message xmlns='jabber:client'><body>hi</body></message>"))
		if b := again.body(); b == nil || b.HasAttr("type") {
			t.Errorf("second copy answered %v, want an answer of the session", b)
		}
		if b := next.body(); b == nil || b.HasAttr("type") || b.FirstElement() == nil {
			t.Errorf("next request answered %v, want the echo", b)
		}
		if n := r.sessions(); n != 1 {
			t.Errorf("%d sessions, want the one going on", n)
		}
	})
}

// TestBOSHTerminateFreesSession: the client's termination is
// acknowledged with type='terminate' and no condition (an empty one is
// none of XEP-0124 §17.2), and the session is forgotten at once, not
// after the inactivity period: a new one fits under MaxSessions. At the
// limit, creation fails with a condition of §17.2.
func TestBOSHTerminateFreesSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fuzzBOSH
		cfg.BOSH.MaxSessions = 1
		r := newBOSHRun(t, cfg)
		sid := r.post(boshCreate("1")).body().Attr("sid")
		if b := r.post(boshCreate("1")).body(); b.Attr("type") != "terminate" || b.Attr("condition") != "internal-server-error" {
			t.Errorf("creation past the limit answered %v, want internal-server-error", b)
		}
		b := r.post(boshRequestBody(sid, 1001, " type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>")).body()
		if b.Attr("type") != "terminate" || b.HasAttr("condition") {
			t.Errorf("termination answered %v, want type='terminate' without a condition", b)
		}
		if n := r.sessions(); n != 0 {
			t.Errorf("%d sessions kept after the client terminated", n)
		}
		if b := r.post(boshCreate("1")).body(); b.HasAttr("type") || b.Attr("sid") == "" {
			t.Errorf("creation after the termination answered %v", b)
		}
	})
}

// TestBOSHTerminalConditionEndsSession: a terminal binding condition
// answering a request of a session ends that session (XEP-0124 §17.2):
// a repeated request the session answered before then finds no session,
// where it would have found its kept answer.
func TestBOSHTerminalConditionEndsSession(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rids  []int  // answered, then the one that gets the condition
		bad   []byte // or this request gets it
		cond  string
		again int // a rid answered before the condition
	}{
		{"rid far ahead", []int{1001, 1050}, nil, "item-not-found", 1001},
		{"answer no longer kept", []int{1001, 1002, 1003, 1004, 1005, 1006, 1001}, nil, "item-not-found", 1006},
		{"bad rid", []int{1001, 1002}, []byte("<body xmlns='http://jabber.org/protocol/httpbind' sid='SID' rid='x'/>"), "bad-request", 1002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newBOSHRun(t, fuzzBOSH)
				sid := r.post(boshCreate("0")).body().Attr("sid")
				var last *xmlel.Element
				for _, rid := range tc.rids {
					last = r.post(boshRequestBody(sid, rid, "", "")).body()
				}
				if tc.bad != nil {
					last = r.post(bytes.ReplaceAll(tc.bad, []byte("SID"), []byte(sid))).body()
				}
				if last.Attr("type") != "terminate" || last.Attr("condition") != tc.cond {
					t.Fatalf("answer %v, want %s", last, tc.cond)
				}
				if n := r.sessions(); n != 0 {
					t.Errorf("%d sessions kept after a terminal condition", n)
				}
				if b := r.post(boshRequestBody(sid, tc.again, "", "")).body(); b.Attr("condition") != "item-not-found" {
					t.Errorf("a repeated request after the session's end answered %v, want item-not-found", b)
				}
			})
		})
	}
}

// TestBOSHRemoteStreamError: a stream error of the stream code comes in
// the answer that ends the session, with remote-stream-error (XEP-0206
// §6), also when a request is held as it comes: that request gets it,
// not an ordinary answer followed by a bare termination.
func TestBOSHRemoteStreamError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newBOSHRun(t, fuzzBOSH)
		sid := r.post(boshCreate("1")).body().Attr("sid")
		// A restart before SASL: the stream code reads a second header
		// and answers <restricted-xml/>.
		b := r.post(boshRequestBody(sid, 1001, " xmlns:xmpp='urn:xmpp:xbosh' xmpp:restart='true'", "")).body()
		if b == nil || b.Attr("type") != "terminate" || b.Attr("condition") != "remote-stream-error" || b.Child("http://etherx.jabber.org/streams", "error") == nil {
			t.Errorf("answer %v, want the stream error with remote-stream-error", b)
		}
		if n := r.sessions(); n != 0 {
			t.Errorf("%d sessions kept after the stream error", n)
		}
	})
}
