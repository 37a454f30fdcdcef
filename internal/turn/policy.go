package turn

import (
	"net/netip"
)

// Policy decides which peers a relay may send to. A TURN relay sends
// where its client asks, from the server's own network position: without
// a policy, anyone with credentials could reach the machine's loopback
// services or the operator's internal network through it (RFC 8656 §21.3,
// "Relaying to Local Destinations"). Policy is immutable and safe for
// concurrent use.
type Policy struct {
	allow []netip.Prefix
	deny  []netip.Prefix
	// self holds the server's own addresses: peers there may only be
	// other relays (ports relayMin to relayMax), never the services the
	// machine runs.
	self               []netip.Addr
	relayMin, relayMax uint16
}

// specialPrefixes are refused unless allowed: addresses that are not
// peers on the Internet (RFC 6890 special-purpose registries).
var specialPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),      // carrier-grade NAT, RFC 6598
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),       // documentation
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"),    // documentation
	netip.MustParsePrefix("203.0.113.0/24"),     // documentation
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),     // local-use NAT64, RFC 8215
	netip.MustParsePrefix("100::/64"),           // discard-only
	netip.MustParsePrefix("2001::/23"),          // IETF protocol assignments
	netip.MustParsePrefix("2001:db8::/32"),      // documentation
	netip.MustParsePrefix("fec0::/10"),          // deprecated site-local
	netip.MustParsePrefix("::/96"),              // IPv4-compatible, deprecated
	netip.MustParsePrefix("2002::/16"),          // 6to4: an IPv4 address in disguise
	netip.MustParsePrefix("::ffff:0:0:0/96"),    // SIIT translated
	netip.MustParsePrefix("5f00::/16"),          // SRv6 SIDs
	netip.MustParsePrefix("3fff::/20"),          // documentation, RFC 9637
	netip.MustParsePrefix("fc00::/7"),           // unique local (IsPrivate has it too)
	netip.MustParsePrefix("169.254.0.0/16"),     // link-local (IsLinkLocalUnicast has it too)
	netip.MustParsePrefix("255.255.255.255/32"), // limited broadcast
}

// nat64 is the well-known NAT64 prefix (RFC 6052): the IPv4 address it
// embeds is the real destination.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// NewPolicy returns a policy that refuses special addresses except those
// in allow, and also refuses deny. self are the server's own addresses;
// relays there are reachable on ports relayMin to relayMax only.
func NewPolicy(allow, deny []netip.Prefix, self []netip.Addr, relayMin, relayMax uint16) *Policy {
	p := &Policy{allow: allow, deny: deny, relayMin: relayMin, relayMax: relayMax}
	for _, a := range self {
		if a.IsValid() && !a.IsUnspecified() {
			p.self = append(p.self, a.Unmap())
		}
	}
	return p
}

// Permit reports whether the relay may send to ip at all: the check of
// CreatePermission, ChannelBind and Connect requests, which name no port.
func (p *Policy) Permit(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return false
	}
	if p.allowed(ip) {
		return true
	}
	if inAny(p.deny, ip) {
		return false
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		if v4 := netip.AddrFrom4([4]byte(b[12:])); !p.Permit(v4) {
			return false
		}
	}
	return !special(ip)
}

// PermitPort reports whether the relay may send one datagram or open one
// connection to addr: Permit, and, on the server's own addresses, only to
// the relay ports, so that two clients relayed by this server reach each
// other while the machine's own services stay out of reach.
func (p *Policy) PermitPort(addr netip.AddrPort) bool {
	ip := addr.Addr().Unmap().WithZone("")
	if !p.Permit(ip) {
		return false
	}
	if p.allowed(ip) {
		return true
	}
	for _, s := range p.self {
		if s == ip {
			return addr.Port() >= p.relayMin && addr.Port() <= p.relayMax
		}
	}
	return true
}

func (p *Policy) allowed(ip netip.Addr) bool { return inAny(p.allow, ip) }

func inAny(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, pr := range prefixes {
		if pr.Contains(ip) {
			return true
		}
	}
	return false
}

// special reports whether ip is not a unicast address on the Internet.
func special(ip netip.Addr) bool {
	return ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() ||
		ip.IsLinkLocalUnicast() || ip.IsMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsLinkLocalMulticast() ||
		inAny(specialPrefixes, ip)
}
