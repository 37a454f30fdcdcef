package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coder/websocket"

	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// fakeStream is the stream code's side for the tests: it answers like
// c2s does, with SASL that always succeeds, and echoes stanzas.
func fakeStream(c net.Conn) { serveFake(c, xmlstream.Limits{}, nil) }

// serveFake is fakeStream reading within lim; badInput, unless nil, is
// told of input that is not a well-formed stream, which the fuzzers
// check the transports never pass on.
func serveFake(c net.Conn, lim xmlstream.Limits, badInput func(error)) {
	defer c.Close()
	r := xmlstream.NewReader(c, lim)
	authed := false
	for {
		hdr, err := r.Header()
		if err != nil {
			if _, ok := stream.FromParseError(err); ok && badInput != nil {
				badInput(err)
			}
			return
		}
		h := stream.Header{From: hdr.Attr("to"), ID: "s1", Lang: "en", ContentNS: xmlel.NSClient}
		f := xmlel.New(stream.NS, "features")
		if !authed {
			f.Append(xmlel.New(stream.NSSASL, "mechanisms").Append(xmlel.TextElement(stream.NSSASL, "mechanism", "PLAIN")))
		} else {
			f.Append(xmlel.New(stream.NSBind, "bind"))
		}
		c.Write(stream.AppendElement(h.Append(nil), f, xmlel.NSClient))
		for {
			el, err := r.Next()
			if errors.Is(err, io.EOF) {
				c.Write([]byte(stream.Close))
				return
			}
			if err != nil {
				if e, ok := stream.FromParseError(err); ok {
					if badInput != nil {
						badInput(err)
					}
					c.Write(stream.AppendElement(nil, e.Element(), xmlel.NSClient))
					c.Write([]byte(stream.Close))
				}
				return
			}
			if el.Is(stream.NSSASL, "auth") {
				authed = true
				c.Write(xmlel.New(stream.NSSASL, "success").AppendXML(nil, xmlel.NSClient))
				r.Reset(c)
				break
			}
			c.Write(el.AppendXML(nil, xmlel.NSClient))
		}
	}
}

func newTestServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	if cfg.ServeXMPP == nil {
		cfg.ServeXMPP = fakeStream
	}
	if cfg.Hosts == nil {
		cfg.Hosts = []string{"example.org"}
	}
	cfg.Log = slog.New(slog.DiscardHandler)
	cfg.BOSH.MaxWait = 2 * time.Second
	if cfg.BOSH.Inactivity == 0 {
		cfg.BOSH.Inactivity = time.Minute
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		s.Close(context.Background())
	})
	return ts
}

