package c2s

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

// scriptConn is a client connection whose bytes are written in advance,
// in chunks, as a client's writes: one read returns at most one chunk,
// so that what comes after a restart (SASL success drops what was read
// before it) is still there. After the last chunk the connection ends,
// and what the server wrote is kept. A client that sends its whole
// script without waiting for the answers is one the server must survive
// too.
type scriptConn struct {
	chunks [][]byte
	mu     sync.Mutex
	out    bytes.Buffer
	closed bool
}

func (c *scriptConn) Read(p []byte) (int, error) {
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	return n, nil
}

func (c *scriptConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *scriptConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *scriptConn) written() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func (c *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5222}
}
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// Bounds of what one fuzzed script may cause.
const (
	fuzzScriptMax  = 8192
	fuzzOutputMax  = 256 << 10
	fuzzServeLimit = 10 * time.Second
)

// FuzzNegotiate feeds arbitrary client streams to a session from its
// first byte after the header: STARTTLS where the transport is secure
// already, SASL (PLAIN with the right password reaches a bound session;
// SCRAM starts), SASL2 with Bind 2, in-band requests before
// authentication, resource binding, stream management, client state and
// stanzas, in any order and malformed. Nothing may panic; the session
// must end when its input does, with what it wrote bounded and its
// stream closed, and leave nothing behind: no open connection and no
// bound resource.
func FuzzNegotiate(f *testing.F) {
	// cut ends a client's write (see scriptConn).
	const cut = "\xff"
	plain := base64.StdEncoding.EncodeToString([]byte("\x00juliet\x00secret"))
	wrong := base64.StdEncoding.EncodeToString([]byte("\x00juliet\x00wrong"))
	scram := base64.StdEncoding.EncodeToString([]byte("n,,n=juliet,r=abcdefghijklmnop"))
	bind := `<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>`
	after := `<presence/><message to='romeo@example.org' type='chat'><body>hi</body></message>` +
		`<iq type='get' id='p' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`
	for _, seed := range []string{
		`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + plain + `</auth>` + cut + fuzzHeader + bind + after + `</stream:stream>`,
		`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + plain + `</auth>` + cut + fuzzHeader + bind +
			`<enable xmlns='urn:xmpp:sm:3' resume='true'/><r xmlns='urn:xmpp:sm:3'/><a xmlns='urn:xmpp:sm:3' h='0'/>` +
			`<inactive xmlns='urn:xmpp:csi:0'/>` + after + `<active xmlns='urn:xmpp:csi:0'/>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>` + plain + `</initial-response>` +
			`<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>s</software></user-agent>` +
			`<bind xmlns='urn:xmpp:bind:0'><tag>t</tag><enable xmlns='urn:xmpp:carbons:2'/></bind></authenticate>` + after,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'><initial-response>` + scram + `</initial-response></authenticate>` +
			`<response xmlns='urn:xmpp:sasl:2'>` + scram + `</response><abort xmlns='urn:xmpp:sasl:2'/>`,
		`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>` + scram + `</auth>` +
			`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + scram + `</response>`,
		`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + wrong + `</auth>` +
			`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>=</auth><abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`,
		`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`,
		`<iq type='get' id='reg'><query xmlns='jabber:iq:register'/></iq><message><body>early</body></message>`,
		bind,
		`<a:b xmlns:a='urn:x'/>`,
		`</stream:stream>`,
	} {
		f.Add([]byte(seed))
	}

	sc := newScripted(f)
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > fuzzScriptMax {
			return
		}
		out := sc.run(t, script)
		if len(out) > fuzzOutputMax {
			t.Fatalf("the session wrote %d bytes for %d", len(out), len(script))
		}
		// RFC 6120 §4.9.1.1: a stream error closes the stream.
		if strings.Contains(out, "<stream:error>") && !strings.HasSuffix(out, "</stream:stream>") {
			t.Fatalf("a stream error without the stream's close:\n%s", out)
		}
	})
}

