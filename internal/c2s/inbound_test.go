package c2s

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// TestInboundStanzaTo checks the addresses of a client's stanzas as the
// session stamps them, through its memory of the last 'to': an address
// in canonical form is remembered, one that is not is rewritten each
// time, and a new address replaces the remembered one.
func TestInboundStanzaTo(t *testing.T) {
	s := &Session{jid: jid.MustParse("juliet@example.org/balcony")}
	for i, c := range []struct{ to, want string }{
		{"romeo@example.org", "romeo@example.org"},
		{"romeo@example.org", "romeo@example.org"},
		{"ROMEO@example.org/Orchard", "romeo@example.org/Orchard"},
		{"ROMEO@example.org/Orchard", "romeo@example.org/Orchard"},
		{"romeo@example.org", "romeo@example.org"},
		{"nurse@example.org", "nurse@example.org"},
		{"romeo@example.org", "romeo@example.org"},
		{"", ""},
	} {
		el := xmlel.New("", "message", "type", "chat")
		if c.to != "" {
			el.SetAttr("to", c.to)
		}
		st, err := s.inboundStanza(el, false)
		if err != nil || st == nil {
			t.Fatalf("%d: %q: stanza %v, error %v", i, c.to, st, err)
		}
		if st.To.String() != c.want || el.Attr("to") != c.want {
			t.Errorf("%d: to %q became %q (attribute %q), want %q", i, c.to, st.To, el.Attr("to"), c.want)
		}
		if st.From != s.jid || el.Attr("from") != s.jid.String() {
			t.Errorf("%d: from %v (attribute %q)", i, st.From, el.Attr("from"))
		}
	}
}

// forwardingCore takes every message offered as bytes (Forwarder) and
// records it.
type forwardingCore struct {
	fakeCore
	got []string // the outline's to, type and id, and the bytes
	// The last message, valid until the next read: the outline refers
	// to the view.
	raw  []byte
	last stanza.Outline
	id   string // last.ID, which is valid only during the call
}

func (c *forwardingCore) Forward(_ context.Context, _ router.Session, m *stanza.Outline, raw []byte) bool {
	c.raw, c.last, c.id = slices.Clone(raw), *m, string(m.ID)
	var kids []string
	for space, local := range m.Kids.Children() {
		kids = append(kids, space+" "+local)
	}
	c.got = append(c.got, fmt.Sprintf("%s %s %s %s %q %s", m.From, m.To, m.Type, m.ID, kids, raw))
	return true
}

