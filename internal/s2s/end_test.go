package s2s

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
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

// gatedConn holds its first write until release is closed.
type gatedConn struct {
	net.Conn
	writing chan struct{} // closed when the first write began
	release chan struct{}
	first   bool
}

func (c *gatedConn) Write(b []byte) (int, error) {
	if !c.first {
		c.first = true
		close(c.writing)
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
