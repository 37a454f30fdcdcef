package c2s

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/transport"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// fakeCore records what the outbox hands back to the core.
type fakeCore struct {
	mu          sync.Mutex
	ended       []jid.JID
	undelivered []string // bodies
	at          []time.Time
}

func (c *fakeCore) Outbound(context.Context, router.Session, *stanza.Stanza) {}

func (c *fakeCore) Ended(_ context.Context, s router.Session, _ router.Resource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = append(c.ended, s.JID())
}

func (c *fakeCore) Undelivered(_ context.Context, _ jid.JID, el *xmlel.Element, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.undelivered = append(c.undelivered, el.ChildText("", "body"))
	c.at = append(c.at, at)
}

func testService(t *testing.T, cfg Config) (*Service, *fakeCore) {
	t.Helper()
	core := &fakeCore{}
	svc := New(cfg, router.New([]string{"example.org"}), nil, core, func() PreAuth { return PreAuth{} },
		slog.New(slog.DiscardHandler), NewMetrics(metrics.NewRegistry()))
	t.Cleanup(svc.cancel)
	return svc, core
}

// detachedBox returns a bound, stream-managed outbox with no connection,
// which keeps everything sent in its queue.
func detachedBox(t *testing.T, svc *Service) *outbox {
	t.Helper()
	full := jid.MustParse("juliet@example.org/balcony")
	s := &Session{svc: svc, jid: full}
	if _, err := svc.router.Bind(s, false, 0); err != nil {
		t.Fatal(err)
	}
	b := newOutbox(svc, s)
	b.conn = nil
	b.sm = true
	b.starting = false
	s.box = b
	svc.m.Sessions.Add(1)
	return b
}

func msg(body string) *xmlel.Element {
	return xmlel.New("", "message", "type", "chat", "from", "romeo@example.org/orchard", "to", "juliet@example.org").
		Append(xmlel.TextElement("", "body", body))
}

func queued(b *outbox) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, u := range b.queue {
		el := u.el
		if el == nil {
			// Bytes (sendRaw): read, and left as they are.
			el = b.svc.tree(u.raw)
		}
		s := el.Local
		if body := el.ChildText("", "body"); body != "" {
			s += ":" + body
		} else if f := el.Attr("from"); f != "" {
			s += ":" + f
		}
		out = append(out, s)
	}
	return out
}

func TestAckedWrapsAround(t *testing.T) {
	cases := []struct {
		last, h uint32
		waiting int
		want    int
		ok      bool
	}{
		{0, 0, 0, 0, true},
		{0, 3, 5, 3, true},
		{0, 6, 5, 0, false},
		{5, 5, 2, 0, true},
		// The counter goes from 2^32-1 to 0 (XEP-0198 §4).
		{math.MaxUint32 - 1, 1, 4, 3, true},
		{math.MaxUint32, 0, 1, 1, true},
		{math.MaxUint32, 2, 2, 0, false},
		// An 'h' behind the last one would be a huge step forward.
		{10, 9, 100, 0, false},
	}
	for _, tc := range cases {
		got, ok := acked(tc.last, tc.h, tc.waiting)
		if got != tc.want || ok != tc.ok {
			t.Errorf("acked(%d, %d, %d) = %d, %v, want %d, %v", tc.last, tc.h, tc.waiting, got, ok, tc.want, tc.ok)
		}
	}
}

