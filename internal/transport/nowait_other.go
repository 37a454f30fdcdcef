//go:build !unix

package transport

import (
	"errors"
	"syscall"
)

// rawConn: writes that do not wait are for unix sockets only here.
func (c *Conn) rawConn() syscall.RawConn { return nil }

func (c *Conn) writeNow([]byte) (int, error) {
	return 0, errors.New("transport: no writes without waiting on this system")
}
