package transport

import "time"

// A stream's last bytes are its closing tag and, under TLS, the
// close_notify alert that tls.Conn.Close writes: two records, which
// would leave in two system calls, the second one often failing with
// EPIPE after a client that closed at once. Cork gathers them into one.

// corkFlushTimeout bounds Close's write of what the cork kept.
const corkFlushTimeout = 5 * time.Second

// Cork makes the writes that follow gather in memory; Close sends them
// in one write before it closes the connection. It is for the stream's
// last writes only.
func (c *Conn) Cork() { c.corked.Store(true) }

// Write writes p, or keeps it for Close once the connection is corked.
func (c *Conn) Write(p []byte) (int, error) {
	if c.corked.Load() {
		c.corkMu.Lock()
		defer c.corkMu.Unlock()
		c.corkBuf = append(c.corkBuf, p...)
		return len(p), nil
	}
	return c.write(p)
}

// Close writes what the cork kept, closes the connection, and resumes
// it if it is parked (park_linux.go).
func (c *Conn) Close() error {
	c.corkMu.Lock()
	b := c.corkBuf
	c.corkBuf = nil
	c.corkMu.Unlock()
	// What a write that did not wait kept (nowait.go) goes first.
	c.keptMu.Lock()
	if len(c.kept) > 0 {
		b = append(c.kept, b...)
		c.setKept(nil)
	}
	c.keptMu.Unlock()
	if len(b) > 0 {
		// tls.Conn.Close has set the write deadline to now after its
		// close_notify, which it believes written: the flush gets the
		// time tls.Conn gives that alert.
		_ = c.Conn.SetWriteDeadline(time.Now().Add(corkFlushTimeout))
		_, _ = c.Conn.Write(b) // the peer may have gone; closing is what is left
	}
	err := c.Conn.Close()
	c.closedNow()
	return err
}
