package c2s

import (
	"context"
	"fmt"
	"log/slog"
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
}

func (c *forwardingCore) Forward(_ context.Context, _ router.Session, m *stanza.Outline, raw []byte) bool {
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
