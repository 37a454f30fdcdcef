package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/dns"
	"samtal.org/samtal/internal/s2s"
)

// checkReport writes the findings of Check and counts the problems.
type checkReport struct {
	w        io.Writer
	problems int
	warnings int
}

func (r *checkReport) section(format string, args ...any) {
	fmt.Fprintf(r.w, "  %s\n", fmt.Sprintf(format, args...))
}

func (r *checkReport) ok(format string, args ...any) {
	fmt.Fprintf(r.w, "    ok    %s\n", fmt.Sprintf(format, args...))
}

func (r *checkReport) warn(format string, args ...any) {
	r.warnings++
	fmt.Fprintf(r.w, "    warn  %s\n", fmt.Sprintf(format, args...))
}

func (r *checkReport) fail(format string, args ...any) {
	r.problems++
	fmt.Fprintf(r.w, "    FAIL  %s\n", fmt.Sprintf(format, args...))
}

// Check tells an operator what other servers and clients will find
// wrong with the hosts of cfg (all of them when domains is empty), as
// prosodyctl check does: the DNS records of the client and server
// services and their addresses, the certificate's names and expiry and
// whether it is trusted, and whether the ports the records name accept
// connections; for the host's group chat and publish-subscribe
// services, which other servers reach by their own names, their server
// records and whether the certificate names them. It returns the number
// of problems found; warnings do not count.
func Check(ctx context.Context, cfg config.Config, domains []string, w io.Writer) int {
	r := &checkReport{w: w}
	if len(domains) == 0 {
		for _, h := range cfg.Hosts {
			domains = append(domains, h.Domain)
		}
	}
	res := Resolver(cfg)
	roots, err := Roots(cfg)
	if err != nil {
		fmt.Fprintf(w, "%v\n", err)
		r.problems++
		roots = nil
	}
	for _, d := range domains {
		h, ok := cfg.Host(d)
		if !ok {
			fmt.Fprintf(w, "%s\n", d)
			r.fail("%s is not a host of this configuration", d)
			continue
		}
		fmt.Fprintf(w, "%s\n", d)
		targets := checkDNS(ctx, r, res, cfg, d, true)
		checkCert(r, cfg, h, roots)
		checkPorts(ctx, r, targets)
		// Other servers reach the group chat and publish-subscribe
		// services by their own names: their records and the
		// certificate's names for them matter as much as the host's, or
		// remote users cannot join the rooms or subscribe to the nodes.
		if !cfg.S2S.Enabled {
			continue
		}
		for _, svc := range []struct{ domain, what, things string }{
			{cfg.MUCDomain(d), "group chat", "rooms"},
			{cfg.PubsubDomain(d), "publish-subscribe", "nodes"},
		} {
			if svc.domain == "" {
				continue
			}
			fmt.Fprintf(w, "%s (%s of %s)\n", svc.domain, svc.what, d)
			targets := checkDNS(ctx, r, res, cfg, svc.domain, false)
			checkCertName(r, cfg, h, svc.domain, svc.things)
			checkPorts(ctx, r, targets)
		}
	}
	fmt.Fprintf(w, "%d problem(s), %d warning(s)\n", r.problems, r.warnings)
	return r.problems
}

// target is a place the DNS says to connect to, with its addresses.
type target struct {
	service string
	dns.Target
	addrs []netip.Addr
}

func listenPorts(addrs []string) []uint16 {
	var ports []uint16
	for _, a := range addrs {
		if _, p, err := net.SplitHostPort(a); err == nil {
			if n, err := strconv.Atoi(p); err == nil {
				ports = append(ports, uint16(n))
			}
		}
	}
	return ports
}

// checkDNS checks the server records of domain and, with clients, its
// client records.
func checkDNS(ctx context.Context, r *checkReport, res *dns.Resolver, cfg config.Config, domain string, clients bool) []target {
	r.section("DNS")
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var out []target
	services := []struct {
		name      string
		lookup    func(context.Context, string) ([]dns.Target, error)
		plain     string
		tls       string
		plainPort []uint16
		tlsPort   []uint16
		needed    bool
	}{
		{"client", res.ClientTargets, "_xmpp-client._tcp.", "_xmpps-client._tcp.", listenPorts(cfg.Listen.C2S), listenPorts(cfg.Listen.C2STLS), true},
		{"server", res.ServerTargets, "_xmpp-server._tcp.", "_xmpps-server._tcp.", listenPorts(cfg.Listen.S2S), listenPorts(cfg.Listen.S2STLS), cfg.S2S.Enabled},
	}
	if !clients {
		services = services[1:]
	}
	for _, svc := range services {
		ts, err := svc.lookup(ctx, domain)
		if err != nil {
			if svc.needed {
				r.fail("%s service: %v", svc.name, err)
			}
			continue
		}
		srv := len(ts) > 1 || len(ts) == 1 && (ts[0].Host != domain || ts[0].DirectTLS)
		if !srv {
			r.warn("no %s%s record: %ss will try %s on port %d", svc.plain, domain, svc.name, domain, ts[0].Port)
		}
		direct := false
		for _, t := range ts {
			name := svc.plain
			want := svc.plainPort
			if t.DirectTLS {
				name, want, direct = svc.tls, svc.tlsPort, true
			}
			if srv {
				r.ok("%s%s: priority %d weight %d port %d target %s", name, domain, t.Priority, t.Weight, t.Port, t.Host)
			}
			if len(want) > 0 && !slices.Contains(want, t.Port) {
				r.warn("%s%s: port %d is not one samtal listens on (%v); fine only behind a port forward", name, domain, t.Port, want)
			}
			if len(want) == 0 && svc.needed {
				r.warn("%s%s names port %d but samtal has no such listener configured", name, domain, t.Port)
			}
			addrs, err := res.LookupAddrs(ctx, t.Host)
			if err != nil {
				r.fail("%s has no address: %v", t.Host, err)
				continue
			}
			var s []string
			for _, a := range addrs {
				s = append(s, a.String())
			}
			r.ok("%s: %s", t.Host, strings.Join(s, ", "))
			out = append(out, target{service: svc.name, Target: t, addrs: addrs})
		}
		if !direct && srv {
			r.warn("no %s%s record: direct TLS (XEP-0368) is optional", svc.tls, domain)
		}
	}
	return out
}

