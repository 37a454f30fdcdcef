package abuse

import (
	"reflect"
	"testing"

	"samtal.org/samtal/internal/xmlstream"
)

// FuzzParse checks that Parse never panics, that what it accepts comes
// out of Element as XML that parses to the same report, and that the
// bounds hold.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/>`,
		`<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:abuse'><stanza-id xmlns='urn:xmpp:sid:0' by='juliet@example.com' id='1'/><text xml:lang='en'> why </text><report-origin/><third-party/></report>`,
		`<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'><jid xmlns='urn:xmpp:jid:0'>romeo@example.net</jid></report>`,
		`<report xmlns='urn:xmpp:reporting:0'><spam/><text>x</text></report>`,
		`<report xmlns='urn:xmpp:reporting:0'><abuse/></report>`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
		if err != nil {
			return
		}
		r, err := Parse(el)
		if err != nil {
			return
		}
		if len(r.StanzaIDs) > MaxMessages || len(r.Texts) > maxTexts {
			t.Fatalf("Parse(%q) = %+v, beyond the bounds", s, r)
		}
		for _, tx := range r.Texts {
			if len(tx.Text) > maxTextBytes {
				t.Fatalf("Parse(%q): a text of %d bytes", s, len(tx.Text))
			}
		}
		x := r.Element().String()
		back, err := xmlstream.Parse([]byte(x), xmlstream.Limits{})
		if err != nil {
			t.Fatalf("Parse(%q).Element() = %q, which does not parse: %v", s, x, err)
		}
		again, err := Parse(back)
		if err != nil {
			t.Fatalf("Parse(%q).Element() = %q, which is no report: %v", s, x, err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("Parse(%q) = %+v does not round-trip: %+v", s, r, again)
		}
	})
}
