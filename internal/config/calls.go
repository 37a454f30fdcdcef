package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Turn is the [turn] section: the embedded STUN/TURN server that voice
// and video calls use behind NAT, and the services that XEP-0215
// announces to clients, the embedded server's and external ones.
type Turn struct {
	// Enabled runs the embedded STUN/TURN server.
	Enabled bool `toml:"enabled"`
	// UDP are the STUN and TURN listeners over UDP, TCP those over TCP
	// and TLS those over TLS (with the hosts' certificates), as
	// "host:port".
	UDP []string `toml:"udp"`
	TCP []string `toml:"tcp"`
	TLS []string `toml:"tls"`
	// RelayIP is the address relayed transport addresses are given with:
	// the public address of the machine. RelayBind is the local address
	// relay sockets bind, when it differs (behind 1:1 NAT); "" is RelayIP.
	RelayIP   string `toml:"relay_ip"`
	RelayBind string `toml:"relay_bind"`
	// RelayMinPort and RelayMaxPort bound the ports of relay sockets.
	RelayMinPort int `toml:"relay_min_port"`
	RelayMaxPort int `toml:"relay_max_port"`
	// ExternalHost is the host announced to clients (XEP-0215); "" is
	// the domain of the host asked. ExternalPort and ExternalTLSPort are
	// the announced ports; 0 is the port of the first UDP (or TCP) and
	// TLS listener.
	ExternalHost    string `toml:"external_host"`
	ExternalPort    int    `toml:"external_port"`
	ExternalTLSPort int    `toml:"external_tls_port"`
	// Realm is the TURN realm; "" is the domain of the first host.
	Realm string `toml:"realm"`
	// CredentialLifetime is how long credentials handed out stay valid.
	CredentialLifetime Duration `toml:"credential_lifetime"`
	// UserAllocations bounds the relays one user holds at once, and
	// TotalAllocations those of everyone.
	UserAllocations  int `toml:"user_allocations"`
	TotalAllocations int `toml:"total_allocations"`
	// AllocationRate bounds the bytes per second relayed by one
	// allocation in each direction; 0 is no bound.
	AllocationRate int `toml:"allocation_rate"`
	// ConnectionsPerIP bounds the TCP and TLS connections from one IP
	// address.
	ConnectionsPerIP int `toml:"connections_per_ip"`
	// Allow and Deny are address prefixes ("10.0.0.0/8", "::1/128") the
	// relay may or may not send to. Loopback, private, link-local and
	// other special addresses are denied unless allowed here; Deny adds
	// to them.
	Allow []string `toml:"allow"`
	Deny  []string `toml:"deny"`
	// External lists STUN/TURN services run elsewhere (coturn, say) that
	// clients are told about as well.
	External []ExternalService `toml:"external"`
}

// ExternalService is one [[turn.external]] table: a STUN or TURN server
// that samtal announces and hands credentials for (XEP-0215).
type ExternalService struct {
	// Type is "stun", "stuns", "turn" or "turns".
	Type string `toml:"type"`
	// Host and Port are where clients reach it.
	Host string `toml:"host"`
	Port int    `toml:"port"`
	// Transport is "udp" or "tcp".
	Transport string `toml:"transport"`
	// Secret is the secret shared with the server for time-limited
	// credentials (coturn's static-auth-secret with use-auth-secret);
	// "" announces the service without credentials.
	Secret string `toml:"secret"`
	// Name is a label for people.
	Name string `toml:"name"`
}

// Bytestreams is the [bytestreams] section: the SOCKS5 bytestream proxy
// (XEP-0065) that carries file transfers between clients that cannot
// reach each other directly.
type Bytestreams struct {
	// Enabled runs the proxy, as proxy.<domain> for every host.
	Enabled bool `toml:"enabled"`
	// Listen are the SOCKS5 listeners, "host:port".
	Listen []string `toml:"listen"`
	// ExternalHost and ExternalPort are announced to clients; "" is the
	// address of the first listener, or the domain of the host when that
	// listens on every interface, and 0 its port.
	ExternalHost string `toml:"external_host"`
	ExternalPort int    `toml:"external_port"`
	// Rate bounds the bytes per second of one stream in each direction.
	Rate int `toml:"rate"`
	// MaxDuration bounds how long one stream lasts.
	MaxDuration Duration `toml:"max_duration"`
	// StreamsPerUser bounds the streams one user has activated at once,
	// and MaxStreams the streams, waiting or active, of everyone.
	StreamsPerUser int `toml:"streams_per_user"`
	MaxStreams     int `toml:"max_streams"`
}

