package web

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"

	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// fuzzChunkEnd ends one request body (or WebSocket message) of a fuzzed
// script: a byte that UTF-8 text never holds.
const fuzzChunkEnd = 0xff

// Bounds of what one fuzzed script may be and cause.
const (
	fuzzScriptMax = 32 << 10
	fuzzChunksMax = 40
	// fuzzSleepMax bounds a sleep chunk ("~N", N seconds of the bubble's
	// fake clock): past the inactivity period nothing new happens.
	fuzzSleepMax = 120
)

// fuzzBOSH is the configuration the BOSH fuzzer runs: short waits (on
// the fake clock of a synctest bubble, so that they cost nothing), few
// sessions, and small queues, so that their limits are within reach.
var fuzzBOSH = Config{
	Hosts:  []string{"example.org"},
	Limits: xmlstream.Limits{MaxStanzaBytes: 1024, MaxDepth: 8},
	BOSH:   BOSHConfig{MaxWait: 10 * time.Second, Inactivity: 30 * time.Second, MaxSessions: 3, OutBytes: 512},
}

// boshConditions are the terminal binding conditions of XEP-0124 §17.2.
var boshConditions = map[string]bool{
	"bad-request": true, "host-gone": true, "host-unknown": true, "improper-addressing": true,
	"internal-server-error": true, "item-not-found": true, "other-request": true, "policy-violation": true,
	"remote-connection-failed": true, "remote-stream-error": true, "see-other-uri": true,
	"system-shutdown": true, "undefined-condition": true,
}

