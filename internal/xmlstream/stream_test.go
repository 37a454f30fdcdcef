package xmlstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"

	"samtal.org/samtal/internal/xmlel"
)

// samples are stream bodies, well-formed or not, that the split and round
// trip tests run through the reader.
var samples = []string{
	`<message to='a@b' from='c@d/r' type='chat' id='x'><body>hello</body></message>`,
	`<presence/><presence type='unavailable'><status>gone &amp; back</status></presence>`,
	`<iq type='get' id='1'><query xmlns='jabber:iq:roster' ver='x'/></iq>`,
	`<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256</mechanism></mechanisms></stream:features>`,
	`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>`,
	` <r xmlns='urn:xmpp:sm:3'/>  <a xmlns='urn:xmpp:sm:3' h='5'/>` + "\n\n",
	`<message xmlns:x='urn:x' x:y='1'><x:a><b xmlns=''>t</b></x:a></message>`,
	`<message><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' xml:lang='sv'><body>hej</body></message></forwarded></message>`,
	`<body>a<![CDATA[<x>&]]>b&lt;c&#x1F600;d&#65;</body>`,
	"<body>line\r\nline\rline\n\t</body><a b='1\t2\r\n3'/>",
	"<ö xmlns='urn:ä' ü='日本'>日本語 ☺</ö>",
	`<a b="'" c='"' d='&apos;&quot;'>]] ></a>`,
	`<p>a<b>b</b>c<br/>d<i> </i></p>`,
	`<a xmlns:p='urn:1'><p:b xmlns:p='urn:2'><p:c/></p:b><p:d/></a>`,
	`<x xmlns:a='urn:a' a:n0='0' a:n1='1' a:n2='2' a:n3='3' a:n4='4' a:n5='5' a:n6='6' a:n7='7' a:n8='8' a:n9='9' a:n10='10' a:n11='11'/>`,
	`<x xmlns:a='urn:a' xmlns:b='urn:b' xmlns:c='urn:c' a:v='1' b:v='2' c:v='3' v='4' xml:lang='en'/>`,
	// Not well-formed, restricted and the rest: the outcome must not
	// depend on how the input is split either.
	`<message><body>hi</body></presence>`,
	`<message><!-- x --></message>`,
	`<message to='a<b'/>`,
	`<message>&nbsp;</message>`,
	`<message>&#xD800;</message>`,
	"<message>\xff</message>",
	"<message>\xe2\x82</message>",
	`<foo:bar/>`,
	`<a>]]></a>`,
	`<a b='1' b='2'/>`,
	`<?php ?>`,
	`<a><![CDATA[x]]]></a>`,
	`<a>&#` + strings.Repeat("0", 31) + `65;</a>`,
	`<a>` + strings.Repeat("<b>", 40) + `</a>`,
	`<a>` + strings.Repeat("x", 300) + "\r",
	`<a b='` + strings.Repeat("y", 300) + `'/>`,
	`<` + strings.Repeat("n", 300) + `/>`,
	`</stream:stream><message/>`,
	`</stream>`,
	`text`,
}

// outcome is everything a reader made of a stream, for comparing readers.
type outcome struct {
	hdr *xmlel.Element
	els []*xmlel.Element
	err string
}

func read(src io.Reader, lim Limits) outcome {
	hdr, els, err := readAll(src, lim)
	return outcome{hdr, els, err.Error()}
}

