package c2s

import (
	"context"
	"sync"
	"time"

	"samtal.org/samtal/internal/durable"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/transport"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// outbox is the state of a bound session that outlives its connection:
// everything sent to the client passes through it. It holds back what
// can wait while the client is inactive (XEP-0352), counts and keeps what
// the client has not acknowledged (XEP-0198), and survives the loss of
// the connection for the resumption window, so that a new connection can
// take the session over where the old one stopped.
//
// Lock order: outbox.mu, then router, then the connection's queue. Core
// and storage are never called with mu held.
type outbox struct {
	svc *Service
	jid jid.JID

	mu    sync.Mutex
	conn  *Session // the connection writing for the session; nil while detached
	owner *Session // the session the router knows
	ended bool
	// starting holds stanzas back until the client has learnt that it
	// is bound: nothing may come before the bind result or the SASL2
	// <success/>.
	starting bool
	early    []*xmlel.Element

	// Stream management (XEP-0198).
	sm     bool   // enabled
	id     string // SM-ID when resumable, "" otherwise
	window time.Duration
	in     uint32 // stanzas from the client handled ('h' we send)
	// settled counts a stanza in 'in' once what its handling wrote is
	// durable: an acknowledged message survives a crash.
	settled   *durable.Tracker
	acked     uint32 // the client's last 'h': stanzas it handled
	queue     []unacked
	bytes     int  // of queue
	requested bool // an <r/> is unanswered
	overfull  bool // the queue passed its bound: the session is ending
	reqTimer  *time.Timer
	expiry    *time.Timer
	usedMAM   bool // the client queried its archive (XEP-0313)

	// Without stream management: the stanzas in the connection's queue
	// that may not have left yet, oldest first. A client that reads too
	// slowly loses its stream with them in the queue, and they are
	// handed back like unacknowledged ones when the session ends.
	inflight []queuedAt
	// out counts the stanzas queued for the connection, for the shared
	// counters; it settles when the queue empties and when the session
	// ends.
	out kindBatch
	// inflightPeak is the most stanzas inflight held since it was last
	// let go of, and inflightCap that peak when it was: a session that
	// gets bursts gets the next one's array in one allocation instead of
	// six growing ones, and one that gets a single stanza after a burst
	// gets back to growing from one.
	inflightPeak, inflightCap int
	// refused are stanzas that came while the stream was closing and
	// could not be queued any more; they are handed back at the end.
	// refusedBytes bounds them: past refusedFactor times
	// out_queue_bytes, further ones are handed back at once.
	refused      []unacked
	refusedBytes int

	// Client state indication (XEP-0352).
	inactive bool
	held     []*xmlel.Element

	// wake, when not nil, is closed when a sender that found no room
	// (see room) may find some: the client acknowledged enough, the
	// session got a connection again, or it ended.
	wake chan struct{}
}

// refusedFactor bounds the stanzas a closing stream keeps for the end of
// its session, in multiples of its queue's bound: the stream closes
// within seconds, and what comes past the bound is not lost either,
// only handed back out of order.
const refusedFactor = 4

// queuedAt is a stanza in the connection's queue that ends at end (see
// transport.Queue.AppendEnd).
type queuedAt struct {
	unacked
	end int64
}

// unacked is a stanza sent while stream management is on and not yet
// acknowledged by the client. It is a tree (el), or a message forwarded
// as the bytes its sender wrote (raw, see Session.SendRaw), whose tree is
// made only if it must be sent again or handed back.
type unacked struct {
	el   *xmlel.Element
	raw  []byte
	size int
	at   time.Time // when it was first sent, for the delay stamp on re-sending
}

// local returns the stanza's name: raw ones are messages.
func (u *unacked) local() string {
	if u.el == nil {
		return stanza.Message
	}
	return u.el.Local
}

// space returns the stanza's namespace: raw ones are in the content
// namespace.
func (u *unacked) space() string {
	if u.el == nil {
		return ""
	}
	return u.el.Space
}

// wireSize returns the stanza's size on the stream.
func (u *unacked) wireSize() int {
	if u.el == nil {
		return len(u.raw)
	}
	return len(stream.AppendElement(nil, u.el, xmlel.NSClient))
}

// element returns the stanza's tree, made from its bytes for a raw one;
// nil if they do not parse, which bytes the reader checked never fail to.
func (u *unacked) element(svc *Service) *xmlel.Element {
	if u.el == nil && u.raw != nil {
		u.el = svc.tree(u.raw)
		u.raw = nil
	}
	return u.el
}

// tree parses a message that came as bytes (Session.SendRaw).
func (svc *Service) tree(raw []byte) *xmlel.Element {
	lim := svc.cfg.Limits
	lim.MaxStanzaBytes = max(lim.MaxStanzaBytes, len(raw))
	el, err := xmlstream.Parse(raw, lim)
	if err != nil {
		svc.log.Error("c2s: a forwarded message does not parse", "err", err)
		return nil
	}
	return el
}

func newOutbox(svc *Service, s *Session) *outbox {
	b := &outbox{svc: svc, jid: s.jid, conn: s, owner: s, starting: true}
	b.settled = durable.NewTracker(b.handled)
	if s.q != nil {
		s.q.OnEmpty(b.queueEmpty)
	}
	return b
}

// settleTimeout bounds how long enabling or resuming stream management
// waits for the writes of stanzas already read (see durable.Tracker):
// the count they report must include them.
const settleTimeout = 5 * time.Second

// start lets stanzas through, those that came while starting first.
func (b *outbox) start() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.starting = false
	early := b.early
	b.early = nil
	for _, el := range early {
		b.pass(el)
	}
	b.wakeUp()
}