// certFile returns the certificate file of a host, as the server loads
// it.
func certFile(cfg config.Config, h config.Host) string {
	if h.Cert != "" {
		return h.Cert
	}
	return filepath.Join(cfg.DataDir, "certs", h.Domain+".crt")
}

// loadCert loads the certificate of a host as the server does, under a
// section that names its file.
func loadCert(r *checkReport, cfg config.Config, h config.Host) (tls.Certificate, bool) {
	file := certFile(cfg, h)
	r.section("certificate %s", file)
	keyFile := h.Key
	if keyFile == "" {
		keyFile = strings.TrimSuffix(file, ".crt") + ".key"
	}
	pair, err := tls.LoadX509KeyPair(file, keyFile)
	if err != nil {
		r.fail("cannot load: %v", err)
		return pair, false
	}
	return pair, true
}

func checkCert(r *checkReport, cfg config.Config, h config.Host, roots *x509.CertPool) {
	pair, ok := loadCert(r, cfg, h)
	if !ok {
		return
	}
	leaf := pair.Leaf
	ids := s2s.CertIdentities(leaf)
	if ids.MatchDomain(h.Domain) {
		r.ok("names %s", h.Domain)
	} else {
		r.fail("does not name %s (it names %s)", h.Domain, strings.Join(append(ids.DNS, ids.SRV...), ", "))
	}
	left := time.Until(leaf.NotAfter)
	switch {
	case left <= 0:
		r.fail("expired on %s", leaf.NotAfter.Format(time.DateOnly))
	case left < 14*24*time.Hour:
		r.fail("expires on %s, in %d days", leaf.NotAfter.Format(time.DateOnly), int(left.Hours()/24))
	case left < 30*24*time.Hour:
		r.warn("expires on %s, in %d days", leaf.NotAfter.Format(time.DateOnly), int(left.Hours()/24))
	default:
		r.ok("valid until %s", leaf.NotAfter.Format(time.DateOnly))
	}
	chain := []*x509.Certificate{leaf}
	for _, der := range pair.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			chain = append(chain, c)
		}
	}
	err := s2s.VerifyCert(chain, roots, h.Domain, time.Now())
	switch {
	case err == nil:
		r.ok("trusted: clients and servers that check certificates accept it")
	case errors.Is(err, s2s.ErrIdentity):
		// Reported above.
	default:
		r.warn("not trusted (%v): clients warn, and servers that require valid certificates refuse %s; others fall back to dialback", err, h.Domain)
	}
}

// checkCertName checks that the certificate of host h, which samtal
// presents for its service domains too, names the service domain, whose
// things (rooms, nodes) servers would otherwise refuse.
func checkCertName(r *checkReport, cfg config.Config, h config.Host, domain, things string) {
	pair, ok := loadCert(r, cfg, h)
	if !ok {
		return
	}
	ids := s2s.CertIdentities(pair.Leaf)
	if ids.MatchDomain(domain) {
		r.ok("names %s", domain)
		return
	}
	r.fail("does not name %s (it names %s): servers that check certificates refuse its %s; add %s or *.%s to the certificate",
		domain, strings.Join(append(ids.DNS, ids.SRV...), ", "), things, domain, h.Domain)
}

func checkPorts(ctx context.Context, r *checkReport, targets []target) {
	if len(targets) == 0 {
		return
	}
	r.section("connectivity")
	for _, t := range targets {
		for _, a := range t.addrs {
			addr := net.JoinHostPort(a.String(), strconv.Itoa(int(t.Port)))
			d := net.Dialer{Timeout: 5 * time.Second}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				r.fail("%s port %d (%s, %s): %v", t.Host, t.Port, a, t.service, err)
				continue
			}
			c.Close()
			r.ok("%s port %d (%s, %s) accepts connections", t.Host, t.Port, a, t.service)
		}
	}
}
