// Package conntest has connections for tests of what a connection
// carries: both ends of a loopback TCP connection, and a connection that
// counts the writes that reach it (on a socket, each is a system call).
package conntest

import (
	"net"
	"sync/atomic"
	"testing"
)

// TCPPair returns both ends of a loopback TCP connection, closed when
// the test ends.
func TCPPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// CountingConn counts the writes that reach the connection under it.
type CountingConn struct {
	net.Conn
	Writes atomic.Int32
}

func (c *CountingConn) Write(p []byte) (int, error) {
	c.Writes.Add(1)
	return c.Conn.Write(p)
}