func TestOutboxAckAcrossWrapAround(t *testing.T) {
	svc, _ := testService(t, Config{})
	b := detachedBox(t, svc)
	// The client has acknowledged 2^32-2 stanzas: the next ones count
	// 2^32-1, 0, 1.
	b.acked = math.MaxUint32 - 1
	for i := range 3 {
		b.send(msg(fmt.Sprint(i)))
	}
	b.mu.Lock()
	ok, _ := b.ack(0)
	b.mu.Unlock()
	if !ok {
		t.Fatal("ack(0) refused after the wrap-around")
	}
	if got := queued(b); strings.Join(got, " ") != "message:2" {
		t.Errorf("after ack(0) queue = %v, want [message:2]", got)
	}
	b.mu.Lock()
	ok, sent := b.ack(2)
	b.mu.Unlock()
	if ok || sent != 1 {
		t.Errorf("ack(2) = %v, send-count %d; want refused with send-count 1", ok, sent)
	}
	b.mu.Lock()
	ok, _ = b.ack(1)
	left, bytes := len(b.queue), b.bytes
	b.mu.Unlock()
	if !ok || left != 0 || bytes != 0 {
		t.Errorf("ack(1) = %v, %d left, %d bytes; want all acknowledged", ok, left, bytes)
	}
}

func TestOutboxHandledWrapsAround(t *testing.T) {
	svc, _ := testService(t, Config{})
	b := detachedBox(t, svc)
	b.in = math.MaxUint32
	b.handled(1)
	if b.in != 0 {
		t.Errorf("h after 2^32-1 = %d, want 0", b.in)
	}
	b.sm = false
	b.handled(1)
	if b.in != 0 {
		t.Errorf("h counted without stream management: %d", b.in)
	}
}

