package xmlstream

import (
	"bytes"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"samtal.org/samtal/internal/xmlel"
)

func TestViewMessage(t *testing.T) {
	const msg = `<message to='juliet@example.com/balcony' type='chat' id='m1'>` +
		`<body>Wherefore &amp; why</body><request xmlns='urn:xmpp:receipts'/></message>`
	r := NewReader(strings.NewReader(clientHdr+" "+msg+"\n<presence/>"), Limits{})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	v, err := r.NextView()
	if err != nil {
		t.Fatal(err)
	}
	if v.Local() != "message" || v.Space() != "" {
		t.Errorf("view of {%q}%q, want the message", v.Space(), v.Local())
	}
	if to, ok := v.Attr("to"); !ok || string(to) != "juliet@example.com/balcony" {
		t.Errorf("to = %q, %v", to, ok)
	}
	if from, ok := v.Attr("from"); ok {
		t.Errorf("from = %q, want none", from)
	}
	var kids []string
	for space, local := range v.Children() {
		kids = append(kids, space+" "+local)
	}
	if want := []string{" body", "urn:xmpp:receipts request"}; !reflect.DeepEqual(kids, want) {
		t.Errorf("children %q, want %q", kids, want)
	}
	if string(v.Raw()) != msg {
		t.Errorf("Raw() = %q, want the bytes as sent", v.Raw())
	}
	has := []struct {
		space, local string
		want         bool
	}{
		{"", "body", true}, {"", "", true}, {"urn:xmpp:receipts", "request", true}, {"urn:xmpp:receipts", "", true},
		{"urn:xmpp:receipts", "body", false}, {"", "request", false}, {"urn:xmpp:receipt", "", false}, {"jabber:client", "body", false},
	}
	for _, h := range has {
		if got := v.Has(h.space, h.local); got != h.want {
			t.Errorf("Has(%q, %q) = %v before the tree", h.space, h.local, got)
		}
	}
	el := v.Element()
	for _, h := range has {
		if got := v.Has(h.space, h.local); got != h.want {
			t.Errorf("Has(%q, %q) = %v with the tree", h.space, h.local, got)
		}
	}
	if el.Attr("id") != "m1" || el.ChildText("", "body") != "Wherefore & why" || v.Element() != el {
		t.Errorf("Element() = %v", el)
	}
	if to, _ := v.Attr("to"); string(to) != "juliet@example.com/balcony" {
		t.Errorf("to after Element = %q", to)
	}
	// The next read lets the view go.
	p, err := r.Next()
	if err != nil || p.Local != "presence" {
		t.Fatalf("Next() = %v, %v", p, err)
	}
}

// A stanza that arrives in many reads keeps its bytes, as long as the
// reader's buffer holds it without growing.
func TestViewRawAcrossReads(t *testing.T) {
	small := `<message to='a@b/c'><body>` + strings.Repeat("s", 1000) + `</body></message>`
	large := `<message to='a@b/c'><body>` + strings.Repeat("l", 5000) + `</body></message>`
	in := clientHdr + strings.Repeat(small+large, 3)
	r := NewReader(iotest.OneByteReader(strings.NewReader(in)), Limits{})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		v, err := r.NextView()
		if err != nil {
			t.Fatal(err)
		}
		want := small
		if i%2 == 1 {
			want = ""
		}
		if string(v.Raw()) != want {
			t.Errorf("stanza %d: Raw() has %d bytes, want %d", i, len(v.Raw()), len(want))
		}
	}
}

// A stanza that uses a prefix of the stream header means something else
// on a stream without that declaration: it has no Raw. One that
// declares its own prefixes has. So has one that names the stream's
// content namespace, but not one that names another stanza namespace,
// which its tree keeps as the content namespace.
func TestViewHeaderPrefix(t *testing.T) {
	hdr := `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:x='urn:x'>`
	own := `<message to='a@b/c'><y:e xmlns:y='urn:y'/></message>`
	client := `<message xmlns='jabber:client' to='a@b/c'><body xmlns='jabber:client'/></message>`
	r := NewReader(strings.NewReader(hdr+`<message to='a@b/c'><x:e/></message>`+own+`<stream:features/>`+client+
		`<message xmlns='jabber:server' to='a@b/c'/><message><body xmlns='jabber:component:accept'/></message>`), Limits{})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"", own, "", client, "", ""} {
		v, err := r.NextView()
		if err != nil {
			t.Fatal(err)
		}
		if string(v.Raw()) != want || (want == "") != (v.Raw() == nil) {
			t.Errorf("element %d: Raw() = %q, want %q", i, v.Raw(), want)
		}
		if v.Element() == nil {
			t.Errorf("element %d: no tree", i)
		}
	}
}

