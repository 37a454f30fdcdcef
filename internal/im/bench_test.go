package im

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// benchSession is a bound session that serializes what it is sent, as a
// client session's queue does, into a buffer it reuses.
type benchSession struct {
	jid jid.JID
	out []byte
	n   int
}

func (s *benchSession) JID() jid.JID { return s.jid }
func (s *benchSession) Send(el *xmlel.Element) {
	s.out = stream.AppendElement(s.out[:0], el, xmlel.NSClient)
	s.n++
}
func (s *benchSession) CloseWithError(stream.Error) {}

// loopReader yields a stream header once, then the same stanza forever,
// as a busy client connection would.
type loopReader struct {
	hdr, stanza []byte
	off         int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if len(l.hdr) > 0 {
		n := copy(p, l.hdr)
		l.hdr = l.hdr[n:]
		return n, nil
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.stanza[l.off:])
		n += c
		l.off = (l.off + c) % len(l.stanza)
	}
	return n, nil
}

// benchChat is a chat message as clients send them today, to to.
func benchChat(to string) string {
	return `<message to='` + to + `' type='chat' id='9c0b5d4e-61e3-4f5b-8a7e-3b1f3c2d2e10'>` +
		`<body>Art thou not Romeo, and a Montague? Neither, fair maid, if either thee dislike.</body>` +
		`<request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/>` +
		`<active xmlns='http://jabber.org/protocol/chatstates'/></message>`
}

// benchReader is a client stream that sends msg forever.
func benchReader(msg string) *xmlstream.Reader {
	rd := xmlstream.NewReader(&loopReader{
		hdr:    []byte(`<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`),
		stanza: []byte(msg),
	}, xmlstream.Limits{})
	if _, err := rd.Header(); err != nil {
		panic(err)
	}
	return rd
}

// routeOne reads the next stanza of from's stream and does with it what
// the c2s session does with a client's stanza: stamp, check, route.
func routeOne(ctx context.Context, svc *Service, rd *xmlstream.Reader, sender *benchSession, from string) {
	el, err := rd.Next()
	if err != nil {
		panic(err)
	}
	st := &stanza.Stanza{El: el, From: sender.jid}
	el.SetAttr("from", from)
	to, err := jid.Parse(el.Attr("to"))
	if err != nil {
		panic(err)
	}
	st.To = to
	svc.Outbound(ctx, sender, st)
}

// benchService is an IM service on a router serving localhost, with a
// store of its own.
func benchService(b *testing.B) (*router.Router, *Service) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "im.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	r := router.New([]string{"localhost"})
	svc := New(Config{}, r, store, iq.NewMux(log), log)
	r.SetLocal(svc)
	return r, svc
}

// BenchmarkRouteMessage is the hot path of 1:1 chat end to end in
// process: a chat message is read from the sender's stream (tokenized
// into an element), its addresses are checked and stamped as the c2s
// session does, the IM core routes it to the recipient's full JID
// (blocking checks, hooks, RFC 6121 delivery) and the recipient's
// session serializes it for the wire.
func BenchmarkRouteMessage(b *testing.B) {
	ctx := context.Background()
	r, svc := benchService(b)
	alice := &benchSession{jid: must(jid.Parse("alice@localhost/phone"))}
	bob := &benchSession{jid: must(jid.Parse("bob@localhost/laptop"))}
	for _, s := range []*benchSession{alice, bob} {
		if _, err := r.Bind(s, true, 10); err != nil {
			b.Fatal(err)
		}
	}
	msg := benchChat(bob.jid.String())
	rd := benchReader(msg)
	from := alice.jid.String()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		routeOne(ctx, svc, rd, alice, from)
	}
	if bob.n != b.N {
		b.Fatalf("bob got %d messages, want %d", bob.n, b.N)
	}
}

// BenchmarkRouteMessageParallel is BenchmarkRouteMessage on every core
// at once, each goroutine with a pair of its own, as a busy server
// routes: what it costs over the serial benchmark is the cores' sharing
// of the router, the IM service and what they write to.
func BenchmarkRouteMessageParallel(b *testing.B) {
	ctx := context.Background()
	r, svc := benchService(b)
	var next atomic.Int64
	b.SetBytes(int64(len(benchChat("bob0@localhost/laptop"))))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1)
		alice := &benchSession{jid: must(jid.Parse(fmt.Sprintf("alice%d@localhost/phone", i)))}
		bob := &benchSession{jid: must(jid.Parse(fmt.Sprintf("bob%d@localhost/laptop", i)))}
		for _, s := range []*benchSession{alice, bob} {
			if _, err := r.Bind(s, true, 10); err != nil {
				b.Error(err)
				return
			}
		}
		rd := benchReader(benchChat(bob.jid.String()))
		from := alice.jid.String()
		sent := 0
		for pb.Next() {
			routeOne(ctx, svc, rd, alice, from)
			sent++
		}
		if bob.n != sent {
			b.Errorf("bob got %d messages, want %d", bob.n, sent)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
