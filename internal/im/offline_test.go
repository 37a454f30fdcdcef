package im

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// pacedSession is a session with a bounded queue, as a client stream
// has: what it is sent waits in the queue until the test drains it, as
// a client that reads slowly. Past its bound a real session would end
// its stream; this one records that it overflowed.
type pacedSession struct {
	session
	limit int

	qmu      sync.Mutex
	queued   int              // bytes sent and not drained
	pending  []*xmlel.Element // in the queue, oldest first
	peak     int
	overflow bool
	gone     bool
	wake     chan struct{}
	// late are stanzas sent after the session ended: c2s hands them
	// back, as the ones it had queued.
	late []*xmlel.Element
}

var _ router.Pacer = (*pacedSession)(nil)

func (s *pacedSession) Send(el *xmlel.Element) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.gone {
		s.late = append(s.late, el.Copy())
		return
	}
	s.queued += len(el.String())
	s.pending = append(s.pending, el.Copy())
	s.peak = max(s.peak, s.queued)
	if s.queued > s.limit {
		s.overflow = true
	}
}

func (s *pacedSession) Room() router.Room {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.gone {
		return router.Room{Gone: true}
	}
	if s.queued > s.limit/4 {
		if s.wake == nil {
			s.wake = make(chan struct{})
		}
		return router.Room{Ready: s.wake}
	}
	return router.Room{Bytes: s.limit/2 - s.queued, Stanzas: math.MaxInt}
}

// drain lets the client read up to n stanzas and records them as got.
// It returns how many it read, and how many of them were messages.
func (s *pacedSession) drain(n int) (int, int) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	n = min(n, len(s.pending))
	msgs := 0
	for _, el := range s.pending[:n] {
		s.queued -= len(el.String())
		s.session.Send(el)
		if el.Local == "message" {
			msgs++
		}
	}
	s.pending = s.pending[n:]
	if s.queued <= s.limit/4 && s.wake != nil {
		close(s.wake)
		s.wake = nil
	}
	return n, msgs
}

// end ends the session: what was queued and not read is returned, as
// c2s hands it back.
func (s *pacedSession) end() []*xmlel.Element {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.gone = true
	if s.wake != nil {
		close(s.wake)
		s.wake = nil
	}
	lost := s.pending
	s.pending = nil
	return lost
}

func (e *env) bindPaced(full string, limit int) *pacedSession {
	e.t.Helper()
	s := &pacedSession{session: session{jid: jid.MustParse(full)}, limit: limit}
	if _, err := e.r.Bind(s, true, 0); err != nil {
		e.t.Fatalf("bind %s: %v", full, err)
	}
	return s
}