// room tells a sender with much to send (router.Pacer) how much the
// session takes now: it keeps what is queued for the connection, and
// what the client has not acknowledged, to half their bounds, and once
// past that lets the sender wait until they are back under a quarter.
// The other half is for everything else, which is not paced. A session
// without a connection, waiting to be resumed, takes nothing until it
// is resumed.
func (b *outbox) room() router.Room {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended || b.overfull {
		return router.Room{Gone: true}
	}
	c := b.conn
	if b.starting || c == nil || c.q.Closing() {
		// The connection that ends either leaves the session waiting
		// to be resumed (detach) or ends it: both wake the sender.
		return router.Room{Ready: b.waitRoom()}
	}
	r := router.Unbounded
	if limit := b.svc.cfg.OutQueueBytes; limit > 0 {
		p := c.q.Pending()
		if p > limit/4 {
			return router.Room{Ready: c.q.WhenBelow(limit / 4)}
		}
		r.Bytes = limit/2 - p
	}
	if b.sm {
		cfg := &b.svc.cfg
		if !b.ackedEnough() {
			return router.Room{Ready: b.waitRoom()}
		}
		if cfg.MaxUnacked > 0 {
			r.Stanzas = cfg.MaxUnacked/2 - len(b.queue)
		}
		if cfg.MaxUnackedBytes > 0 {
			r.Bytes = min(r.Bytes, cfg.MaxUnackedBytes/2-b.bytes)
		}
	}
	// Under a quarter of tiny bounds: one stanza at a time.
	r.Bytes, r.Stanzas = max(r.Bytes, 1), max(r.Stanzas, 1)
	return r
}

// ackedEnough reports whether the stanzas that wait for the client's
// acknowledgement are under a quarter of their bounds. b.mu is held.
func (b *outbox) ackedEnough() bool {
	cfg := &b.svc.cfg
	return (cfg.MaxUnacked <= 0 || len(b.queue) <= cfg.MaxUnacked/4) &&
		(cfg.MaxUnackedBytes <= 0 || b.bytes <= cfg.MaxUnackedBytes/4)
}

// waitRoom returns the channel that wakeUp closes. b.mu is held.
func (b *outbox) waitRoom() <-chan struct{} {
	if b.wake == nil {
		b.wake = make(chan struct{})
	}
	return b.wake
}

// wakeUp wakes a sender waiting for room, which then asks again. b.mu is
// held.
func (b *outbox) wakeUp() {
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
}

// send passes el to the client, or holds it back while the client is
// inactive and el can wait.
func (b *outbox) send(el *xmlel.Element) {
	b.mu.Lock()
	if b.ended {
		b.mu.Unlock()
		b.svc.late(el, b.jid)
		return
	}
	if b.starting {
		b.early = append(b.early, el)
		b.mu.Unlock()
		return
	}
	b.pass(el)
	b.mu.Unlock()
}

