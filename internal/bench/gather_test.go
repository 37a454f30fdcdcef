package bench

import (
	"io"
	"net"
	"testing"
	"time"

	"samtal.org/samtal/internal/conntest"
)

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return string(b)
}

// TestGatherSendsOnRead checks that gathered writes leave in one write
// when the client reads, and that a read never waits with bytes held.
func TestGatherSendsOnRead(t *testing.T) {
	client, server := conntest.TCPPair(t)
	wc := &conntest.CountingConn{Conn: client}
	g := newGather(wc)
	for _, s := range []string{"<finished/>", "<stream:stream>"} {
		if _, err := g.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if n := wc.Writes.Load(); n != 0 {
		t.Fatalf("%d writes while gathering, want 0", n)
	}
	// The server answers only once it has the client's bytes: the read
	// below would wait forever if they were still held.
	go func() {
		b := make([]byte, len("<finished/><stream:stream>"))
		if _, err := io.ReadFull(server, b); err == nil && string(b) == "<finished/><stream:stream>" {
			server.Write([]byte("<features/>"))
		}
	}()
	_ = g.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, len("<features/>"))
	if _, err := io.ReadFull(g, b); err != nil {
		t.Fatalf("read: %v", err)
	}
	if n := wc.Writes.Load(); n != 1 {
		t.Errorf("%d writes for two gathered ones, want 1", n)
	}
}

// TestGatherDirect checks that once gathering ends, each write leaves at
// once, and that what was held leaves first.
func TestGatherDirect(t *testing.T) {
	client, server := conntest.TCPPair(t)
	wc := &conntest.CountingConn{Conn: client}
	g := newGather(wc)
	g.Write([]byte("held"))
	if err := g.direct(); err != nil {
		t.Fatal(err)
	}
	g.Write([]byte("now"))
	if n := wc.Writes.Load(); n != 2 {
		t.Errorf("%d writes, want 2 (the held bytes, then the direct write)", n)
	}
	if got := readN(t, server, len("heldnow")); got != "heldnow" {
		t.Errorf("server read %q, want %q", got, "heldnow")
	}
}

// TestGatherClose checks that a closing tag and what TLS writes at Close
// leave in one write, even after the write deadline was set to now (as
// tls.Conn.Close does after its close_notify), before the connection ends.
func TestGatherClose(t *testing.T) {
	client, server := conntest.TCPPair(t)
	wc := &conntest.CountingConn{Conn: client}
	g := newGather(wc)
	g.direct()
	g.on.Store(true)
	g.Write([]byte("</stream:stream>"))
	g.Write([]byte("<close_notify/>"))
	_ = g.SetWriteDeadline(time.Now())
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if n := wc.Writes.Load(); n != 1 {
		t.Errorf("%d writes at close, want 1", n)
	}
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	all, err := io.ReadAll(server)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(all) != "</stream:stream><close_notify/>" {
		t.Errorf("server read %q, want the tag and the alert, then the end", all)
	}
}