// TestStartTLSFailureClosesStream checks RFC 6120 §5.4.2.2: STARTTLS
// that cannot proceed (here: the transport is secure already) is
// answered with <failure/> and the stream's close.
func TestStartTLSFailureClosesStream(t *testing.T) {
	out := newScripted(t).run(t, []byte(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`))
	if want := `<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>`; !strings.HasSuffix(out, want) {
		t.Errorf("the session wrote\n%s\nwant it to end with %s", out, want)
	}
}

// scripted is a service for juliet@example.org (password "secret") on a
// transport that is secure already, as a WebSocket's is, that serves
// scripted connections (scriptConn).
type scripted struct {
	svc    *Service
	rt     *router.Router
	logged *xmpptest.Logs // recovered panics
}

func newScripted(tb testing.TB) *scripted {
	tb.Helper()
	keys := map[string]sasl.Keys{}
	for _, h := range []sasl.Hash{sasl.SHA1, sasl.SHA256} {
		// Few iterations: a PLAIN login derives the keys again, and a
		// fuzzer logs in thousands of times.
		k, err := sasl.DeriveKeys(h, "secret", sasl.NewSalt(), 16)
		if err != nil {
			tb.Fatal(err)
		}
		keys["juliet@example.org "+string(h)] = k
	}
	sc := &scripted{rt: router.New([]string{"example.org"}), logged: &xmpptest.Logs{
		Level: slog.LevelDebug, Match: func(text string) bool { return strings.Contains(text, "panic") },
	}}
	preAuth := func() PreAuth {
		return PreAuth{Serve: func(_ context.Context, _ string, st *stanza.Stanza) *xmlel.Element {
			return stanza.ErrorReply(st.El, stanza.Error{Condition: stanza.ServiceUnavailable})
		}}
	}
	sc.svc = New(Config{
		AuthTimeout:     5 * time.Second,
		IdleTimeout:     time.Minute,
		FakeSecret:      []byte("0123456789abcdef0123456789abcdef"),
		SCRAMIterations: 16,
		// Every input logs in again: no limit of failures may refuse
		// the ones after.
		AuthFailuresPerIP:      1 << 30,
		AuthFailuresPerAccount: 1 << 30,
	}, sc.rt, memCreds(keys), &fakeCore{}, preAuth, slog.New(sc.logged), NewMetrics(metrics.NewRegistry()))
	tb.Cleanup(func() { sc.svc.Close(context.Background()) })
	return sc
}

// run serves a connection that sends fuzzHeader and then script, its
// chunks split at fuzzChunkEnd, and returns what the session wrote. The
// session must end when the script does, without a panic, and leave
// nothing behind: no open connection and no bound resource.
func (sc *scripted) run(t testing.TB, script []byte) string {
	t.Helper()
	c := &scriptConn{chunks: append([][]byte{[]byte(fuzzHeader)}, bytes.Split(script, []byte{fuzzChunkEnd})...)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc.svc.ServeConn(c, ConnOptions{Secure: true})
	}()
	select {
	case <-done:
	case <-time.After(fuzzServeLimit):
		t.Fatalf("the session did not end within %v of its input's end; it wrote:\n%s", fuzzServeLimit, c.written())
	}
	if p := sc.logged.Take(); len(p) > 0 {
		t.Fatalf("the session panicked: %v", p)
	}
	if n := sc.svc.Sessions(); n != 0 {
		t.Fatalf("%d connections still open after the session ended", n)
	}
	if n := sc.rt.Count(); n != 0 {
		t.Fatalf("%d resources still bound after the session ended", n)
	}
	return c.written()
}

// fuzzHeader opens a client stream to example.org.
const fuzzHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>`

// fuzzChunkEnd ends a chunk of a fuzzed script: a byte that UTF-8 text
// never holds.
const fuzzChunkEnd = 0xff
