package transport

import (
	"net"
	"sync"
	"time"
)

// WriteTimeout bounds one write: a peer that stops reading cannot hold a
// writer forever.
const WriteTimeout = 30 * time.Second

// maxIdleBuffer is the largest buffer a queue keeps for reuse; a stream
// that was sent a burst gives the memory back afterwards.
const maxIdleBuffer = 16 << 10

// bufSize is the size of a new write buffer, and the least a buffer kept
// for reuse has: one that a closing tag alone started would otherwise
// be handed to a stream that then grows it, copy by copy.
const bufSize = 4096

// Queue is a stream's bounded outgoing byte queue and its writer. Before
// Start, writes go straight to the connection from the caller (stream
// negotiation, when only the reading goroutine writes); after Start, a
// writer goroutine writes everything queued since its last write in one
// call, so a busy stream makes few syscalls and TLS records.
//
// The writer runs only while there is something to write: it starts
// when bytes are queued and ends when the queue is empty, giving its
// buffers back. An idle stream holds no writer goroutine and no buffer,
// which is most of what an idle session would otherwise cost. A queue
// that is Batched may instead be written, when it is idle, by the
// goroutine of the stream whose reader queued the bytes (Batch), and
// then a writer starts only for what the socket did not take at once.
type Queue struct {
	limit int

	mu       sync.Mutex
	conn     net.Conn
	out      []byte
	closing  bool
	started  bool
	running  bool // a writer goroutine is running
	finished bool // done is closed
	// Positions in the sequence of bytes ever queued, so that a caller
	// can tell whether what it queued left (see AppendEnd, Written):
	// appended is its end, head is where out starts (head+len(out) ==
	// appended), written is the end of what was handed to the
	// connection, and cut, when not negative, where CloseWith dropped
	// what was pending: nothing from there on counts as written.
	appended int64
	head     int64
	written  int64
	cut      int64
	done     chan struct{}
	// writeBy is the write deadline last set on conn (see armWrite);
	// finishBy, when set, is the one Finish gives its own writes.
	writeBy  time.Time
	finishBy time.Time
	// drained are the channels WhenBelow handed out, closed once the
	// bytes not yet written fall to their mark or the queue closes.
	drained []drainWait
	// onEmpty, when set, is called by the writer each time it has
	// written everything queued (see OnEmpty).
	onEmpty func()
	// beforeLast, when set, is called once before the stream's last
	// write (see BeforeLast); finalAt is where CloseWith's final bytes
	// begin, -1 before it.
	beforeLast func()
	finalAt    int64
	// raw, when set, is the connection under conn, whose writes do not
	// wait after Start unless the writer makes them (see Batched). What
	// such a write kept the writer writes before it ends; until then the
	// bytes of the batched write that kept them (up to keptEnd) do not
	// count as written: a peer that stops reading has not been handed
	// them.
	raw     *Conn
	keptEnd int64
}

// drainWait is one WhenBelow: ch closes once at most n bytes are pending.
type drainWait struct {
	n  int
	ch chan struct{}
}

// freeBufs keeps a few write buffers between bursts, shared by every
// queue. It is bounded, unlike a sync.Pool that a quiet server would not
// empty for minutes: the buffers of streams that went idle are garbage.
var freeBufs = make(chan []byte, 64)

func getBuf() []byte {
	select {
	case b := <-freeBufs:
		return b
	default:
		return make([]byte, 0, bufSize)
	}
}

// NewQueue returns a queue writing to c that holds at most limit bytes
// (limit <= 0: unbounded).
func NewQueue(c net.Conn, limit int) *Queue {
	return &Queue{conn: c, limit: limit, done: make(chan struct{}), cut: -1, finalAt: -1}
}

// SetConn switches the connection, after a TLS handshake. Only before
// Start.
func (q *Queue) SetConn(c net.Conn) {
	q.mu.Lock()
	q.conn = c
	q.writeBy = time.Time{}
	q.mu.Unlock()
}

// OnEmpty makes the writer call f, without the queue's lock held, each
// time it has handed everything queued to the connection and ends (not
// when the queue closes): a stream that keeps what it queued until it
// leaves can let go of it then, rather than when it next sends.
func (q *Queue) OnEmpty(f func()) {
	q.mu.Lock()
	q.onEmpty = f
	q.mu.Unlock()
}

// BeforeLast makes the queue call f before it writes the bytes that
// end the stream (CloseWith's), from the goroutine that writes them and
// then closes the connection: Conn.Cork, so that the closing tag and
// TLS's close_notify leave in one write. When stanzas still pending go
// in the same write, f is not called: a write that fails must not count
// them as written.
func (q *Queue) BeforeLast(f func()) {
	q.mu.Lock()
	q.beforeLast = f
	q.mu.Unlock()
}

