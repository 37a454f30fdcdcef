//go:build unix

package transport

import (
	"net"
	"syscall"
)

// rawConn returns the connection's file descriptor access, or nil.
func (c *Conn) rawConn() syscall.RawConn {
	c.keptMu.Lock()
	defer c.keptMu.Unlock()
	if c.raw == nil && !c.noRaw {
		// A socket itself, not something that wraps one: bytes written
		// to the descriptor would skip a wrapper's framing (a WebSocket's).
		var sc syscall.Conn
		switch s := c.Conn.(type) {
		case *net.TCPConn:
			sc = s
		case *net.UnixConn:
			sc = s
		}
		if sc != nil {
			rc, err := sc.SyscallConn()
			if err == nil {
				c.raw = rc
			}
		}
		c.noRaw = c.raw == nil
	}
	return c.raw
}

// writeNow writes what the socket takes of p without waiting.
func (c *Conn) writeNow(p []byte) (int, error) {
	var n int
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		for {
			m, e := syscall.Write(int(fd), p)
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				m, e = 0, nil
			case e != nil:
				m = 0
			}
			n, werr = m, e
			return true
		}
	})
	if err != nil {
		return 0, err // closed, or the write deadline passed
	}
	return n, werr
}
