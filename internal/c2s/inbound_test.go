package c2s

import (
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/xmlel"
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