// last returns the beforeLast hook, once, when what is taken from at on
// is the final bytes alone. q.mu is held.
func (q *Queue) last(at int64) func() {
	if q.beforeLast == nil || q.finalAt < 0 || at < q.finalAt {
		return nil
	}
	f := q.beforeLast
	q.beforeLast = nil
	return f
}

// Append serializes into the queue with f, which appends to its argument.
// It reports false when the queue is closing, and over when the queue now
// holds more than its limit: the caller decides what a slow reader gets.
func (q *Queue) Append(f func([]byte) []byte) (ok, over bool) {
	_, ok, over = q.AppendEnd(f)
	return ok, over
}

// Batched lets a Batch write this queue from its own goroutine
// (AppendBatched): raw is the connection under the queue's, whose writes
// from then on do not wait unless the writer makes them (nowait.go).
// Without a socket under it, the queue is never batched.
func (q *Queue) Batched(raw *Conn) {
	if !raw.canWriteNoWait() {
		return
	}
	q.mu.Lock()
	q.raw = raw
	q.mu.Unlock()
}

// Hold is Append that, before Start, leaves the bytes queued instead of
// writing them: they go to the connection with whatever comes next
// (Append, CloseWith, Finish), in one write. A stream header is always
// followed by features or a stream error at once, and one write instead
// of two is one system call and one segment fewer per stream opened.
func (q *Queue) Hold(f func([]byte) []byte) { q.add(f, false, nil) }

// AppendEnd is Append that also returns where what f appended ends in
// the count of bytes ever queued: it has left for the peer once Written
// reaches end.
func (q *Queue) AppendEnd(f func([]byte) []byte) (end int64, ok, over bool) {
	return q.add(f, true, nil)
}

// AppendBatched is AppendEnd that, when no writer runs, leaves the
// writing to b's Flush instead of starting one (see Batch). b may be
// nil.
func (q *Queue) AppendBatched(f func([]byte) []byte, b *Batch) (end int64, ok, over bool) {
	return q.add(f, true, b)
}

// add queues what f appends; before Start, flush writes it (and whatever
// Hold kept) from the calling goroutine, after Start the writer does, or
// batch's Flush when no writer runs.
func (q *Queue) add(f func([]byte) []byte, flush bool, batch *Batch) (end int64, ok, over bool) {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return 0, false, false
	}
	if q.out == nil {
		q.out = getBuf()
	}
	n := len(q.out)
	q.out = f(q.out)
	q.appended += int64(len(q.out) - n)
	end = q.appended
	over = q.limit > 0 && len(q.out) > q.limit
	if !q.started {
		q.mu.Unlock()
		if flush {
			q.flushDirect()
		}
		return end, true, over
	}
	if batch != nil && q.raw != nil && !q.running && !q.finished {
		// Appends from others wait for the batch too, as they would for
		// a writer.
		q.running = true
		batch.qs = append(batch.qs, q)
	} else {
		q.kick()
	}
	q.mu.Unlock()
	return end, true, over
}

// writeBatched writes what is queued from a Batch's goroutine, without
// waiting for the peer, and leaves whatever else is to do to a writer
// goroutine: bytes the socket did not take, bytes queued meanwhile, or
// the stream's end. q.running is set (add).
func (q *Queue) writeBatched() {
	q.mu.Lock()
	if q.closing || len(q.out) == 0 {
		// The end of the stream is the writer's, which may wait.
		q.mu.Unlock()
		go q.write()
		return
	}
	b, at := q.take()
	q.out = nil
	c, raw := q.conn, q.raw
	q.unlockArmed(c)
	n, err := c.Write(b) // does not wait: the queue has started (share)
	kept := err == nil && raw.hasKept()
	q.mu.Lock()
	if kept {
		q.keptEnd = at + int64(n)
	} else {
		q.wrote(at, n)
	}
	if err != nil {
		q.fail()
		q.mu.Unlock()
		putBuf(b)
		// Closing may write (TLS's close_notify): not on this goroutine.
		go func() {
			c.Close()
			close(q.done)
		}()
		return
	}
	if kept || q.closing || len(q.out) > 0 {
		q.mu.Unlock()
		putBuf(b)
		go q.write()
		return
	}
	q.running = false
	empty := q.onEmpty
	q.mu.Unlock()
	putBuf(b)
	if empty != nil {
		empty()
	}
}

