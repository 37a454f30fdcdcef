package jid_test

import (
	"testing"

	"samtal.org/samtal/internal/jid"
)

// FuzzParse checks that every JID round-trips (parse → String → parse
// gives an equal JID) and that the ASCII fast path agrees with full
// PRECIS preparation on every input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"juliet@example.com/balcony", "Juliet@Example.COM./Balcony", "example.com",
		"fußball@bücher.example/♚", "xn--bcher-kva.example", "[2001:db8::1]", "a@b/c/d@e",
		"Σ@example.com", "ｊｕｌｉｅｔ@例え。テスト", "@example.com/", "henryⅣ@example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, errFast := jid.Parse(s)
		slow, errSlow := jid.ParseSlow(s)
		if fast != slow || (errFast == nil) != (errSlow == nil) {
			t.Fatalf("Parse(%q) = %q, %v; slow path gives %q, %v", s, fast, errFast, slow, errSlow)
		}
		j, err := jid.Parse(s)
		if err != nil {
			return
		}
		if k, err := jid.Parse(j.String()); err != nil || !k.Equal(j) {
			t.Fatalf("jid %q does not round-trip", s)
		}
		if k, err := jid.New(j.Local(), j.Domain(), j.Resource()); err != nil || k != j {
			t.Fatalf("New(parts of %q) = %q, %v; want %q", s, k, err, j)
		}
	})
}
