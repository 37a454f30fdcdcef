package s2s

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/transport"
)

// TestDialbackAnswerAfterEnd checks that a dialback verification whose
// answer comes after its stream ended authenticates nothing: the peer
// sent a stanza before the answer and so ended the stream. The domain's
// count of streams (max_connections_per_domain) must not keep a stream
// that is gone.
func TestDialbackAnswerAfterEnd(t *testing.T) {
	w := newFuzzWorld(t)
	w.beforeAnswer = func() {
		// Answer once the stream is gone.
		deadline := time.Now().Add(5 * time.Second)
		for in, _ := w.svc.Count(); in > 0 && time.Now().Before(deadline); in, _ = w.svc.Count() {
			time.Sleep(time.Millisecond)
		}
	}
	hdr := "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'" +
		" xmlns:db='jabber:server:dialback' from='peer.test' to='ours.test' version='1.0'>"
	script := hdr + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\xff" + hdr + "\xff" +
		"<db:result from='peer.test' to='ours.test'>" + authorityKey("ours.test", "peer.test") + "</db:result>" +
		"<message from='juliet@peer.test/balcony' to='romeo@ours.test'><body>early</body></message>"
	// inbound fails unless the service holds no count after the end.
	r := w.inbound(t, 0, false, []byte(script))
	checkRun(t, r)
	if !strings.Contains(r.out, "<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") {
		t.Errorf("a stanza before the answer got\n%s\nwant not-authorized", r.out)
	}
}

// gatedConn holds the writes that begin while it is shut until release
// is closed: every one, or with hold, those that begin once hold is
// true.
type gatedConn struct {
	net.Conn
	hold    *atomic.Bool  // nil: shut from the start
	writing chan struct{} // closed when the first write was held
	once    sync.Once
	release chan struct{}
}

func (c *gatedConn) Write(b []byte) (int, error) {
	if c.hold == nil || c.hold.Load() {
		c.once.Do(func() { close(c.writing) })
		<-c.release
	}
	return c.Conn.Write(b)
}

// TestStreamErrorKeepsQueued checks that a stream error goes out after
// what was queued before it, in both directions: after a restart, the
// header of the new stream is queued when a stream error can come, and
// without it the error would be outside any stream the peer saw begin
// (RFC 6120 §4.9.1.1).
func TestStreamErrorKeepsQueued(t *testing.T) {
	svc := New(Config{}, router.New([]string{"ours.test"}), slog.New(slog.DiscardHandler), NewMetrics(metrics.NewRegistry()))
	header := string(appendHeader(nil, "ours.test", "peer.test", "s2"))
	for _, tc := range []struct {
		name  string
		queue func(net.Conn) (*transport.Queue, func([]byte), func(stream.Error))
	}{
		{"inbound", func(conn net.Conn) (*transport.Queue, func([]byte), func(stream.Error)) {
			c := newInConn(svc, conn, false, func() {})
			return c.q, c.write, c.closeWithError
		}},
		{"outbound", func(conn net.Conn) (*transport.Queue, func([]byte), func(stream.Error)) {
			c := newOutConn(svc, pair{"ours.test", "peer.test"})
			c.q = transport.NewQueue(conn, 0)
			return c.q, c.write, c.closeWithError
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, peer := newMemConn()
			gate := &gatedConn{Conn: srv, writing: make(chan struct{}), release: make(chan struct{})}
			q, write, closeWithError := tc.queue(gate)
			q.Start()
			// The writer takes what ends the stream before the restart
			// and waits in the write; the new stream's header waits
			// behind it.
			write([]byte("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"))
			<-gate.writing
			write([]byte(header))
			closeWithError(stream.Error{Condition: stream.HostUnknown})
			close(gate.release)
			q.Finish(5 * time.Second)
			out, _ := io.ReadAll(peer)
			want := "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" + header + string(streamError(stream.Error{Condition: stream.HostUnknown}))
			if string(out) != want {
				t.Errorf("the stream ended with\n%s\nwant\n%s", out, want)
			}
		})
	}
	svc.Close(context.Background())
}

