package xmlel

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestAppendXMLForeignAttrs checks attributes in other namespaces: each
// namespace is declared once per element, with a prefix of its own, however
// many attributes there are. (Prefixes used to wrap around after ten, which
// declared ns0 twice on one element: not well-formed.)
func TestAppendXMLForeignAttrs(t *testing.T) {
	e := New("urn:x", "a", "plain", "p")
	for i := range 12 {
		e.Attrs = append(e.Attrs, Attr{Space: "urn:one", Local: fmt.Sprintf("n%d", i), Value: "1"})
	}
	e.Attrs = append(e.Attrs,
		Attr{Space: "urn:two", Local: "n0", Value: "2"},
		Attr{Space: NSXML, Local: "lang", Value: "en"},
		Attr{Space: "urn:one", Local: "last", Value: "<'&\">"})
	out := string(e.AppendXML(nil, NSClient))
	for _, ns := range []string{"urn:one", "urn:two"} {
		if n := strings.Count(out, "='"+ns+"'"); n != 1 {
			t.Errorf("AppendXML() = %s: %s declared %d times, want once", out, ns, n)
		}
	}
	d := xml.NewDecoder(bytes.NewReader([]byte(out)))
	tok, err := d.Token()
	if err != nil {
		t.Fatalf("AppendXML() = %s: %v", out, err)
	}
	var got []Attr
	seen := map[string]bool{}
	for _, a := range tok.(xml.StartElement).Attr {
		if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
			continue
		}
		if seen[a.Name.Space+" "+a.Name.Local] {
			t.Errorf("AppendXML() = %s: duplicate attribute %v", out, a.Name)
		}
		seen[a.Name.Space+" "+a.Name.Local] = true
		got = append(got, Attr{Space: a.Name.Space, Local: a.Name.Local, Value: a.Value})
	}
	if fmt.Sprint(got) != fmt.Sprint(e.Attrs) {
		t.Errorf("AppendXML() = %s\nread back %v\nwant %v", out, got, e.Attrs)
	}
}

func TestAppendXMLNamespaces(t *testing.T) {
	e := New("", "message", "to", "a@b").Append(
		New("urn:xmpp:forward:0", "forwarded").Append(
			New("", "message").Append(TextElement("", "body", "hi"))),
		TextElement("", "body", "a\r\nb <&> ]]>\x01"))
	want := `<message to='a@b'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'><body>hi</body></message></forwarded>` +
		"<body>a&#xD;\nb &lt;&amp;&gt; ]]&gt;\uFFFD</body></message>"
	if got := string(e.AppendXML(nil, NSClient)); got != want {
		t.Errorf("AppendXML() =\n%s\nwant\n%s", got, want)
	}
	// On a server or component stream the stanza is the stream's, the
	// forwarded one stays a client stanza (XEP-0297 §3).
	for _, ns := range []string{NSServer, NSComponent} {
		w := `<message to='a@b'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'><body>hi</body></message></forwarded>`
		if got := string(e.AppendXML(nil, ns)); !strings.HasPrefix(got, w) {
			t.Errorf("AppendXML(%s) =\n%s\nwant it to start with\n%s", ns, got, w)
		}
	}
	if got := New(NSClient, "iq").String(); got != `<iq xmlns='jabber:client'/>` {
		t.Errorf("String() = %s", got)
	}
}

func TestEscapeAttr(t *testing.T) {
	got := string(EscapeAttr(nil, "a\tb\nc\rd'e\"f<g>&\uFFFE"))
	want := "a&#x9;b&#xA;c&#xD;d&apos;e&quot;f&lt;g&gt;&amp;\uFFFD"
	if got != want {
		t.Errorf("EscapeAttr() = %q, want %q", got, want)
	}
}

// escapeByRune escapes s one rune (or invalid byte) at a time: strings
// that short never take escape's eight-byte path.
func escapeByRune(s string, attr bool) string {
	var out []byte
	for i := 0; i < len(s); {
		_, w := utf8.DecodeRuneInString(s[i:])
		out = escape(out, s[i:i+w], attr)
		i += w
	}
	return string(out)
}

// TestEscapeWords checks the eight-byte path against the byte loop: every
// byte value at every position of a word, and mixed strings.
func TestEscapeWords(t *testing.T) {
	check := func(s string) {
		t.Helper()
		for _, attr := range []bool{false, true} {
			if got, want := string(escape(nil, s, attr)), escapeByRune(s, attr); got != want {
				t.Fatalf("escape(%q, %v) = %q, want %q", s, attr, got, want)
			}
		}
	}
	for c := range 256 {
		for pos := range 8 {
			b := []byte("abcdefghijklmnopq")
			b[pos] = byte(c)
			check(string(b))
			b[pos+8] = byte(c)
			check(string(b))
		}
	}
	alphabet := []string{"a", "Z", " ", "~", "\x7f", "<", ">", "&", "'", "\"", "\t", "\n", "\r", "\x00", "\x1f", "é", "\uFFFE", "\xff", "😀"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var sb strings.Builder
		for range rng.IntN(40) {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		check(sb.String())
	}
}

func BenchmarkEscapeText(b *testing.B) {
	s := "Art thou not Romeo, and a Montague? Neither, fair maid, if either thee dislike."
	var dst []byte
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		dst = EscapeText(dst[:0], s)
	}
}