// chunkReader returns its data in chunks of random sizes.
type chunkReader struct {
	data []byte
	rnd  *rand.Rand
	max  int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(1+c.rnd.IntN(c.max), len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// splitReader returns data in two reads, split at k.
func splitReader(data []byte, k int) io.Reader {
	return io.MultiReader(bytes.NewReader(data[:k]), bytes.NewReader(data[k:]))
}

// testLimits are small enough that the samples reach them, so that limit
// errors too are checked for not depending on the chunking.
var testLimits = Limits{MaxStanzaBytes: 256, MaxDepth: 16, MaxAttrs: 16}

func TestSplit(t *testing.T) {
	for i, s := range samples {
		in := []byte(clientHdr + s + "</stream:stream>")
		want := read(bytes.NewReader(in), testLimits)
		check := func(how string, src io.Reader) {
			t.Helper()
			if got := read(src, testLimits); !reflect.DeepEqual(got, want) {
				t.Errorf("sample %d read %s = %v, %q; whole = %v, %q", i, how, got.els, got.err, want.els, want.err)
			}
		}
		check("one byte at a time", iotest.OneByteReader(bytes.NewReader(in)))
		check("in halves", iotest.HalfReader(bytes.NewReader(in)))
		check("with errors", iotest.DataErrReader(bytes.NewReader(in)))
		for seed := range uint64(5) {
			check(fmt.Sprintf("in random chunks (seed %d)", seed), &chunkReader{in, rand.New(rand.NewPCG(seed, 1)), 17})
		}
		for k := range len(in) {
			check(fmt.Sprintf("split at %d", k), splitReader(in, k))
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, s := range samples {
		_, els, err := readAll(strings.NewReader(clientHdr+s+"</stream:stream>"), Limits{})
		if err != io.EOF {
			continue
		}
		for _, e := range els {
			checkRoundTrip(t, e)
		}
	}
}

// checkRoundTrip writes e and reads it back, alone and on a client stream.
func checkRoundTrip(t *testing.T, e *xmlel.Element) {
	t.Helper()
	out := e.AppendXML(nil, xmlel.NSClient)
	// Writing can make an element larger (default declarations instead
	// of prefixes), so limits are loose here.
	lim := Limits{MaxStanzaBytes: 1 << 30, MaxAttrs: 1 << 20}
	if e.Space != nsStreams {
		got, err := Parse(out, lim)
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("Parse(AppendXML(%v)) = %v, %v", e, got, err)
		}
	}
	_, els, err := readAll(io.MultiReader(strings.NewReader(clientHdr), bytes.NewReader(out), strings.NewReader("</stream:stream>")), lim)
	if err != io.EOF || len(els) != 1 || !reflect.DeepEqual(els[0], e) {
		t.Fatalf("Next(AppendXML(%v)) = %v, %v", e, els, err)
	}
}

// oracle parses one element with encoding/xml and makes the tree that
// Parse should make of it.
func oracle(data []byte) (*xmlel.Element, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var stack []*xmlel.Element
	var root *xmlel.Element
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if root == nil || len(stack) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return root, nil
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, errors.New("two roots")
			}
			e := &xmlel.Element{Space: tok.Name.Space, Local: tok.Name.Local}
			if xmlel.IsContentNS(e.Space) {
				e.Space = ""
			}
			for _, a := range tok.Attr {
				if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
					continue
				}
				e.Attrs = append(e.Attrs, xmlel.Attr{Space: a.Name.Space, Local: a.Name.Local, Value: a.Value})
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, e)
			} else {
				root = e
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 || len(tok) == 0 {
				continue
			}
			p := stack[len(stack)-1]
			if n := len(p.Children); n > 0 {
				if t, ok := p.Children[n-1].(xmlel.Text); ok {
					p.Children[n-1] = t + xmlel.Text(tok)
					continue
				}
			}
			p.Children = append(p.Children, xmlel.Text(tok))
		}
	}
}

