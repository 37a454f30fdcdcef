package rsm

import (
	"errors"
	"testing"

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

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		xml  string
		want Query
		err  bool
	}{
		{"empty", `<set xmlns='` + NS + `'/>`, Query{Max: -1, Index: -1}, false},
		{"max", `<set xmlns='` + NS + `'><max>10</max></set>`, Query{Max: 10, Index: -1}, false},
		{"max spaces", `<set xmlns='` + NS + `'><max> 10 </max></set>`, Query{Max: 10, Index: -1}, false},
		{"count only", `<set xmlns='` + NS + `'><max>0</max></set>`, Query{Max: 0, Index: -1}, false},
		{"after", `<set xmlns='` + NS + `'><max>10</max><after>a b</after></set>`, Query{Max: 10, After: "a b", Index: -1}, false},
		{"before id", `<set xmlns='` + NS + `'><before>x</before></set>`, Query{Max: -1, Before: "x", HasBefore: true, Index: -1}, false},
		{"last page", `<set xmlns='` + NS + `'><max>5</max><before/></set>`, Query{Max: 5, HasBefore: true, Index: -1}, false},
		{"index", `<set xmlns='` + NS + `'><index>371</index></set>`, Query{Max: -1, Index: 371}, false},
		{"response parts ignored", `<set xmlns='` + NS + `'><first>a</first><count>3</count><x xmlns='urn:other'/></set>`, Query{Max: -1, Index: -1}, false},
		{"negative max", `<set xmlns='` + NS + `'><max>-1</max></set>`, Query{}, true},
		{"letters", `<set xmlns='` + NS + `'><max>ten</max></set>`, Query{}, true},
		{"huge", `<set xmlns='` + NS + `'><max>99999999999999999999</max></set>`, Query{}, true},
		{"two max", `<set xmlns='` + NS + `'><max>1</max><max>2</max></set>`, Query{}, true},
		{"empty after", `<set xmlns='` + NS + `'><after/></set>`, Query{}, true},
		{"wrong namespace", `<set xmlns='urn:other'/>`, Query{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(parseXML(t, tc.xml))
			if tc.err {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Parse(%q) = %+v, %v, want ErrInvalid", tc.xml, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse(%q) = %+v, %v, want %+v", tc.xml, got, err, tc.want)
			}
		})
	}
}

func TestParseNil(t *testing.T) {
	if q, err := Parse(nil); err != nil || q != NewQuery() || q.Backward() {
		t.Fatalf("Parse(nil) = %+v, %v, want NewQuery()", q, err)
	}
}

func TestPageElement(t *testing.T) {
	tests := []struct {
		p    Page
		want string
	}{
		{Page{First: "a", Last: "b", FirstIndex: 0, Count: 20}, `<set xmlns='` + NS + `'><first index='0'>a</first><last>b</last><count>20</count></set>`},
		{Page{First: "a", Last: "a", FirstIndex: -1, Count: -1}, `<set xmlns='` + NS + `'><first>a</first><last>a</last></set>`},
		{Page{FirstIndex: -1, Count: 790}, `<set xmlns='` + NS + `'><count>790</count></set>`},
		{Page{FirstIndex: -1, Count: -1}, `<set xmlns='` + NS + `'/>`},
	}
	for _, tc := range tests {
		if got := tc.p.Element().String(); got != tc.want {
			t.Errorf("%+v.Element() = %s, want %s", tc.p, got, tc.want)
		}
		back, err := ParsePage(tc.p.Element())
		if err != nil || back != tc.p {
			t.Errorf("ParsePage(%+v.Element()) = %+v, %v", tc.p, back, err)
		}
	}
}
