package dns_test

import (
	"fmt"
	"testing"

	"samtal.org/samtal/internal/dns"
)

// FuzzParseSRV checks that a record ParseSRV accepts formats back to one
// it parses the same.
func FuzzParseSRV(f *testing.F) {
	f.Add("10 5 5269 xmpp.example.org.")
	f.Add("0 0 0 .")
	f.Fuzz(func(t *testing.T, s string) {
		rec, err := dns.ParseSRV(s)
		if err != nil {
			return
		}
		again, err := dns.ParseSRV(fmt.Sprintf("%d %d %d %s", rec.Priority, rec.Weight, rec.Port, rec.Target))
		if err != nil || *again != *rec {
			t.Fatalf("ParseSRV(%q) = %+v does not round-trip: %+v, %v", s, rec, again, err)
		}
	})
}
