//go:build unix

package transport

import "syscall"

// WaitReadable waits until the peer has sent something (or closed the
// connection, or the idle time is up), without reading it and without a
// buffer: the waiting goroutine's stack is all it costs. Call it only
// after Read returned ErrQuiet, when nothing is buffered above.
func (c *Conn) WaitReadable() {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	c.mu.Lock()
	idle := c.cfg.Idle
	c.mu.Unlock()
	if idle > 0 {
		c.arm(c.lastData.Add(idle), idle/deadlineSlack)
	}
	var b [1]byte
	// An error (the deadline, a closed connection) ends the wait; the
	// next Read reports it.
	_ = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN
	})
}
