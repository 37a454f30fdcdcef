package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"samtal.org/samtal/internal/certs"
	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/dns"
	"samtal.org/samtal/internal/listener"
	"samtal.org/samtal/internal/s2s"
	"samtal.org/samtal/internal/xmlstream"
)

// Resolver returns the DNS resolver the configuration asks for.
func Resolver(cfg config.Config) *dns.Resolver {
	r := cfg.S2S.Resolver
	return dns.New(dns.Config{Nameserver: r.Nameserver, Hosts: r.Hosts, SRV: r.SRV})
}

// Roots returns the certificate authorities trusted for peers: the
// system's and those of s2s.ca_file.
func Roots(cfg config.Config) (*x509.CertPool, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if f := cfg.S2S.CAFile; f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("s2s.ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("s2s.ca_file: %s has no PEM certificate", f)
		}
	}
	return roots, nil
}

// Policy returns the federation policy function of the configuration.
func Policy(cfg config.Config) func(string) s2s.Policy {
	parse := func(p string) s2s.Policy {
		switch p {
		case config.PolicyVerify:
			return s2s.PolicyVerify
		case config.PolicyDeny:
			return s2s.PolicyDeny
		}
		return s2s.PolicyDialback
	}
	def := parse(cfg.S2S.Policy)
	peers := make(map[string]s2s.Policy, len(cfg.S2S.Peers))
	for _, p := range cfg.S2S.Peers {
		peers[p.Domain] = parse(p.Policy)
	}
	return func(domain string) s2s.Policy {
		if p, ok := peers[domain]; ok {
			return p
		}
		return def
	}
}

// closeS2S ends the server-to-server streams, after what is queued on
// them is written.
func (s *Server) closeS2S(ctx context.Context) {
	if s.fed != nil {
		s.fed.Close(ctx)
	}
}

// startS2S starts federation: the router's remote handler and the
// server-to-server listeners.
func (s *Server) startS2S(certStore *certs.Store, secret []byte) error {
	cfg := s.cfg
	roots, err := Roots(cfg)
	if err != nil {
		return err
	}
	// The dialback keys need a secret of their own that stays the same
	// across restarts, so that a key made before a restart still
	// verifies after it.
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("samtal s2s dialback"))
	l := cfg.Limits
	fed := s2s.New(s2s.Config{
		TLS:               certStore.StreamConfig("xmpp-server"),
		Certificate:       certStore.Get,
		Roots:             roots,
		Resolver:          Resolver(cfg),
		Secret:            m.Sum(nil),
		Policy:            Policy(cfg),
		Limits:            xmlstream.Limits{MaxStanzaBytes: l.MaxStanzaBytes, MaxDepth: l.MaxDepth},
		ReadRate:          l.ReadRate,
		ReadBurst:         l.ReadBurst,
		ConnectTimeout:    time.Duration(cfg.S2S.ConnectTimeout),
		AuthTimeout:       time.Duration(l.AuthTimeout),
		IdleTimeout:       time.Duration(cfg.S2S.IdleTimeout),
		QueueLength:       cfg.S2S.QueueLength,
		OutQueueBytes:     l.OutQueueBytes,
		MaxConnsPerDomain: cfg.S2S.MaxConnectionsPerDomain,
		UnauthPerIP:       l.UnauthPerIP,
		UnauthTotal:       l.UnauthTotal,
	}, s.router, s.log, s2s.NewMetrics(s.reg))
	s.router.SetRemote(fed)
	s.fed = fed
	for _, addr := range cfg.Listen.S2S {
		ln, err := listener.Listen(addr)
		if err != nil {
			return fmt.Errorf("s2s listener: %w", err)
		}
		fed.Listen(ln, false)
		s.addrs = append(s.addrs, "s2s (STARTTLS) on "+ln.Addr().String())
	}
	for _, addr := range cfg.Listen.S2STLS {
		ln, err := listener.Listen(addr)
		if err != nil {
			return fmt.Errorf("s2s direct TLS listener: %w", err)
		}
		fed.Listen(ln, true)
		s.addrs = append(s.addrs, "s2s (direct TLS) on "+ln.Addr().String())
	}
	return nil
}
