package transport

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"samtal.org/samtal/internal/certs"
	"samtal.org/samtal/internal/conntest"
)

// serverTLS returns a server's TLS configuration with a self-signed
// certificate for example.org.
func serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	certPEM, keyPEM, err := certs.SelfSigned([]string{"example.org"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

// batchPair returns a started queue writing over TLS to a loopback
// connection, batched through the Conn under it, and the peer's end.
func batchPair(t *testing.T) (*Queue, *Conn, *tls.Conn) {
	t.Helper()
	cfg := serverTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		raw *Conn
		tc  *tls.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- accepted{err: err}
			return
		}
		raw := Wrap(c, ConnConfig{})
		tc := tls.Server(raw, cfg)
		ch <- accepted{raw, tc, tc.Handshake()}
	}()
	peer, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	q := NewQueue(a.tc, 0)
	q.Batched(a.raw)
	if q.raw == nil {
		t.Fatal("a TCP connection is not batched")
	}
	q.Start()
	t.Cleanup(func() { q.Finish(time.Second) })
	return q, a.raw, peer
}

// TestBatchWritesAtFlush checks that what a batch holds is written at
// Flush, in one write from the caller, and that appends from others
// meanwhile go with it.
func TestBatchWritesAtFlush(t *testing.T) {
	q, _, peer := batchPair(t)
	var b Batch
	end, ok, _ := q.AppendBatched(func(p []byte) []byte { return append(p, "<a/>"...) }, &b)
	if !ok || len(b.qs) != 1 {
		t.Fatalf("append: ok %v, batch holds %d; want true, 1", ok, len(b.qs))
	}
	// Another goroutine's append: no writer starts, the batch writes it.
	end2, _, _ := appendStr(q, "<b/>")
	if _, _, _ = q.AppendBatched(func(p []byte) []byte { return append(p, "<c/>"...) }, &b); len(b.qs) != 1 {
		t.Fatalf("a queue held once is held once; the batch holds %d", len(b.qs))
	}
	time.Sleep(20 * time.Millisecond)
	if w := q.Written(); w != 0 {
		t.Fatalf("before Flush %d bytes were written, want 0", w)
	}
	b.Flush()
	if len(b.qs) != 0 || q.Written() != end2+4 || end != 4 {
		t.Fatalf("after Flush: batch %d, written %d; want 0, %d", len(b.qs), q.Written(), end2+4)
	}
	q.mu.Lock()
	running := q.running
	q.mu.Unlock()
	if running {
		t.Error("a queue the socket took at once still counts a writer")
	}
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 12)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "<a/><b/><c/>" {
		t.Errorf("the peer read %q, %v; want <a/><b/><c/>", got, err)
	}
	// Idle again: a plain append starts a writer as before.
	appendStr(q, "<d/>")
	got = got[:4]
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "<d/>" {
		t.Errorf("the peer read %q, %v; want <d/>", got, err)
	}
}

// TestBatchDoesNotWait checks that Flush returns while the peer reads
// nothing, and that what the socket did not take reaches the peer
// afterwards, in order, with what was queued after it.
func TestBatchDoesNotWait(t *testing.T) {
	q, _, peer := batchPair(t)
	var want bytes.Buffer
	var b Batch
	// Far more than the socket buffers of both ends hold.
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	start := time.Now()
	for i := range 64 {
		line := fmt.Appendf(nil, "<m n='%d'>%s</m>", i, chunk)
		want.Write(line)
		q.AppendBatched(func(p []byte) []byte { return append(p, line...) }, &b)
		b.Flush()
	}
	// A write that waited would wait for the write timeout.
	if d := time.Since(start); d > WriteTimeout/3 {
		t.Fatalf("flushing to a peer that does not read took %v", d)
	}
	q.mu.Lock()
	running := q.running
	q.mu.Unlock()
	if !running {
		t.Fatal("4 MiB to a peer that does not read, and no writer has what the socket did not take")
	}
	if w := q.Written(); w >= int64(want.Len()) {
		t.Errorf("%d of %d bytes count as written while the peer reads nothing", w, want.Len())
	}
	for i := range 3 {
		line := fmt.Appendf(nil, "<after n='%d'/>", i)
		want.Write(line)
		appendStr(q, string(line))
	}
	_ = peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatalf("the peer read %d of %d bytes: %v", len(got), want.Len(), err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("the peer read the bytes out of order")
	}
	waitWritten(t, q, int64(want.Len()))
}

// TestBatchClosing checks that a queue closed while a batch holds it
// writes its final bytes and closes once the batch is flushed.
func TestBatchClosing(t *testing.T) {
	q, _, peer := batchPair(t)
	var b Batch
	q.AppendBatched(func(p []byte) []byte { return append(p, "<a/>"...) }, &b)
	q.CloseWith([]byte("</stream>"), true)
	b.Flush()
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(peer)
	if string(got) != "<a/></stream>" || err != nil {
		t.Errorf("the peer read %q, %v; want <a/></stream> and the end", got, err)
	}
}

// TestSharedWritesDoNotWait checks that once a batched queue has started,
// a write to its connection from elsewhere (TLS answering its peer) does
// not wait for a peer that does not read, and that what it kept goes out
// before the queue's next bytes.
func TestSharedWritesDoNotWait(t *testing.T) {
	peer, c := conntest.TCPPair(t)
	raw := Wrap(c, ConnConfig{})
	q := NewQueue(raw, 0)
	q.Batched(raw)
	defer q.Finish(time.Second)
	// Fill the socket buffers: write until a write would wait.
	var want bytes.Buffer
	chunk := bytes.Repeat([]byte("f"), 64<<10)
	for stuck := 0; stuck < 3; {
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		n, _ := c.Write(chunk)
		want.Write(chunk[:n])
		if n == 0 {
			stuck++
		}
	}
	_ = c.SetWriteDeadline(time.Time{})
	q.Start()
	done := make(chan error, 1)
	go func() {
		_, err := raw.Write([]byte("<foreign/>"))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a write from elsewhere failed: %v", err)
		}
	case <-time.After(5 * time.Second):
		c.Close() // ends the write that waits
		t.Fatal("a write from elsewhere waits for a peer that does not read")
	}
	want.WriteString("<foreign/><after/>")
	appendStr(q, "<after/>")
	_ = peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatalf("the peer read %d bytes: %v", want.Len(), err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("the peer read the bytes out of order: ends with %q", got[len(got)-30:])
	}
}

// TestBatchedOnlyOverSockets checks that a queue over a connection that
// wraps a socket (as a WebSocket's framing would) is never batched:
// bytes written to the descriptor would skip the wrapper.
func TestBatchedOnlyOverSockets(t *testing.T) {
	c, _ := conntest.TCPPair(t)
	type framed struct{ *net.TCPConn }
	for _, tc := range []struct {
		name string
		conn net.Conn
		want bool
	}{
		{"a TCP socket", c, true},
		{"a wrapper of one", framed{c.(*net.TCPConn)}, false},
		{"a pipe", pipeEnd(t), false},
	} {
		raw := Wrap(tc.conn, ConnConfig{})
		q := NewQueue(raw, 0)
		q.Batched(raw)
		if got := q.raw != nil; got != tc.want {
			t.Errorf("%s: batched %v, want %v", tc.name, got, tc.want)
		}
	}
}

func pipeEnd(t *testing.T) net.Conn {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a
}
