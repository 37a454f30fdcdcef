package transport

import (
	"crypto/tls"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// notifyConn stands for tls.Conn over a Conn: its first Close writes a
// close_notify record, then closes what is under it.
type notifyConn struct {
	*Conn
	once sync.Once
}

func (c *notifyConn) Close() error {
	c.once.Do(func() { _, _ = c.Conn.Write([]byte("<notify>")) })
	return c.Conn.Close()
}

// TestCork checks that a corked Conn writes what it was given at Close,
// in one write.
func TestCork(t *testing.T) {
	w := &writesConn{}
	c := Wrap(w, ConnConfig{})
	if _, err := c.Write([]byte("<a/>")); err != nil {
		t.Fatal(err)
	}
	c.Cork()
	for _, s := range []string{"</stream>", "<notify>"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("corked Write = %d, %v", n, err)
		}
	}
	if want := []string{"<a/>"}; !slices.Equal(w.writes, want) {
		t.Fatalf("before Close: writes %q, want %q", w.writes, want)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"<a/>", "</stream><notify>"}; !slices.Equal(w.writes, want) {
		t.Errorf("after Close: writes %q, want %q", w.writes, want)
	}
}

// gatedWrites is writesConn whose writes wait for gate to close; entered
// receives a value as each write begins to wait.
type gatedWrites struct {
	writesConn
	gate    chan struct{}
	entered chan struct{}
}

func (c *gatedWrites) Write(b []byte) (int, error) {
	select {
	case c.entered <- struct{}{}:
	default:
	}
	<-c.gate
	return c.writesConn.Write(b)
}

// TestQueueBeforeLast checks that a stream's closing tag and what
// closing the connection writes leave together, and that stanzas still
// pending at the close do not, before or after Start.
func TestQueueBeforeLast(t *testing.T) {
	run := func(pending string, start bool) []string {
		w := &gatedWrites{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
		raw := Wrap(w, ConnConfig{})
		q := NewQueue(&notifyConn{Conn: raw}, 0)
		q.BeforeLast(raw.Cork)
		if start {
			q.Start()
			appendStr(q, "<a/>")
			<-w.entered // the writer waits in its write of <a/>
		} else {
			close(w.gate)
		}
		if pending != "" {
			if start {
				appendStr(q, pending)
			} else {
				q.Hold(func(b []byte) []byte { return append(b, pending...) })
			}
		}
		q.CloseWith([]byte("</stream>"), true)
		if start {
			close(w.gate)
		}
		q.Finish(time.Second)
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.writes
	}
	for _, c := range []struct {
		pending string
		start   bool
		want    []string
	}{
		{"", true, []string{"<a/>", "</stream><notify>"}},
		{"", false, []string{"</stream><notify>"}},
		{"<b/>", true, []string{"<a/>", "<b/></stream>", "<notify>"}},
		{"<b/>", false, []string{"<b/></stream>", "<notify>"}},
	} {
		if got := run(c.pending, c.start); !slices.Equal(got, c.want) {
			t.Errorf("pending %q, started %v: writes %q, want %q", c.pending, c.start, got, c.want)
		}
	}
}

// TestCorkTLS closes a TLS stream as a session does: the closing tag
// and close_notify, corked, reach the client, which then reads the end.
func TestCorkTLS(t *testing.T) {
	cfg := serverTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		raw := Wrap(c, ConnConfig{})
		tc := tls.Server(raw, cfg)
		if err := tc.Handshake(); err != nil {
			errc <- err
			return
		}
		raw.Cork()
		if _, err := tc.Write([]byte("</stream>")); err != nil {
			errc <- err
			return
		}
		errc <- tc.Close()
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if string(got) != "</stream>" || err != nil {
		t.Errorf("the client read %q, %v; want </stream> and the end (close_notify)", got, err)
	}
	if err := <-errc; err != nil {
		t.Errorf("server: %v", err)
	}
}