func TestOutboxOverflowEndsSession(t *testing.T) {
	svc, core := testService(t, Config{MaxUnacked: 3})
	b := detachedBox(t, svc)
	for i := range 4 {
		b.send(msg(fmt.Sprint(i)))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		core.mu.Lock()
		n := len(core.undelivered)
		core.mu.Unlock()
		if n == 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	core.mu.Lock()
	defer core.mu.Unlock()
	if got := strings.Join(core.undelivered, ","); got != "0,1,2,3" {
		t.Errorf("undelivered = %q, want every message in order", got)
	}
	if len(core.ended) != 1 {
		t.Errorf("Ended called %d times, want 1", len(core.ended))
	}
	if svc.router.Count() != 0 {
		t.Error("the session is still bound")
	}
}

func TestOutboxEndHandsBackUnacked(t *testing.T) {
	svc, core := testService(t, Config{})
	b := detachedBox(t, svc)
	b.send(msg("one"))
	b.send(xmlel.New("", "presence", "from", "romeo@example.org/orchard"))
	b.send(msg("two"))
	b.mu.Lock()
	b.ack(1)
	b.mu.Unlock()
	b.end()
	b.end() // once only
	if got := strings.Join(core.undelivered, ","); got != "two" {
		t.Errorf("undelivered = %q, want only the unacknowledged message", got)
	}
	if len(core.ended) != 1 {
		t.Errorf("Ended called %d times, want 1", len(core.ended))
	}
	// A stanza that arrives after the end is not lost either.
	b.send(msg("late"))
	if got := strings.Join(core.undelivered, ","); got != "two,late" {
		t.Errorf("after a late message undelivered = %q", got)
	}
}

// Messages that travel as bytes (sendRaw) are kept as bytes until
// acknowledged, made trees where a tree decides (an inactive client's
// buffer), and handed back like any other when the session ends.
func TestOutboxRawMessages(t *testing.T) {
	svc, core := testService(t, Config{CSIBuffer: 10})
	b := detachedBox(t, svc)
	raw := func(body string) []byte {
		return []byte("<message from='romeo@example.org/orchard' to='juliet@example.org' type='chat'><body>" + body + "</body></message>")
	}
	b.sendRaw(raw("one &amp; two"), nil)
	b.mu.Lock()
	u := b.queue[0]
	b.mu.Unlock()
	if u.el != nil || string(u.raw) != string(raw("one &amp; two")) || u.size != len(u.raw) {
		t.Errorf("queued %v %q size %d, want the bytes as they came", u.el, u.raw, u.size)
	}
	b.setInactive(true)
	b.sendRaw([]byte("<message from='romeo@example.org/orchard' to='juliet@example.org' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>"), nil)
	if got := strings.Join(queued(b), " "); got != "message:one & two" {
		t.Fatalf("while inactive a chat state went out: %q", got)
	}
	b.sendRaw(raw("three"), nil)
	want := "message:one & two message:romeo@example.org/orchard message:three"
	if got := strings.Join(queued(b), " "); got != want {
		t.Errorf("queue = %q, want %q", got, want)
	}
	b.mu.Lock()
	b.ack(1)
	b.mu.Unlock()
	b.end()
	b.sendRaw(raw("late"), nil)
	if got := strings.Join(core.undelivered, ","); got != ",three,late" {
		t.Errorf("handed back %q, want the chat state, three and late", got)
	}
}

func TestOutboxEndAnswersRequests(t *testing.T) {
	svc, core := testService(t, Config{})
	var mu sync.Mutex
	var routed []*xmlel.Element
	svc.router.SetLocal(router.HandlerFunc(func(_ context.Context, st *stanza.Stanza) {
		mu.Lock()
		defer mu.Unlock()
		routed = append(routed, st.El)
	}))
	b := detachedBox(t, svc)
	b.send(xmlel.New("", "iq", "type", "get", "id", "q1", "from", "romeo@example.org/orchard", "to", "juliet@example.org/balcony").
		Append(xmlel.New("urn:xmpp:ping", "ping")))
	b.send(xmlel.New("", "iq", "type", "result", "id", "q2", "from", "romeo@example.org/orchard", "to", "juliet@example.org/balcony"))
	b.send(xmlel.New("", "presence", "from", "romeo@example.org/orchard"))
	b.end()
	mu.Lock()
	defer mu.Unlock()
	if len(routed) != 1 {
		t.Fatalf("routed %d stanzas, want one error reply: %v", len(routed), routed)
	}
	e := routed[0]
	if e.Attr("type") != "error" || e.Attr("id") != "q1" || e.Attr("to") != "romeo@example.org/orchard" ||
		e.Child("", "error").Child(stanza.NSStanzas, "service-unavailable") == nil {
		t.Errorf("reply to an unanswered request: %v", e)
	}
	if len(core.undelivered) != 0 {
		t.Errorf("iq or presence handed to the core: %v", core.undelivered)
	}
}

func TestOutboxEndLeavesArchivedToTheArchive(t *testing.T) {
	svc, core := testService(t, Config{})
	b := detachedBox(t, svc)
	archived := msg("archived")
	archived.Append(xmlel.New("urn:xmpp:sid:0", "stanza-id", "by", "juliet@example.org", "id", "x1"))
	foreign := msg("foreign id")
	foreign.Append(xmlel.New("urn:xmpp:sid:0", "stanza-id", "by", "romeo@example.org", "id", "x2"))
	b.send(archived)
	b.send(foreign)
	b.queriedArchive()
	b.end()
	// The client syncs the archive when it comes back: only the message
	// the user's archive does not hold comes back.
	if got := strings.Join(core.undelivered, ","); got != "foreign id" {
		t.Errorf("undelivered = %q, want only the message without the user's stanza-id", got)
	}

	svc2, core2 := testService(t, Config{})
	b2 := detachedBox(t, svc2)
	b2.send(archived)
	b2.end()
	// A client that never used the archive gets it back.
	if got := strings.Join(core2.undelivered, ","); got != "archived" {
		t.Errorf("without archive use undelivered = %q, want the message", got)
	}
}

func TestDetachedHoldsPresence(t *testing.T) {
	svc, _ := testService(t, Config{ResumeWindow: time.Minute})
	c1, c2 := net.Pipe()
	defer c1.Close()
	go io.Copy(io.Discard, c2)
	s := &Session{svc: svc, jid: jid.MustParse("juliet@example.org/balcony"), q: transport.NewQueue(c1, 0)}
	if _, err := svc.router.Bind(s, false, 0); err != nil {
		t.Fatal(err)
	}
	b := newOutbox(svc, s)
	s.box = b
	b.start()
	b.sm, b.window = true, time.Minute
	b.id = svc.register(b)
	b.send(msg("before"))
	if !b.detach(s) {
		t.Fatal("detach = false for a resumable session")
	}
	defer b.end()
	for i := range 50 {
		b.send(xmlel.New("", "presence", "from", fmt.Sprintf("c%d@example.org/r", i%5)))
	}
	b.mu.Lock()
	queued, held := len(b.queue), len(b.held)
	b.mu.Unlock()
	if queued != 1 || held != 5 {
		t.Errorf("while detached: %d queued, %d held; want 1 and one presence per sender (5)", queued, held)
	}
	if svc.lookup(b.id) != b {
		t.Error("the detached session cannot be found for resumption")
	}
}

func TestImportant(t *testing.T) {
	parse := func(s string) *xmlel.Element {
		el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return el
	}
	cases := []struct {
		name, xml string
		want      bool
	}{
		{"presence", `<presence xmlns='jabber:client' from='a@b/c'/>`, false},
		{"unavailable", `<presence xmlns='jabber:client' type='unavailable'/>`, false},
		{"subscribe", `<presence xmlns='jabber:client' type='subscribe'/>`, true},
		{"subscribed", `<presence xmlns='jabber:client' type='subscribed'/>`, true},
		{"presence error", `<presence xmlns='jabber:client' type='error'/>`, true},
		{"iq", `<iq xmlns='jabber:client' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`, true},
		{"body", `<message xmlns='jabber:client'><body>hi</body></message>`, true},
		{"chat state", `<message xmlns='jabber:client' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
		{"chat state with body", `<message xmlns='jabber:client'><active xmlns='http://jabber.org/protocol/chatstates'/><body>x</body></message>`, true},
		{"receipt", `<message xmlns='jabber:client'><received xmlns='urn:xmpp:receipts' id='x'/></message>`, false},
		{"omemo", `<message xmlns='jabber:client'><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>`, true},
		{"omemo 2", `<message xmlns='jabber:client'><encrypted xmlns='urn:xmpp:omemo:2'/></message>`, true},
		{"openpgp", `<message xmlns='jabber:client'><openpgp xmlns='urn:xmpp:openpgp:0'>x</openpgp></message>`, true},
		{"subject", `<message xmlns='jabber:client' type='groupchat'><subject>s</subject></message>`, true},
		{"error", `<message xmlns='jabber:client' type='error'><error type='cancel'/></message>`, true},
		{"pep", `<message xmlns='jabber:client'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:avatar:metadata'/></event></message>`, false},
		{"invite", `<message xmlns='jabber:client'><x xmlns='http://jabber.org/protocol/muc#user'><invite from='a@b'/></x></message>`, true},
		{"call", `<message xmlns='jabber:client'><propose xmlns='urn:xmpp:jingle-message:0' id='x'/></message>`, true},
		{"carbon of a body", `<message xmlns='jabber:client'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'><body>x</body></message></forwarded></received></message>`, true},
		{"carbon of a chat state", `<message xmlns='jabber:client'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'><paused xmlns='http://jabber.org/protocol/chatstates'/></message></forwarded></sent></message>`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := important(parse(tc.xml)); got != tc.want {
				t.Errorf("important(%s) = %v, want %v", tc.xml, got, tc.want)
			}
		})
	}
}

func TestCSIHoldsAndFlushesInOrder(t *testing.T) {
	svc, _ := testService(t, Config{CSIBuffer: 10})
	b := detachedBox(t, svc)
	pres := func(from, show string) *xmlel.Element {
		return xmlel.New("", "presence", "from", from).Append(xmlel.TextElement("", "show", show))
	}
	state := xmlel.New("", "message", "from", "romeo@example.org/orchard").
		Append(xmlel.New("http://jabber.org/protocol/chatstates", "composing"))
	b.setInactive(true)
	b.send(pres("romeo@example.org/orchard", "away"))
	b.send(pres("nurse@example.org/house", "dnd"))
	b.send(state)
	b.send(pres("romeo@example.org/orchard", "chat")) // replaces the first
	if got := queued(b); len(got) != 0 {
		t.Fatalf("sent while inactive: %v", got)
	}
	b.send(msg("wake up"))
	want := "presence:nurse@example.org/house message:romeo@example.org/orchard presence:romeo@example.org/orchard message:wake up"
	if got := strings.Join(queued(b), " "); got != want {
		t.Errorf("after an important stanza queue = %q, want %q", got, want)
	}
	b.mu.Lock()
	last := b.queue[2].el.ChildText("", "show")
	b.mu.Unlock()
	if last != "chat" {
		t.Errorf("the held presence is %q, want the newest (chat)", last)
	}

	// <active/> sends what was held.
	b.mu.Lock()
	b.ack(b.acked + uint32(len(b.queue)))
	b.mu.Unlock()
	b.send(pres("nurse@example.org/house", "xa"))
	if got := queued(b); len(got) != 0 {
		t.Fatalf("sent while inactive: %v", got)
	}
	b.setInactive(false)
	if got := strings.Join(queued(b), " "); got != "presence:nurse@example.org/house" {
		t.Errorf("after <active/> queue = %q", got)
	}
}

func TestCSIBufferIsBounded(t *testing.T) {
	svc, _ := testService(t, Config{CSIBuffer: 3})
	b := detachedBox(t, svc)
	b.setInactive(true)
	for i := range 5 {
		b.send(xmlel.New("", "presence", "from", fmt.Sprintf("c%d@example.org/r", i)))
	}
	b.mu.Lock()
	held, sent := len(b.held), len(b.queue)
	b.mu.Unlock()
	if held > 3 || held+sent != 5 {
		t.Errorf("held %d, sent %d: want at most 3 held and nothing lost", held, sent)
	}
}

// boundSession returns a session of juliet@example.org/balcony without
// stream management, bound and writing to a pipe, and the client's end
// of the pipe.
func boundSession(t *testing.T, svc *Service) (*Session, net.Conn) {
	t.Helper()
	server, client := net.Pipe()
	full := jid.MustParse("juliet@example.org/balcony")
	s := &Session{svc: svc, jid: full, q: transport.NewQueue(server, svc.cfg.OutQueueBytes)}
	if _, err := svc.router.Bind(s, false, 0); err != nil {
		t.Fatal(err)
	}
	s.box = newOutbox(svc, s)
	s.box.starting = false
	svc.m.Sessions.Add(1)
	s.q.Start()
	return s, client
}

// TestSlowReaderWithoutSM fills the queue of a client without stream
// management that stopped reading: its stream ends, and every message
// that had not left the queue, or that came while the stream was
// closing, is handed back to the core (other resources or offline
// storage), in order; what the client read is not.
func TestSlowReaderWithoutSM(t *testing.T) {
	svc, core := testService(t, Config{OutQueueBytes: 2000})
	s, client := boundSession(t, svc)
	defer client.Close()

	s.Send(msg("read"))
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []byte
	buf := make([]byte, 64)
	for !strings.Contains(string(got), "read</body></message>") {
		n, err := client.Read(buf)
		if err != nil {
			t.Fatalf("first message: %q, %v", got, err)
		}
		got = append(got, buf[:n]...)
	}
	// The client stops reading.
	var want []string
	for i := range 40 {
		body := fmt.Sprintf("m%02d %s", i, strings.Repeat("x", 80))
		want = append(want, body)
		s.Send(msg(body))
	}
	if !s.q.Closing() {
		t.Fatal("the stream of a client that does not read is still open")
	}
	s.finish()
	core.mu.Lock()
	defer core.mu.Unlock()
	if got := strings.Join(core.undelivered, "|"); got != strings.Join(want, "|") {
		t.Errorf("handed back %d messages:\n%q\nwant the %d the client never read, in order", len(core.undelivered), core.undelivered, len(want))
	}
	if svc.router.Count() != 0 {
		t.Error("the session is still bound")
	}
}

// TestRefusedBounded floods a session whose stream is closing: what it
// keeps to hand back at the end stays within its bound, and every
// message is handed back all the same.
func TestRefusedBounded(t *testing.T) {
	svc, core := testService(t, Config{OutQueueBytes: 2000})
	s, client := boundSession(t, svc)
	defer client.Close()
	s.closeStream(stream.Error{Condition: stream.PolicyViolation}, false, true)
	const n = 200
	for i := range n {
		s.Send(msg(fmt.Sprintf("m%03d %s", i, strings.Repeat("x", 80))))
	}
	s.box.mu.Lock()
	kept, bytes := len(s.box.refused), s.box.refusedBytes
	s.box.mu.Unlock()
	if bytes > refusedFactor*2000 || kept == 0 || kept == n {
		t.Errorf("kept %d messages of %d bytes for the end, want some, within %d bytes", kept, bytes, refusedFactor*2000)
	}
	s.finish()
	deadline := time.Now().Add(5 * time.Second)
	for {
		core.mu.Lock()
		got := len(core.undelivered)
		core.mu.Unlock()
		if got == n || time.Now().After(deadline) {
			if got != n {
				t.Errorf("%d of %d messages handed back", got, n)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInflightLetGoWhenWritten sends a burst to a session without stream
// management: once its queue is written, the stanzas it kept until they
// left are let go of at once (not when the next stanza comes, which may
// be hours later); the next burst's array comes in one allocation, and a
// single stanza after that gets a small one again.
func TestInflightLetGoWhenWritten(t *testing.T) {
	svc, _ := testService(t, Config{})
	// Nobody reads c2 at first: the writer blocks on its first write
	// and the burst stays unwritten.
	c1, c2 := net.Pipe()
	defer c1.Close()
	s := &Session{svc: svc, jid: jid.MustParse("juliet@example.org/balcony"), q: transport.NewQueue(c1, 0)}
	if _, err := svc.router.Bind(s, false, 0); err != nil {
		t.Fatal(err)
	}
	b := newOutbox(svc, s)
	s.box = b
	s.q.Start()
	b.start()
	const burst = 40
	for i := range burst {
		b.send(msg(fmt.Sprint(i)))
	}
	b.mu.Lock()
	kept := len(b.inflight)
	b.mu.Unlock()
	if kept != burst {
		t.Fatalf("%d of a burst of %d unwritten stanzas kept", kept, burst)
	}
	go io.Copy(io.Discard, c2)
	// drained waits until the queue is written and the outbox let go of
	// its array, and returns the size it will make the next one at.
	drained := func() int {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			b.mu.Lock()
			kept, capNow, hint := len(b.inflight), cap(b.inflight), b.inflightCap
			b.mu.Unlock()
			if kept == 0 && capNow == 0 {
				return hint
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the queue was written, %d stanzas are kept in an array of %d", kept, capNow)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if hint := drained(); hint != burst {
		t.Errorf("the next array is to hold %d, want the burst's %d", hint, burst)
	}
	b.send(msg("next"))
	b.mu.Lock()
	capNext := cap(b.inflight)
	b.mu.Unlock()
	if capNext != burst {
		t.Errorf("the next array holds %d, want %d at once", capNext, burst)
	}
	if hint := drained(); hint != 0 {
		t.Errorf("after a single stanza the next array is to hold %d, want 0 (grown as needed)", hint)
	}
	b.send(msg("single"))
	b.mu.Lock()
	capSingle := cap(b.inflight)
	b.mu.Unlock()
	if capSingle > keptInflight {
		t.Errorf("a single stanza after a single stanza got an array of %d", capSingle)
	}
}
