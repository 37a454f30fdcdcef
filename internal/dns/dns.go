// Package dns resolves what federation needs: SRV records (RFC 2782) of
// the XMPP services (RFC 6120 §3.2, XEP-0368) and the addresses of their
// targets. It can ask a given name server instead of the system's, and it
// can answer from a static table before asking anyone, so that tests can
// make made-up domains on loopback resolve; neither is used unless
// configured.
package dns

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config configures a Resolver. The zero value asks the system's
// resolver.
type Config struct {
	// Nameserver is "host:port" of a DNS server to ask instead of the
	// system's; "" for the system's.
	Nameserver string
	// Hosts maps a host name to its addresses.
	Hosts map[string][]string
	// SRV maps a record name ("_xmpp-server._tcp.example.org") to its
	// records, each "priority weight port target" as in a zone file.
	SRV map[string][]string
}

// Validate reports the first problem of c.
func (c Config) Validate() error {
	var errs []error
	if c.Nameserver != "" {
		if _, _, err := net.SplitHostPort(c.Nameserver); err != nil {
			errs = append(errs, fmt.Errorf("nameserver %q: want host:port", c.Nameserver))
		}
	}
	for h, addrs := range c.Hosts {
		for _, a := range addrs {
			if _, err := netip.ParseAddr(a); err != nil {
				errs = append(errs, fmt.Errorf("hosts.%s: %q is not an IP address", h, a))
			}
		}
	}
	for name, recs := range c.SRV {
		if !strings.HasPrefix(name, "_") {
			errs = append(errs, fmt.Errorf("srv: %q is not an SRV name such as \"_xmpp-server._tcp.example.org\"", name))
		}
		for _, r := range recs {
			if _, err := ParseSRV(r); err != nil {
				errs = append(errs, fmt.Errorf("srv.%s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ParseSRV parses "priority weight port target".
func ParseSRV(s string) (*net.SRV, error) {
	f := strings.Fields(s)
	if len(f) != 4 {
		return nil, fmt.Errorf("SRV record %q: want \"priority weight port target\"", s)
	}
	var n [3]uint16
	for i := range 3 {
		v, err := strconv.ParseUint(f[i], 10, 16)
		if err != nil {
			return nil, fmt.Errorf("SRV record %q: %q is not a number from 0 to 65535", s, f[i])
		}
		n[i] = uint16(v)
	}
	return &net.SRV{Priority: n[0], Weight: n[1], Port: n[2], Target: strings.ToLower(f[3])}, nil
}

// Resolver answers SRV and address queries.
type Resolver struct {
	cfg Config
	net *net.Resolver
}

// ErrNotFound is returned when a name has no records of the asked type
// (NXDOMAIN or an empty answer).
var ErrNotFound = errors.New("dns: no such record")

// New returns a resolver for cfg.
func New(cfg Config) *Resolver {
	r := &Resolver{cfg: cfg, net: net.DefaultResolver}
	if cfg.Nameserver != "" {
		server := cfg.Nameserver
		r.net = &net.Resolver{
			PreferGo: true,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, server)
			},
		}
	}
	return r
}

// static reports whether the static table speaks for name, a name in it
// or under one of its host names: then DNS is not asked about it at all.
func (r *Resolver) static(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for h := range r.cfg.Hosts {
		if name == h || strings.HasSuffix(name, "."+h) {
			return true
		}
	}
	for k := range r.cfg.SRV {
		if strings.HasSuffix(k, "."+name) {
			return true
		}
	}
	return false
}

// LookupSRV returns the SRV records of _service._proto.name in the order
// of the answer (see Order). A name with no records gives ErrNotFound.
func (r *Resolver) LookupSRV(ctx context.Context, service, proto, name string) ([]*net.SRV, error) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	key := "_" + service + "._" + proto + "." + name
	if recs, ok := r.cfg.SRV[key]; ok {
		out := make([]*net.SRV, 0, len(recs))
		for _, s := range recs {
			rec, err := ParseSRV(s)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
		return out, nil
	}
	if r.static(name) {
		return nil, ErrNotFound
	}
	_, recs, err := r.net.LookupSRV(ctx, service, proto, name)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("dns: SRV %s: %w", key, err)
	}
	if len(recs) == 0 {
		return nil, ErrNotFound
	}
	for _, rec := range recs {
		rec.Target = strings.ToLower(rec.Target)
	}
	return recs, nil
}

// LookupAddrs returns the IPv6 and IPv4 addresses of host.
func (r *Resolver) LookupAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	if addrs, ok := r.cfg.Hosts[host]; ok {
		out := make([]netip.Addr, 0, len(addrs))
		for _, s := range addrs {
			if a, err := netip.ParseAddr(s); err == nil {
				out = append(out, a)
			}
		}
		return out, nil
	}
	if r.static(host) {
		return nil, ErrNotFound
	}
	addrs, err := r.net.LookupNetIP(ctx, "ip", host)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("dns: %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, ErrNotFound
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, nil
}

// Target is one place to connect to: an SRV target and port, and whether
// TLS starts at once (an _xmpps- record, XEP-0368) or with STARTTLS.
type Target struct {
	Host      string
	Port      uint16
	DirectTLS bool
	Priority  uint16
	Weight    uint16
}

// Order sorts targets as RFC 2782 says: by priority, lowest first, and
// within one priority by a weighted random draw in which a record with a
// weight w is picked first with probability w/(sum of weights), records
// of weight 0 having a small chance. XEP-0368 §3 mixes the records of
// both services into one such list.
func Order(ts []Target) []Target {
	out := slices.Clone(ts)
	slices.SortStableFunc(out, func(a, b Target) int { return int(a.Priority) - int(b.Priority) })
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && out[j].Priority == out[i].Priority {
			j++
		}
		weighted(out[i:j])
		i = j
	}
	return out
}

// weighted orders one priority group in place (RFC 2782, "Usage rules").
func weighted(g []Target) {
	// Weight-0 records first, so that they get "a very small chance of
	// being selected" when others have weight.
	slices.SortStableFunc(g, func(a, b Target) int { return int(a.Weight) - int(b.Weight) })
	for i := range g {
		sum := 0
		for _, t := range g[i:] {
			sum += int(t.Weight)
		}
		if sum == 0 {
			// Only weight 0 is left: an even draw.
			k := i + rand.IntN(len(g)-i)
			g[i], g[k] = g[k], g[i]
			continue
		}
		pick := rand.IntN(sum + 1)
		run := 0
		for k := i; k < len(g); k++ {
			run += int(g[k].Weight)
			if run >= pick {
				g[i], g[k] = g[k], g[i]
				// Keep the rest in weight order for the next draw.
				slices.SortStableFunc(g[i+1:], func(a, b Target) int { return int(a.Weight) - int(b.Weight) })
				break
			}
		}
	}
}

// ServerTargets returns where to connect to reach the XMPP server of
// domain (RFC 6120 §3.2.1, XEP-0368 §3): the _xmpps-server and
// _xmpp-server records mixed in RFC 2782 order, or, when there are none,
// the domain itself on port 5269. A single record with target "." means
// the service is decidedly not offered: no target and ErrNotFound. The
// error is set only when nothing could be found.
func (r *Resolver) ServerTargets(ctx context.Context, domain string) ([]Target, error) {
	return r.serviceTargets(ctx, domain, "xmpps-server", "xmpp-server", 5269)
}

// ClientTargets is ServerTargets for clients (RFC 6120 §3.2.1,
// XEP-0368), with the fallback on port 5222.
func (r *Resolver) ClientTargets(ctx context.Context, domain string) ([]Target, error) {
	return r.serviceTargets(ctx, domain, "xmpps-client", "xmpp-client", 5222)
}

func (r *Resolver) serviceTargets(ctx context.Context, domain, tlsService, service string, port uint16) ([]Target, error) {
	type answer struct {
		recs []*net.SRV
		err  error
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ch := make(chan answer, 1)
	go func() {
		recs, err := r.LookupSRV(ctx, tlsService, "tcp", domain)
		ch <- answer{recs, err}
	}()
	plain, _ := r.LookupSRV(ctx, service, "tcp", domain)
	direct := <-ch
	var ts []Target
	refused := 0
	add := func(recs []*net.SRV, tls bool) {
		if len(recs) == 1 && (recs[0].Target == "." || recs[0].Target == "") {
			refused++
			return
		}
		for _, rec := range recs {
			ts = append(ts, Target{Host: strings.TrimSuffix(rec.Target, "."), Port: rec.Port, DirectTLS: tls, Priority: rec.Priority, Weight: rec.Weight})
		}
	}
	add(direct.recs, true)
	add(plain, false)
	if len(ts) > 0 {
		return Order(ts), nil
	}
	if refused > 0 {
		// XEP-0368 §3: "." means the service is not offered, and there
		// is no A/AAAA fallback then.
		return nil, fmt.Errorf("dns: %s offers no XMPP service: %w", domain, ErrNotFound)
	}
	// No records, or a name server that cannot answer SRV queries
	// (common enough): fall back to the domain on the default port
	// (RFC 6120 §3.2.2); a failure shows when connecting.
	return []Target{{Host: domain, Port: port}}, nil
}