// sendRaw passes a message that travels as bytes to the client. A
// stanza that waits (the session is starting, its client inactive) or
// goes back to the core (it ended) is made a tree: those paths decide
// from its content.
func (b *outbox) sendRaw(raw []byte, batch *transport.Batch) {
	b.mu.Lock()
	if b.ended || b.starting || b.inactive {
		b.mu.Unlock()
		if el := b.svc.tree(raw); el != nil {
			b.send(el)
		}
		return
	}
	b.emitVia(unacked{raw: raw}, batch)
	b.mu.Unlock()
}

// pass sends el or holds it back. b.mu is held.
func (b *outbox) pass(el *xmlel.Element) {
	if b.inactive {
		if !important(el) {
			b.hold(el)
			return
		}
		b.flushHeld()
	}
	b.emit(el)
}

// emit writes el to the connection, if any, and keeps it until the client
// acknowledges it when stream management is on. b.mu is held.
func (b *outbox) emit(el *xmlel.Element) { b.emitUnacked(unacked{el: el}) }

// emitUnacked is emit for a tree or bytes. b.mu is held.
func (b *outbox) emitUnacked(u unacked) { b.emitVia(u, nil) }

// emitVia is emitUnacked with the bytes of u written by batch's Flush
// when no writer runs (transport.Batch); batch may be nil. b.mu is held.
func (b *outbox) emitVia(u unacked, batch *transport.Batch) {
	size := 0
	var end int64
	if b.conn != nil {
		if u.el == nil {
			size, end = b.conn.writeRawEnd(u.raw, batch)
		} else {
			size, end = b.conn.writeEnd(u.el)
		}
		if size > 0 && u.space() == "" {
			b.out.count(b.svc.m.out, u.local())
		}
	}
	if !b.sm || b.ended {
		if b.ended || u.space() != "" {
			return
		}
		b.track(u, size, end)
		return
	}
	if size == 0 {
		size = u.wireSize()
	}
	u.size, u.at = size, time.Now()
	b.queue = append(b.queue, u)
	b.bytes += size
	cfg := &b.svc.cfg
	if (cfg.MaxUnacked > 0 && len(b.queue) > cfg.MaxUnacked) || (cfg.MaxUnackedBytes > 0 && b.bytes > cfg.MaxUnackedBytes) {
		b.overflow()
		return
	}
	b.maybeRequest()
}

// track keeps a stanza queued for a client without stream management
// until it has left the queue, or keeps it to hand back at the end when
// it could not be queued (size 0: the stream is closing). b.mu is held.
func (b *outbox) track(u unacked, size int, end int64) {
	local := u.local()
	if size == 0 {
		if b.conn == nil || (local != stanza.Message && local != stanza.IQ) {
			return
		}
		n := u.wireSize()
		if limit := refusedFactor * b.svc.cfg.OutQueueBytes; limit > 0 && b.refusedBytes+n > limit {
			// A flood at a stream that is closing: memory stays
			// bounded, and the stanza goes where it would at the end,
			// ahead of those kept (the core is not called with b.mu
			// held).
			go b.svc.lateUnacked(u, b.jid)
			return
		}
		b.refusedBytes += n
		u.at = time.Now()
		b.refused = append(b.refused, u)
		return
	}
	if local != stanza.Message && local != stanza.IQ {
		return // presence is state: the next session learns it anew
	}
	b.pruneInflight()
	if b.inflight == nil && b.inflightCap > 0 {
		b.inflight = make([]queuedAt, 0, b.inflightCap)
	}
	// Stanzas queued while those before them are still unwritten share
	// the first one's time: reading the clock for each stanza cost 3% of
	// the CPU of forwarding messages. The time only stamps a stanza
	// handed back when the session ends (XEP-0203), and a run of
	// unwritten stanzas lasts until the writer catches up: well under a
	// second, or, for a client that stopped reading, until the write
	// times out and the session ends (transport.WriteTimeout).
	var at time.Time
	if n := len(b.inflight); n > 0 {
		at = b.inflight[n-1].at
	} else {
		at = time.Now()
	}
	u.at = at
	b.inflight = append(b.inflight, queuedAt{u, end})
	b.inflightPeak = max(b.inflightPeak, len(b.inflight))
}