// FuzzBOSH posts arbitrary sequences of request bodies to the BOSH
// handler, split at fuzzChunkEnd, with the fake stream code behind the
// sessions. "SID" in a body stands for the sid of the session created
// last, and "RID" for the rid after the highest sent to it so far
// ("RID-2", "RID+1": that one less 2, plus 1; the seeds write "RID-0",
// one changed byte from any other), so that mutations move through the
// rid window while literal rids stay possible. A chunk "~N" lets N
// seconds pass; a body after "!" is sent by a client that goes away
// while the request waits. Everything runs in a synctest bubble: each
// request is sent once the ones before it have been answered or are
// held, and waits and inactivity pass on the fake clock.
// Nothing may panic; every answer is 200 with one <body/>, bounded in
// size; a repeated request gets the same answer (XEP-0124 §14.3); after
// a terminal binding condition for a session, no request for it
// succeeds (§17.2); and once the script's sessions are terminated, none
// is left.
func FuzzBOSH(f *testing.F) {
	const cut = "\xff"
	create := `<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' content='text/xml; charset=utf-8' hold='1' rid='1000' to='example.org' ver='1.6' wait='60' ack='1' xml:lang='en' xmpp:version='1.0'/>`
	body := func(rid string, attrs, payload string) string {
		return `<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' sid='SID' rid='` + rid + `'` + attrs + `>` + payload + `</body>`
	}
	// The next rid, written so that one byte changed moves it.
	const next = "RID-0"
	auth := `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>`
	msg := `<message xmlns='jabber:client' to='a@example.org'><body>hi</body></message>`
	for _, seed := range []string{
		create + cut + body(next, "", auth) + cut + body(next, " xmpp:restart='true'", "") + cut + body(next, "", msg) + cut + body(next, "", "") + cut +
			body(next, " type='terminate'", `<presence xmlns='jabber:client' type='unavailable'/>`) + cut + body(next, "", ""),
		// A long session: moving any rid of it explores the window.
		create + cut + body(next, "", msg) + cut + body(next, "", "") + cut + body(next, "", msg) + cut + body(next, "", "") + cut +
			body(next, "", msg) + cut + body(next, "", "") + cut + body(next, "", msg) + cut + body(next, "", ""),
		// A rid repeated after its answer was dropped: a terminal
		// condition, after which the session answers nothing (§14.3).
		create + cut + body(next, "", "") + cut + body(next, "", "") + cut + body(next, "", "") + cut + body(next, "", "") + cut +
			body(next, "", "") + cut + body(next, "", "") + cut + body("RID-6", "", "") + cut + body(next, "", "") + cut + body(next, "", ""),
		// Out of order, repeated, and too far ahead (§14.1, §14.3).
		create + cut + body("1002", "", msg) + cut + body("1001", "", msg) + cut + body("1001", "", msg) + cut + body("1000", "", "") + cut + body(next, "", "") + cut + body("RID+5", "", ""),
		// A held request sent again, then acknowledged ones (§9, §14.3).
		create + cut + body(next, "", "") + cut + body("RID-1", "", "") + cut + body(next, " ack='1001'", msg) + cut + body(next, " ack='1000'", ""),
		// Polling (§10), and waits and inactivity running out (§12).
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='7' to='example.org' hold='0' wait='0'/>` + cut + body(next, "", msg) + cut + body(next, "", "") + cut + "~11" + cut + body(next, "", "") + cut + "~40" + cut + body(next, "", ""),
		// A restart before SASL: the stream code sees a second header and
		// ends the stream with an error (XEP-0206 §6).
		create + cut + body(next, " xmpp:restart='true'", "") + cut + body(next, "", ""),
		// Payloads past what waits for the client.
		create + cut + body(next, "", msg+msg+msg+msg+msg+msg+msg+msg) + cut + body(next, "", msg+msg+msg+msg+msg+msg+msg+msg) + cut + body(next, "", ""),
		// rids at and past the edges (§14.1).
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='9007199254740990' to='example.org'/>` + cut + body("9007199254740991", "", "") + cut + body("9007199254740992", "", ""),
		create + cut + body("-1", "", "") + cut + `<body xmlns='http://jabber.org/protocol/httpbind' sid='SID' rid='x'/>` + cut + body(next, "", ""),
		// A gap that is never filled (§14.2); a waiting rid sent again
		// (§14.3); a client gone while its request waits, which then
		// asks again (§14.3).
		create + cut + body("RID+1", "", "") + cut + "~11" + cut + body("1001", "", ""),
		create + cut + body("RID+1", "", msg) + cut + body("1002", "", msg) + cut + body("1001", "", "") + cut + body(next, "", ""),
		create + cut + "!" + body(next, "", "") + cut + body("RID-1", "", "") + cut + body(next, "", ""),
		// A payload whose namespaces would be written again on every
		// element.
		create + cut + body(next, "", `<a xmlns='jabber:client' xmlns:p='urn:`+string(bytes.Repeat([]byte("n"), 1000))+`'>`+string(bytes.Repeat([]byte("<p:x/>"), 40))+`</a>`) + cut + body(next, "", ""),
		// Sessions past the limit; a creation request that terminates.
		create + cut + create + cut + create + cut + create + cut + `<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='example.org' type='terminate'/>`,
		// Requests that are no session's.
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='1'/>` + cut + `<body xmlns='urn:other' rid='1' to='example.org'/>` + cut + `<body` + cut +
			`<body xmlns='http://jabber.org/protocol/httpbind' sid='nope' rid='5'/>` + cut + `<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='example.org'>` + string(bytes.Repeat([]byte("x"), 10000)) + `</body>`,
	} {
		f.Add([]byte(seed))
	}
	fuzzScripts(f, runBOSH)
}

// fuzzScripts fuzzes run with scripts cut into chunks at fuzzChunkEnd,
// each in a synctest bubble of its own: its goroutines must all end
// with it, and its waits pass on the bubble's clock.
func fuzzScripts(f *testing.F, run func(*testing.T, [][]byte)) {
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > fuzzScriptMax {
			return
		}
		chunks := bytes.Split(script, []byte{fuzzChunkEnd})
		if len(chunks) > fuzzChunksMax {
			return
		}
		synctest.Test(t, func(t *testing.T) {
			run(t, chunks)
		})
	})
}

// boshRun is one fuzzed script's server and what its requests got.
type boshRun struct {
	t    *testing.T
	srv  *Server
	h    http.Handler
	step int    // the script's chunk being sent
	sid  string // the session created last
	rid  int64  // the highest rid sent to it, or for its creation
	wg   sync.WaitGroup

	mu      sync.Mutex
	answers []*boshAnswer // since the last check

	ended    map[string]int    // sid → step of its first terminal answer
	answered map[string][]byte // sid and rid → the first successful answer
}

// boshAnswer is one request of a script and what it got.
type boshAnswer struct {
	step     int
	sid, rid string // as the server can read them from the request
	resp     *httptest.ResponseRecorder
	done     chan struct{} // closed once resp is complete
	gone     bool          // the client went away: it reads nothing
}

// body returns the answer, or nil while the request waits.
func (a *boshAnswer) body() *xmlel.Element {
	select {
	case <-a.done:
	default:
		return nil
	}
	el, _ := xmlstream.Parse(a.resp.Body.Bytes(), outLimits)
	return el
}

// newBOSHRun starts a server with cfg in the caller's synctest bubble,
// with the fake stream code behind its sessions.
func newBOSHRun(t *testing.T, cfg Config) *boshRun {
	cfg.ServeXMPP = fakeStream
	cfg.Log = slog.New(slog.DiscardHandler)
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &boshRun{t: t, srv: srv, h: srv.Handler(), ended: make(map[string]int), answered: make(map[string][]byte)}
	// Runs last, and also when a check failed: the bubble's goroutines
	// must all end for synctest to report the failure.
	t.Cleanup(r.wg.Wait)
	t.Cleanup(func() { srv.Close(context.Background()) })
	return r
}

// sessions returns how many sessions the server keeps.
func (r *boshRun) sessions() int {
	m := r.srv.bosh
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

func runBOSH(t *testing.T, chunks [][]byte) {
	r := newBOSHRun(t, fuzzBOSH)
	for i, c := range chunks {
		r.step = i
		if len(c) > 1 && c[0] == '~' {
			if n, err := strconv.Atoi(string(c[1:])); err == nil && n >= 0 && n <= fuzzSleepMax {
				time.Sleep(time.Duration(n) * time.Second)
				synctest.Wait()
				r.check()
				continue
			}
		}
		c = r.rids(bytes.ReplaceAll(c, []byte("SID"), []byte(r.sid)))
		if len(c) > 0 && c[0] == '!' {
			r.abandon(c[1:])
		} else {
			r.post(c)
		}
		r.check()
	}
	// Terminate what is left (XEP-0124 §13): the sessions must be gone
	// at once, not after the inactivity sweep.
	r.step++
	for _, s := range r.srv.bosh.all() {
		s.mu.Lock()
		rid := s.next
		s.mu.Unlock()
		r.post([]byte("<body xmlns='http://jabber.org/protocol/httpbind' sid='" + s.sid + "' rid='" + strconv.FormatInt(rid, 10) + "' type='terminate'/>"))
	}
	r.check()
	if n := r.sessions(); n != 0 {
		t.Fatalf("%d sessions left after terminating them", n)
	}
	// Requests still waiting end with their wait, on the fake clock.
	r.wg.Wait()
	r.check()
}

// ridRef is a rid relative to the highest sent to the session so far.
var ridRef = regexp.MustCompile(`RID([+-][0-9]{1,2})?`)

// rids replaces the relative rids of a body (see FuzzBOSH) and notes the
// highest rid of the session created last.
func (r *boshRun) rids(b []byte) []byte {
	b = ridRef.ReplaceAllFunc(b, func(ref []byte) []byte {
		off, _ := strconv.ParseInt(string(ref[3:]), 10, 64) // none: 0
		return strconv.AppendInt(nil, r.rid+1+off, 10)
	})
	if el := r.read(b); el != nil {
		rid, err := strconv.ParseInt(el.Attr("rid"), 10, 64)
		switch {
		case err != nil:
		case el.Attr("sid") == "":
			r.rid = rid // a new session, should it be created
		case el.Attr("sid") == r.sid:
			r.rid = max(r.rid, rid)
		}
	}
	return b
}

// read returns the <body/> of a request as the server reads it, or nil
// if it reads none.
func (r *boshRun) read(b []byte) *xmlel.Element {
	m := r.srv.bosh
	if len(b) > m.lim.MaxStanzaBytes {
		return nil
	}
	if el, err := xmlstream.Parse(b, m.lim); err == nil && el.Is(NSHTTPBind, "body") {
		return el
	}
	return nil
}

// post sends one request and lets the bubble settle: the request is
// answered or held, and whatever it caused is done.
func (r *boshRun) post(body []byte) *boshAnswer {
	return r.send(context.Background(), body)
}

// abandon sends one request and, once the bubble settled, goes away.
func (r *boshRun) abandon(body []byte) *boshAnswer {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := r.send(ctx, body)
	select {
	case <-a.done:
		return a // answered at once, before the client could go
	default:
	}
	a.gone = true
	cancel()
	synctest.Wait()
	return a
}

func (r *boshRun) send(ctx context.Context, body []byte) *boshAnswer {
	a := &boshAnswer{step: r.step, resp: httptest.NewRecorder(), done: make(chan struct{})}
	// The session the server can tell the request is for, if any.
	if el := r.read(body); el != nil {
		a.sid, a.rid = el.Attr("sid"), el.Attr("rid")
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/http-bind", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.RemoteAddr = "192.0.2.1:4000"
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.h.ServeHTTP(a.resp, req)
		close(a.done)
		r.mu.Lock()
		r.answers = append(r.answers, a)
		r.mu.Unlock()
	}()
	synctest.Wait()
	return a
}

// boshAnswerMax bounds one answer: what waits for the client, plus the
// element that went past that bound, plus the wrapper.
const boshAnswerMax = 64 << 10

// check checks the answers that came since the last check, and that
// what each session holds is within its bounds.
func (r *boshRun) check() {
	t := r.t
	t.Helper()
	m := r.srv.bosh
	for _, s := range m.all() {
		s.mu.Lock()
		held, hold, answers, pending, in, out := len(s.held), s.hold, len(s.answers), len(s.pending), len(s.in), s.outBytes
		s.mu.Unlock()
		switch {
		case held > hold:
			t.Fatalf("step %d: %d requests held, more than hold=%d (XEP-0124 §11)", r.step, held, hold)
		case answers > boshCache:
			t.Fatalf("step %d: %d answers kept for retransmission", r.step, answers)
		case pending > hold+boshCache:
			t.Fatalf("step %d: %d requests waiting for earlier ones", r.step, pending)
		case in > m.inMax():
			t.Fatalf("step %d: %d bytes waiting for the stream code", r.step, in)
		case out > m.cfg.OutBytes+boshAnswerMax:
			t.Fatalf("step %d: %d bytes waiting for the client", r.step, out)
		}
	}
	r.mu.Lock()
	answers := r.answers
	r.answers = nil
	r.mu.Unlock()
	for _, a := range answers {
		if a.gone {
			continue
		}
		b := a.resp.Body.Bytes()
		if a.resp.Code != http.StatusOK {
			t.Fatalf("step %d: status %d: %s", a.step, a.resp.Code, b)
		}
		if ct := a.resp.Header().Get("Content-Type"); ct != "text/xml; charset=utf-8" {
			t.Fatalf("step %d: Content-Type %q", a.step, ct)
		}
		if len(b) > boshAnswerMax {
			t.Fatalf("step %d: an answer of %d bytes", a.step, len(b))
		}
		el, err := xmlstream.Parse(b, outLimits)
		if err != nil || !el.Is(NSHTTPBind, "body") {
			t.Fatalf("step %d: answer %q is not one <body/>: %v", a.step, b, err)
		}
		typ, cond := el.Attr("type"), el.Attr("condition")
		switch {
		case typ == "" || typ == "error":
		case typ == "terminate" && (cond == "" && !el.HasAttr("condition") || boshConditions[cond]):
		default:
			t.Fatalf("step %d: answer %s: not a binding condition of XEP-0124 §17", a.step, b)
		}
		// XEP-0206 §6: the stream error ends the session, in the
		// answer that carries it.
		if el.Child(stream.NS, "error") != nil && (typ != "terminate" || cond != "remote-stream-error") {
			t.Fatalf("step %d: answer %s: a stream error, not with remote-stream-error", a.step, b)
		}
		sid := a.sid
		if sid == "" {
			sid = el.Attr("sid") // a creation answer names its session
		}
		if sid == "" {
			continue
		}
		switch typ {
		case "terminate":
			if _, ok := r.ended[sid]; !ok {
				r.ended[sid] = a.step
			}
		case "":
			if step, ok := r.ended[sid]; ok && step < a.step {
				t.Fatalf("step %d: answer %s for a session terminated at step %d", a.step, b, step)
			}
			if a.sid != "" {
				rid, _ := strconv.ParseInt(a.rid, 10, 64)
				key := a.sid + " " + strconv.FormatInt(rid, 10)
				if first, ok := r.answered[key]; !ok {
					r.answered[key] = bytes.Clone(b)
				} else if !bytes.Equal(first, b) {
					t.Fatalf("step %d: rid %s answered %s, then %s (XEP-0124 §14.3)", a.step, a.rid, first, b)
				}
			}
			if a.sid == "" {
				r.sid = sid
			}
		}
	}
}

// fuzzWSLimits bound the WebSocket fuzzer's messages, for the adapter and
// the stream code alike, as the server configures both: small, so that
// they are within reach of its inputs.
var fuzzWSLimits = xmlstream.Limits{MaxStanzaBytes: 2048, MaxDepth: 8}

// FuzzWebSocket sends arbitrary sequences of messages over a WebSocket
// (RFC 7395), split at fuzzChunkEnd, to the fake stream code: a message
// starting with \x01 goes as a binary frame with the rest, every other
// one as a text frame. The WebSocket runs over an in-memory pipe in a
// synctest bubble, the handshake included; each message is sent once
// the ones before it are done with. Nothing may panic; every message the
// server sends is text and one complete element that declares its own
// namespace (§3.3.3); <open/> comes first or after <success/>, a stream
// error is followed by <close/>, and <close/> is the last message
// (§3.6); a message that is not one acceptable element ends the stream
// with the stream error RFC 6120 §4.9.3 names for it, or the WebSocket
// with the status RFC 6455 does; the client's <close/> is answered with
// <close/>; and the stream code never reads input that is not a
// well-formed stream unless the client put <open/>, <close/> or a
// stanza where the stream had no place for it.
func FuzzWebSocket(f *testing.F) {
	const cut = "\xff"
	open := `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.org' version='1.0'/>`
	end := `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`
	auth := `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>`
	msg := `<message xmlns='jabber:client' to='a@example.org'><body>hi &amp; bye</body></message>`
	long := "urn:" + string(bytes.Repeat([]byte("x"), 200))
	for _, seed := range []string{
		open + cut + auth + cut + open + cut + " \n" + cut + msg + cut + end,
		open + cut + `<iq xmlns='jabber:client' type='get' id='1' xml:lang='de'><query xmlns='jabber:iq:roster'/></iq>` + cut +
			`<x:r xmlns:x='urn:xmpp:sm:3' x:h='1'/>` + cut + `<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>` + cut + end,
		// Prefixes and namespaces the adapter writes again as its own.
		open + cut + `<a xmlns:p='` + long + `'><p:b/><p:b/><p:b/><p:b/><p:b/><p:b/><p:b/><p:b/><p:b/><p:b/><p:b p:c='1'/></a>`,
		// Messages that are not one acceptable element.
		open + cut + "<message>",
		open + cut + "<a/><b/>",
		open + cut + "<!-- x --><a/>",
		open + cut + "<x:a/>",
		open + cut + "<a>\xc3\x28</a>",
		open + cut + "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>",
		open + cut + "\x01" + msg,
		open + cut + "<a>" + string(bytes.Repeat([]byte("y"), 3000)) + "</a>",
		open + cut + "<a>" + string(bytes.Repeat([]byte("y"), 7000)) + "</a>",
		// Framing out of place.
		open + cut + open + cut + msg,
		end + cut + msg,
		msg + cut + open,
		open + cut + end + cut + msg,
		open + cut + auth + cut + msg,
	} {
		f.Add([]byte(seed))
	}
	fuzzScripts(f, runWebSocket)
}

// wsMessage is a message the server sent, in the script's step.
type wsMessage struct {
	step int
	typ  websocket.MessageType
	data []byte
}

func runWebSocket(t *testing.T, chunks [][]byte) {
	var mu sync.Mutex
	var badInput []error // what the stream code could not read
	var messages []wsMessage
	step := 0
	cfg := Config{
		Hosts:  []string{"example.org"},
		Limits: fuzzWSLimits,
		Log:    slog.New(slog.DiscardHandler),
		ServeXMPP: func(c net.Conn) {
			serveFake(c, fuzzWSLimits, func(err error) {
				mu.Lock()
				badInput = append(badInput, err)
				mu.Unlock()
			})
		},
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	ctx := context.Background()
	served := make(chan struct{})
	c, _, err := websocket.Dial(ctx, "ws://example.org/xmpp-websocket", &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: pipeTransport{h: srv.Handler(), done: served}},
		Subprotocols: []string{"xmpp"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: the connection goes, then the handler
	// and the reader end, then the server closes.
	var readErr error
	read := make(chan struct{})
	t.Cleanup(func() { <-read })
	t.Cleanup(func() { <-served })
	t.Cleanup(func() { c.CloseNow() })
	go func() {
		defer close(read)
		for {
			typ, b, err := c.Read(ctx)
			mu.Lock()
			if err != nil {
				readErr = err
				mu.Unlock()
				return
			}
			messages = append(messages, wsMessage{step: step, typ: typ, data: b})
			mu.Unlock()
		}
	}()
	synctest.Wait()

	// What the stream code expects next, as far as the client can tell,
	// and whether the client put anything where the stream had no place
	// for it; what the last message should end the connection with.
	header, excused := true, false
	var wantCond stream.Condition
	var wantStatus websocket.StatusCode
	closed := false // the client sent <close/> where it belonged
	seen := 0       // messages the model has looked at
	for i, chunk := range chunks {
		mu.Lock()
		step = i
		done := readErr != nil
		mu.Unlock()
		if done {
			break
		}
		typ, data := websocket.MessageText, chunk
		if len(chunk) > 0 && chunk[0] == 0x01 {
			typ, data = websocket.MessageBinary, chunk[1:]
		}
		switch el, err := xmlstream.Parse(data, fuzzWSLimits); {
		case typ == websocket.MessageBinary:
			wantStatus = websocket.StatusUnsupportedData
		case len(data) > fuzzWSLimits.MaxStanzaBytes+4096:
			wantStatus = websocket.StatusMessageTooBig
		case len(bytes.TrimSpace(data)) == 0:
		case err != nil:
			wantCond = stream.NotWellFormed
			if e, ok := stream.FromParseError(err); ok {
				wantCond = e.Condition
			}
		case el.Is(stream.NS, "stream"):
			wantCond = stream.UnsupportedStanzaType
		case el.Is(NSFraming, "open"):
			excused = excused || !header || closed
			header = false
		case el.Is(NSFraming, "close"):
			excused = excused || header || closed
			closed = true
		case len(el.AppendXML(nil, xmlel.NSClient)) > fuzzWSLimits.MaxStanzaBytes:
			// Written for the stream code, it would be over the limit.
			wantCond = stream.PolicyViolation
		default:
			excused = excused || header || closed
		}
		if err := c.Write(ctx, typ, data); err != nil {
			break
		}
		synctest.Wait()
		// <success/> restarts the stream: the next is a header.
		mu.Lock()
		for _, m := range messages[seen:] {
			if bytes.HasPrefix(m.data, []byte("<success ")) {
				header = true
			}
		}
		seen = len(messages)
		mu.Unlock()
		if wantCond != "" || wantStatus != 0 {
			break // the connection ends with this message
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	<-read
	<-served

	for _, err := range badInput {
		if !excused {
			t.Fatalf("the stream code read input that is not well-formed: %v", err)
		}
	}
	var prev []byte
	for i, m := range messages {
		if m.typ != websocket.MessageText {
			t.Fatalf("step %d: message %d is not text: %q", m.step, i, m.data)
		}
		el, err := xmlstream.Parse(m.data, outLimits)
		if err != nil {
			t.Fatalf("step %d: message %q is not one element: %v", m.step, m.data, err)
		}
		if !declaresNS(m.data) {
			t.Fatalf("step %d: message %q does not declare its namespace (RFC 7395 §3.3.3)", m.step, m.data)
		}
		switch {
		case el.Is(NSFraming, "open"):
			if i > 0 && !bytes.HasPrefix(prev, []byte("<success ")) {
				t.Fatalf("step %d: <open/> after %q", m.step, prev)
			}
		case el.Is(NSFraming, "close"):
			if i != len(messages)-1 {
				t.Fatalf("step %d: %q after <close/>", m.step, messages[i+1].data)
			}
		}
		if bytes.HasPrefix(prev, []byte("<stream:error ")) && !el.Is(NSFraming, "close") {
			t.Fatalf("step %d: %q after a stream error, not <close/>", m.step, m.data)
		}
		prev = m.data
	}
	last := func() *xmlel.Element {
		if len(messages) == 0 {
			return nil
		}
		el, _ := xmlstream.Parse(messages[len(messages)-1].data, outLimits)
		return el
	}
	switch {
	case wantStatus != 0:
		if got := websocket.CloseStatus(readErr); got != wantStatus {
			t.Fatalf("the connection ended with %v (%v), want status %v", got, readErr, wantStatus)
		}
	case wantCond != "":
		if len(messages) < 2 {
			t.Fatalf("no stream error %s and <close/>: %v", wantCond, readErr)
		}
		e, _ := xmlstream.Parse(messages[len(messages)-2].data, outLimits)
		if !e.Is(stream.NS, "error") || e.Child(stream.NSErrors, string(wantCond)) == nil || !last().Is(NSFraming, "close") {
			t.Fatalf("the stream ended with %q and %q, want the stream error %s and <close/>", messages[len(messages)-2].data, messages[len(messages)-1].data, wantCond)
		}
	case closed && !excused:
		if !last().Is(NSFraming, "close") {
			t.Fatalf("the client's <close/> was not answered with <close/>")
		}
	}
}

// declaresNS reports whether a message's start tag declares the
// namespace of its name: xmlns='…' for an unprefixed one, xmlns:p='…'
// for p:name.
func declaresNS(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) < 2 || b[0] != '<' {
		return false
	}
	name := b[1:]
	if i := bytes.IndexAny(name, " \t\r\n/>"); i >= 0 {
		name = name[:i]
	}
	want := []byte("xmlns=")
	if prefix, _, ok := bytes.Cut(name, []byte(":")); ok {
		want = append(append([]byte("xmlns:"), prefix...), '=')
	}
	// The start tag, up to its first '>' outside an attribute value.
	var quote byte
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '>':
			return bytes.Contains(b[:i], append([]byte(" "), want...))
		}
	}
	return false
}

// pipeTransport is an HTTP client transport that serves each request
// with h over an in-memory pipe, so that a WebSocket handshake and
// connection need no network: the response's body is the client's end
// of the pipe, and the handler hijacks the other. done is closed when
// the handler returns.
type pipeTransport struct {
	h    http.Handler
	done chan struct{}
}

func (p pipeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	client, server := net.Pipe()
	w := &hijackWriter{header: make(http.Header), conn: server, ready: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.h.ServeHTTP(w, req)
		w.once.Do(func() { close(w.ready) })
	}()
	<-w.ready
	resp := &http.Response{
		Status: http.StatusText(w.code), StatusCode: w.code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header.Clone(), Request: req, Body: client,
	}
	if !w.hijacked {
		client.Close()
		server.Close()
		resp.Body = io.NopCloser(bytes.NewReader(w.body.Bytes()))
	}
	return resp, nil
}

// hijackWriter is the server's side of a pipeTransport request.
type hijackWriter struct {
	header   http.Header
	code     int
	body     bytes.Buffer
	conn     net.Conn
	hijacked bool
	once     sync.Once
	ready    chan struct{} // closed on Hijack, or when the handler returns
}

func (w *hijackWriter) Header() http.Header { return w.header }

func (w *hijackWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *hijackWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	w.once.Do(func() { close(w.ready) })
	return w.conn, bufio.NewReadWriter(bufio.NewReader(w.conn), bufio.NewWriter(w.conn)), nil
}
