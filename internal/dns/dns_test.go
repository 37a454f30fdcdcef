package dns_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"samtal.org/samtal/internal/dns"
	"samtal.org/samtal/internal/dns/dnstest"
)

func TestOrder(t *testing.T) {
	ts := []dns.Target{
		{Host: "c", Priority: 20, Weight: 5},
		{Host: "a", Priority: 10, Weight: 0},
		{Host: "b", Priority: 10, Weight: 100},
		{Host: "d", Priority: 5, Weight: 1},
	}
	firstB := 0
	for range 200 {
		got := dns.Order(ts)
		if got[0].Host != "d" || got[3].Host != "c" {
			t.Fatalf("Order = %v, want priority 5 first and 20 last", got)
		}
		if got[1].Host == "b" {
			firstB++
		}
	}
	// b has weight 100 against a's 0: RFC 2782 picks it first nearly
	// always, a only rarely.
	if firstB < 180 {
		t.Errorf("weight 100 came first %d times of 200, want nearly all", firstB)
	}
}

func TestStatic(t *testing.T) {
	r := dns.New(dns.Config{
		Hosts: map[string][]string{"peer.test": {"127.0.0.1", "::1"}},
		SRV: map[string][]string{
			"_xmpp-server._tcp.peer.test":  {"0 5 5270 peer.test"},
			"_xmpps-server._tcp.peer.test": {"0 5 5271 peer.test"},
			"_xmpp-server._tcp.none.test":  {"0 0 0 ."},
		},
	})
	ctx := context.Background()
	addrs, err := r.LookupAddrs(ctx, "Peer.Test.")
	if err != nil || len(addrs) != 2 || addrs[0] != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("LookupAddrs = %v, %v", addrs, err)
	}
	ts, err := r.ServerTargets(ctx, "peer.test")
	if err != nil || len(ts) != 2 {
		t.Fatalf("ServerTargets = %v, %v", ts, err)
	}
	for _, tg := range ts {
		if tg.DirectTLS != (tg.Port == 5271) {
			t.Errorf("target %+v: direct TLS must go with the _xmpps-server record", tg)
		}
	}
	if _, err := r.ServerTargets(ctx, "none.test"); !errors.Is(err, dns.ErrNotFound) {
		t.Errorf("ServerTargets with target \".\" = %v, want ErrNotFound (no fallback)", err)
	}
	// A static host without SRV records falls back to port 5269 and
	// never asks DNS.
	r2 := dns.New(dns.Config{Hosts: map[string][]string{"plain.test": {"127.0.0.1"}}, Nameserver: "127.0.0.1:1"})
	ts, err = r2.ServerTargets(ctx, "plain.test")
	if err != nil || len(ts) != 1 || ts[0].Port != 5269 || ts[0].DirectTLS {
		t.Fatalf("fallback = %v, %v, want plain.test:5269", ts, err)
	}
}

func TestNameserver(t *testing.T) {
	srv, err := dnstest.Start(dnstest.Zone{
		Hosts: map[string][]netip.Addr{"xmpp.peer.test": {netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1")}},
		SRV: map[string][]dnstest.SRV{
			"_xmpp-server._tcp.peer.test": {{Priority: 1, Weight: 1, Port: 5299, Target: "xmpp.peer.test"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := dns.New(dns.Config{Nameserver: srv.Addr()})
	ctx := context.Background()
	ts, err := r.ServerTargets(ctx, "peer.test")
	if err != nil || len(ts) != 1 || ts[0].Host != "xmpp.peer.test" || ts[0].Port != 5299 {
		t.Fatalf("ServerTargets = %v, %v", ts, err)
	}
	addrs, err := r.LookupAddrs(ctx, "xmpp.peer.test")
	if err != nil || len(addrs) != 2 {
		t.Fatalf("LookupAddrs = %v, %v", addrs, err)
	}
	if _, err := r.LookupAddrs(ctx, "nothing.test"); !errors.Is(err, dns.ErrNotFound) {
		t.Errorf("LookupAddrs(nothing.test) = %v, want ErrNotFound", err)
	}
	// No SRV: the fallback is the domain itself.
	ts, err = r.ServerTargets(ctx, "xmpp.peer.test")
	if err != nil || len(ts) != 1 || ts[0].Port != 5269 {
		t.Fatalf("fallback = %v, %v", ts, err)
	}
}

func TestParseSRV(t *testing.T) {
	for _, s := range []string{"", "1 2 3", "1 2 70000 x", "a 1 1 x"} {
		if _, err := dns.ParseSRV(s); err == nil {
			t.Errorf("ParseSRV(%q) = nil error", s)
		}
	}
	if rec, err := dns.ParseSRV("10 20 5269 XMPP.example.org."); err != nil || rec.Port != 5269 || rec.Target != "xmpp.example.org." {
		t.Errorf("ParseSRV = %+v, %v", rec, err)
	}
}