func dialWS(t *testing.T, ts *httptest.Server, proto string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/xmpp-websocket", &websocket.DialOptions{Subprotocols: []string{proto}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func wsSend(t *testing.T, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

func wsRead(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	// Every message is one complete, fully namespaced element (RFC 7395
	// §3.3.3).
	if _, err := xmlstream.Parse(b, xmlstream.Limits{}); err != nil {
		t.Fatalf("message %q is not one element: %v", b, err)
	}
	return string(b)
}

func wantPrefix(t *testing.T, got, want string) {
	t.Helper()
	if !strings.HasPrefix(got, want) {
		t.Errorf("got %s, want it to start with %s", got, want)
	}
}

// TestWebSocketFraming follows RFC 7395 §3: open, features, SASL,
// restart, a stanza each way, close.
func TestWebSocketFraming(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := dialWS(t, ts, "xmpp")
	if c.Subprotocol() != "xmpp" {
		t.Fatalf("subprotocol %q, want xmpp", c.Subprotocol())
	}
	open := "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.org' version='1.0'/>"
	wsSend(t, c, open)
	got := wsRead(t, c)
	for _, want := range []string{"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'", "from='example.org'", "id='s1'", "version='1.0'", "xml:lang='en'"} {
		if !strings.Contains(got, want) {
			t.Errorf("open %s lacks %s", got, want)
		}
	}
	wantPrefix(t, wsRead(t, c), "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms")
	wsSend(t, c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>")
	wantPrefix(t, wsRead(t, c), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'")
	wsSend(t, c, open)
	wantPrefix(t, wsRead(t, c), "<open ")
	wantPrefix(t, wsRead(t, c), "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind")
	wsSend(t, c, " \n")
	wsSend(t, c, "<message xmlns='jabber:client' to='a@example.org'><body>hi &amp; bye</body></message>")
	if got, want := wsRead(t, c), "<message xmlns='jabber:client' to='a@example.org'><body>hi &amp; bye</body></message>"; got != want {
		t.Errorf("echo = %s, want %s", got, want)
	}
	wsSend(t, c, "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
	if got, want := wsRead(t, c), "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"; got != want {
		t.Errorf("close = %s, want %s", got, want)
	}
}

// TestWebSocketBadInput: a message that is not one element ends the
// stream with the stream error RFC 6120 names, then <close/>.
func TestWebSocketBadInput(t *testing.T) {
	for _, tc := range []struct{ name, msg, cond string }{
		{"unclosed", "<message>", "not-well-formed"},
		{"two elements", "<a/><b/>", "not-well-formed"},
		{"comment", "<!-- x --><a/>", "restricted-xml"},
		{"undeclared prefix", "<x:a/>", "bad-namespace-prefix"},
		{"stream header", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>", "unsupported-stanza-type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{})
			c := dialWS(t, ts, "xmpp")
			wsSend(t, c, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.org' version='1.0'/>")
			wsRead(t, c)
			wsRead(t, c)
			wsSend(t, c, tc.msg)
			var got string
			for !strings.Contains(got, "<stream:error") {
				got = wsRead(t, c)
			}
			if !strings.Contains(got, "<"+tc.cond+" ") {
				t.Errorf("error = %s, want %s", got, tc.cond)
			}
			wantPrefix(t, wsRead(t, c), "<close ")
		})
	}
}

// TestWebSocketPolicy: the xmpp subprotocol is required (RFC 7395
// §3.1), and a browser's Origin must be the server's own or allowed.
func TestWebSocketPolicy(t *testing.T) {
	ts := newTestServer(t, Config{AllowedOrigins: []string{"https://app.example.org"}})
	for _, tc := range []struct {
		name, proto, origin string
		status              int
	}{
		{"no subprotocol", "", "", http.StatusBadRequest},
		{"other subprotocol", "chat", "", http.StatusBadRequest},
		{"foreign origin", "xmpp", "https://evil.example", http.StatusForbidden},
		{"allowed origin", "xmpp", "https://app.example.org", http.StatusSwitchingProtocols},
		{"own origin", "xmpp", ts.URL, http.StatusSwitchingProtocols},
		{"no origin", "xmpp", "", http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+"/xmpp-websocket", nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			if tc.proto != "" {
				req.Header.Set("Sec-WebSocket-Protocol", tc.proto)
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

func TestHostMeta(t *testing.T) {
	ts := newTestServer(t, Config{PublicURL: "https://chat.example.org"})
	for _, tc := range []struct{ path, ctype, ws, bosh string }{
		{"/.well-known/host-meta", "application/xrd+xml", `href="wss://chat.example.org/xmpp-websocket"`, `href="https://chat.example.org/http-bind"`},
		{"/.well-known/host-meta.json", "application/json", `"href": "wss://chat.example.org/xmpp-websocket"`, `"href": "https://chat.example.org/http-bind"`},
	} {
		resp, err := http.Get(ts.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(b), tc.ws) || !strings.Contains(string(b), tc.bosh) {
			t.Errorf("GET %s = %s %s, want %s with %s and %s", tc.path, resp.Header.Get("Content-Type"), b, tc.ctype, tc.ws, tc.bosh)
		}
		// XEP-0156 §3.3: any web client may read it.
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("GET %s: Access-Control-Allow-Origin %q, want *", tc.path, got)
		}
	}
}

// TestSecurityHeaders: every response carries them; only host-meta has
// CORS; the client page's policy allows its WebAssembly and nothing from
// elsewhere.
func TestSecurityHeaders(t *testing.T) {
	files := fstest.MapFS{
		"index.html":           {Data: []byte(`<meta name="samtal-domain" content="{{.Domain}}">`)},
		"samtal.js":            {Data: []byte("//")},
		"dist/converse.min.js": {Data: []byte("//")},
	}
	ts := newTestServer(t, Config{Client: files})
	for _, path := range []string{"/", "/samtal.js", "/nothing", "/.well-known/host-meta", "/http-bind"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: headers %v", path, h)
		}
		if path != "/.well-known/host-meta" && h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET %s: CORS where no specification asks for it", path)
		}
		if path == "/" {
			if !strings.Contains(csp, "script-src 'self' 'wasm-unsafe-eval';") || strings.Contains(csp, "unsafe-eval'") && !strings.Contains(csp, "wasm-unsafe-eval") {
				t.Errorf("client CSP %q", csp)
			}
			if !strings.Contains(string(b), `content="example.org"`) {
				t.Errorf("index = %s", b)
			}
		}
	}
}

func TestClientNotBuilt(t *testing.T) {
	ts := newTestServer(t, Config{Client: fstest.MapFS{"index.html": {Data: []byte("x")}}})
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "not built") {
		t.Errorf("GET / = %d %s, want 404 saying the client is not built", resp.StatusCode, b)
	}
}

// BenchmarkWebSocketRoundTrip measures a stanza's way through the
// adapter both ways: parsed from a message, written to the stream, read
// back from the stream and framed as a message.
func BenchmarkWebSocketRoundTrip(b *testing.B) {
	s, err := New(Config{Hosts: []string{"example.org"}, ServeXMPP: fakeStream, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	defer s.Close(context.Background())
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/xmpp-websocket", &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	c.Write(ctx, websocket.MessageText, []byte("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.org' version='1.0'/>"))
	c.Read(ctx)
	c.Read(ctx)
	msg := []byte("<message xmlns='jabber:client' to='a@example.org' id='x'><body>" + strings.Repeat("hello ", 20) + "</body></message>")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNamespaceAmplification: a client's element within the limits
// whose descendants use a long namespace declared once on it would be
// written for the stream code with the declaration on every descendant,
// hundreds of times its size. The adapters refuse it before writing it:
// they allocate little more than parsing it takes. (Parsing it takes
// much too: the reader gives every element its own copy of the
// namespace, which is the reader's to fix.)
func TestNamespaceAmplification(t *testing.T) {
	lim := xmlstream.Limits{}.WithDefaults()
	var b strings.Builder
	b.WriteString("<message xmlns='jabber:client' xmlns:p='urn:" + strings.Repeat("x", 2000) + "'>")
	for b.Len() < lim.MaxStanzaBytes-4096 {
		b.WriteString("<p:x/>")
	}
	b.WriteString("</message>")
	msg := b.String()
	allocated := func(f func()) uint64 {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		f()
		runtime.ReadMemStats(&m1)
		return m1.TotalAlloc - m0.TotalAlloc
	}
	parse := allocated(func() { xmlstream.Parse([]byte(msg), lim) })
	// Writing msg for the stream code would take 82 MiB, and twice that
	// allocated on the way.
	most := parse + 32<<20
	t.Run("WebSocket", func(t *testing.T) {
		ts := newTestServer(t, Config{})
		c := dialWS(t, ts, "xmpp")
		wsSend(t, c, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.org' version='1.0'/>")
		wsRead(t, c)
		wsRead(t, c)
		var got string
		n := allocated(func() {
			wsSend(t, c, msg)
			got = wsRead(t, c)
		})
		if !strings.Contains(got, "<policy-violation ") {
			t.Errorf("answer %s, want a policy-violation stream error", got)
		}
		if n > most {
			t.Errorf("%d MiB allocated for a message of %d KiB, parsing it %d MiB", n>>20, len(msg)>>10, parse>>20)
		}
	})
	t.Run("BOSH", func(t *testing.T) {
		ts := newTestServer(t, Config{})
		c, _ := startBOSH(t, ts)
		var resp *xmlel.Element
		n := allocated(func() {
			resp = c.send("", msg)
		})
		if resp.Attr("type") != "terminate" {
			t.Errorf("answer %v, want the session's end", resp)
		}
		if n > most {
			t.Errorf("%d MiB allocated for a body of %d KiB, parsing it %d MiB", n>>20, len(msg)>>10, parse>>20)
		}
	})
}