// keptInflight is the capacity of inflight kept while it is empty.
const keptInflight = 8

// pruneInflight drops from inflight the stanzas that have left the
// connection's queue. b.mu is held.
func (b *outbox) pruneInflight() {
	if len(b.inflight) == 0 || b.conn == nil {
		return
	}
	written := b.conn.q.Written()
	i := 0
	for i < len(b.inflight) && b.inflight[i].end <= written {
		i++
	}
	if i == 0 {
		return
	}
	// Moved to the front, so that appending reuses the array: a fresh
	// one for nearly every message (the writer had taken the one before)
	// cost 3% of the CPU of forwarding messages. A burst's large array
	// goes once it is empty.
	n := copy(b.inflight, b.inflight[i:])
	clear(b.inflight[n:])
	b.inflight = b.inflight[:n]
	if n == 0 && cap(b.inflight) > keptInflight {
		b.inflightCap = 0
		if b.inflightPeak > keptInflight {
			b.inflightCap = min(b.inflightPeak, maxInflightHint)
		}
		b.inflight, b.inflightPeak = nil, 0
	}
}

// maxInflightHint bounds the array made at once for the next burst: an
// offline backlog of thousands does not make every burst after it that
// large.
const maxInflightHint = 128

// queueEmpty runs when the connection's writer has written everything
// (transport.Queue.OnEmpty): the stanzas kept until they left, and a
// burst's array, go now rather than with the next stanza, which may not
// come for hours.
func (b *outbox) queueEmpty() {
	b.mu.Lock()
	b.pruneInflight()
	b.out.settle(b.svc.m.out)
	b.mu.Unlock()
}

// overflow ends a session whose client leaves too much unacknowledged:
// the queue would otherwise grow without bound. What it holds goes where
// stanzas for an unavailable resource go (see end). b.mu is held.
func (b *outbox) overflow() {
	if b.overfull {
		return // ending already; what still comes is kept for the end
	}
	b.overfull = true
	b.svc.log.Info("c2s client acknowledges too little, ending its session")
	if c := b.conn; c != nil {
		c.closeStream(stream.Error{Condition: stream.PolicyViolation, Text: "too many unacknowledged stanzas"}, true, false)
		return
	}
	go b.end()
}

// maybeRequest asks the client for an ack (XEP-0198 §4) when AckEvery
// stanzas wait for one, or AckDelay after the first: one request at a
// time, so that a busy stream carries few of them. b.mu is held.
func (b *outbox) maybeRequest() {
	if b.requested || b.conn == nil || len(b.queue) == 0 {
		return
	}
	cfg := &b.svc.cfg
	if len(b.queue) >= cfg.AckEvery {
		b.request()
		return
	}
	if b.reqTimer == nil {
		b.reqTimer = time.AfterFunc(cfg.AckDelay, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.reqTimer = nil
			if !b.requested && b.conn != nil && len(b.queue) > 0 && !b.ended {
				b.request()
			}
		})
	}
}

func (b *outbox) request() {
	b.requested = true
	if b.reqTimer != nil {
		b.reqTimer.Stop()
		b.reqTimer = nil
	}
	b.conn.writeNonza(xmlel.New(nsSM, "r"))
}

// ack handles the client's 'h' (on <a/> or <resume/>): the stanzas it
// counts are done with. It reports false, and changes nothing, when h
// counts more stanzas than were sent (XEP-0198 §6).
func (b *outbox) ack(h uint32) (ok bool, sent uint32) {
	n, ok := acked(b.acked, h, len(b.queue))
	if !ok {
		return false, b.acked + uint32(len(b.queue))
	}
	for _, u := range b.queue[:n] {
		b.bytes -= u.size
	}
	clear(b.queue[:n])
	b.queue = b.queue[n:]
	if len(b.queue) == 0 {
		b.queue = nil // give back a large array
	}
	b.acked = h
	if n > 0 && b.ackedEnough() {
		b.wakeUp()
	}
	return true, 0
}

