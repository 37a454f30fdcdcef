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
	"strings"
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
	ch chan *stanza.Stanza
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

// TestUnreachablePresence checks that available presence to an
// unreachable server comes back as an error (a room join waits for an
// answer), and that unavailable presence does not.
func TestUnreachablePresence(t *testing.T) {
	ca := newTestCA(t)
	w := &world{hosts: map[string][]string{}, srv: map[string][]string{}}
	a := startPeer(t, w, "a.test", ca, ca.pool, PolicyDialback)
	w.srv["_xmpp-server._tcp.none.test"] = []string{"0 0 0 ."}
	ctx := context.Background()
	presence := func(typ string) *stanza.Stanza {
		f, to := jid.MustParse("juliet@a.test/balcony"), jid.MustParse("room@conference.none.test/juliet")
		el := xmlel.New("", "presence", "from", f.String(), "to", to.String(), "id", "p-"+typ).
			Append(xmlel.New("http://jabber.org/protocol/muc", "x"))
		if typ != "" {
			el.SetAttr("type", typ)
		}
		return &stanza.Stanza{El: el, From: f, To: to}
	}
	a.svc.Handle(ctx, presence("unavailable"))
	a.svc.Handle(ctx, presence(""))
	st := a.local.next(t)
	e, ok := stanza.ParseError(st.El)
	if st.El.Local != "presence" || !ok || e.Condition != stanza.RemoteServerNotFound || st.El.Attr("id") != "p-" ||
		st.From.String() != "room@conference.none.test/juliet" || st.To.String() != "juliet@a.test/balcony" {
		t.Fatalf("bounce = %s, want the available presence back with remote-server-not-found", st.El)
	}
	if st.El.Child("http://jabber.org/protocol/muc", "x") == nil {
		t.Errorf("bounce = %s, want the <x/> of the join (XEP-0045 §7.2)", st.El)
	}
	select {
	case st := <-a.local.ch:
		t.Errorf("unavailable presence came back: %s", st.El)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestReuseAndIdle checks that one stream carries every stanza of a
// domain pair, closes when idle, and is opened again on demand.
func TestReuseAndIdle(t *testing.T) {
	ca := newTestCA(t)
	w := &world{hosts: map[string][]string{}, srv: map[string][]string{}}
	a := startPeer(t, w, "a.test", ca, ca.pool, PolicyVerify)
	b := startPeer(t, w, "b.test", ca, ca.pool, PolicyVerify)
	a.svc.cfg.IdleTimeout = 300 * time.Millisecond
	ctx := context.Background()
	for i := range 5 {
		a.svc.Handle(ctx, message("juliet@a.test/balcony", "romeo@b.test", strconv.Itoa(i)))
	}
	for i := range 5 {
		if st := b.local.next(t); st.El.ChildText("", "body") != strconv.Itoa(i) {
			t.Fatalf("message %d arrived as %s", i, st.El)
		}
	}
	if n := a.svc.m.Connects.With("out", "starttls").Value(); n != 1 {
		t.Errorf("%d outbound streams for 5 stanzas, want 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, out := a.svc.Count(); out == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the idle stream was not closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.svc.Handle(ctx, message("juliet@a.test/balcony", "romeo@b.test", "again"))
	if st := b.local.next(t); st.El.ChildText("", "body") != "again" {
		t.Fatalf("got %s", st.El)
	}
	if n := a.svc.m.Connects.With("out", "starttls").Value(); n != 2 {
		t.Errorf("%d outbound streams, want 2 after the idle close", n)
	}
}

// TestQueueFull checks that stanzas beyond the queue of a stream that is
// still connecting are bounced with resource-constraint.
func TestQueueFull(t *testing.T) {
	ca := newTestCA(t)
	w := &world{hosts: map[string][]string{}, srv: map[string][]string{}}
	a := startPeer(t, w, "a.test", ca, ca.pool, PolicyVerify)
	a.svc.cfg.QueueLength = 2
	a.svc.cfg.AuthTimeout = time.Second
	// A server that accepts and then says nothing keeps the stream
	// connecting.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	w.hosts["slow.test"] = []string{"127.0.0.1"}
	w.srv["_xmpp-server._tcp.slow.test"] = []string{"0 0 " + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + " slow.test"}
	ctx := context.Background()
	for i := range 3 {
		a.svc.Handle(ctx, message("juliet@a.test/balcony", "x@slow.test", strconv.Itoa(i)))
	}
	st := a.local.next(t)
	if e, ok := stanza.ParseError(st.El); !ok || e.Condition != stanza.ResourceConstraint {
		t.Fatalf("third stanza = %s, want resource-constraint", st.El)
	}
	// The two queued ones come back when the negotiation times out.
	for range 2 {
		st := a.local.next(t)
		if e, ok := stanza.ParseError(st.El); !ok || e.Condition != stanza.RemoteServerTimeout {
			t.Fatalf("queued stanza = %s, want remote-server-timeout", st.El)
		}
	}
}

// TestDialbackVerify plays a Receiving Server that asks b whether a key
// is b's (XEP-0220 §2.2.2).
func TestDialbackVerify(t *testing.T) {
	ca := newTestCA(t)
	w := &world{hosts: map[string][]string{}, srv: map[string][]string{}}
	b := startPeer(t, w, "b.test", ca, ca.pool, PolicyDialback)
	c, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := newRawReader(t, c)
	c.Write(appendHeader(nil, "x.test", "b.test", ""))
	r.until("</stream:features>")
	io.WriteString(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	r.until("<proceed")
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	r = newRawReader(t, tc)
	tc.Write(appendHeader(nil, "x.test", "b.test", ""))
	r.until("</stream:features>")
	good := b.svc.dialbackKey("x.test", "b.test", "id1")
	for _, tc2 := range []struct{ key, want string }{{good, "valid"}, {good + "0", "invalid"}} {
		tc.Write(dbElement{name: "verify", from: "x.test", to: "b.test", id: "id1", key: tc2.key}.append(nil))
		got := r.until("/>")
		if !strings.Contains(got, "type='"+tc2.want+"'") || !strings.Contains(got, "id='id1'") {
			t.Errorf("verify with key %q... = %s, want type %s", tc2.key[:8], got, tc2.want)
		}
	}
	// A stanza before any authentication ends the stream.
	io.WriteString(tc, "<message from='a@x.test' to='b@b.test'/>")
	if got := r.until("</stream:stream>"); !strings.Contains(got, "not-authorized") {
		t.Errorf("unauthenticated stanza = %s, want not-authorized", got)
	}
}

// TestPolicyDeny checks that a denied domain gets nothing either way.
func TestPolicyDeny(t *testing.T) {
	ca := newTestCA(t)
	w := &world{hosts: map[string][]string{}, srv: map[string][]string{}}
	a := startPeer(t, w, "a.test", ca, ca.pool, PolicyDeny)
	a.svc.Handle(context.Background(), message("juliet@a.test/balcony", "romeo@b.test", "hi"))
	st := a.local.next(t)
	if e, ok := stanza.ParseError(st.El); !ok || e.Condition != stanza.NotAllowed {
		t.Fatalf("bounce = %s, want not-allowed", st.El)
	}
	c, err := net.Dial("tcp", a.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(appendHeader(nil, "b.test", "a.test", ""))
	if got := newRawReader(t, c).until("</stream:stream>"); !strings.Contains(got, "policy-violation") {
		t.Errorf("stream from a denied domain = %s, want policy-violation", got)
	}
}

type rawReader struct {
	t   *testing.T
	c   net.Conn
	buf strings.Builder
}

func newRawReader(t *testing.T, c net.Conn) *rawReader { return &rawReader{t: t, c: c} }

// until reads until the input holds s, and returns and drops what it
// read.
func (r *rawReader) until(s string) string {
	r.t.Helper()
	b := make([]byte, 4096)
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !strings.Contains(r.buf.String(), s) {
		n, err := r.c.Read(b)
		r.buf.Write(b[:n])
		if err != nil {
			r.t.Fatalf("reading for %q: %v; got %q", s, err, r.buf.String())
		}
	}
	out := r.buf.String()
	r.buf.Reset()
	return out
}

// TestNextTarget checks that when the first SRV target does not answer,
// the next one in RFC 2782 order is tried.
func TestNextTarget(t *testing.T) {
	ca := newTestCA(t)
	w := &world{hosts: map[string][]string{}, srv: map[string][]string{}}
	a := startPeer(t, w, "a.test", ca, ca.pool, PolicyVerify)
	b := startPeer(t, w, "b.test", ca, ca.pool, PolicyVerify)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, live, _ := net.SplitHostPort(b.addr)
	w.hosts["dead.b.test"] = []string{"127.0.0.1"}
	w.srv["_xmpp-server._tcp.b.test"] = []string{
		"20 0 " + live + " b.test",
		"10 0 " + strconv.Itoa(dead) + " dead.b.test",
		"15 0 1 nowhere.b.test", // no address at all
	}
	a.svc.Handle(context.Background(), message("juliet@a.test/balcony", "romeo@b.test", "hi"))
	if st := b.local.next(t); st.El.ChildText("", "body") != "hi" {
		t.Fatalf("got %s", st.El)
	}
}

// TestCloseSendsQueued checks that a shutdown writes what is queued on
// the streams before system-shutdown: the goodbyes of users and rooms
// are queued just before it. Both an outbound stream and an inbound one
// made bidirectional (XEP-0288) carry them.
func TestCloseSendsQueued(t *testing.T) {
	ca := newTestCA(t)
	for _, tc := range []struct {
		name string
		bidi bool // b answers on a's stream
	}{{"outbound", false}, {"bidirectional inbound", true}} {
		t.Run(tc.name, func(t *testing.T) {
			w := &world{hosts: map[string][]string{}, srv: map[string][]string{}}
			a := startPeer(t, w, "a.test", ca, ca.pool, PolicyVerify)
			b := startPeer(t, w, "b.test", ca, ca.pool, PolicyVerify)
			ctx := context.Background()
			a.svc.Handle(ctx, message("juliet@a.test/balcony", "romeo@b.test", "first"))
			b.local.next(t)
			from, to, closing, receiver := a, "romeo@b.test", a.svc, b
			if tc.bidi {
				from, to, closing, receiver = b, "juliet@a.test", b.svc, a
			}
			const n = 300
			for i := range n {
				closing.Handle(ctx, message("x@"+from.domain+"/r", to, strings.Repeat("goodbye ", 20)+strconv.Itoa(i)))
			}
			if _, out := b.svc.Count(); tc.bidi && out != 0 {
				t.Fatal("b opened a stream of its own")
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			closing.Close(cctx)
			for i := range n {
				st := receiver.local.next(t)
				if !strings.HasSuffix(st.El.ChildText("", "body"), " "+strconv.Itoa(i)) {
					t.Fatalf("stanza %d arrived as %s", i, st.El)
				}
			}
		})
	}
}
