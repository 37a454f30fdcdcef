package im

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
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

// BenchmarkRouteMessage is the hot path of 1:1 chat end to end in
// process: a chat message is read from the sender's stream (tokenized
// into an element), its addresses are checked and stamped as the c2s
// session does, the IM core routes it to the recipient's full JID
// (blocking checks, hooks, RFC 6121 delivery) and the recipient's
// session serializes it for the wire.
func BenchmarkRouteMessage(b *testing.B) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "im.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	r := router.New([]string{"localhost"})
	svc := New(Config{}, r, store, iq.NewMux(log), log)
	r.SetLocal(svc)
	alice := &benchSession{jid: must(jid.Parse("alice@localhost/phone"))}
	bob := &benchSession{jid: must(jid.Parse("bob@localhost/laptop"))}
	for _, s := range []*benchSession{alice, bob} {
		if _, err := r.Bind(s, true, 10); err != nil {
			b.Fatal(err)
		}
	}
	msg := `<message to='bob@localhost/laptop' type='chat' id='9c0b5d4e-61e3-4f5b-8a7e-3b1f3c2d2e10'>` +
		`<body>Art thou not Romeo, and a Montague? Neither, fair maid, if either thee dislike.</body>` +
		`<request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/>` +
		`<active xmlns='http://jabber.org/protocol/chatstates'/></message>`
	rd := xmlstream.NewReader(&loopReader{
		hdr:    []byte(`<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`),
		stanza: []byte(msg),
	}, xmlstream.Limits{})
	if _, err := rd.Header(); err != nil {
		b.Fatal(err)
	}
	from := alice.jid.String()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		el, err := rd.Next()
		if err != nil {
			b.Fatal(err)
		}
		// What the c2s session does with a client's stanza.
		st := &stanza.Stanza{El: el, From: alice.jid}
		el.SetAttr("from", from)
		to, err := jid.Parse(el.Attr("to"))
		if err != nil {
			b.Fatal(err)
		}
		st.To = to
		svc.Outbound(ctx, alice, st)
	}
	if bob.n != b.N {
		b.Fatalf("bob got %d messages, want %d", bob.n, b.N)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
