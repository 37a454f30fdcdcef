package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"samtal.org/samtal/internal/bytestreams"
	"samtal.org/samtal/internal/certs"
	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/disco"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/turn"
)

// startCalls starts what calls and file transfers need beside XMPP: the
// STUN/TURN relay with its discovery (XEP-0215), and the SOCKS5
// bytestream proxy (XEP-0065) at proxy.<domain> of every host.
func (s *Server) startCalls(mux *iq.Mux, d *disco.Disco, certStore *certs.Store) error {
	cfg := s.cfg.Turn
	secret, err := turn.LoadSecret(filepath.Join(s.cfg.DataDir, "turn-secret"))
	if err != nil {
		return err
	}
	var services []turn.Service
	if cfg.Enabled {
		srv, err := s.startTurn(cfg, secret, certStore)
		if err != nil {
			return err
		}
		port := func(external int, addrs []net.Addr) int {
			if external != 0 || len(addrs) == 0 {
				return external
			}
			return int(addrs[0].(interface{ AddrPort() netip.AddrPort }).AddrPort().Port())
		}
		host := cfg.ExternalHost // "" is the domain asked
		if p := port(cfg.ExternalPort, srv.UDPAddrs()); p != 0 {
			services = append(services,
				turn.Service{Type: "stun", Host: host, Port: p, Transport: "udp"},
				turn.Service{Type: "turn", Host: host, Port: p, Transport: "udp", Secret: secret})
		}
		if p := port(cfg.ExternalPort, srv.TCPAddrs()); p != 0 && len(srv.TCPAddrs()) > 0 {
			services = append(services, turn.Service{Type: "turn", Host: host, Port: p, Transport: "tcp", Secret: secret})
		}
		if p := port(cfg.ExternalTLSPort, srv.TLSAddrs()); p != 0 && len(srv.TLSAddrs()) > 0 {
			services = append(services, turn.Service{Type: "turns", Host: host, Port: p, Transport: "tcp", Secret: secret})
		}
	}
	for _, e := range cfg.External {
		services = append(services, turn.Service{Type: e.Type, Host: e.Host, Port: e.Port, Transport: e.Transport, Name: e.Name, Secret: e.Secret})
	}
	if len(services) > 0 {
		turn.NewDiscovery(turn.DiscoveryConfig{
			Services:   services,
			Lifetime:   time.Duration(cfg.CredentialLifetime),
			UserSecret: secret,
		}, mux)
	}

	bs := s.cfg.Bytestreams
	if !bs.Enabled {
		return nil
	}
	proxy, err := bytestreams.New(bytestreams.Config{
		Listen:         bs.Listen,
		Host:           bs.ExternalHost,
		Port:           bs.ExternalPort,
		Rate:           bs.Rate,
		MaxDuration:    time.Duration(bs.MaxDuration),
		StreamsPerUser: bs.StreamsPerUser,
		MaxStreams:     bs.MaxStreams,
	}, s.router, s.log)
	if err != nil {
		return fmt.Errorf("bytestreams listener: %w", err)
	}
	s.closers = append(s.closers, func(context.Context) { proxy.Close() })
	s.reg.NewGaugeFunc("samtal_bytestreams_active", "File transfers relayed by the SOCKS5 proxy.", func() float64 {
		_, active := proxy.Streams()
		return float64(active)
	})
	for _, h := range s.cfg.Hosts {
		s.router.AddDomain(bytestreams.Domain(h.Domain), proxy)
		d.AddItem(h.Domain, disco.Item{JID: bytestreams.Domain(h.Domain), Name: "SOCKS5 Bytestreams Service"})
	}
	for _, a := range proxy.Addrs() {
		s.addrs = append(s.addrs, "file transfer proxy (SOCKS5, XEP-0065) on "+a.String())
	}
	return nil
}

// startTurn starts the embedded STUN/TURN server.
func (s *Server) startTurn(cfg config.Turn, secret string, certStore *certs.Store) (*turn.Server, error) {
	var allow, deny []netip.Prefix
	for _, a := range cfg.Allow {
		p, _ := config.ParsePrefix(a) // validated with the configuration
		allow = append(allow, p)
	}
	for _, a := range cfg.Deny {
		p, _ := config.ParsePrefix(a) // validated with the configuration
		deny = append(deny, p)
	}
	relayIP, _ := netip.ParseAddr(cfg.RelayIP) // validated with the configuration
	var bind netip.Addr
	if cfg.RelayBind != "" {
		bind, _ = netip.ParseAddr(cfg.RelayBind) // validated with the configuration
	}
	// The machine's own addresses, where a peer can only be another
	// relay of this server.
	self := []netip.Addr{relayIP, bind}
	for _, a := range append(append(append([]string(nil), cfg.UDP...), cfg.TCP...), cfg.TLS...) {
		if ap, err := netip.ParseAddrPort(a); err == nil {
			self = append(self, ap.Addr())
		}
	}
	realm := cfg.Realm
	if realm == "" {
		realm = s.cfg.Hosts[0].Domain
	}
	srv, err := turn.Start(turn.Config{
		UDP: cfg.UDP, TCP: cfg.TCP, TLS: cfg.TLS,
		TLSConfig:        certStore.ServerConfig(),
		RelayIP:          relayIP,
		RelayBind:        bind,
		RelayMinPort:     uint16(cfg.RelayMinPort),
		RelayMaxPort:     uint16(cfg.RelayMaxPort),
		Realm:            realm,
		Secret:           secret,
		UserAllocations:  cfg.UserAllocations,
		TotalAllocations: cfg.TotalAllocations,
		AllocationRate:   cfg.AllocationRate,
		ConnectionsPerIP: cfg.ConnectionsPerIP,
		Policy:           turn.NewPolicy(allow, deny, self, uint16(cfg.RelayMinPort), uint16(cfg.RelayMaxPort)),
	}, s.log)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func(context.Context) { srv.Close() })
	s.reg.NewGaugeFunc("samtal_turn_allocations", "TURN relays in use.", func() float64 { return float64(srv.Allocations()) })
	for _, a := range srv.UDPAddrs() {
		s.addrs = append(s.addrs, "STUN/TURN (UDP) on "+a.String())
	}
	for _, a := range srv.TCPAddrs() {
		s.addrs = append(s.addrs, "TURN (TCP) on "+a.String())
	}
	for _, a := range srv.TLSAddrs() {
		s.addrs = append(s.addrs, "TURN (TLS) on "+a.String())
	}
	s.addrs = append(s.addrs, fmt.Sprintf("TURN relays on %s, ports %d-%d", relayIP, cfg.RelayMinPort, cfg.RelayMaxPort))
	return srv, nil
}