// defaultTurn is the embedded relay of a zero-config start: on loopback,
// where it serves clients on the same machine and can be tried out.
func defaultTurn() Turn {
	return Turn{
		Enabled:            true,
		UDP:                []string{"127.0.0.1:3478"},
		TCP:                []string{"127.0.0.1:3478"},
		TLS:                []string{"127.0.0.1:5349"},
		RelayIP:            "127.0.0.1",
		RelayMinPort:       49152,
		RelayMaxPort:       65535,
		CredentialLifetime: Duration(12 * time.Hour),
		UserAllocations:    10,
		TotalAllocations:   1000,
		AllocationRate:     1048576,
		ConnectionsPerIP:   20,
	}
}

func defaultBytestreams() Bytestreams {
	return Bytestreams{
		Enabled:        true,
		Listen:         []string{"127.0.0.1:7777"},
		Rate:           1048576,
		MaxDuration:    Duration(time.Hour),
		StreamsPerUser: 5,
		MaxStreams:     100,
	}
}

// Validate returns a *Problems listing every problem of the [turn]
// section, nil if there is none.
func (t Turn) Validate() error {
	var ps Problems
	listeners := func(key string, addrs []string) {
		seen := make(map[string]bool)
		for i, a := range addrs {
			k := fmt.Sprintf("%s[%d]", key, i)
			if _, _, err := splitAddr(a); err != nil {
				ps.add(k, "%v", err)
				continue
			}
			if seen[a] {
				ps.add(k, "address %s is listed twice", a)
			}
			seen[a] = true
		}
	}
	listeners("udp", t.UDP)
	listeners("tcp", t.TCP)
	listeners("tls", t.TLS)
	if t.Enabled && len(t.UDP)+len(t.TCP)+len(t.TLS) == 0 {
		ps.add("enabled", "the server is enabled but has no listener: give udp, tcp or tls addresses")
	}
	relay, err := netip.ParseAddr(t.RelayIP)
	switch {
	case err != nil || relay.Zone() != "":
		ps.add("relay_ip", "invalid address %q: want the IP address relays are reached at", t.RelayIP)
	case relay.IsUnspecified():
		ps.add("relay_ip", "%s is not an address clients can reach: give the public IP address", t.RelayIP)
	case relay.IsLoopback() && t.Enabled:
		for i, a := range t.UDP {
			if host, _, err := splitAddr(a); err == nil && !isLoopback(host) {
				ps.add("relay_ip", "%s is a loopback address but udp[%d] is %s: give the public IP address", t.RelayIP, i, a)
				break
			}
		}
	}
	if t.RelayBind != "" {
		if a, err := netip.ParseAddr(t.RelayBind); err != nil || a.Zone() != "" {
			ps.add("relay_bind", "invalid address %q: want an IP address of this machine, or \"\" for relay_ip", t.RelayBind)
		}
	}
	ports := true
	for _, p := range []struct {
		key string
		v   int
	}{{"relay_min_port", t.RelayMinPort}, {"relay_max_port", t.RelayMaxPort}} {
		if p.v < 1 || p.v > 65535 {
			ps.add(p.key, "invalid port %d: want 1 to 65535", p.v)
			ports = false
		}
	}
	if ports && t.RelayMinPort > t.RelayMaxPort {
		ps.add("relay_min_port", "is more than relay_max_port (%d)", t.RelayMaxPort)
	}
	if t.ExternalHost != "" && !validHost(t.ExternalHost) {
		ps.add("external_host", "invalid host %q: want a domain or an IP address", t.ExternalHost)
	}
	for _, p := range []struct {
		key string
		v   int
	}{{"external_port", t.ExternalPort}, {"external_tls_port", t.ExternalTLSPort}} {
		if p.v < 0 || p.v > 65535 {
			ps.add(p.key, "invalid port %d: want 1 to 65535, or 0 for the listener's", p.v)
		}
	}
	if t.CredentialLifetime <= 0 {
		ps.add("credential_lifetime", "must be positive")
	}
	for _, f := range []struct {
		key string
		v   int
	}{
		{"user_allocations", t.UserAllocations},
		{"total_allocations", t.TotalAllocations},
		{"connections_per_ip", t.ConnectionsPerIP},
	} {
		if f.v <= 0 {
			ps.add(f.key, "must be positive")
		}
	}
	if t.UserAllocations > t.TotalAllocations && t.TotalAllocations > 0 {
		ps.add("user_allocations", "is more than total_allocations (%d)", t.TotalAllocations)
	}
	if t.AllocationRate < 0 {
		ps.add("allocation_rate", "must not be negative (0 is no bound)")
	}
	for _, l := range []struct {
		key      string
		prefixes []string
	}{{"allow", t.Allow}, {"deny", t.Deny}} {
		for i, s := range l.prefixes {
			if _, err := ParsePrefix(s); err != nil {
				ps.add(fmt.Sprintf("%s[%d]", l.key, i), "%v", err)
			}
		}
	}
	for i, e := range t.External {
		ps.section(fmt.Sprintf("external[%d]", i), e.Validate())
	}
	return ps.err()
}