// TestOracle compares Parse with encoding/xml on the samples that both
// accept, and checks that encoding/xml accepts what Parse accepts.
// encoding/xml does not normalise white space in attribute values, so
// samples with line ends and tabs are left out.
func TestOracle(t *testing.T) {
	compared := 0
	defer func() {
		if compared < 10 {
			t.Errorf("compared only %d samples", compared)
		}
	}()
	for _, s := range samples {
		if strings.ContainsAny(s, "\t\r\n") || strings.Contains(s, "stream:") {
			continue
		}
		// Wrap the sample so that it is one element.
		in := []byte(`<w xmlns='jabber:client'>` + s + `</w>`)
		got, err := Parse(in, Limits{})
		if err != nil {
			continue
		}
		want, oerr := oracle(in)
		if oerr != nil {
			t.Errorf("Parse(%q) accepted what encoding/xml rejects: %v", in, oerr)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %#v, encoding/xml gives %#v", in, got, want)
		}
		compared++
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// endless returns prefix followed by n copies of fill, made as they are read.
func endless(prefix, fill string, n int) io.Reader {
	return io.MultiReader(strings.NewReader(prefix), &repeatReader{fill: fill, left: n * len(fill)})
}

type repeatReader struct {
	fill string
	off  int
	left int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && n < r.left {
		c := copy(p[n:min(len(p), r.left)], r.fill[r.off:])
		n += c
		r.off = (r.off + c) % len(r.fill)
	}
	r.left -= n
	return n, nil
}

func TestMemoryBound(t *testing.T) {
	const max = 256 * 1024
	const tenMB = 10 << 20
	tests := []struct {
		name string
		body io.Reader
	}{
		{"long text", endless(`<message><body>`, "x", tenMB)},
		{"long cdata", endless(`<message><body><![CDATA[`, "x", tenMB)},
		{"long attribute value", endless(`<message to='`, "x", tenMB)},
		{"long tag name", endless(`<message`, "x", tenMB)},
		{"long end tag", endless(`<message></message`, "x", tenMB)},
		{"many attributes", endless(`<message`, " a='b'", tenMB/6)},
		{"many elements", endless(`<message>`, "<a/>", tenMB/4)},
		{"many entities", endless(`<message>`, "&amp;", tenMB/5)},
		{"white space in tag", endless(`<message`, " ", tenMB)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := &countingReader{r: io.MultiReader(strings.NewReader(clientHdr), tc.body)}
			r := NewReader(src, Limits{MaxStanzaBytes: max, MaxAttrs: 1 << 20})
			if _, err := r.Header(); err != nil {
				t.Fatal(err)
			}
			_, err := r.Next()
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("Next() = %v, want ErrTooLarge", err)
			}
			if limit := int64(len(clientHdr) + max + 2*bufSize); src.n > limit {
				t.Errorf("read %d bytes before failing, want at most %d", src.n, limit)
			}
			if len(r.buf) > max+2*bufSize {
				t.Errorf("buffer grew to %d bytes", len(r.buf))
			}
		})
	}

	// White space between stanzas is dropped as it comes: the buffer
	// never grows, however much of it there is.
	src := endless(clientHdr, " ", tenMB)
	src = io.MultiReader(src, strings.NewReader("<r/>"))
	r := NewReader(src, Limits{})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	if e, err := r.Next(); err != nil || e.Local != "r" {
		t.Fatalf("Next() = %v, %v", e, err)
	}
	if len(r.buf) > bufSize {
		t.Errorf("white space grew the buffer to %d bytes", len(r.buf))
	}
}

// TestShrink checks that a large tag grows the buffer only while it is
// being read.
func TestShrink(t *testing.T) {
	big := `<message to='` + strings.Repeat("x", 100000) + `'/>`
	r := NewReader(strings.NewReader(clientHdr+big+`<r/>`), Limits{})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	e, err := r.Next()
	if err != nil || len(e.Attr("to")) != 100000 {
		t.Fatalf("Next() = %v", err)
	}
	if len(r.buf) != bufSize {
		t.Errorf("buffer is %d bytes after the large stanza, want %d", len(r.buf), bufSize)
	}
	if e, err := r.Next(); err != nil || e.Local != "r" {
		t.Errorf("Next() = %v, %v", e, err)
	}
	if r.s != nil {
		t.Error("scratch space held between stanzas")
	}
}

// TestStrings checks strings past shareMax, which get their own allocations.
func TestStrings(t *testing.T) {
	big := strings.Repeat("b", 2*shareMax)
	e, err := Parse([]byte(`<message id='abc'><body>`+big+`</body></message>`), Limits{})
	if err != nil || e.ChildText("", "body") != big || e.Attr("id") != "abc" {
		t.Fatalf("Parse() = %v, %v", e, err)
	}
}

// writesReader hands out its chunks, one a Read at most, as a socket gives
// what each of a peer's writes sent, and records how much each Read asked
// for.
type writesReader struct {
	chunks []string
	asked  []int
}

