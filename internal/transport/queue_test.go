package transport

import (
	"bytes"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// gateConn is a connection whose writes wait until the test lets them
// through, as a peer that does not read.
type gateConn struct {
	net.Conn
	mu     sync.Mutex
	buf    bytes.Buffer
	open   chan struct{} // closed: writes go through
	closed chan struct{}
	once   sync.Once
}

func newGateConn() *gateConn {
	return &gateConn{open: make(chan struct{}), closed: make(chan struct{})}
}

func (c *gateConn) Write(b []byte) (int, error) {
	select {
	case <-c.open:
	case <-c.closed:
		return 0, net.ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(b)
}

func (c *gateConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *gateConn) SetWriteDeadline(time.Time) error { return nil }

func (c *gateConn) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func appendStr(q *Queue, s string) (int64, bool, bool) {
	return q.AppendEnd(func(b []byte) []byte { return append(b, s...) })
}

func waitWritten(t *testing.T, q *Queue, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for q.Written() < n {
		if time.Now().After(deadline) {
			t.Fatalf("Written() = %d, want %d", q.Written(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestQueueWrittenAndCut checks the positions that tell a caller whether
// what it queued left: bytes dropped when a slow reader's queue is cut
// never count as written, even though the stream error after them is
// written.
func TestQueueWrittenAndCut(t *testing.T) {
	c := newGateConn()
	q := NewQueue(c, 10)
	q.Start()
	close(c.open)
	end, ok, over := appendStr(q, "<a/>")
	if end != 4 || !ok || over {
		t.Fatalf("AppendEnd = %d, %v, %v, want 4, true, false", end, ok, over)
	}
	waitWritten(t, q, 4)

	// A peer that stops reading: the writer blocks on what it took.
	c2 := newGateConn()
	q2 := NewQueue(c2, 10)
	q2.Start()
	e1, _, _ := appendStr(q2, "<one/>")    // the writer takes it and blocks
	time.Sleep(20 * time.Millisecond)      // let the writer take it
	e2, _, over := appendStr(q2, "<two/>") // pending
	e3, _, over3 := appendStr(q2, "<three/>")
	if over || !over3 {
		t.Fatalf("over = %v, %v, want false, true", over, over3)
	}
	q2.CloseWith([]byte("<error/>"), false)
	if _, ok, _ := appendStr(q2, "<late/>"); ok {
		t.Error("AppendEnd on a closing queue reported ok")
	}
	close(c2.open)
	q2.Finish(time.Second)
	if got := c2.String(); got != "<one/><error/>" {
		t.Errorf("peer read %q, want <one/><error/>", got)
	}
	w := q2.Written()
	if w < e1 || w >= e2 || w >= e3 {
		t.Errorf("Written() = %d with ends %d, %d, %d: want the first written and the others not", w, e1, e2, e3)
	}
}

// TestQueueFailedWrite checks that what a failed write did not hand over
// does not count as written.
func TestQueueFailedWrite(t *testing.T) {
	c := newGateConn()
	q := NewQueue(c, 0)
	q.Start()
	end, _, _ := appendStr(q, "<lost/>")
	time.Sleep(20 * time.Millisecond)
	c.Close()
	q.Finish(time.Second)
	if w := q.Written(); w >= end {
		t.Errorf("Written() = %d after a failed write, want < %d", w, end)
	}
}

// stepConn lets one write through per token on steps, as a peer that
// reads at the pace the test sets.
type stepConn struct {
	*gateConn
	steps chan struct{}
}

func (c *stepConn) Write(b []byte) (int, error) {
	select {
	case <-c.steps:
	case <-c.closed:
		return 0, net.ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(b)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not closed", what)
	}
}

// TestQueueWhenBelow checks that a sender waiting for a queue to drain is
// told when the writer has handed enough to the connection, and when the
// queue closes, and not before.
func TestQueueWhenBelow(t *testing.T) {
	c := &stepConn{gateConn: newGateConn(), steps: make(chan struct{})}
	q := NewQueue(c, 0)
	q.Start()
	if ch := q.WhenBelow(0); !isClosed(ch) {
		t.Fatal("WhenBelow(0) on an empty queue is not closed")
	}
	appendStr(q, "aaaa")
	time.Sleep(20 * time.Millisecond) // the writer takes it and waits
	appendStr(q, "bbbbbb")
	if p := q.Pending(); p != 10 {
		t.Fatalf("Pending() = %d, want 10", p)
	}
	half, empty := q.WhenBelow(6), q.WhenBelow(0)
	if q.WhenBelow(6) != half {
		t.Error("two WhenBelow(6) got different channels")
	}
	if isClosed(half) || isClosed(empty) {
		t.Fatal("WhenBelow closed before anything was written")
	}
	c.steps <- struct{}{} // "aaaa" goes
	waitClosed(t, half, "WhenBelow(6) after 4 of 10 bytes were written")
	time.Sleep(20 * time.Millisecond)
	if isClosed(empty) {
		t.Fatal("WhenBelow(0) closed with 6 bytes pending")
	}
	c.steps <- struct{}{} // "bbbbbb" goes
	waitClosed(t, empty, "WhenBelow(0) once everything was written")
	if p := q.Pending(); p != 0 {
		t.Errorf("Pending() = %d after everything was written, want 0", p)
	}

	appendStr(q, "cccc")
	w := q.WhenBelow(0)
	if isClosed(w) {
		t.Fatal("WhenBelow(0) closed with a write pending")
	}
	q.CloseWith([]byte("<end/>"), false)
	waitClosed(t, w, "WhenBelow(0) once the queue closes")
	if !isClosed(q.WhenBelow(0)) {
		t.Error("WhenBelow on a closing queue is not closed")
	}
	c.Close()
	q.Finish(time.Second)
}

// writesConn records each write apart.
type writesConn struct {
	net.Conn
	mu     sync.Mutex
	writes []string
}

func (c *writesConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, string(b))
	return len(b), nil
}

func (c *writesConn) Close() error                     { return nil }
func (c *writesConn) SetWriteDeadline(time.Time) error { return nil }

// TestQueueHold checks that held bytes go out with what comes next, in
// one write, and are never dropped by a close before Start.
func TestQueueHold(t *testing.T) {
	hold := func(q *Queue, s string) { q.Hold(func(b []byte) []byte { return append(b, s...) }) }

	c := &writesConn{}
	q := NewQueue(c, 0)
	hold(q, "<stream>")
	if len(c.writes) != 0 {
		t.Fatalf("Hold wrote %q", c.writes)
	}
	end, _, _ := appendStr(q, "<features/>")
	if want := []string{"<stream><features/>"}; !slices.Equal(c.writes, want) || end != 19 || q.Written() != 19 {
		t.Fatalf("writes %q, end %d, written %d; want %q, 19, 19", c.writes, end, q.Written(), want)
	}

	c = &writesConn{}
	q = NewQueue(c, 0)
	hold(q, "<stream>")
	q.CloseWith([]byte("<error/></stream>"), false)
	if want := []string{"<stream><error/></stream>"}; !slices.Equal(c.writes, want) {
		t.Fatalf("close after Hold wrote %q, want %q", c.writes, want)
	}
}

// TestQueueOnEmpty checks that the writer calls OnEmpty's function once
// it has written all that was queued, with everything counted as
// written, and not when the queue closes.
func TestQueueOnEmpty(t *testing.T) {
	c := newGateConn()
	q := NewQueue(c, 0)
	calls := make(chan int64, 10)
	q.OnEmpty(func() { calls <- q.Written() })
	q.Start()
	appendStr(q, "<a/>")
	end, _, _ := appendStr(q, "<b/>")
	close(c.open)
	select {
	case w := <-calls:
		if w != end {
			t.Errorf("Written() = %d when the queue was empty, want %d", w, end)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnEmpty's function was not called")
	}
	q.CloseWith([]byte("</stream>"), true)
	q.Finish(time.Second)
	select {
	case <-calls:
		t.Error("OnEmpty's function was called when the queue closed")
	case <-time.After(50 * time.Millisecond):
	}
}

// finishConn records each write with the goroutine that made it, the
// write deadlines set, and whether it was closed.
type finishConn struct {
	writesConn
	by        []string // goroutine of each write
	deadlines []time.Time
	closed    bool
}

func (c *finishConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.by = append(c.by, goroutine())
	c.mu.Unlock()
	return c.writesConn.Write(b)
}

func (c *finishConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadlines = append(c.deadlines, t)
	return nil
}

func (c *finishConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

// goroutine names the calling goroutine ("goroutine 7").
func goroutine() string {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	return string(b[:bytes.Index(b, []byte(" ["))])
}

// TestQueueCloseNext checks that the final bytes of CloseNext wait for
// Finish, which writes them from its caller's goroutine, bounded by its
// own wait rather than WriteTimeout, and closes the connection: no
// goroutine starts only to write a closing tag.
func TestQueueCloseNext(t *testing.T) {
	c := &finishConn{}
	q := NewQueue(c, 0)
	q.Start()
	end, _, _ := appendStr(q, "<a/>")
	waitWritten(t, q, end)
	me := goroutine()
	c.mu.Lock()
	if c.by[0] == me {
		t.Fatal("after Start, the first write came from the caller's goroutine")
	}
	c.mu.Unlock()

	q.CloseNext([]byte("</stream>"))
	if !q.Closing() {
		t.Fatal("the queue is not closing after CloseNext")
	}
	before := time.Now()
	q.Finish(time.Second)
	after := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if want := []string{"<a/>", "</stream>"}; !slices.Equal(c.writes, want) {
		t.Fatalf("writes %q, want %q", c.writes, want)
	}
	if c.by[1] != me {
		t.Errorf("the final bytes were written by %s, not by Finish's caller (%s)", c.by[1], me)
	}
	if d := c.deadlines[len(c.deadlines)-1]; d.Before(before.Add(time.Second)) || d.After(after.Add(time.Second)) {
		t.Errorf("the final write's deadline is %v after Finish, want its wait (1s)", d.Sub(before))
	}
	if !c.closed {
		t.Error("the connection is open after Finish")
	}
	if q.Written() != end+int64(len("</stream>")) {
		t.Errorf("Written() = %d, want %d", q.Written(), end+9)
	}
	select {
	case <-q.done:
	default:
		t.Error("the queue is not finished after Finish")
	}
}

// TestQueueBuffersKept checks that only buffers of the usual size are
// kept for reuse: a small one (a closing tag's) handed to the next
// stream would be grown copy by copy.
func TestQueueBuffersKept(t *testing.T) {
	for len(freeBufs) > 0 {
		<-freeBufs
	}
	putBuf(make([]byte, 3, 16))
	putBuf(make([]byte, 0, maxIdleBuffer+1))
	if n := len(freeBufs); n != 0 {
		t.Fatalf("%d buffers kept, want none: too small or too large", n)
	}
	putBuf(make([]byte, 5, bufSize))
	if b := getBuf(); cap(b) != bufSize || len(b) != 0 {
		t.Errorf("getBuf = len %d, cap %d; want the buffer kept, emptied", len(b), cap(b))
	}
}
