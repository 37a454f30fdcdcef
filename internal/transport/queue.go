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

// Queue is a stream's bounded outgoing byte queue and its writer. Before
// Start, writes go straight to the connection from the caller (stream
// negotiation, when only the reading goroutine writes); after Start, one
// goroutine writes everything queued since its last write in one call,
// so a busy stream makes few syscalls and TLS records.
type Queue struct {
	limit int

	mu      sync.Mutex
	conn    net.Conn
	out     []byte
	spare   []byte
	closing bool
	started bool
	wake    chan struct{}
	done    chan struct{}
}

// NewQueue returns a queue writing to c that holds at most limit bytes
// (limit <= 0: unbounded).
func NewQueue(c net.Conn, limit int) *Queue {
	return &Queue{conn: c, limit: limit, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// SetConn switches the connection, after a TLS handshake. Only before
// Start.
func (q *Queue) SetConn(c net.Conn) {
	q.mu.Lock()
	q.conn = c
	q.mu.Unlock()
}

// Append serializes into the queue with f, which appends to its argument.
// It reports false when the queue is closing, and over when the queue now
// holds more than its limit: the caller decides what a slow reader gets.
func (q *Queue) Append(f func([]byte) []byte) (ok, over bool) {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return false, false
	}
	q.out = f(q.out)
	over = q.limit > 0 && len(q.out) > q.limit
	started := q.started
	q.mu.Unlock()
	if started {
		q.signal()
	} else {
		q.flushDirect()
	}
	return true, over
}

// CloseWith ends the stream: whatever is queued and not written is
// replaced by final (a stream error must be the last thing the peer
// reads, RFC 6120 §4.9.1.1), then the connection closes. Only the first
// close counts.
func (q *Queue) CloseWith(final []byte, keepPending bool) {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return
	}
	if keepPending {
		q.out = append(q.out, final...)
	} else {
		q.out = append(q.out[:0], final...)
	}
	q.closing = true
	started := q.started
	q.mu.Unlock()
	if started {
		q.signal()
		return
	}
	q.flushDirect()
	q.conn.Close()
}

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
	started := q.started
	q.mu.Unlock()
	if started {
		q.signal()
		select {
		case <-q.done:
		case <-time.After(wait):
		}
	} else {
		q.flushDirect()
	}
	q.conn.Close()
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// flushDirect writes what is queued from the calling goroutine.
func (q *Queue) flushDirect() {
	q.mu.Lock()
	b := q.out
	q.out = q.out[:0]
	c := q.conn
	q.mu.Unlock()
	if len(b) > 0 {
		_ = c.SetWriteDeadline(time.Now().Add(WriteTimeout))
		_, _ = c.Write(b) // a failed write surfaces as a read error
	}
}

// Start starts the writer goroutine; from now on Append never writes
// from the caller.
func (q *Queue) Start() {
	q.mu.Lock()
	if q.started {
		q.mu.Unlock()
		return
	}
	q.started = true
	q.mu.Unlock()
	go q.write()
}

func (q *Queue) write() {
	defer close(q.done)
	for {
		<-q.wake
		q.mu.Lock()
		b := q.out
		q.out = q.spare[:0]
		q.spare = nil
		closing := q.closing
		c := q.conn
		q.mu.Unlock()
		if len(b) > 0 {
			_ = c.SetWriteDeadline(time.Now().Add(WriteTimeout))
			if _, err := c.Write(b); err != nil {
				q.mu.Lock()
				q.closing = true
				q.out = nil
				q.mu.Unlock()
				c.Close()
				return
			}
		}
		if closing {
			c.Close()
			return
		}
		q.mu.Lock()
		if cap(b) <= maxIdleBuffer && q.spare == nil {
			q.spare = b[:0]
		}
		if len(q.out) == 0 && cap(q.out) > maxIdleBuffer {
			q.out = nil
		}
		q.mu.Unlock()
	}
}