// TestForwardDecides checks which of a client's stanzas the session
// offers as bytes: messages whose addresses need nothing done, whose
// bytes mean the same on another stream. The rest become trees, for the
// checks and answers of handle.
func TestForwardDecides(t *testing.T) {
	core := &forwardingCore{}
	svc := New(Config{}, router.New([]string{"example.org"}), nil, core, func() PreAuth { return PreAuth{} },
		slog.New(slog.DiscardHandler), NewMetrics(metrics.NewRegistry()))
	t.Cleanup(svc.cancel)
	s := &Session{svc: svc, jid: jid.MustParse("juliet@example.org/balcony")}
	cases := []struct {
		stanza string
		want   string // what the core got, "" when it went as a tree
	}{
		{`<message to='romeo@example.org' type='chat' id='m1'><body>a &amp; b</body><x:y xmlns:x='urn:x'/></message>`,
			`juliet@example.org/balcony romeo@example.org chat m1 [" body" "urn:x y"] <message to='romeo@example.org' type='chat' id='m1'><body>a &amp; b</body><x:y xmlns:x='urn:x'/></message>`},
		{`<message to='romeo@example.org'/>`, `juliet@example.org/balcony romeo@example.org normal  [] <message to='romeo@example.org'/>`},
		{`<message	to='romeo@example.org' type='bogus'>x</message>`, `juliet@example.org/balcony romeo@example.org normal  [] <message	to='romeo@example.org' type='bogus'>x</message>`},
		{`<message to='romeo@example.org' type='headline'/>`, `juliet@example.org/balcony romeo@example.org headline  [] <message to='romeo@example.org' type='headline'/>`},
		{`<message from='juliet@example.org/balcony' to='romeo@example.org'/>`, ""},
		{`<message type='chat'><body>to self</body></message>`, ""},
		{`<message to='ROMEO@example.org'/>`, ""},
		{`<message to='@example.org'/>`, ""},
		{`<c:message xmlns:c='jabber:client' to='romeo@example.org'/>`, ""},
		{`<message xmlns='jabber:server' to='romeo@example.org'/>`, ""},
		{`<h:foo to='romeo@example.org'/>`, ""},
		{`<message to='romeo@example.org'><h:foo/></message>`, ""},
		{`<presence to='romeo@example.org'/>`, ""},
		{`<iq to='romeo@example.org' type='get' id='i'/>`, ""},
	}
	var in strings.Builder
	in.WriteString(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:h='urn:header' to='example.org' version='1.0'>`)
	for _, c := range cases {
		in.WriteString(c.stanza)
	}
	r := xmlstream.NewReader(strings.NewReader(in.String()), xmlstream.Limits{MaxStanzaBytes: 1 << 16, MaxDepth: 16})
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		v, err := r.NextView()
		if err != nil {
			t.Fatal(err)
		}
		core.got = nil
		took := s.forward(context.Background(), v)
		got := strings.Join(core.got, "|")
		if took != (c.want != "") || got != c.want {
			t.Errorf("%s: forwarded %v, core got %q; want %q", c.stanza, took, got, c.want)
		}
	}
}

// FuzzForward reads fuzzed stanzas from a client stream whose header
// declares a prefix, as a session does. Whatever the session offers the
// core as bytes must mean what the tree path would pass on: the bytes
// with 'from' put in (stanza.WithFrom), parsed alone, make the tree that
// the session would have stamped, and the outline says what that tree
// does.
func FuzzForward(f *testing.F) {
	for _, seed := range []string{
		`<message to='romeo@example.org' type='chat' id='m1'><body>a &amp; b &#x26;</body><x:y xmlns:x='urn:x'/></message>`,
		`<message to='romeo@example.org'/>`,
		`<message xmlns='jabber:client' to='romeo@example.org'><body xmlns='jabber:server'/></message>`,
		`<message to='romeo@example.org'><h:foo/></message><message to='r@example.org/a' type='headline'>t<b/>u</message>`,
		`<message to="romeo@example.org" type="x" id="&apos;"><thread parent='p'>t</thread></message>`,
	} {
		f.Add([]byte(seed))
	}
	lim := xmlstream.Limits{MaxStanzaBytes: 1 << 16, MaxDepth: 16}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<14 {
			return
		}
		core := &forwardingCore{}
		svc := New(Config{Limits: lim}, router.New([]string{"example.org"}), nil, core, func() PreAuth { return PreAuth{} },
			slog.New(slog.DiscardHandler), NewMetrics(metrics.NewRegistry()))
		defer svc.cancel()
		s := &Session{svc: svc, jid: jid.MustParse("juliet@example.org/bal'cony&<")}
		in := `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:h='urn:header' to='example.org' version='1.0'>` + string(body)
		r := xmlstream.NewReader(strings.NewReader(in), lim)
		if _, err := r.Header(); err != nil {
			return
		}
		for range 20 {
			v, err := r.NextView()
			if err != nil {
				return
			}
			core.raw = nil
			if !s.forward(context.Background(), v) {
				continue
			}
			want := v.Element().Copy()
			want.SetAttr("from", s.jid.String())
			got, err := xmlstream.Parse(stanza.WithFrom(core.raw, s.jid.String()), lim)
			if err != nil {
				t.Fatalf("forwarded %q does not parse: %v", core.raw, err)
			}
			if g, w := sortedAttrs(got), sortedAttrs(want); g != w {
				t.Fatalf("forwarded bytes mean\n%s\nthe tree path\n%s", g, w)
			}
			o := core.last
			var kids []string
			for space, local := range o.Kids.Children() {
				kids = append(kids, space+" "+local)
			}
			var wantKids []string
			for _, c := range want.Elements() {
				wantKids = append(wantKids, c.Space+" "+c.Local)
			}
			if o.To.String() != want.Attr("to") || o.Type != stanza.MessageType(want.Attr("type")) || core.id != want.Attr("id") ||
				strings.Join(kids, "|") != strings.Join(wantKids, "|") {
				t.Fatalf("outline %v %s %q %q, want %s", o.To, o.Type, core.id, kids, want)
			}
		}
	})
}

// sortedAttrs is el written with its own attributes in order.
func sortedAttrs(el *xmlel.Element) string {
	c := el.ShallowCopy()
	c.Attrs = slices.Clone(c.Attrs)
	slices.SortFunc(c.Attrs, func(a, b xmlel.Attr) int { return strings.Compare(a.Space+" "+a.Local, b.Space+" "+b.Local) })
	return c.String()
}