// acked returns how many of the waiting stanzas the client's 'h' covers:
// h counts stanzas modulo 2^32 (XEP-0198 §4), so the difference is taken
// in uint32. It is not ok when h counts more than were sent.
func acked(last, h uint32, waiting int) (int, bool) {
	n := h - last // wraps around at 2^32 as the counter does
	if uint64(n) > uint64(waiting) {
		return 0, false
	}
	return int(n), true
}

// handled counts n stanzas from the client as handled: its tracker calls
// it once the writes their handling started are durable.
func (b *outbox) handled(n int) {
	b.mu.Lock()
	if b.sm {
		b.in += uint32(n) // wraps around at 2^32 (XEP-0198 §4)
	}
	b.mu.Unlock()
}

// detach keeps the session for resumption after its connection c was
// lost, and reports whether it did: only a resumable session whose
// connection c still is.
func (b *outbox) detach(c *Session) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != c || b.ended || b.id == "" {
		return false
	}
	b.conn = nil
	b.requested = false
	if b.reqTimer != nil {
		b.reqTimer.Stop()
		b.reqTimer = nil
	}
	// Nobody reads while the client is away: what can wait is held as
	// for an inactive client, one presence per sender, rather than
	// filling the queue towards its bound. A resumed stream starts
	// active (XEP-0352 §4.2) and gets it then.
	b.inactive = true
	b.expiry = time.AfterFunc(b.window, b.end)
	b.svc.m.Waiting.Add(1)
	b.wakeUp()
	return true
}

// closeWithError ends the session's stream; a session waiting to be
// resumed ends at once.
func (b *outbox) closeWithError(e stream.Error) {
	b.mu.Lock()
	c, ended := b.conn, b.ended
	b.mu.Unlock()
	switch {
	case c != nil:
		c.closeStream(e, true, false)
	case !ended:
		go b.end()
	}
}

// end ends the session once: it leaves the router, the core broadcasts
// its unavailable presence, and what the client did not acknowledge goes
// where stanzas for an unavailable resource go (XEP-0198 §4).
func (b *outbox) end() {
	b.mu.Lock()
	if b.ended {
		b.mu.Unlock()
		return
	}
	b.ended = true
	b.wakeUp()
	if b.conn == nil {
		b.svc.m.Waiting.Add(-1)
	}
	for _, t := range []*time.Timer{b.reqTimer, b.expiry} {
		if t != nil {
			t.Stop()
		}
	}
	owner, queue, usedMAM := b.owner, b.queue, b.usedMAM
	for _, el := range b.early {
		queue = append(queue, unacked{el: el, at: time.Now()})
	}
	if len(b.inflight) > 0 {
		// Without stream management, what never left the queue (a
		// client too slow to read it, a connection cut) is handed back;
		// what the kernel took is the client's, as on any TCP stream.
		// The session's queue is closed and flushed by now.
		written := owner.q.Written()
		for _, f := range b.inflight {
			if f.end > written {
				queue = append(queue, f.unacked)
			}
		}
	}
	queue = append(queue, b.refused...)
	b.out.settle(b.svc.m.out)
	b.queue, b.bytes, b.held, b.early, b.inflight, b.refused, b.refusedBytes = nil, 0, nil, nil, nil, nil, 0 // held: presence and chat states for a resource that is gone
	b.mu.Unlock()

	svc := b.svc
	svc.forget(b)
	svc.m.Sessions.Add(-1)
	ctx := svc.ctx
	if last, ok := svc.router.Unbind(owner); ok {
		svc.core.Ended(ctx, owner, last)
	}
	for _, u := range queue {
		svc.undelivered(ctx, b.jid, u, usedMAM)
	}
}

// setInactive switches the client state (XEP-0352 §3); becoming active
// sends what was held back, in order.
func (b *outbox) setInactive(inactive bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inactive = inactive
	if !inactive {
		b.flushHeld()
	}
}

