package archive

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/rsm"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

func parseXML(t testing.TB, s string) *xmlel.Element {
	t.Helper()
	el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
	if err != nil {
		t.Fatalf("xmlstream.Parse(%q) = %v", s, err)
	}
	return el
}

const formOpen = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>`

func query(inner string) string {
	return `<query xmlns='urn:xmpp:mam:2' queryid='f27'>` + inner + `</query>`
}

func TestParse(t *testing.T) {
	yes := true
	tests := []struct {
		name string
		xml  string
		want Query
	}{
		{"empty", `<query xmlns='urn:xmpp:mam:2'/>`, Query{Page: rsm.NewQuery()}},
		{"with", query(formOpen + `<field var='with'><value>juliet@capulet.lit</value></field></x>`),
			Query{QueryID: "f27", With: jid.MustParse("juliet@capulet.lit"), Page: rsm.NewQuery()}},
		{"times", query(formOpen + `<field var='start'><value>2010-06-07T00:00:00Z</value></field><field var='end'><value>2010-07-07T13:23:54.5+02:00</value></field></x>`),
			Query{QueryID: "f27", Start: time.Date(2010, 6, 7, 0, 0, 0, 0, time.UTC), End: time.Date(2010, 7, 7, 11, 23, 54, 5e8, time.UTC), Page: rsm.NewQuery()}},
		{"ids and range", query(formOpen + `<field var='after-id'><value>a</value></field><field var='before-id'><value>b</value></field><field var='ids'><value>x</value><value>y</value></field></x>`),
			Query{QueryID: "f27", AfterID: "a", BeforeID: "b", IDs: []string{"x", "y"}, Page: rsm.NewQuery()}},
		{"groupchat", query(formOpen + `<field var='include-groupchat'><value>1</value></field></x>`),
			Query{QueryID: "f27", IncludeGroupchat: &yes, Page: rsm.NewQuery()}},
		{"rsm and flip", query(`<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before/></set><flip-page/>`),
			Query{QueryID: "f27", Page: rsm.Query{Max: 10, HasBefore: true, Index: -1}, Flip: true}},
		{"empty with", query(formOpen + `<field var='with'/></x>`), Query{QueryID: "f27", Page: rsm.NewQuery()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(parseXML(t, tc.xml))
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			if !got.Start.Equal(tc.want.Start) || !got.End.Equal(tc.want.End) {
				t.Fatalf("Parse times = %v, %v, want %v, %v", got.Start, got.End, tc.want.Start, tc.want.End)
			}
			got.Start, got.End, tc.want.Start, tc.want.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		xml  string
		want stanza.Condition
	}{
		{"unknown field", query(formOpen + `<field var='{urn:x}search'><value>x</value></field></x>`), stanza.FeatureNotImplemented},
		{"index", query(`<set xmlns='http://jabber.org/protocol/rsm'><index>3</index></set>`), stanza.FeatureNotImplemented},
		{"before and after", query(`<set xmlns='http://jabber.org/protocol/rsm'><after>a</after><before>b</before></set>`), stanza.BadRequest},
		{"bad max", query(`<set xmlns='http://jabber.org/protocol/rsm'><max>x</max></set>`), stanza.BadRequest},
		{"wrong FORM_TYPE", query(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>`), stanza.BadRequest},
		{"form type form", query(`<x xmlns='jabber:x:data' type='form'/>`), stanza.BadRequest},
		{"bad time", query(formOpen + `<field var='start'><value>yesterday</value></field></x>`), stanza.BadRequest},
		{"bad jid", query(formOpen + `<field var='with'><value>@@</value></field></x>`), stanza.JIDMalformed},
		{"bad bool", query(formOpen + `<field var='include-groupchat'><value>maybe</value></field></x>`), stanza.BadRequest},
		{"two forms", query(formOpen + `</x>` + formOpen + `</x>`), stanza.BadRequest},
		{"not a query", `<fin xmlns='urn:xmpp:mam:2'/>`, stanza.BadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(parseXML(t, tc.xml))
			var se stanza.Error
			if !errors.As(err, &se) || se.Condition != tc.want {
				t.Fatalf("Parse = %v, want %s", err, tc.want)
			}
		})
	}
}

func TestTooManyIDs(t *testing.T) {
	q := Query{Page: rsm.NewQuery()}
	for i := range MaxIDs + 1 {
		q.IDs = append(q.IDs, string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	_, err := Parse(q.Element())
	var se stanza.Error
	if !errors.As(err, &se) || se.Condition != stanza.PolicyViolation {
		t.Fatalf("Parse with %d ids = %v, want policy-violation", len(q.IDs), err)
	}
}

func TestResultAndFin(t *testing.T) {
	msg := xmlel.New("", "message", "from", "witch@shakespeare.lit", "to", "macbeth@shakespeare.lit").
		Append(xmlel.TextElement("", "body", "Hail to thee"))
	got := Result("f27", "28482-98726-73623", time.Date(2010, 7, 10, 23, 8, 25, 0, time.UTC), msg).String()
	want := `<result xmlns='urn:xmpp:mam:2' queryid='f27' id='28482-98726-73623'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/><message xmlns='jabber:client' from='witch@shakespeare.lit' to='macbeth@shakespeare.lit'><body>Hail to thee</body></message></forwarded></result>`
	if got != want {
		t.Errorf("Result =\n%s, want\n%s", got, want)
	}
	fin := Fin(rsm.Page{First: "a", Last: "b", FirstIndex: 0, Count: 2}, true).String()
	if want := `<fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><first index='0'>a</first><last>b</last><count>2</count></set></fin>`; fin != want {
		t.Errorf("Fin = %s, want %s", fin, want)
	}
	if got := Metadata(nil, nil).String(); got != `<metadata xmlns='urn:xmpp:mam:2'/>` {
		t.Errorf("Metadata(empty) = %s", got)
	}
	ts := time.Date(2020, 4, 20, 14, 34, 21, 123456789, time.UTC)
	md := Metadata(&Bound{"YWxwaGEg", ts}, &Bound{"b21lZ2Eg", ts}).String()
	if want := `<metadata xmlns='urn:xmpp:mam:2'><start id='YWxwaGEg' timestamp='2020-04-20T14:34:21.123456Z'/><end id='b21lZ2Eg' timestamp='2020-04-20T14:34:21.123456Z'/></metadata>`; md != want {
		t.Errorf("Metadata = %s, want %s", md, want)
	}
}

func TestFieldsForm(t *testing.T) {
	f := FieldsForm(true)
	x := f.Child("jabber:x:data", "x")
	if x == nil || x.Attr("type") != "form" {
		t.Fatalf("FieldsForm = %s", f)
	}
	vars := map[string]bool{}
	for _, c := range x.Elements() {
		vars[c.Attr("var")] = true
		if c.Child("", "required") != nil {
			t.Errorf("field %s is required; §4.1 forbids it", c.Attr("var"))
		}
	}
	for _, v := range []string{"FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids", "include-groupchat"} {
		if !vars[v] {
			t.Errorf("FieldsForm lacks %s", v)
		}
	}
}
