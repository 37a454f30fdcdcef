package turn

import (
	"net/netip"
	"testing"
)

// FuzzPolicy checks that the relay policy treats every spelling of an
// address alike: an IPv4 address and its IPv4-mapped IPv6 form, with or
// without a zone, get the same answer, and loopback is never permitted
// by default.
func FuzzPolicy(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "8.8.8.8", "fe80::1%eth0", "2002:7f00:1::1"} {
		f.Add(s)
	}
	p := NewPolicy(nil, nil, []netip.Addr{netip.MustParseAddr("93.184.216.34")}, 49152, 65535)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		got := p.Permit(a)
		if a.Unmap().IsLoopback() && got {
			t.Fatalf("Permit(%s) = true for loopback", s)
		}
		if a.Is4() && got != p.Permit(netip.AddrFrom16(a.As16())) {
			t.Fatalf("Permit(%s) differs from its IPv4-mapped form", s)
		}
		if a.Zone() != "" && got != p.Permit(a.WithZone("")) {
			t.Fatalf("Permit(%s) differs without the zone", s)
		}
		if got != p.PermitPort(netip.AddrPortFrom(a, 50000)) {
			t.Fatalf("PermitPort(%s:50000) differs from Permit", s)
		}
	})
}
