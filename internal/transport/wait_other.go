//go:build !unix

package transport

// WaitReadable returns at once on this system: the next Read waits.
func (c *Conn) WaitReadable() {}