// fail records a failed write: nothing more is written, and the queue is
// finished. q.mu is held; the caller closes the connection and done.
func (q *Queue) fail() {
	q.closing = true
	q.notify()
	q.finished = true
	q.running = false
	q.head = q.appended
	q.out = nil
}

// Written returns the number of bytes ever handed to the connection (the
// kernel's buffer, not yet the peer). Bytes dropped by CloseWith or by a
// failed write never count.
func (q *Queue) Written() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.written
}

// Pending returns how many queued bytes were not yet handed to the
// connection, those of a write under way included.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending()
}

// pending is Pending with q.mu held.
func (q *Queue) pending() int {
	return int(q.appended - q.written)
}

// WhenBelow returns a channel that is closed once at most n queued bytes
// are pending (see Pending), or once the queue is closing: it lets a
// sender with much to send wait for the peer to read instead of
// overflowing the queue, without polling. The channel is closed already
// when that is so now. Callers that pass the same n share a channel.
func (q *Queue) WhenBelow(n int) <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, w := range q.drained {
		if w.n == n {
			return w.ch
		}
	}
	ch := make(chan struct{})
	if q.closing || q.pending() <= n {
		close(ch)
		return ch
	}
	q.drained = append(q.drained, drainWait{n, ch})
	return ch
}

// notify closes the WhenBelow channels whose mark the queue reached, or
// all of them once it is closing. q.mu is held.
func (q *Queue) notify() {
	if len(q.drained) == 0 {
		return
	}
	p := q.pending()
	kept := q.drained[:0]
	for _, w := range q.drained {
		if q.closing || p <= w.n {
			close(w.ch)
			continue
		}
		kept = append(kept, w)
	}
	clear(q.drained[len(kept):])
	q.drained = kept
	if len(kept) == 0 {
		q.drained = nil
	}
}

// take removes what is queued for writing and returns it with its
// position. q.mu is held.
func (q *Queue) take() (b []byte, at int64) {
	b, at = q.out, q.head
	q.head += int64(len(b))
	return b, at
}

// wrote records that n bytes from position at were handed to the
// connection. q.mu is held.
func (q *Queue) wrote(at int64, n int) {
	end := at + int64(n)
	if q.cut >= 0 {
		end = min(end, q.cut)
	}
	q.written = max(q.written, end)
	q.notify()
}

// kick starts the writer if it is not running; q.mu is held.
func (q *Queue) kick() {
	if !q.running && !q.finished {
		q.running = true
		go q.write()
	}
}

// CloseWith ends the stream: whatever is queued and not written is
// replaced by final (a stream error must be the last thing the peer
// reads, RFC 6120 §4.9.1.1), then the connection closes. Only the first
// close counts.
func (q *Queue) CloseWith(final []byte, keepPending bool) { q.close(final, keepPending, true) }

// close is CloseWith; kick tells whether a writer starts for the final
// bytes (see CloseNext).
func (q *Queue) close(final []byte, keepPending, kick bool) {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return
	}
	// Before Start nothing is pending but what Hold kept (the rest was
	// written at once), which the final bytes follow.
	if !keepPending && q.started {
		q.cut = q.head
		q.head = q.appended
		q.out = q.out[:0]
	}
	q.finalAt = q.appended
	q.out = append(q.out, final...)
	q.appended += int64(len(final))
	q.closing = true
	q.notify()
	if q.started {
		if kick {
			q.kick()
		}
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	q.flushDirect()
	q.conn.Close()
}

// CloseNext is CloseWith, keeping what is pending, for the goroutine
// that calls Finish next: when no writer runs, the final bytes wait for
// Finish to write them from that goroutine. A stream the client closed
// would otherwise start a goroutine only to write the closing tag and
// close, one goroutine start more for every session that ends.
func (q *Queue) CloseNext(final []byte) { q.close(final, true, false) }

// Closing reports whether the queue was closed.
func (q *Queue) Closing() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closing
}

// Finish closes the queue if it is open, lets the writer flush for at
// most wait, and closes the connection.
func (q *Queue) Finish(wait time.Duration) {
	q.mu.Lock()
	q.closing = true
	q.notify()
	started := q.started
	if started && !q.running && !q.finished {
		// No writer runs: this goroutine is the writer, its writes
		// bounded by wait, rather than one started to write what is
		// left (often nothing) and close.
		q.running = true
		q.finishBy = time.Now().Add(wait)
		q.mu.Unlock()
		q.write()
		return
	}
	q.mu.Unlock()
	if started {
		t := time.NewTimer(wait)
		select {
		case <-q.done:
		case <-t.C:
		}
		t.Stop()
	} else {
		q.flushDirect()
	}
	q.conn.Close()
	if started {
		// A write blocked on a peer that does not read fails now; wait
		// for the writer to count what it did write.
		select {
		case <-q.done:
		case <-time.After(wait):
		}
	}
}