// storeBacklog stores n messages of about size bytes for user, with
// bodies "m0000", "m0001", ...
func (e *env) storeBacklog(user jid.JID, n, size int) {
	e.t.Helper()
	pad := strings.Repeat("x", size)
	for i := range n {
		x := fmt.Sprintf(`<message from='romeo@%s/orchard' to='%s' type='chat'><body>m%04d</body><x xmlns='urn:example:pad'>%s</x></message>`, host, user, i, pad)
		if err := e.store.Offline().Push(e.ctx, user.String(), x, 0); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) stored(user jid.JID) int {
	e.t.Helper()
	n, err := e.store.Offline().Count(e.ctx, user.String())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// bodies returns the bodies of the messages among els.
func bodies(els []*xmlel.Element) []string {
	var out []string
	for _, el := range filter(els, "message", "") {
		out = append(out, el.ChildText("", "body"))
	}
	return out
}

// idle waits until no offline delivery runs.
func (e *env) idle() {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.im.mu.Lock()
		n := len(e.im.offline)
		e.im.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatal("an offline delivery still runs after 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// drainAll reads whatever is in the queue.
func (s *pacedSession) drainAll() {
	for {
		if n, _ := s.drain(10); n == 0 {
			return
		}
	}
}

// readAll drains s in small steps until it got want messages (other
// stanzas, such as presence, may come between them), or fails after 10s.
func readAll(t *testing.T, s *pacedSession, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for got := 0; got < want; {
		if n, msgs := s.drain(7); n > 0 {
			got += msgs
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client read %d of %d messages in 10s", got, want)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func seq(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("m%04d", i))
	}
	return out
}

// TestOfflinePaced delivers a backlog of 300 messages (about 150 KB) to
// a session whose queue holds 16 KB: it goes at the pace the client
// reads, the queue never overflows, every message arrives once and in
// order, and storage is empty at the end.
func TestOfflinePaced(t *testing.T) {
	e := newEnv(t, Config{})
	juliet := e.user("juliet")
	e.storeBacklog(juliet, 300, 500)
	const limit = 16 << 10
	s := e.bindPaced("juliet@"+host+"/balcony", limit)
	e.send(s, `<presence/>`)
	// Presence handling returned with the queue half full, not with
	// 150 KB in it.
	s.qmu.Lock()
	queued := s.queued
	s.qmu.Unlock()
	if queued > limit/2+1024 || queued == 0 {
		t.Fatalf("after the presence %d bytes queued, want some, at most about half of %d", queued, limit)
	}
	if n := e.stored(juliet); n == 0 || n == 300 {
		t.Errorf("%d messages still stored after the first batch, want those not yet sent", n)
	}
	readAll(t, s, 300)
	e.idle()
	got := bodies(s.take())
	if strings.Join(got, " ") != strings.Join(seq(0, 300), " ") {
		t.Fatalf("the client got %d messages: %v, want m0000..m0299 once each, in order", len(got), got)
	}
	if s.overflow {
		t.Errorf("the queue overflowed (peak %d bytes, bound %d)", s.peak, limit)
	}
	if n := e.stored(juliet); n != 0 {
		t.Errorf("%d messages still stored after delivery", n)
	}
	for _, el := range filter(s.take(), "message", "") {
		t.Errorf("more after the backlog: %s", el)
	}
}

// TestOfflineUnpaced checks that a session without a bound gets the
// whole backlog before the presence handling returns, as before.
func TestOfflineUnpaced(t *testing.T) {
	e := newEnv(t, Config{})
	juliet := e.user("juliet")
	e.storeBacklog(juliet, 250, 10)
	s := e.bind("juliet@" + host + "/balcony")
	e.send(s, `<presence/>`)
	if got := bodies(s.take()); strings.Join(got, " ") != strings.Join(seq(0, 250), " ") {
		t.Fatalf("got %d messages, want all 250 in order", len(got))
	}
	e.idle()
	if n := e.stored(juliet); n != 0 {
		t.Errorf("%d messages still stored", n)
	}
}

// TestOfflineSessionGoes ends a session in the middle of its backlog:
// the delivery stops, what was never handed to the session stays stored,
// and together with what the session got and what it was handed and did
// not send (which c2s hands back) it is the whole backlog, each message
// once. Another resource that became available meanwhile then gets the
// rest.
func TestOfflineSessionGoes(t *testing.T) {
	e := newEnv(t, Config{})
	juliet := e.user("juliet")
	e.storeBacklog(juliet, 200, 500)
	s := e.bindPaced("juliet@"+host+"/balcony", 16<<10)
	e.send(s, `<presence/>`)
	s.drain(40)
	// A second resource becomes available while the first one's
	// delivery waits: it waits for its turn.
	phone := e.bindPaced("juliet@"+host+"/phone", 1<<30)
	e.send(phone, `<presence/>`)
	if got := bodies(phone.take()); len(got) != 0 {
		t.Fatalf("the second resource got %d messages while the first one's delivery ran", len(got))
	}
	lost := bodies(s.end())
	e.end(s)
	// The first delivery may still send to the ended session before it
	// sees it gone (c2s hands those back too); then the second
	// resource's runs, and its queue has room for all of it.
	e.idle()
	s.qmu.Lock()
	lost = append(lost, bodies(s.late)...)
	s.qmu.Unlock()
	read := bodies(s.take())
	readAll(t, phone, 200-len(read)-len(lost))
	e.idle()
	rest := bodies(phone.take())
	all := append(append(append([]string(nil), read...), lost...), rest...)
	if strings.Join(all, " ") != strings.Join(seq(0, 200), " ") {
		t.Fatalf("read %d, handed back %d, then %d to the other resource: %v, want m0000..m0199 once each", len(read), len(lost), len(rest), all)
	}
	if len(rest) == 0 || len(read) == 0 {
		t.Errorf("read %d, then %d to the other resource: want some of each", len(read), len(rest))
	}
	if n := e.stored(juliet); n != 0 {
		t.Errorf("%d messages still stored", n)
	}
}

// TestOfflineUnavailableStops checks that a resource that becomes
// unavailable mid-backlog gets no more, and that the rest waits in
// storage for its next available presence.
func TestOfflineUnavailableStops(t *testing.T) {
	e := newEnv(t, Config{})
	juliet := e.user("juliet")
	e.storeBacklog(juliet, 200, 500)
	s := e.bindPaced("juliet@"+host+"/balcony", 16<<10)
	e.send(s, `<presence/>`)
	e.send(s, `<presence type='unavailable'/>`)
	s.qmu.Lock()
	handed := len(bodies(s.pending))
	s.qmu.Unlock()
	s.drainAll()
	e.idle()
	got := bodies(s.take())
	if len(got) != handed {
		t.Fatalf("got %d messages after unavailable presence, want the %d handed over before", len(got), handed)
	}
	if n := e.stored(juliet); n != 200-handed {
		t.Fatalf("%d messages stored, want %d", n, 200-handed)
	}
	e.send(s, `<presence/>`)
	readAll(t, s, 200-handed)
	e.idle()
	if rest := bodies(s.take()); strings.Join(rest, " ") != strings.Join(seq(handed, 200), " ") {
		t.Fatalf("after available presence again got %v, want the rest in order", rest)
	}
}

// TestOfflineCloseStops closes the core while a delivery waits for room:
// Close returns, and what was not handed over stays stored.
func TestOfflineCloseStops(t *testing.T) {
	e := newEnv(t, Config{})
	juliet := e.user("juliet")
	e.storeBacklog(juliet, 200, 500)
	s := e.bindPaced("juliet@"+host+"/balcony", 16<<10)
	e.send(s, `<presence/>`)
	done := make(chan struct{})
	go func() {
		e.im.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	handed := len(bodies(s.pending))
	s.drainAll()
	if n := e.stored(juliet); n != 200-handed {
		t.Errorf("%d messages stored after Close, want the %d not handed over", n, 200-handed)
	}
}

// TestOfflineResumedSession swaps the session of the resource in the
// middle of the backlog, as a stream resumed on a new connection does
// (XEP-0198 §5): the delivery goes on with the new session.
func TestOfflineResumedSession(t *testing.T) {
	e := newEnv(t, Config{})
	juliet := e.user("juliet")
	e.storeBacklog(juliet, 200, 500)
	old := e.bindPaced("juliet@"+host+"/balcony", 16<<10)
	e.send(old, `<presence/>`)
	resumed := &pacedSession{session: session{jid: old.jid}, limit: 16 << 10}
	if !e.r.Rebind(old, resumed) {
		t.Fatal("Rebind failed")
	}
	handed := old.end() // the resumed stream sends these again
	readAll(t, resumed, 200-len(bodies(handed)))
	e.idle()
	got := append(bodies(handed), bodies(resumed.take())...)
	if strings.Join(got, " ") != strings.Join(seq(0, 200), " ") {
		t.Fatalf("got %v, want m0000..m0199 once each, in order", got)
	}
}

// storeLate stores a chat message from romeo for user as the core does
// when routing found no available resource, and waits for what follows.
func (e *env) storeLate(user jid.JID) {
	e.t.Helper()
	romeo := jid.MustParse("romeo@" + host + "/orchard")
	msg := parse(e.t, `<message from='romeo@example.org/orchard' to='`+user.String()+`' type='chat'><body>late</body></message>`)
	e.im.storeOffline(e.ctx, &stanza.Stanza{El: msg, From: romeo, To: user})
	e.idle()
}

// TestOfflineStoredLate stores a message for a user whose resource
// became available after the message was routed (and found no resource)
// and before it was stored: the resource's delivery at its presence read
// the storage too early, and the message goes to it now rather than at
// its next login.
func TestOfflineStoredLate(t *testing.T) {
	e := newEnv(t, Config{})
	juliet := e.user("juliet")
	s := e.online("juliet@"+host+"/balcony", "")
	e.storeLate(juliet)
	if got := bodies(s.take()); len(got) != 1 || got[0] != "late" {
		t.Fatalf("the available resource got %q, want the message stored after its presence", got)
	}
	if n := e.stored(juliet); n != 0 {
		t.Errorf("%d messages still stored", n)
	}

	// A resource with a negative priority takes no offline messages
	// (XEP-0160 §3): the message waits.
	e.send(s, `<presence><priority>-1</priority></presence>`)
	s.take()
	e.storeLate(juliet)
	if got := s.take(); len(got) != 0 {
		t.Errorf("a resource of negative priority got %d stanzas", len(got))
	}
	if n := e.stored(juliet); n != 1 {
		t.Errorf("%d messages stored, want the one for a later available presence", n)
	}
}

// proxySession stands in for a resource bound on another node of a
// cluster (router.Proxy).
type proxySession struct{ session }

func (*proxySession) Node() string { return "n2" }

// TestOfflineStoredLateElsewhere: a resource available on another node
// of a cluster is left to its node's delivery, which this node cannot
// take turns with.
func TestOfflineStoredLateElsewhere(t *testing.T) {
	e := newEnv(t, Config{})
	juliet := e.user("juliet")
	p := &proxySession{session{jid: jid.MustParse("juliet@" + host + "/phone")}}
	if _, err := e.r.Bind(p, true, 0); err != nil {
		t.Fatal(err)
	}
	e.r.SetPresence(p.JID(), parse(t, `<presence/>`), 0)
	e.storeLate(juliet)
	if got := p.take(); len(got) != 0 {
		t.Errorf("a resource on another node got %d stanzas from this node's storage", len(got))
	}
	if n := e.stored(juliet); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
}
