package c2s

import (
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/stream"
)

// TestKindBatch counts in a batch: the shared counters get the counts
// every batchMax stanzas and when the batch settles, and kinds without a
// place in the batch at once.
func TestKindBatch(t *testing.T) {
	m := NewMetrics(metrics.NewRegistry())
	var c kindBatch
	for range batchMax + 3 {
		c.count(m.in, "message")
	}
	c.count(m.in, "iq")
	c.count(m.in, "other")
	msgs, iqs, other := m.StanzasIn.With("message"), m.StanzasIn.With("iq"), m.StanzasIn.With("other")
	if msgs.Value() != batchMax || iqs.Value() != 0 || other.Value() != 1 {
		t.Fatalf("before settling: %d messages, %d iq, %d other; want %d, 0, 1", msgs.Value(), iqs.Value(), other.Value(), batchMax)
	}
	c.settle(m.in)
	c.settle(m.in)
	if msgs.Value() != batchMax+3 || iqs.Value() != 1 {
		t.Fatalf("settled: %d messages, %d iq; want %d, 1", msgs.Value(), iqs.Value(), batchMax+3)
	}
}

// TestStanzaCountsSettle has a client send stanzas and receive some, then
// fall quiet: the shared counters show exactly what went in and out
// without another stanza to push them along.
func TestStanzaCountsSettle(t *testing.T) {
	keys, err := sasl.DeriveKeys(sasl.SHA256, "secret", sasl.NewSalt(), 4096)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(metrics.NewRegistry())
	svc := New(Config{TLS: selfSigned(t), AuthTimeout: 5 * time.Second, IdleTimeout: time.Minute,
		FakeSecret: []byte("0123456789abcdef0123456789abcdef")},
		router.New([]string{"example.org"}), memCreds{"juliet@example.org SHA-256": keys}, &fakeCore{},
		func() PreAuth { return PreAuth{} }, slog.New(slog.DiscardHandler), m)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc.Listen(ln, false, false)
	t.Cleanup(func() { svc.cancel() })

	c := dialTLS(t, ln.Addr().String())
	succ := c.authenticate("<bind xmlns='urn:xmpp:bind:0'><tag>Test</tag></bind>")
	bound := succ.Child(nsBind2, "bound")
	if bound == nil {
		t.Fatalf("want <bound/> in %v", succ)
	}
	if f := c.next(); !f.Is(stream.NS, "features") {
		t.Fatalf("after <success/>: %v, want the stream features", f)
	}
	const in, out = 5, 7
	for i := range in {
		fmt.Fprintf(c.w, "<message to='romeo@example.org' type='chat' id='m%d'><body>%d</body></message>", i, i)
	}
	full := jid.MustParse(succ.ChildText(nsSASL2, "authorization-identifier"))
	var sess router.Session
	for deadline := time.Now().Add(5 * time.Second); sess == nil; time.Sleep(5 * time.Millisecond) {
		if sess = svc.router.Session(full); sess == nil && time.Now().After(deadline) {
			t.Fatalf("no session bound as %s", full)
		}
	}
	for i := range out {
		sess.Send(msg(fmt.Sprint(i)))
	}
	for range out {
		c.next()
	}
	gotIn, gotOut := m.StanzasIn.With("message"), m.StanzasOut.With("message")
	for deadline := time.Now().Add(5 * time.Second); gotIn.Value() != in || gotOut.Value() != out; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("counted %d messages in and %d out, want %d and %d", gotIn.Value(), gotOut.Value(), in, out)
		}
	}
}
