package transport

// Writes that do not wait. A Batch (batch.go) writes a stream's queue
// from the goroutine of another stream's reader, which must never wait
// for a peer that does not read: inside NoWait, Write hands the socket
// what it takes at once and keeps the rest, which the queue's own writer
// goroutine then writes the ordinary way (FlushKept). What was kept goes
// out before anything written after it, whichever way that is written.

// CanWriteNoWait reports whether NoWait can keep writes from waiting:
// the connection is a socket.
func (c *Conn) CanWriteNoWait() bool { return c.rawConn() != nil }

// NoWait calls write, which writes to this connection (directly or
// through TLS above it), with the connection's writes made not to wait.
// kept reports whether bytes are kept for FlushKept. Only one goroutine
// at a time may call NoWait, and no other may write meanwhile but a
// stream layer above (TLS, answering its peer), whose writes then keep
// their order.
func (c *Conn) NoWait(write func() (int, error)) (n int, err error, kept bool) {
	c.noWait.Store(true)
	n, err = write()
	c.noWait.Store(false)
	c.keptMu.Lock()
	kept = len(c.kept) > 0
	c.keptMu.Unlock()
	return n, err, kept
}

// Share makes every write not wait, as in NoWait, unless it is made
// inside Waiting: for a connection that a Queue writes, whose writer
// alone may wait for the peer. A write that TLS makes by itself from the
// reading goroutine (its answer to a KeyUpdate, an alert) holds TLS's
// write lock, which a Batch's write to the connection then waits for: if
// it waited for a peer that does not read, so would the other stream's
// reader. What such a write keeps goes out before the next write the
// queue makes, or at Close.
func (c *Conn) Share() { c.shared.Store(true) }

// Waiting calls write with the connection's writes allowed to wait: the
// queue's writer goroutine.
func (c *Conn) Waiting(write func() (int, error)) (int, error) {
	c.waitOK.Store(true)
	defer c.waitOK.Store(false)
	return write()
}

// FlushKept writes what NoWait kept, waiting as any write does (within
// the write deadline).
func (c *Conn) FlushKept() error {
	c.keptMu.Lock()
	defer c.keptMu.Unlock()
	return c.flushKept()
}

// flushKept is FlushKept with c.keptMu held.
func (c *Conn) flushKept() error {
	if len(c.kept) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.kept)
	c.kept = nil
	return err
}

// write is Write below the cork: in NoWait it writes what the socket
// takes at once and keeps the rest; otherwise it writes what was kept and
// then p, waiting as needed.
func (c *Conn) write(p []byte) (int, error) {
	c.keptMu.Lock()
	defer c.keptMu.Unlock()
	if c.raw != nil && (c.noWait.Load() || (c.shared.Load() && !c.waitOK.Load())) {
		if len(c.kept) > 0 {
			c.kept = append(c.kept, p...)
			return len(p), nil
		}
		n, err := c.writeNow(p)
		if err != nil {
			return n, err
		}
		if n < len(p) {
			c.kept = append([]byte(nil), p[n:]...)
		}
		return len(p), nil
	}
	if err := c.flushKept(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
