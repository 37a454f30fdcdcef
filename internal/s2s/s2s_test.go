package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/dns"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// collector is a local handler that records what it gets.
type collector struct {
	mu  sync.Mutex
	got []*stanza.Stanza
	ch  chan *stanza.Stanza
}

func newCollector() *collector { return &collector{ch: make(chan *stanza.Stanza, 100)} }

func (c *collector) Handle(_ context.Context, st *stanza.Stanza) { c.ch <- st }

func (c *collector) next(t *testing.T) *stanza.Stanza {
	t.Helper()
	select {
	case st := <-c.ch:
		return st
	case <-time.After(10 * time.Second):
		t.Fatal("no stanza arrived")
		return nil
	}
}

// peer is one in-process federating server.
type peer struct {
	domain string
	svc    *Service
	local  *collector
	addr   string
	router *router.Router
}

// world holds the resolver table shared by all peers.
type world struct {
	hosts map[string][]string
	srv   map[string][]string
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startPeer(t *testing.T, w *world, domain string, ca *testCA, roots *x509.CertPool, policy Policy) *peer {
	t.Helper()
	leaf, key := ca.issue(t, []string{domain}, nil, nil)
	cert := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	w.hosts[domain] = []string{"127.0.0.1"}
	w.srv["_xmpp-server._tcp."+domain] = []string{"0 0 " + strconv.Itoa(port) + " " + domain}
	r := router.New([]string{domain})
	col := newCollector()
	r.SetLocal(col)
	svc := New(Config{
		TLS:            &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12},
		Certificate:    func(string) *tls.Certificate { return cert },
		Roots:          roots,
		Resolver:       dns.New(dns.Config{Hosts: w.hosts, SRV: w.srv}),
		Secret:         []byte("0123456789abcdef-" + domain),
		Policy:         func(string) Policy { return policy },
		ConnectTimeout: 5 * time.Second, AuthTimeout: 5 * time.Second, IdleTimeout: time.Minute,
	}, r, testLogger(t), NewMetrics(metrics.NewRegistry()))
	r.SetRemote(svc)
	svc.Listen(ln, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		svc.Close(ctx)
	})
	return &peer{domain: domain, svc: svc, local: col, addr: ln.Addr().String(), router: r}
}

func message(from, to, body string) *stanza.Stanza {
	f, t := jid.MustParse(from), jid.MustParse(to)
	el := xmlel.New("", "message", "from", f.String(), "to", t.String(), "type", "chat", "id", "m1").
		Append(xmlel.TextElement("", "body", body))
	return &stanza.Stanza{El: el, From: f, To: t}
}

func TestFederation(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	tests := []struct {
		name         string
		caA          *testCA // issuer of a.test's certificate
		policy       Policy
		wantDelivery bool
		wantMethod   string
	}{
		{"certificates", ca, PolicyVerify, true, "external"},
		{"dialback", other, PolicyDialback, true, "dialback"},
		{"untrusted refused", other, PolicyVerify, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &world{hosts: map[string][]string{}, srv: map[string][]string{}}
			a := startPeer(t, w, "a.test", tc.caA, ca.pool, tc.policy)
			b := startPeer(t, w, "b.test", ca, ca.pool, tc.policy)
			ctx := context.Background()
			a.svc.Handle(ctx, message("juliet@a.test/balcony", "romeo@b.test", "hello"))
			if !tc.wantDelivery {
				st := a.local.next(t)
				e, ok := stanza.ParseError(st.El)
				if st.Type() != "error" || !ok || e.Condition != stanza.RemoteServerTimeout {
					t.Fatalf("bounce = %s, want a remote-server-timeout error", st.El)
				}
				return
			}
			st := b.local.next(t)
			if st.From.String() != "juliet@a.test/balcony" || st.El.ChildText("", "body") != "hello" {
				t.Fatalf("b got %s", st.El)
			}
			// The answer goes back, on the stream b opens to a or, with
			// bidirectional streams, on the one a opened.
			b.svc.Handle(ctx, message("romeo@b.test/garden", "juliet@a.test", "hi"))
			st = a.local.next(t)
			if st.El.ChildText("", "body") != "hi" {
				t.Fatalf("a got %s", st.El)
			}
			n := a.svc.m.Auth.With("out", tc.wantMethod, "success").Value()
			if n == 0 {
				t.Errorf("a authenticated without %s", tc.wantMethod)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	ca := newTestCA(t)
	w := &world{hosts: map[string][]string{}, srv: map[string][]string{}}
	a := startPeer(t, w, "a.test", ca, ca.pool, PolicyDialback)
	// A host that refuses connections, and a domain that does not exist.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	w.hosts["gone.test"] = []string{"127.0.0.1"}
	w.srv["_xmpp-server._tcp.gone.test"] = []string{"0 0 " + strconv.Itoa(port) + " gone.test"}
	w.srv["_xmpp-server._tcp.none.test"] = []string{"0 0 0 ."}
	ctx := context.Background()
	for _, to := range []string{"x@gone.test", "x@none.test"} {
		a.svc.Handle(ctx, message("juliet@a.test/balcony", to, "hello"))
		st := a.local.next(t)
		e, ok := stanza.ParseError(st.El)
		if !ok || e.Condition != stanza.RemoteServerNotFound {
			t.Errorf("bounce for %s = %s, want remote-server-not-found", to, st.El)
		}
	}
}
