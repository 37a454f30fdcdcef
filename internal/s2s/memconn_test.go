package s2s

import (
	"io"
	"net"
	"sync"
	"time"
)

// memPipe is one direction of a memConn: what one end wrote and the
// other has not read yet. Unlike net.Pipe's, a write never waits for
// the reader, as a socket's does not while its buffer has room: both
// ends may write at once, as TLS and XMPP peers do.
type memPipe struct {
	mu   sync.Mutex
	cond sync.Cond
	buf  []byte
	// eof: the writer is done (Close or CloseWrite); reads end once
	// buf is read. closed: the reader closed its end; writes fail.
	eof, closed bool
	// waiting: the reader waits in Read for bytes (see idle).
	waiting bool
	// changed is closed, and replaced, at every change of the above.
	changed chan struct{}
}

func newMemPipe() *memPipe {
	p := &memPipe{changed: make(chan struct{})}
	p.cond.L = &p.mu
	return p
}

// notify wakes the reader and everyone watching; p.mu is held.
func (p *memPipe) notify() {
	p.cond.Broadcast()
	close(p.changed)
	p.changed = make(chan struct{})
}

// idle reports whether the reader has read everything and waits for
// more, or will read no more; it returns the channel that is closed at
// the pipe's next change.
func (p *memPipe) idle() (bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed || p.waiting && len(p.buf) == 0, p.changed
}

// take removes and returns what is buffered, without waiting.
func (p *memPipe) take() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.buf
	p.buf = nil
	return b
}

// memConn is one end of an in-memory connection (newMemConn).
type memConn struct {
	in, out       *memPipe
	local, remote net.Addr
}

// newMemConn returns the two ends of an in-memory connection, a
// listener's (addressed from 127.0.0.1:5269) and a dialer's.
func newMemConn() (accepted, dialed *memConn) {
	a, b := newMemPipe(), newMemPipe()
	srv := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5269}
	cli := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	return &memConn{in: a, out: b, local: srv, remote: cli}, &memConn{in: b, out: a, local: cli, remote: srv}
}

func (c *memConn) Read(b []byte) (int, error) {
	p := c.in
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && !p.eof && !p.closed {
		if !p.waiting {
			p.waiting = true
			p.notify()
		}
		p.cond.Wait()
	}
	if p.waiting {
		p.waiting = false
		p.notify()
	}
	if p.closed {
		return 0, net.ErrClosed
	}
	if len(p.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		p.buf = nil
	}
	return n, nil
}

func (c *memConn) Write(b []byte) (int, error) {
	p := c.out
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.eof || p.closed {
		return 0, net.ErrClosed
	}
	p.buf = append(p.buf, b...)
	p.notify()
	return len(b), nil
}

// CloseWrite ends what this end sends; the other end reads io.EOF after
// it, as with TCP's half close.
func (c *memConn) CloseWrite() error {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if !c.out.eof {
		c.out.eof = true
		c.out.notify()
	}
	return nil
}

// Close ends both directions: the other end reads io.EOF after what was
// written, and its writes fail.
func (c *memConn) Close() error {
	c.CloseWrite()
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	if !c.in.closed {
		c.in.closed = true
		c.in.buf = nil
		c.in.notify()
	}
	return nil
}

// closedByPeer reports whether the other end closed: nothing written to
// it is read any more.
func (c *memConn) closedByPeer() bool {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return c.out.closed
}

func (c *memConn) LocalAddr() net.Addr  { return c.local }
func (c *memConn) RemoteAddr() net.Addr { return c.remote }

// Deadlines are not kept: a fuzzed peer always ends its input, and a
// stream that then does not end fails the test on its own clock.
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }
