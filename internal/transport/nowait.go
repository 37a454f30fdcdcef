package transport

// Writes that do not wait. Once a Queue that is Batched has started
// (share), only its writer goroutine may wait for the peer (waiting);
// every other write to the connection hands the socket what it takes at
// once and keeps the rest, which goes out before anything written after
// it, whichever way that is written, and which the queue's writer
// writes (flushKept) when nothing else is queued. That covers a Batch's
// writes, made from the goroutine of another stream's reader, and the
// writes TLS makes by itself from this stream's reader (its answer to a
// KeyUpdate, an alert): those hold TLS's write lock, which a Batch's
// write then waits for, so if they waited for a peer that does not read,
// so would the other stream's reader.

// canWriteNoWait reports whether writes can be kept from waiting: the
// connection is a socket.
func (c *Conn) canWriteNoWait() bool { return c.rawConn() != nil }

// share makes every write not wait unless it is made inside waiting.
func (c *Conn) share() { c.shared.Store(true) }

// waiting calls write with the connection's writes allowed to wait: the
// queue's writer goroutine.
func (c *Conn) waiting(write func() (int, error)) (int, error) {
	c.waitOK.Store(true)
	defer c.waitOK.Store(false)
	return write()
}

// hasKept reports whether a write that did not wait kept bytes. It
// takes no lock: a caller may hold its queue's, and keptMu is held
// across a write that waits.
func (c *Conn) hasKept() bool { return c.isKept.Load() }

// setKept sets what is kept. c.keptMu is held.
func (c *Conn) setKept(b []byte) {
	c.kept = b
	c.isKept.Store(len(b) > 0)
}

// flushKept writes what writes that did not wait kept, waiting as any
// write does (within the write deadline).
func (c *Conn) flushKept() error {
	c.keptMu.Lock()
	defer c.keptMu.Unlock()
	return c.flushKeptLocked()
}

// flushKeptLocked is flushKept with c.keptMu held.
func (c *Conn) flushKeptLocked() error {
	if len(c.kept) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.kept)
	c.setKept(nil)
	return err
}

// write is Write below the cork: after share and outside waiting, it
// writes what the socket takes at once and keeps the rest; otherwise it
// writes what was kept and then p, waiting as needed.
func (c *Conn) write(p []byte) (int, error) {
	c.keptMu.Lock()
	defer c.keptMu.Unlock()
	if c.raw != nil && c.shared.Load() && !c.waitOK.Load() {
		if len(c.kept) > 0 {
			c.setKept(append(c.kept, p...))
			return len(p), nil
		}
		n, err := c.writeNow(p)
		if err != nil {
			return n, err
		}
		if n < len(p) {
			c.setKept(append([]byte(nil), p[n:]...))
		}
		return len(p), nil
	}
	if err := c.flushKeptLocked(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