// flushDirect writes what is queued from the calling goroutine.
func (q *Queue) flushDirect() {
	q.mu.Lock()
	b, at := q.take()
	q.out = q.out[:0]
	c := q.conn
	if len(b) == 0 {
		q.mu.Unlock()
		return
	}
	last := q.last(at)
	q.unlockArmed(c)
	if last != nil {
		last()
	}
	n, _ := c.Write(b) // a failed write surfaces as a read error
	q.mu.Lock()
	q.wrote(at, n)
	q.mu.Unlock()
}

// Start makes Append hand its bytes to the writer goroutine from now
// on; the negotiation buffer is given back.
func (q *Queue) Start() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		return
	}
	q.started = true
	if q.raw != nil {
		q.raw.share()
	}
	if len(q.out) == 0 {
		putBuf(q.out)
		q.out = nil
	} else {
		q.kick()
	}
}

// write is the writer goroutine: it writes until the queue is empty, then
// ends, or closes the connection once the queue is closing and written.
func (q *Queue) write() {
	var spare []byte
	for {
		q.mu.Lock()
		if len(q.out) == 0 && q.raw != nil && q.raw.hasKept() {
			// Only what a write that did not wait kept is to go.
			c, raw := q.conn, q.raw
			q.unlockArmed(c)
			err := raw.flushKept()
			q.mu.Lock()
			if err != nil {
				q.fail()
				q.mu.Unlock()
				putBuf(spare)
				c.Close()
				close(q.done)
				return
			}
			q.wrote(q.keptEnd, 0)
			q.mu.Unlock()
			continue
		}
		if len(q.out) == 0 {
			// Nothing left: give the buffers back and end, or finish
			// the stream.
			b := q.out
			q.out = nil
			q.running = false
			closing := q.closing
			if closing {
				q.finished = true
			}
			c := q.conn
			empty := q.onEmpty
			q.mu.Unlock()
			putBuf(b)
			putBuf(spare)
			if closing {
				c.Close()
				close(q.done)
			} else if empty != nil {
				empty()
			}
			return
		}
		b, at := q.take()
		q.out = spare[:0]
		if spare == nil {
			q.out = nil
		}
		c := q.conn
		last := q.last(at)
		q.unlockArmed(c)
		if last != nil {
			last()
		}
		n, err := q.writeWaiting(c, b)
		q.mu.Lock()
		q.wrote(at, n)
		if err != nil {
			q.fail()
			q.mu.Unlock()
			c.Close()
			close(q.done)
			return
		}
		q.mu.Unlock()
		if cap(b) <= maxIdleBuffer {
			spare = b[:0]
		} else {
			spare = nil
		}
	}
}

// writeWaiting writes b to c from the writer goroutine, which may wait
// for the peer (nowait.go); what other writes kept goes first.
func (q *Queue) writeWaiting(c net.Conn, b []byte) (int, error) {
	if q.raw == nil {
		return c.Write(b)
	}
	return q.raw.waiting(func() (int, error) { return c.Write(b) })
}

// unlockArmed releases q.mu and then moves c's write deadline when
// armWrite says so: before a write to c. q.mu is held.
func (q *Queue) unlockArmed(c net.Conn) {
	by, rearm := q.armWrite()
	q.mu.Unlock()
	if rearm {
		_ = c.SetWriteDeadline(by)
	}
}

// armWrite says whether the connection's write deadline is to be set
// again before a write, and to what: like the read deadline (see within),
// it moves only when it is more than a sixteenth of WriteTimeout short.
// Moving the runtime's timer for every write cost about 2 µs per message
// when messages came one at a time. q.mu is held.
func (q *Queue) armWrite() (time.Time, bool) {
	if !q.finishBy.IsZero() {
		if q.writeBy.Equal(q.finishBy) {
			return time.Time{}, false
		}
		q.writeBy = q.finishBy
		return q.finishBy, true
	}
	at := time.Now().Add(WriteTimeout)
	if within(q.writeBy, at, WriteTimeout/deadlineSlack) {
		return time.Time{}, false
	}
	q.writeBy = at
	return at, true
}

// putBuf keeps a buffer for reuse unless it is too small or grew too
// large, or enough are kept.
func putBuf(b []byte) {
	if cap(b) < bufSize || cap(b) > maxIdleBuffer {
		return
	}
	select {
	case freeBufs <- b[:0]:
	default:
	}
}
