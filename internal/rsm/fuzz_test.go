package rsm

import (
	"testing"

	"samtal.org/samtal/internal/xmlstream"
)

// FuzzParse checks that Parse never fails on what Element writes, and
// that a parsed query survives the round trip.
func FuzzParse(f *testing.F) {
	f.Add(`<set xmlns='` + NS + `'><max>10</max><after>x</after></set>`)
	f.Add(`<set xmlns='` + NS + `'><before/></set>`)
	f.Add(`<set xmlns='` + NS + `'><index>3</index><before>y</before></set>`)
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
		if err != nil || back != q {
			t.Fatalf("Parse(%q) = %+v does not round-trip: %+v, %v", s, q, back, err)
		}
	})
}