// hold keeps an unimportant stanza for later. A newer presence from the
// same sender replaces the older one, which would only be overwritten
// when it arrives; a full buffer is sent rather than grown. b.mu is held.
func (b *outbox) hold(el *xmlel.Element) {
	if el.Local == stanza.Presence && el.Space == "" {
		from := el.Attr("from")
		for i, h := range b.held {
			if h.Local == stanza.Presence && h.Space == "" && h.Attr("from") == from {
				b.held = append(b.held[:i], b.held[i+1:]...)
				break
			}
		}
	}
	b.held = append(b.held, el)
	if len(b.held) >= b.svc.cfg.CSIBuffer {
		b.flushHeld()
	}
}

// flushHeld sends the held stanzas in the order they came. b.mu is held.
func (b *outbox) flushHeld() {
	held := b.held
	b.held = nil
	for _, el := range held {
		b.emit(el)
		if b.ended {
			return
		}
	}
}

// resend writes what the client has not acknowledged again after a
// resumption (XEP-0198 §5), each message and presence with a delay stamp
// of its first sending (XEP-0203) unless it has one. b.mu is held.
func (b *outbox) resend() {
	for i := range b.queue {
		u := &b.queue[i]
		if u.element(b.svc) == nil {
			continue
		}
		if (u.el.Local == stanza.Message || u.el.Local == stanza.Presence) && u.el.Space == "" && u.el.Child(stanza.NSDelay, "delay") == nil {
			// Elements are shared with other sessions: stamp a copy.
			c := u.el.ShallowCopy()
			c.Append(delayStamp(b.jid.Domain(), u.at))
			u.el = c
		}
		b.conn.write(u.el)
	}
}

func delayStamp(from string, t time.Time) *xmlel.Element {
	return xmlel.New(stanza.NSDelay, "delay", "from", from, "stamp", t.UTC().Format("2006-01-02T15:04:05.000Z"))
}

// late handles a stanza that reached a session after it ended, in the
// moment between the end and the router forgetting it.
func (svc *Service) late(el *xmlel.Element, full jid.JID) {
	svc.lateUnacked(unacked{el: el}, full)
}

// lateUnacked is late for a tree or bytes.
func (svc *Service) lateUnacked(u unacked, full jid.JID) {
	u.at = time.Now()
	svc.undelivered(svc.ctx, full, u, false)
}

// undelivered applies XEP-0198 §4 to a stanza the client of a session
// that ended did not acknowledge: it is treated as sent to an unavailable
// resource. A request is answered with an error, so that its sender is
// not left waiting; a message goes to the core, which delivers it to the
// user's other resources or keeps it offline; presence is state that the
// next session learns anew, and responses and errors expect no answer.
//
// A message the user's archive holds (it carries the stanza-id of the
// user's own server, XEP-0359) is left there when the client used the
// archive: it fetches the message from it when it comes back, and a copy
// delivered again would be shown twice.
func (svc *Service) undelivered(ctx context.Context, full jid.JID, u unacked, usedMAM bool) {
	el := u.element(svc)
	if el == nil || el.Space != "" {
		return
	}
	// Counted once handled: the count then tells how many are where
	// they go (an operator, or a test, can wait for it).
	defer svc.m.Undelivered.With(el.Local).Inc()
	st := &stanza.Stanza{El: el, To: full}
	if f, err := jid.Parse(el.Attr("from")); err == nil {
		st.From = f
	}
	switch el.Local {
	case stanza.IQ:
		if st.IsRequest() && !st.From.IsZero() {
			svc.router.Bounce(ctx, st, stanza.E(stanza.ServiceUnavailable))
		}
	case stanza.Message:
		if usedMAM && archived(el, full.Bare()) {
			return
		}
		if r, ok := svc.core.(Redeliverer); ok {
			r.Undelivered(ctx, full, el, u.at)
		}
	}
}

// archived reports whether a message carries a stanza-id (XEP-0359) that
// the archive of user gave it.
func archived(el *xmlel.Element, user jid.JID) bool {
	for _, c := range el.Elements() {
		if c.Is(nsStanzaID, "stanza-id") && c.Attr("by") == user.String() {
			return true
		}
	}
	return false
}

func (b *outbox) smEnabled() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sm
}

// queriedArchive records that the client fetches messages from its
// archive (XEP-0313), so that it gets what it missed from there.
func (b *outbox) queriedArchive() {
	b.mu.Lock()
	b.usedMAM = true
	b.mu.Unlock()
}
