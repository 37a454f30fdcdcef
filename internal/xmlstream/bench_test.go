package xmlstream

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

const benchMessage = `<message to='a@b' from='c@d/r' type='chat' id='x'><body>hello</body></message>`

// benchChat is a message as clients send them today: receipts, markers,
// an origin ID and a longer body.
const benchChat = `<message xmlns='jabber:client' to='juliet@capulet.example' from='romeo@montague.example/orchard' type='chat' id='9c0b5d4e-61e3-4f5b-8a7e-3b1f3c2d2e10' xml:lang='en'>` +
	`<body>Art thou not Romeo, and a Montague? Neither, fair maid, if either thee dislike.</body>` +
	`<request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/>` +
	`<origin-id xmlns='urn:xmpp:sid:0' id='9c0b5d4e-61e3-4f5b-8a7e-3b1f3c2d2e10'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>`

// loopReader returns a header once and then stanza over and over, as a
// busy client connection would.
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

func benchNext(b *testing.B, stanza string) {
	r := NewReader(&loopReader{hdr: []byte(clientHdr), stanza: []byte(stanza)}, Limits{})
	if _, err := r.Header(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(stanza)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNextMessage is the hot path: one small chat message per op.
func BenchmarkNextMessage(b *testing.B) { benchNext(b, benchMessage) }

func BenchmarkNextChat(b *testing.B) { benchNext(b, benchChat) }

// BenchmarkNextLarge reads a 64 KiB stanza of text, like an avatar upload.
func BenchmarkNextLarge(b *testing.B) {
	benchNext(b, `<iq type='set' id='a'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:data'><item id='x'><data xmlns='urn:xmpp:avatar:data'>`+
		strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n", 64*1024/37)+`</data></item></publish></pubsub></iq>`)
}

func BenchmarkParse(b *testing.B) {
	data := []byte(`<message xmlns='jabber:client' to='a@b' from='c@d/r' type='chat' id='x'><body>hello</body></message>`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStdlibTokens is for comparison only: encoding/xml just
// tokenizing the same message, without building a tree.
func BenchmarkStdlibTokens(b *testing.B) {
	data := []byte(`<message xmlns='jabber:client' to='a@b' from='c@d/r' type='chat' id='x'><body>hello</body></message>`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d := xml.NewDecoder(bytes.NewReader(data))
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkNextViewMessage is BenchmarkNextMessage for a stanza that is
// forwarded as read: its view and bytes, no tree.
func BenchmarkNextViewMessage(b *testing.B) {
	r := NewReader(&loopReader{hdr: []byte(clientHdr), stanza: []byte(benchMessage)}, Limits{})
	if _, err := r.Header(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchMessage)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := r.NextView()
		if err != nil {
			b.Fatal(err)
		}
		if len(v.Raw()) != len(benchMessage) {
			b.Fatalf("Raw() has %d bytes, want %d", len(v.Raw()), len(benchMessage))
		}
	}
}