// ParsePrefix parses an address prefix of [turn] allow or deny: CIDR
// notation, or a single address.
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("invalid prefix %q: want CIDR notation, \"10.0.0.0/8\", or an address", s)
}

// Validate returns a *Problems listing every problem of the service, nil
// if there is none.
func (e ExternalService) Validate() error {
	var ps Problems
	switch e.Type {
	case "stun", "stuns", "turn", "turns":
	default:
		ps.add("type", `unknown type %q: want "stun", "stuns", "turn" or "turns"`, e.Type)
	}
	if !validHost(e.Host) {
		ps.add("host", "invalid host %q: want a domain or an IP address", e.Host)
	}
	if e.Port < 1 || e.Port > 65535 {
		ps.add("port", "invalid port %d: want 1 to 65535", e.Port)
	}
	switch e.Transport {
	case "udp", "tcp":
	default:
		ps.add("transport", `unknown transport %q: want "udp" or "tcp"`, e.Transport)
	}
	if (e.Type == "stuns" || e.Type == "turns") && e.Transport == "udp" {
		ps.add("transport", "%s runs over TLS, which needs tcp", e.Type)
	}
	return ps.err()
}

// Validate returns a *Problems listing every problem of the
// [bytestreams] section, nil if there is none.
func (b Bytestreams) Validate() error {
	var ps Problems
	seen := make(map[string]bool)
	for i, a := range b.Listen {
		k := fmt.Sprintf("listen[%d]", i)
		if _, _, err := splitAddr(a); err != nil {
			ps.add(k, "%v", err)
			continue
		}
		if seen[a] {
			ps.add(k, "address %s is listed twice", a)
		}
		seen[a] = true
	}
	if b.Enabled && len(b.Listen) == 0 {
		ps.add("enabled", "the proxy is enabled but has no listener")
	}
	if b.ExternalHost != "" && !validHost(b.ExternalHost) {
		ps.add("external_host", "invalid host %q: want a domain or an IP address", b.ExternalHost)
	}
	if b.ExternalPort < 0 || b.ExternalPort > 65535 {
		ps.add("external_port", "invalid port %d: want 1 to 65535, or 0 for the listener's", b.ExternalPort)
	}
	for _, f := range []struct {
		key string
		v   int
	}{{"rate", b.Rate}, {"streams_per_user", b.StreamsPerUser}, {"max_streams", b.MaxStreams}} {
		if f.v <= 0 {
			ps.add(f.key, "must be positive")
		}
	}
	if b.MaxDuration <= 0 {
		ps.add("max_duration", "must be positive")
	}
	return ps.err()
}

// validHost reports whether s is a domain or an IP address.
func validHost(s string) bool {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Zone() == ""
	}
	return validDomain(s)
}