// Reading by views, mixed with Next, makes what Next alone makes, however
// the input is split.
func TestViewsLikeNext(t *testing.T) {
	// Stanzas that the buffer holds whole, and others that it cannot.
	long := func(n int) string {
		return strings.Repeat(`<message to='a@b/c' id='x'><body>`+strings.Repeat("z", n)+`</body></message>`, 12)
	}
	for _, body := range append(samples, long(700), long(5000)) {
		in := []byte(clientHdr + body)
		lim := testLimits
		if len(body) > 8000 {
			lim = Limits{}
		}
		want := read(bytes.NewReader(in), lim)
		for name, src := range map[string]io.Reader{
			"whole":    bytes.NewReader(in),
			"one byte": iotest.OneByteReader(bytes.NewReader(in)),
			"chunks":   &chunkReader{in, rand.New(rand.NewPCG(1, 2)), 64},
		} {
			if got := readViews(t, src, lim); !reflect.DeepEqual(got, want) {
				t.Errorf("%.40q %s: views make %v, %q; Next %v, %q", body, name, got.els, got.err, want.els, want.err)
			}
		}
	}
}

// readViews is readAll by NextView, every third element by Next, with
// each view checked against its tree.
func readViews(t *testing.T, src io.Reader, lim Limits) outcome {
	t.Helper()
	r := NewReader(src, lim)
	hdr, err := r.Header()
	if err != nil {
		return outcome{nil, nil, err.Error()}
	}
	var els []*xmlel.Element
	for i := 0; ; i++ {
		if i%3 == 2 {
			el, err := r.Next()
			if err != nil {
				return outcome{hdr, els, err.Error()}
			}
			els = append(els, el)
			continue
		}
		v, err := r.NextView()
		if err != nil {
			return outcome{hdr, els, err.Error()}
		}
		els = append(els, checkView(t, v, lim))
	}
}

// checkView compares what v says before and after its tree is made with
// the tree, and its Raw bytes, parsed alone, with the tree too.
func checkView(t *testing.T, v *View, lim Limits) *xmlel.Element {
	t.Helper()
	type said struct {
		space, local string
		kids         []string
		attrs        map[string]string
	}
	say := func(attrs []xmlel.Attr) said {
		s := said{space: v.Space(), local: v.Local(), attrs: map[string]string{}}
		for space, local := range v.Children() {
			s.kids = append(s.kids, space+" "+local)
		}
		for _, a := range attrs {
			if a.Space == "" {
				if val, ok := v.Attr(a.Local); ok {
					s.attrs[a.Local] = string(val)
				}
			}
		}
		if _, ok := v.Attr("not-an-attribute"); ok {
			t.Errorf("a view has an attribute it has not")
		}
		return s
	}
	raw := bytes.Clone(v.Raw())
	// The tree is not made yet: the names to ask come from a copy.
	before := say(v.r.clone().Attrs)
	el := v.Element()
	after := say(el.Attrs)
	want := said{space: el.Space, local: el.Local, attrs: map[string]string{}}
	for _, c := range el.Children {
		if c, ok := c.(*xmlel.Element); ok {
			want.kids = append(want.kids, c.Space+" "+c.Local)
		}
	}
	for _, a := range el.Attrs {
		if a.Space == "" {
			want.attrs[a.Local] = a.Value
		}
	}
	if !reflect.DeepEqual(before, want) || !reflect.DeepEqual(after, want) {
		t.Errorf("view of %v says %v before the tree, %v after", el, before, after)
	}
	if raw != nil {
		if p, err := Parse(raw, lim); err != nil || !reflect.DeepEqual(p, el) {
			t.Errorf("Raw() %q parses to %v, %v; the stream's tree is %v", raw, p, err, el)
		}
	}
	return el
}

// clone makes a tree of the element in the scratch space without using
// it up, for tests to know what a view should say.
func (r *Reader) clone() *xmlel.Element { return r.build() }
