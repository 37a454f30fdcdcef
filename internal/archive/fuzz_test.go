package archive

import (
	"reflect"
	"testing"

	"samtal.org/samtal/internal/xmlstream"
)

// FuzzParse checks that Parse never panics and that what it accepts
// survives Element and Parse again.
func FuzzParse(f *testing.F) {
	f.Add(query(formOpen + `<field var='with'><value>juliet@capulet.lit</value></field><field var='start'><value>2010-06-07T00:00:00Z</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><max>10</max><after>x</after></set>`))
	f.Add(query(formOpen + `<field var='ids'><value>a</value><value>b</value></field><field var='include-groupchat'><value>false</value></field></x><flip-page/>`))
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
		if err != nil {
			return
		}
		q, err := Parse(el)
		if err != nil {
			return
		}
		back, err := Parse(q.Element())
		if err != nil {
			t.Fatalf("Parse(%q).Element() does not parse: %v", s, err)
		}
		if !back.Start.Equal(q.Start) || !back.End.Equal(q.End) {
			t.Fatalf("times do not round-trip: %v %v, %v %v", q.Start, q.End, back.Start, back.End)
		}
		back.Start, back.End = q.Start, q.End
		if !reflect.DeepEqual(back, q) {
			t.Fatalf("Parse(%q) = %+v does not round-trip: %+v", s, q, back)
		}
	})
}
