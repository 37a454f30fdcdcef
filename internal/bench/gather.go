package bench

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// gather sits under a client's TLS connection and holds what is written
// until the client sends it or reads, so that writes with nothing to wait
// for between them leave in one system call: the TLS handshake's last
// flight with the stream header that follows it, and a closing tag with
// TLS's close_notify. Each login would otherwise cost the generator two
// writes more, and the server two reads more, than the protocol needs;
// the generator shares the machine with the server it measures.
//
// While gathering is off (a logged-in stream's messages, which the
// scenarios write and send themselves) writes go straight through.
type gather struct {
	net.Conn
	on  atomic.Bool
	mu  sync.Mutex
	buf []byte
}

// gatherTimeout bounds the write of what was gathered when the
// connection closes.
const gatherTimeout = 5 * time.Second

func newGather(c net.Conn) *gather {
	g := &gather{Conn: c}
	g.on.Store(true)
	return g
}

// Write keeps p while gathering, and writes it otherwise.
func (g *gather) Write(p []byte) (int, error) {
	if !g.on.Load() {
		return g.Conn.Write(p)
	}
	g.mu.Lock()
	g.buf = append(g.buf, p...)
	g.mu.Unlock()
	return len(p), nil
}

// send writes what was gathered.
func (g *gather) send() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sendLocked()
}

// sendLocked is send with g.mu held.
func (g *gather) sendLocked() error {
	if len(g.buf) == 0 {
		return nil
	}
	_, err := g.Conn.Write(g.buf)
	g.buf = g.buf[:0]
	return err
}

// Read sends what was gathered first: the server may be waiting for it.
func (g *gather) Read(p []byte) (int, error) {
	if g.on.Load() {
		if err := g.send(); err != nil {
			return 0, err
		}
	}
	return g.Conn.Read(p)
}

// direct ends gathering; what was gathered is sent first.
func (g *gather) direct() error {
	err := g.send()
	g.on.Store(false)
	return err
}

// Close sends what was gathered and closes the connection. tls.Conn's
// Close has set the write deadline to now after its close_notify, which
// it took as written: the write gets a deadline of its own.
func (g *gather) Close() error {
	g.mu.Lock()
	if len(g.buf) > 0 {
		_ = g.Conn.SetWriteDeadline(time.Now().Add(gatherTimeout))
		_ = g.sendLocked() // the server may have gone; closing is what is left
	}
	g.mu.Unlock()
	return g.Conn.Close()
}
