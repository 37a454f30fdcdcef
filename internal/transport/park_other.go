//go:build !linux

package transport

// Park is not available on this system: the caller waits itself
// (WaitReadable).
func (c *Conn) Park(resume func()) bool { return false }

// closedNow has no parked connection to resume.
func (c *Conn) closedNow() {}