// TestFailedNegotiationKeepsQueued checks that an outbound stream whose
// negotiation fails right after SASL succeeded sends the header of the
// restarted stream before it closes it: the peer restarted its stream
// with <success/> (RFC 6120 §6.4.6), and a close tag without the new
// header would close a stream the peer never saw begin (§4.4).
func TestFailedNegotiationKeepsQueued(t *testing.T) {
	// A header that does not parse ends with a stream error, the peer's
	// close_notify (the end of its stream) with the closing tag alone.
	t.Run("not well-formed", func(t *testing.T) {
		failedNegotiation(t, func(tc *tls.Conn) error {
			_, err := io.WriteString(tc, "<a:b/>")
			return err
		}, "<stream:error><bad-namespace-prefix xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"+stream.Close)
	})
	t.Run("end of stream", func(t *testing.T) {
		failedNegotiation(t, (*tls.Conn).CloseWrite, stream.Close)
	})
}

// failedNegotiation fails an outbound negotiation with fail right after
// the stream restart that SASL's success asks for, and checks that the
// service wrote, after <auth/>, the restarted stream's header and then
// end.
func failedNegotiation(t *testing.T, fail func(*tls.Conn) error, end string) {
	w := newFuzzWorld(t)
	conns := make(chan *memConn, 1)
	w.begin(func(string, string) bool { return true }, func(c *memConn) bool {
		select {
		case conns <- c:
			return true
		default:
			return false // one stream only
		}
	})
	gate := &gatedConn{hold: new(atomic.Bool), writing: make(chan struct{}), release: make(chan struct{})}
	dial := w.svc.dial
	w.svc.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		gate.Conn = c
		return gate, nil
	}
	p := pair{"ours.test", "direct.test"}
	w.svc.Handle(context.Background(), message("juliet@ours.test/balcony", "romeo@"+p.remote, "hello"))
	w.svc.mu.Lock()
	oc := w.svc.out[p]
	w.svc.mu.Unlock()
	var peer *memConn
	select {
	case peer = <-conns:
	case <-time.After(fuzzServeLimit):
		t.Fatal("the service did not connect")
	}
	defer peer.Close()
	tc := tls.Server(peer, w.remoteTLS[0])
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS: %v", err)
	}
	// The service's header, written before the writer starts.
	var got []byte
	for buf := make([]byte, 4096); !bytes.HasSuffix(got, []byte(">")); {
		n, err := tc.Read(buf)
		if err != nil {
			t.Fatalf("reading the header: %v after %q", err, got)
		}
		got = append(got, buf[:n]...)
	}
	// From here on the writer writes: it takes <auth/> and waits in
	// the write, and the header of the restarted stream waits behind
	// it when the negotiation fails.
	gate.hold.Store(true)
	send := func(s string) {
		t.Helper()
		if _, err := io.WriteString(tc, s); err != nil {
			t.Fatalf("writing %q: %v", s, err)
		}
	}
	send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='direct.test' to='ours.test' id='s1' version='1.0'>" +
		"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms></stream:features>")
	<-gate.writing
	send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
	waitIdle(t, peer.out, nil)       // the service restarted its reader
	if err := fail(tc); err != nil { // the negotiation fails
		t.Fatal(err)
	}
	select {
	case <-oc.done:
	case <-time.After(fuzzServeLimit):
		t.Fatal("the stream did not end")
	}
	close(gate.release)
	rest, err := io.ReadAll(tc)
	if err != nil {
		t.Fatalf("reading to the end: %v", err)
	}
	want := string(saslAuth(p.local)) + string(appendHeader(nil, p.local, p.remote, "")) + end
	if string(rest) != want {
		t.Errorf("after its header the service wrote\n%s\nwant\n%s", rest, want)
	}
}
