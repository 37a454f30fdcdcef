package abuse

import (
	"reflect"
	"strings"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/xmpptest"
)

func TestParse(t *testing.T) {
	many := ""
	for i := range MaxMessages + 2 {
		many += "<stanza-id xmlns='urn:xmpp:sid:0' id='m" + string(rune('a'+i)) + "'/>"
	}
	long := strings.Repeat("é", maxTextBytes) // two bytes each
	tests := []struct {
		name string
		xml  string
		want Report
		err  bool
	}{
		{"current, reason only", `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/>`,
			Report{Reason: Spam}, false},
		{"current, everything", `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:abuse'>` +
			`<stanza-id xmlns='urn:xmpp:sid:0' by='juliet@example.com' id='28482'/>` +
			`<stanza-id xmlns='urn:xmpp:sid:0' id='38383'/><stanza-id xmlns='urn:xmpp:sid:0' id='28482'/>` +
			`<text xml:lang='en'>
			  Never came trouble to my house like this.
			</text><text xml:lang='en'>again</text><text xml:lang='sv'>Aldrig</text>` +
			`<report-origin/><third-party/></report>`,
			Report{Reason: Abuse,
				StanzaIDs:    []StanzaID{{ID: "28482", By: jid.MustParse("juliet@example.com")}, {ID: "38383"}},
				Texts:        []Text{{"en", "Never came trouble to my house like this."}, {"sv", "Aldrig"}},
				ReportOrigin: true, ThirdParty: true}, false},
		{"between servers, with the reported JID", `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'><jid xmlns='urn:xmpp:jid:0'> Romeo@Example.net </jid><text>x</text></report>`,
			Report{Reason: Spam, JID: jid.MustParse("romeo@example.net"), Texts: []Text{{"", "x"}}}, false},
		{"unknown reason of the registry", `<report xmlns='urn:xmpp:reporting:1' reason='urn:example:reason'/>`,
			Report{Reason: "urn:example:reason"}, false},
		{"legacy spam", `<report xmlns='urn:xmpp:reporting:0'><spam/></report>`,
			Report{Reason: Spam}, false},
		{"legacy abuse with text", `<report xmlns='urn:xmpp:reporting:0'><text xml:lang='en'>go away</text><abuse/></report>`,
			Report{Reason: Abuse, Texts: []Text{{"en", "go away"}}}, false},
		{"legacy opt-ins do not exist", `<report xmlns='urn:xmpp:reporting:0'><spam/><report-origin xmlns='urn:xmpp:reporting:1'/><report-origin/></report>`,
			Report{Reason: Spam}, false},
		{"opt-ins of another namespace", `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'><report-origin xmlns='urn:example'/></report>`,
			Report{Reason: Spam}, false},
		{"bounds", `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'>` + many +
			`<stanza-id xmlns='urn:xmpp:sid:0' id=''/><text>` + long + `</text></report>`,
			Report{Reason: Spam, StanzaIDs: func() []StanzaID {
				var ids []StanzaID
				for i := range MaxMessages {
					ids = append(ids, StanzaID{ID: "m" + string(rune('a'+i))})
				}
				return ids
			}(), Texts: []Text{{"", strings.Repeat("é", maxTextBytes/2)}}}, false},
		{"no reason", `<report xmlns='urn:xmpp:reporting:1'><text>spam!</text></report>`, Report{}, true},
		{"legacy without reason", `<report xmlns='urn:xmpp:reporting:0'><text>spam!</text></report>`, Report{}, true},
		{"reported JID invalid", `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'><jid xmlns='urn:xmpp:jid:0'>@@</jid></report>`, Report{}, true},
		{"not a report", `<reports xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/>`, Report{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(xmpptest.Parse(t, tc.xml))
			if (err != nil) != tc.err {
				t.Fatalf("Parse(%q) error = %v, want error %v", tc.xml, err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) = %+v, want %+v", tc.xml, got, tc.want)
			}
		})
	}
}

func TestFind(t *testing.T) {
	tests := []struct {
		xml, want string // want: the namespace of the report found, "" for none
	}{
		{`<item xmlns='urn:xmpp:blocking' jid='a@b'><report xmlns='urn:xmpp:reporting:1' reason='x'/></item>`, NS},
		{`<item xmlns='urn:xmpp:blocking' jid='a@b'><report xmlns='urn:xmpp:reporting:0'><spam/></report></item>`, NSLegacy},
		{`<item xmlns='urn:xmpp:blocking' jid='a@b'><report xmlns='urn:xmpp:reporting:0'><spam/></report><report xmlns='urn:xmpp:reporting:1' reason='x'/></item>`, NS},
		{`<item xmlns='urn:xmpp:blocking' jid='a@b'><report xmlns='urn:example'/></item>`, ""},
	}
	for _, tc := range tests {
		got := Find(xmpptest.Parse(t, tc.xml))
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("Find(%q) = %v, want none", tc.xml, got)
		case tc.want != "" && (got == nil || got.Space != tc.want):
			t.Errorf("Find(%q) = %v, want a report in %s", tc.xml, got, tc.want)
		}
	}
}

// The legacy form comes out in the current one.
func TestElement(t *testing.T) {
	r, err := Parse(xmpptest.Parse(t, `<report xmlns='urn:xmpp:reporting:0'><abuse/><text xml:lang='en'>go away</text></report>`))
	if err != nil {
		t.Fatal(err)
	}
	r.JID = jid.MustParse("mallory@evil.example")
	r.StanzaIDs = []StanzaID{{ID: "a1", By: jid.MustParse("alice@example.org")}}
	r.ReportOrigin = true
	got := r.Element().String()
	want := `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:abuse'>` +
		`<jid xmlns='urn:xmpp:jid:0'>mallory@evil.example</jid>` +
		`<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='a1'/>` +
		`<text xml:lang='en'>go away</text><report-origin/></report>`
	if got != want {
		t.Errorf("Element() = %s, want %s", got, want)
	}
}