func (c *writesReader) Read(p []byte) (int, error) {
	c.asked = append(c.asked, len(p))
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// TestHeaderInOneRead checks that a stream header sent in one write is
// read in one Read, on a new stream and after a restart, while a stream
// that waits for its next stanza reads into the small wait buffer.
func TestHeaderInOneRead(t *testing.T) {
	if len(clientHdr) <= waitSize {
		t.Fatalf("the header (%d bytes) fits the wait buffer (%d): the test tests nothing", len(clientHdr), waitSize)
	}
	src := &writesReader{chunks: []string{clientHdr, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`}}
	r := NewReader(src, Limits{})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	if len(src.asked) != 1 {
		t.Errorf("header read in %d reads (asked for %v), want 1", len(src.asked), src.asked)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if got := src.asked[len(src.asked)-1]; got > waitSize {
		t.Errorf("waiting for a stanza, the reader asked for %d bytes, want at most %d", got, waitSize)
	}

	after := &writesReader{chunks: []string{clientHdr}}
	r.Reset(after)
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	if len(after.asked) != 1 {
		t.Errorf("after a restart, header read in %d reads (asked for %v), want 1", len(after.asked), after.asked)
	}
}

// TestNamespaceMadeOnce checks that a long namespace declared once and
// used by many elements and attributes becomes one string, not one for
// each use: else a stanza within the limits, a long declaration over
// many small elements, would cost gigabytes.
func TestNamespaceMadeOnce(t *testing.T) {
	ns := "urn:" + strings.Repeat("n", 2048)
	var b strings.Builder
	b.WriteString("<message xmlns:p='" + ns + "'><x xmlns='" + ns + "'>")
	for range 50 {
		b.WriteString("<a p:b=''/>")
	}
	b.WriteString("</x></message>")
	for _, view := range []bool{false, true} {
		r := NewReader(strings.NewReader(clientHdr+b.String()), Limits{})
		if _, err := r.Header(); err != nil {
			t.Fatal(err)
		}
		var el *xmlel.Element
		var err error
		if view {
			var v *View
			if v, err = r.NextView(); err == nil {
				el = v.Element()
			}
		} else {
			el, err = r.Next()
		}
		if err != nil {
			t.Fatal(err)
		}
		// Two declarations, the default one and p's: two strings.
		kids := el.Child(ns, "x").Elements()
		elems, attrs := unsafe.StringData(kids[0].Space), unsafe.StringData(kids[0].Attrs[0].Space)
		for _, c := range kids {
			if c.Space != ns || c.Attrs[0].Space != ns || unsafe.StringData(c.Space) != elems || unsafe.StringData(c.Attrs[0].Space) != attrs {
				t.Fatalf("view %v: a use of the namespace has a string of its own", view)
			}
		}
	}
}

// TestDeclarationsOverLimit checks that an element that would be written
// (by xmlel, with a declaration on each element and for each namespaced
// attribute) far larger than the limit is refused as too large, however
// small it came in, and that one written within it is not.
func TestDeclarationsOverLimit(t *testing.T) {
	ns := "urn:" + strings.Repeat("n", 1024)
	stanza := func(n int, use string) string {
		return "<message xmlns:p='" + ns + "'><x xmlns='urn:x'>" + strings.Repeat(use, n) + "</x></message>"
	}
	lim := Limits{MaxStanzaBytes: 64 << 10}
	for _, use := range []string{"<p:c/>", "<c p:a=''/>"} {
		big := stanza(100, use) // 100 declarations of 1 KiB when written
		if len(big) > lim.MaxStanzaBytes/8 {
			t.Fatalf("the input is %d bytes: the test would test the limit on input", len(big))
		}
		if _, err := Parse([]byte(big), lim); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: Parse = %v, want ErrTooLarge", use, err)
		}
		r := NewReader(strings.NewReader(clientHdr+big), lim)
		if _, err := r.Header(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.NextView(); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: NextView = %v, want ErrTooLarge", use, err)
		}
		small := stanza(40, use)
		el, err := Parse([]byte(small), lim)
		if err != nil {
			t.Fatalf("%s: Parse = %v", use, err)
		}
		if n := len(el.String()); n > lim.MaxStanzaBytes {
			t.Fatalf("%s: written as %d bytes: the test's small stanza is not within the limit", use, n)
		}
	}
}
