package s2s

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/dns"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
	"samtal.org/samtal/internal/xmpptest"
)

// Bounds of what one fuzzed script may cause.
const (
	fuzzScriptMax  = 8192
	fuzzOutputMax  = 256 << 10
	fuzzServeLimit = 10 * time.Second
)

// fuzzChunkEnd ends a chunk of a fuzzed script, one write of the peer:
// a byte that UTF-8 text never holds. The harness sends a chunk only
// once the stream has handled everything before it (see waitIdle), as a
// peer that waits for answers does; a chunk that holds several steps is
// a peer that does not wait.
const fuzzChunkEnd = 0xff

// The domains of the fuzzed world. ours.test and also.test are local.
// peer.test may use dialback: its authoritative server (authority)
// accepts the key authorityKey makes; gone.test may too, but has no
// server. cert.test needs a certificate, deny.test is refused, and any
// other domain needs a certificate too, so that nothing is looked up
// outside the static table. The outbound targets are remote.test and
// direct.test (dialback; STARTTLS or direct TLS) and strict.test and
// strict-direct.test (certificate required).
var fuzzPolicies = map[string]Policy{
	"peer.test": PolicyDialback, "gone.test": PolicyDialback, "deny.test": PolicyDeny,
	"remote.test": PolicyDialback, "direct.test": PolicyDialback,
}

func fuzzPolicy(domain string) Policy {
	if p, ok := fuzzPolicies[domain]; ok {
		return p
	}
	return PolicyVerify
}

// authorityKey is the dialback key the authority of peer.test holds
// valid for a stream from originating to receiving.
func authorityKey(receiving, originating string) string {
	return originating + "/" + receiving
}

// The outbound targets by the two low bits of FuzzOutbound's mode.
var outTargets = [4]struct {
	domain string
	direct bool
}{{"remote.test", false}, {"strict.test", false}, {"direct.test", true}, {"strict-direct.test", true}}

// The inbound peer's certificates by the two low bits of FuzzInbound's
// mode: none, one valid for peer.test, one valid for cert.test, and one
// for peer.test from an issuer not trusted.
var certDomains = [4]string{"", "peer.test", "cert.test", ""}

// fuzzWorld is one federation service for the local domains ours.test
// and also.test, built once per fuzzing process, that serves one
// scripted stream at a time, inbound (a peer connects) or outbound (a
// local user writes to a remote domain). Its connections are memConns:
// TLS runs on them as on sockets.
//
// TLS costs a full handshake (two signatures and their checks) only the
// first time: the inbound peer's TLS client keeps the session ticket the
// service issued and resumes with it (RFC 5077), which the service's
// fixed ticket key lets it accept; TLS 1.2 resumption skips the key
// exchange too. The s2s code sees a tls.Conn with the peer's
// certificate either way, which the ticket carries. The outbound
// stream's TLS is the service's own client, which keeps no sessions:
// there the harness's server speaks TLS 1.2, the cheapest full
// handshake.
type fuzzWorld struct {
	svc *Service
	rt  *router.Router
	log *xmpptest.Logs // errors, recovered panics among them

	peerTLS      [4]*tls.Config // inbound peer, by certificate
	authorityTLS *tls.Config
	remoteTLS    [2]*tls.Config // outbound: trusted, untrusted

	mu sync.Mutex
	// accept serves a connection the service dials (see dial).
	accept func(c *memConn) bool
	// allowed says whether a stanza from remote to local may reach the
	// router; bad collects what broke it.
	allowed   func(local, remote string) bool
	bad       []string
	routed    int           // stanzas from a peer, not bounces of the service's own
	validated map[pair]bool // pairs the authority confirmed a key for
	// beforeAnswer, when set, is called by the authority before it
	// answers a verification request.
	beforeAnswer func()
	served       []*memConn // the authority's ends, closed after a run
	fakes        sync.WaitGroup
}

func newFuzzWorld(tb testing.TB) *fuzzWorld {
	tb.Helper()
	ca, rogue := newTestCA(tb), newTestCA(tb)
	issue := func(ca *testCA, names ...string) tls.Certificate {
		leaf, key := ca.issue(tb, names, nil, nil)
		return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	}
	ours := issue(ca, "ours.test", "also.test")
	srvTLS := &tls.Config{Certificates: []tls.Certificate{ours}, MinVersion: tls.VersionTLS12}
	// A fixed key, which every clone the service makes shares: the
	// tickets it issues stay valid from one stream to the next.
	srvTLS.SetSessionTicketKeys([][32]byte{{'s', '2', 's'}})
	w := &fuzzWorld{rt: router.New([]string{"ours.test", "also.test"}), log: &xmpptest.Logs{Level: slog.LevelError}}
	for i, c := range []*tls.Certificate{nil, ptr(issue(ca, "peer.test")), ptr(issue(ca, "cert.test")), ptr(issue(rogue, "peer.test"))} {
		cfg := &tls.Config{
			ServerName:         "ours.test",
			InsecureSkipVerify: true, // the harness does not check the service
			MaxVersion:         tls.VersionTLS12,
			ClientSessionCache: tls.NewLRUClientSessionCache(1),
		}
		if c != nil {
			cfg.Certificates = []tls.Certificate{*c}
		}
		w.peerTLS[i] = cfg
	}
	w.authorityTLS = &tls.Config{Certificates: []tls.Certificate{issue(ca, "peer.test", "cert.test")}, MaxVersion: tls.VersionTLS12}
	remotes := []string{"remote.test", "strict.test", "direct.test", "strict-direct.test"}
	w.remoteTLS[0] = &tls.Config{Certificates: []tls.Certificate{issue(ca, remotes...)}, MaxVersion: tls.VersionTLS12}
	w.remoteTLS[1] = &tls.Config{Certificates: []tls.Certificate{issue(rogue, remotes...)}, MaxVersion: tls.VersionTLS12}

	hosts := map[string][]string{}
	srv := map[string][]string{"_xmpp-server._tcp.gone.test": {"0 0 0 ."}}
	for _, d := range []string{"peer.test", "cert.test", "remote.test", "strict.test"} {
		hosts[d] = []string{"127.0.0.1"}
		srv["_xmpp-server._tcp."+d] = []string{"0 0 5269 " + d}
	}
	for _, d := range []string{"direct.test", "strict-direct.test"} {
		hosts[d] = []string{"127.0.0.1"}
		srv["_xmpps-server._tcp."+d] = []string{"0 0 5270 " + d}
	}
	w.rt.SetLocal(w)
	w.svc = New(Config{
		TLS:         srvTLS,
		Certificate: func(string) *tls.Certificate { return &ours },
		Roots:       ca.pool,
		// Every name the service may look up is in the table; the name
		// server, a closed port on loopback, only makes sure that a
		// name that is not never leaves the machine.
		Resolver:       dns.New(dns.Config{Nameserver: "127.0.0.1:9", Hosts: hosts, SRV: srv}),
		Secret:         []byte("0123456789abcdef-fuzz"),
		Policy:         fuzzPolicy,
		ConnectTimeout: 5 * time.Second, AuthTimeout: 5 * time.Second, IdleTimeout: time.Minute,
	}, w.rt, slog.New(w.log), NewMetrics(metrics.NewRegistry()))
	w.svc.dial = w.dial
	w.rt.SetRemote(w.svc)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.svc.Close(ctx)
	})
	return w
}

func ptr[T any](v T) *T { return &v }

// dial is the service's dialer: every server it reaches is served in
// memory by accept.
func (w *fuzzWorld) dial(_ context.Context, _, addr string) (net.Conn, error) {
	w.mu.Lock()
	accept := w.accept
	w.mu.Unlock()
	srv, cli := newMemConn()
	if accept == nil || !accept(srv) {
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	}
	return cli, nil
}

// begin resets what one run records.
func (w *fuzzWorld) begin(allowed func(local, remote string) bool, accept func(*memConn) bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.allowed, w.accept = allowed, accept
	w.bad = nil
	w.routed = 0
	w.validated = map[pair]bool{}
	w.served = nil
}

// Handle is the local handler: it checks that what the router got from
// a peer comes from a domain the peer authenticated, and answers
// requests with an error, as a server without the service would, which
// makes the service send to the peer.
func (w *fuzzWorld) Handle(ctx context.Context, st *stanza.Stanza) {
	w.mu.Lock()
	local, remote := st.To.Domain(), st.From.Domain()
	if !w.rt.IsLocal(local) || !w.allowed(local, remote) {
		w.bad = append(w.bad, fmt.Sprintf("routed from %s to %s, which did not authenticate: %s", remote, local, st.El))
	}
	if st.El.Attr("id") != "m1" || st.Type() != "error" {
		w.routed++
	}
	w.mu.Unlock()
	if st.IsRequest() {
		w.rt.Route(ctx, &stanza.Stanza{El: stanza.ErrorReply(st.El, stanza.E(stanza.ServiceUnavailable)), From: st.To, To: st.From})
	}
}

// authority serves an outbound stream of the service as the
// authoritative server of peer.test and cert.test: STARTTLS, dialback
// features, every dialback request accepted, and verification requests
// answered by authorityKey (XEP-0220 §2.2.2).
func (w *fuzzWorld) authority(c *memConn) {
	defer c.Close()
	r := xmlstream.NewReader(c, xmlstream.Limits{})
	var conn net.Conn = c
	send := func(s string) {
		_, _ = io.WriteString(conn, s) // a failed write surfaces as a read error
	}
	for secure := false; ; secure = true {
		hdr, err := r.Header()
		if err != nil {
			return
		}
		features := `<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>`
		if !secure {
			features = `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`
		}
		send(string(appendHeader(nil, hdr.Attr("to"), hdr.Attr("from"), "authority")) + features)
		if secure {
			break
		}
		if el, err := r.Next(); err != nil || !el.Is(stream.NSTLS, "starttls") {
			return
		}
		send(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
		tc := tls.Server(c, w.authorityTLS)
		if tc.Handshake() != nil {
			return
		}
		conn = tc
		r.Reset(tc)
	}
	for {
		el, err := r.Next()
		if err != nil {
			return
		}
		d := parseDB(el)
		switch {
		case el.Is(NSDialback, "result"):
			send(string(dbElement{name: "result", from: d.to, to: d.from, typ: "valid"}.append(nil)))
		case el.Is(NSDialback, "verify"):
			if w.beforeAnswer != nil {
				w.beforeAnswer()
			}
			typ := "invalid"
			if d.key == authorityKey(d.from, d.to) {
				typ = "valid"
				w.mu.Lock()
				w.validated[pair{d.from, d.to}] = true
				w.mu.Unlock()
			}
			send(string(dbElement{name: "verify", from: d.to, to: d.from, id: d.id, typ: typ}.append(nil)))
		}
	}
}

// serveAuthority is accept for the inbound runs: every server the
// service dials is the authority.
func (w *fuzzWorld) serveAuthority(c *memConn) bool {
	w.mu.Lock()
	w.served = append(w.served, c)
	w.mu.Unlock()
	w.fakes.Add(1)
	go func() {
		defer w.fakes.Done()
		w.authority(c)
	}()
	return true
}

// waitIdle waits until the stream has handled all that its peer sent
// and waits for more (or closed its end), with, when busy is set,
// nothing else under way that the peer would wait for.
func waitIdle(tb testing.TB, p *memPipe, busy func() bool) {
	tb.Helper()
	deadline := time.Now().Add(fuzzServeLimit)
	for {
		idle, changed := p.idle()
		if idle && (busy == nil || !busy()) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the stream neither read on nor ended within %v", fuzzServeLimit)
		}
		if idle {
			// Only a dialback verification is under way.
			time.Sleep(20 * time.Microsecond)
			continue
		}
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
		}
	}
}

// secureReader collects what arrives on a TLS connection until it ends.
type secureReader struct {
	buf  bytes.Buffer
	done chan struct{}
}

func readSecure(c *tls.Conn) *secureReader {
	r := &secureReader{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_, _ = io.Copy(&r.buf, c) // ends with the connection
	}()
	return r
}

// wait returns what arrived once the connection ended.
func (r *secureReader) wait(tb testing.TB) []byte {
	tb.Helper()
	if r == nil {
		return nil
	}
	select {
	case <-r.done:
	case <-time.After(fuzzServeLimit):
		tb.Fatalf("the connection did not end within %v", fuzzServeLimit)
	}
	return r.buf.Bytes()
}

// scriptPeer is the harness's end of a scripted stream, inbound or
// outbound: it sends the script in the clear until TLS starts, and
// through TLS after.
type scriptPeer struct {
	conn *memConn
	// newTLS makes the TLS end over conn: a client for an inbound
	// peer, a server for an outbound stream's remote.
	newTLS func(net.Conn) *tls.Conn
	tc     *tls.Conn     // once TLS began
	sec    *secureReader // once the handshake succeeded
	failed bool          // the handshake failed
}

// startTLS runs the TLS handshake; false if it failed.
func (p *scriptPeer) startTLS() bool {
	p.tc = p.newTLS(p.conn)
	if p.tc.Handshake() != nil {
		p.failed = true
		return false
	}
	p.sec = readSecure(p.tc)
	return true
}

// play sends script, its chunks split at fuzzChunkEnd, each once the
// stream handled all before it (waitIdle, with busy), then ends what the
// peer sends, and reports whether the service ended the stream before
// that. TLS starts at once with direct; otherwise, before each chunk
// sent in the clear, takePlain takes what the service wrote in the
// clear and tells whether TLS starts now.
func (p *scriptPeer) play(tb testing.TB, script []byte, direct bool, busy, takePlain func() bool) (ended bool) {
	tb.Helper()
	ok := !direct || p.startTLS()
	for _, chunk := range bytes.Split(script, []byte{fuzzChunkEnd}) {
		if !ok {
			break
		}
		waitIdle(tb, p.conn.out, busy)
		if p.conn.closedByPeer() {
			break
		}
		if p.tc == nil && takePlain() && !p.startTLS() {
			break
		}
		var err error
		if p.tc != nil {
			_, err = p.tc.Write(chunk)
		} else {
			_, err = p.conn.Write(chunk)
		}
		ok = err == nil
	}
	// The last chunk is handled, but dialback verifications it started
	// may still be under way when the input ends, as they may be when a
	// peer hangs up.
	waitIdle(tb, p.conn.out, nil)
	ended = p.conn.closedByPeer()
	if p.tc != nil && !p.failed {
		_ = p.tc.CloseWrite() // fails only if the service closed first
	}
	_ = p.conn.CloseWrite() // never fails
	return ended
}

// run is what one scripted stream left: what the service wrote, and
// whether it ended the stream before its input ended where it could
// still write (not within a TLS handshake).
type run struct {
	out   string
	ended bool
	// initiating: the service opened the stream; direct: TLS began
	// at once (see checkStreams).
	initiating, direct bool
	// sent reports whether the service may write a stanza from a local
	// domain to a remote one on the stream.
	sent func(local, remote string) bool
}

// inbound serves a stream from a peer that sends script, its chunks
// split at fuzzChunkEnd, and moves to TLS when the service says
// <proceed/> (or at once, with direct). cert picks the peer's
// certificate (certDomains).
func (w *fuzzWorld) inbound(tb testing.TB, cert int, direct bool, script []byte) run {
	tb.Helper()
	w.begin(func(local, remote string) bool {
		return remote == certDomains[cert] || w.validated[pair{local, remote}]
	}, w.serveAuthority)
	baseline := runtime.NumGoroutine()
	srv, peer := newMemConn()
	ic, _ := w.svc.admit(srv, direct)
	if ic == nil {
		tb.Fatal("the service refused the connection")
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		w.svc.serveIn(ic)
	}()
	verifying := func() bool {
		ic.mu.Lock()
		defer ic.mu.Unlock()
		return ic.verifying > 0
	}

	var (
		plain   []byte
		proceed bool // the service said <proceed/>
	)
	// takePlain takes what the service wrote in the clear; TLS starts
	// once it said <proceed/>.
	takePlain := func() bool {
		plain = append(plain, peer.in.take()...)
		proceed = bytes.Contains(plain, []byte("<proceed "))
		return proceed
	}
	p := &scriptPeer{conn: peer, newTLS: func(c net.Conn) *tls.Conn { return tls.Client(c, w.peerTLS[cert]) }}
	ended := p.play(tb, script, direct, verifying, takePlain)
	select {
	case <-served:
	case <-time.After(fuzzServeLimit):
		tb.Fatalf("the stream did not end within %v of its input's end", fuzzServeLimit)
	}
	if p.tc == nil {
		takePlain()
	}
	secure := p.sec.wait(tb)
	w.settle(tb, verifying)
	w.checkClean(tb, baseline)
	ic.mu.Lock()
	bidi := ic.bidi
	ic.mu.Unlock()
	w.mu.Lock()
	validated := maps.Clone(w.validated)
	w.mu.Unlock()
	return run{
		out:    string(plain) + string(secure),
		ended:  ended && (!proceed || p.sec != nil),
		direct: direct,
		// XEP-0288 §3.2: stanzas go the other way on a stream only
		// when the peer asked, and only for pairs it authenticated.
		sent: func(local, remote string) bool {
			return bidi && (remote == certDomains[cert] || validated[pair{local, remote}])
		},
	}
}

// settle waits for the dialback verifications of the stream that ended
// and for the streams the service opened to the authority, for them or
// for answers, to be ready, and then ends those: the authority hangs up.
func (w *fuzzWorld) settle(tb testing.TB, verifying func() bool) {
	tb.Helper()
	deadline := time.Now().Add(fuzzServeLimit)
	connecting := func() bool {
		w.svc.mu.Lock()
		defer w.svc.mu.Unlock()
		for _, c := range w.svc.out {
			c.mu.Lock()
			state := c.state
			c.mu.Unlock()
			if state == outConnecting {
				return true
			}
		}
		return false
	}
	for verifying() || connecting() {
		if time.Now().After(deadline) {
			tb.Fatalf("a dialback verification or an outbound stream did not end within %v", fuzzServeLimit)
		}
		time.Sleep(50 * time.Microsecond)
	}
	w.mu.Lock()
	served := w.served
	w.mu.Unlock()
	for _, c := range served {
		c.Close()
	}
	done := make(chan struct{})
	go func() {
		w.fakes.Wait()
		w.svc.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(fuzzServeLimit):
		buf := make([]byte, 1<<20)
		tb.Fatalf("the service's goroutines did not end within %v of the input's end:\n%s", fuzzServeLimit, buf[:runtime.Stack(buf, true)])
	}
}

// checkClean fails unless the run left nothing behind: no stream in the
// service's tables, no connection in its gate, no count of streams, no
// goroutine, and nothing logged that means a bug.
func (w *fuzzWorld) checkClean(tb testing.TB, baseline int) {
	tb.Helper()
	if p := w.log.Take(); len(p) > 0 {
		tb.Fatalf("the service logged errors: %v", p)
	}
	w.mu.Lock()
	bad := w.bad
	w.mu.Unlock()
	if len(bad) > 0 {
		tb.Fatalf("%s", strings.Join(bad, "\n"))
	}
	s := w.svc
	s.mu.Lock()
	in, out, bidi, domains := len(s.in), len(s.out), len(s.bidi), maps.Clone(s.inDomains)
	s.mu.Unlock()
	if in+out+bidi > 0 || len(domains) > 0 {
		tb.Fatalf("after the stream ended the service holds %d inbound, %d outbound and %d bidirectional streams, and counts %v", in, out, bidi, domains)
	}
	if n := s.gate.Count(); n != 0 {
		tb.Fatalf("%d connections left in the gate of unauthenticated ones", n)
	}
	for _, dir := range []string{"in", "out"} {
		if n := s.m.Streams.With(dir).Value(); n != 0 {
			tb.Fatalf("%d %s streams counted after the stream ended", n, dir)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			tb.Fatalf("%d goroutines left behind:\n%s", runtime.NumGoroutine()-baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// outbound makes the service send a message to the target domain and
// serves the stream it opens with script, as the remote server: chunks
// as in inbound, TLS when the service starts it. trusted picks the
// remote's certificate; verify also asks the remote, over the same
// stream, to verify a dialback key.
func (w *fuzzWorld) outbound(tb testing.TB, target int, trusted, verify bool, script []byte) run {
	tb.Helper()
	domain, direct := outTargets[target].domain, outTargets[target].direct
	conns := make(chan *memConn, 1)
	var once sync.Once
	w.begin(func(_, remote string) bool { return remote == domain }, func(c *memConn) (ok bool) {
		// One stream to the remote per run: a verification that comes
		// after it ended finds no server.
		once.Do(func() {
			conns <- c
			ok = true
		})
		return ok
	})
	baseline := runtime.NumGoroutine()
	ctx := context.Background()
	w.svc.Handle(ctx, message("juliet@ours.test/balcony", "romeo@"+domain, "hello"))
	var verified sync.WaitGroup
	if verify {
		verified.Go(func() {
			_, _ = w.svc.verify(ctx, "ours.test", domain, "v1", "k1") // either answer will do
		})
	}
	var peer *memConn
	select {
	case peer = <-conns:
	case <-time.After(fuzzServeLimit):
		tb.Fatal("the service did not connect")
	}
	remoteTLS := w.remoteTLS[0]
	if !trusted {
		remoteTLS = w.remoteTLS[1]
	}
	var (
		plain []byte
		hello bool // the service began a TLS handshake
	)
	// takePlain takes what the service wrote in the clear, up to the
	// first byte of a TLS record, which XML never holds; TLS starts
	// once the service began it.
	takePlain := func() bool {
		b := peer.in.take()
		if i := bytes.IndexByte(b, 0x16); i >= 0 {
			hello = true
			peer.in.mu.Lock()
			peer.in.buf = append(b[i:], peer.in.buf...)
			peer.in.mu.Unlock()
			b = b[:i]
		}
		plain = append(plain, b...)
		return hello
	}
	p := &scriptPeer{conn: peer, newTLS: func(c net.Conn) *tls.Conn { return tls.Server(c, remoteTLS) }}
	ended := p.play(tb, script, direct, nil, takePlain)
	done := make(chan struct{})
	go func() {
		// The verification first: it may open a stream of its own
		// once the first ended.
		verified.Wait()
		w.svc.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(fuzzServeLimit):
		buf := make([]byte, 1<<20)
		tb.Fatalf("the stream did not end within %v of its input's end:\n%s", fuzzServeLimit, buf[:runtime.Stack(buf, true)])
	}
	if p.tc == nil {
		takePlain()
	}
	secure := p.sec.wait(tb)
	w.checkClean(tb, baseline)
	out := string(plain) + string(secure)
	w.mu.Lock()
	routed := w.routed
	w.mu.Unlock()
	if routed > 0 {
		// XEP-0288: the remote sends on this stream only once it is
		// authenticated, which sends what waited, and bidirectional;
		// and not at all when its certificate had to be valid and
		// was not.
		if !strings.Contains(out, "<bidi xmlns='urn:xmpp:bidi'/>") || !strings.Contains(out, ">hello</body></message>") ||
			fuzzPolicy(domain) == PolicyVerify && !trusted {
			tb.Fatalf("%d stanzas of the remote reached the router on\n%s", routed, out)
		}
	}
	return run{
		out:        out,
		ended:      ended && (!hello || p.sec != nil),
		initiating: true,
		direct:     direct,
		sent:       func(local, remote string) bool { return local == "ours.test" && remote == domain },
	}
}

// FuzzInbound plays a remote server that connects to the service: the
// stream header, STARTTLS, the TLS handshake (the harness's own TLS
// client, on an in-memory connection), the restarted stream, SASL
// EXTERNAL with the peer's certificate or dialback (XEP-0220) checked
// with peer.test's authoritative server, XEP-0288's bidi, and stanzas,
// in any order and malformed. The mode's two low bits pick the peer's
// certificate (certDomains); bit 2 makes TLS start at once (XEP-0368).
//
// Nothing may panic or be logged as an error; the stream must end when
// its input does and leave nothing behind (checkClean); what the
// service writes must be well-formed server streams, a stream error
// followed by the stream's close (checkStreams); a stream the service
// ends itself is closed; and no stanza reaches the router from a domain
// the peer did not authenticate for the local domain it is addressed to
// (a valid certificate, or a key the authority confirmed).
func FuzzInbound(f *testing.F) {
	const cut = "\xff"
	hdr := func(from, to string) string {
		return "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'" +
			" xmlns:db='jabber:server:dialback' from='" + from + "' to='" + to + "' version='1.0'>"
	}
	starttls := func(from, to string) string {
		return hdr(from, to) + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + cut + hdr(from, to) + cut
	}
	result := func(from, to, key string) string {
		return "<db:result from='" + from + "' to='" + to + "'>" + key + "</db:result>"
	}
	external := func(authzid string) string {
		data := "="
		if authzid != "" {
			data = base64.StdEncoding.EncodeToString([]byte(authzid))
		}
		return "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>" + data + "</auth>"
	}
	stanzas := func(from, to string) string {
		return "<message from='juliet@" + from + "/balcony' to='romeo@" + to + "' type='chat' id='m1'><body>hi</body></message>" +
			"<iq from='juliet@" + from + "/balcony' to='" + to + "' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>" +
			"<presence from='juliet@" + from + "/balcony' to='romeo@" + to + "'/>"
	}
	const bidi = "<bidi xmlns='urn:xmpp:bidi'/>"
	const end = "</stream:stream>"
	for _, seed := range []struct {
		mode   byte
		script string
	}{
		// Dialback for two local domains, stanzas to both.
		{0, starttls("peer.test", "ours.test") + result("peer.test", "ours.test", authorityKey("ours.test", "peer.test")) + cut +
			result("peer.test", "also.test", authorityKey("also.test", "peer.test")) + cut +
			stanzas("peer.test", "ours.test") + stanzas("peer.test", "also.test") + end},
		// A key the authority refuses ends the stream.
		{0, starttls("peer.test", "ours.test") + result("peer.test", "ours.test", "guess") + cut + stanzas("peer.test", "ours.test")},
		// A stanza sent before the answer came.
		{0, starttls("peer.test", "ours.test") + result("peer.test", "ours.test", authorityKey("ours.test", "peer.test")) + stanzas("peer.test", "ours.test")},
		// SASL EXTERNAL with a bidirectional stream: the answer to the
		// iq comes back on it.
		{1, starttls("peer.test", "ours.test") + bidi + external("peer.test") + cut + hdr("peer.test", "ours.test") + cut +
			stanzas("peer.test", "ours.test") + cut + end},
		// EXTERNAL without an authorization identity, to also.test.
		{2, starttls("cert.test", "also.test") + external("") + cut + hdr("cert.test", "also.test") + cut + stanzas("cert.test", "also.test")},
		// Direct TLS; dialback that the certificate settles.
		{1 | 4, hdr("peer.test", "ours.test") + cut + bidi + result("peer.test", "ours.test", "x") + result("peer.test", "also.test", "x") + cut +
			stanzas("peer.test", "ours.test") + stanzas("peer.test", "also.test") + end},
		// A certificate of an untrusted issuer: EXTERNAL fails, dialback
		// follows.
		{3, starttls("peer.test", "ours.test") + external("peer.test") + cut +
			result("peer.test", "ours.test", authorityKey("ours.test", "peer.test")) + cut + stanzas("peer.test", "ours.test")},
		// A certificate for cert.test claiming peer.test.
		{2, starttls("peer.test", "ours.test") + external("peer.test") + cut + external("cert.test") + cut + stanzas("cert.test", "ours.test")},
		// Dialback for a domain without a server, and for one that needs
		// a certificate.
		{0, starttls("gone.test", "ours.test") + result("gone.test", "ours.test", "k") + cut + result("cert.test", "ours.test", "k") + cut +
			result("deny.test", "ours.test", "k") + cut + stanzas("gone.test", "ours.test")},
		// As authoritative server: verification requests, then a stanza
		// without authentication.
		{0, starttls("peer.test", "ours.test") + "<db:verify from='peer.test' to='ours.test' id='abc'>0123</db:verify>" +
			"<db:verify from='peer.test' to='elsewhere.test' id='abc'>0123</db:verify>" + cut + stanzas("peer.test", "ours.test")},
		// Stanzas the authenticated peer may not send.
		{1, starttls("peer.test", "ours.test") + external("peer.test") + cut + hdr("peer.test", "ours.test") + cut +
			stanzas("cert.test", "ours.test") + cut + stanzas("peer.test", "elsewhere.test") + cut + "<message to='romeo@ours.test'/>"},
		// A restart to another host.
		{1, starttls("peer.test", "ours.test") + external("") + cut + hdr("peer.test", "also.test") + cut},
		// What comes before TLS.
		{0, hdr("peer.test", "nowhere.test")},
		{0, hdr("deny.test", "ours.test")},
		{0, hdr("peer.test", "ours.test") + stanzas("peer.test", "ours.test")},
		{0, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='ours.test' version='1.0'>"},
		{0, hdr("peer.test", "ours.test") + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>not TLS"},
		{0, starttls("peer.test", "ours.test") + "<a:b xmlns:a='urn:x'/>"},
	} {
		f.Add(seed.mode, []byte(seed.script))
	}
	w := newFuzzWorld(f)
	f.Fuzz(func(t *testing.T, mode byte, script []byte) {
		if len(script) > fuzzScriptMax {
			return
		}
		r := w.inbound(t, int(mode&3), mode&4 != 0, script)
		checkRun(t, r)
	})
}

// FuzzOutbound plays the remote server that a stream of the service
// reaches: its stream header and features, STARTTLS's <proceed/> and the
// TLS handshake (or direct TLS, XEP-0368), the restarted stream, SASL
// EXTERNAL's answer or dialback's (XEP-0220), the answer to a
// verification request, and, on a bidirectional stream (XEP-0288),
// stanzas of its own, in any order and malformed. The mode's two low
// bits pick the target (outTargets), bit 2 an untrusted certificate for
// it, bit 3 a dialback verification asked over the stream.
//
// The invariants are FuzzInbound's; what reaches the router must come
// from the target domain.
func FuzzOutbound(f *testing.F) {
	const cut = "\xff"
	hdr := func(from string) string {
		return "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'" +
			" xmlns:db='jabber:server:dialback' from='" + from + "' to='ours.test' id='s1' version='1.0'>"
	}
	starttls := func(from string) string {
		return hdr(from) + "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>" + cut +
			"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + cut
	}
	const (
		offer = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms>" +
			"<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback><bidi xmlns='urn:xmpp:features:bidi'/></stream:features>"
		dialback = "<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>"
		success  = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
		failure  = "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"
		none     = "<stream:features/>"
		end      = "</stream:stream>"
	)
	result := func(from, typ string) string {
		return "<db:result from='" + from + "' to='ours.test' type='" + typ + "'/>"
	}
	stanzas := func(from string) string {
		return "<message from='romeo@" + from + "/garden' to='juliet@ours.test' type='chat' id='r1'><body>hi</body></message>" +
			"<iq from='" + from + "' to='ours.test' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"
	}
	for _, seed := range []struct {
		mode   byte
		script string
	}{
		// SASL EXTERNAL, bidirectional: the remote's stanzas come in.
		{0, starttls("remote.test") + hdr("remote.test") + offer + cut + success + cut + hdr("remote.test") + none + cut + stanzas("remote.test") + cut + end},
		// Dialback, and a verification answered on the same stream.
		{8, starttls("remote.test") + hdr("remote.test") + dialback + cut + result("remote.test", "valid") + cut +
			"<db:verify from='remote.test' to='ours.test' id='v1' type='valid'/>" + cut + end},
		{8, starttls("remote.test") + hdr("remote.test") + dialback + cut + "<db:verify from='remote.test' to='ours.test' id='v1' type='invalid'/>" + cut +
			result("remote.test", "invalid")},
		{0, starttls("remote.test") + hdr("remote.test") + dialback + cut +
			"<db:result from='remote.test' to='ours.test' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>"},
		// Direct TLS.
		{2, hdr("direct.test") + offer + cut + success + cut + hdr("direct.test") + none + cut + stanzas("direct.test") + stanzas("elsewhere.test")},
		// A certificate is required: EXTERNAL fails, dialback is not
		// enough, and an untrusted certificate is refused.
		{1, starttls("strict.test") + hdr("strict.test") + offer + cut + failure + cut + result("strict.test", "valid") + cut + stanzas("strict.test")},
		{1 | 4, starttls("strict.test") + hdr("strict.test") + offer},
		{3 | 4, hdr("strict-direct.test") + offer},
		// No STARTTLS, a stream error, a stanza without bidi.
		{0, hdr("remote.test") + none},
		{0, hdr("remote.test") + "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>" + end},
		{0, starttls("remote.test") + hdr("remote.test") + dialback + cut + result("remote.test", "valid") + stanzas("remote.test")},
		{0, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"},
	} {
		f.Add(seed.mode, []byte(seed.script))
	}
	w := newFuzzWorld(f)
	f.Fuzz(func(t *testing.T, mode byte, script []byte) {
		if len(script) > fuzzScriptMax {
			return
		}
		r := w.outbound(t, int(mode&3), mode&4 == 0, mode&8 != 0, script)
		checkRun(t, r)
	})
}

// checkRun checks what the service wrote in a run.
func checkRun(tb testing.TB, r run) {
	tb.Helper()
	if len(r.out) > fuzzOutputMax {
		tb.Fatalf("the service wrote %d bytes", len(r.out))
	}
	for _, el := range checkStreams(tb, r.out, r.initiating, r.direct) {
		if !stanza.IsStanza(el) {
			continue
		}
		from, err1 := jid.Parse(el.Attr("from"))
		to, err2 := jid.Parse(el.Attr("to"))
		if err1 != nil || err2 != nil || !r.sent(from.Domain(), to.Domain()) {
			tb.Fatalf("the service sent %s on\n%s", el, r.out)
		}
	}
	// RFC 6120 §4.4: a stream the service ends is closed, with a
	// stream error or without.
	if r.ended && !strings.HasSuffix(r.out, stream.Close) {
		tb.Fatalf("the service ended the stream without closing it:\n%s", r.out)
	}
}

// streamConditions are the defined conditions of RFC 6120 §4.9.3.
var streamConditions = []stream.Condition{
	stream.BadFormat, stream.BadNamespacePrefix, stream.Conflict, stream.ConnectionTimeout, stream.HostGone,
	stream.HostUnknown, stream.ImproperAddressing, stream.InternalServerError, stream.InvalidFrom,
	stream.InvalidNamespace, stream.InvalidXML, stream.NotAuthorized, stream.NotWellFormed, stream.PolicyViolation,
	stream.RemoteConnectionFailed, stream.Reset, stream.ResourceConstraint, stream.RestrictedXML,
	stream.SeeOtherHost, stream.SystemShutdown, stream.UndefinedCondition, stream.UnsupportedEncoding,
	stream.UnsupportedFeature, stream.UnsupportedStanzaType, stream.UnsupportedVersion,
}

// checkStreams fails unless out, all the service wrote on a connection,
// is a series of well-formed server streams (RFC 6120 §4): each an XML
// declaration, a header in jabber:server and whole elements, ending with
// the close tag, with nothing after it, or where the connection ended,
// or restarted (§4.3.3). A stream restarts after STARTTLS, the first
// one only and not with direct TLS, and after SASL: a receiving server
// writes nothing after its <proceed/> or <success/> but the new stream;
// an initiating one nothing after its <starttls/> but the close tag,
// maybe after a stream error (the peer did not proceed), and a new
// stream after its <auth/> if it succeeded. A stream error (§4.9) holds one defined condition and is
// followed at once by the close tag.
func checkStreams(tb testing.TB, out string, initiating, direct bool) (all []*xmlel.Element) {
	tb.Helper()
	if out == "" {
		return nil
	}
	// final: el ends the stream it is in; restart: it may end it.
	final := func(i int, el *xmlel.Element) bool {
		if initiating {
			return i == 0 && !direct && el.Is(stream.NSTLS, "starttls")
		}
		return i == 0 && !direct && el.Is(stream.NSTLS, "proceed") || el.Is(stream.NSSASL, "success")
	}
	restart := func(i int, el *xmlel.Element) bool {
		return final(i, el) || initiating && el.Is(stream.NSSASL, "auth")
	}
	const decl = "<?xml version='1.0'?>"
	if !strings.HasPrefix(out, decl) {
		tb.Fatalf("the output does not begin with a stream:\n%s", out)
	}
	streams := strings.Split(out[len(decl):], decl)
	for i, s := range streams {
		last := i == len(streams)-1
		els, closed, err := readStream(decl + s)
		all = append(all, els...)
		if err != nil {
			// The connection may end between two elements, not within
			// one.
			if _, closed, err2 := readStream(decl + s + stream.Close); err2 != nil || !closed {
				tb.Fatalf("stream %d is not well-formed (%v):\n%s", i, err, out)
			}
		}
		if closed && (!last || !strings.HasSuffix(s, stream.Close)) {
			tb.Fatalf("the service wrote after closing stream %d:\n%s", i, out)
		}
		for j, el := range els {
			// An initiating server that asked for TLS may still close
			// its stream: the peer did not proceed; with a stream error
			// when what the peer sent instead was not XML (§4.9.3).
			after := len(els) - 1 - j
			if initiating && after == 1 && els[j+1].Is(stream.NS, "error") {
				after = 0
			}
			if final(i, el) && (after > 0 || closed && !initiating) {
				tb.Fatalf("stream %d goes on after %s:\n%s", i, el, out)
			}
			if !el.Is(stream.NS, "error") {
				continue
			}
			if j != len(els)-1 || !closed {
				tb.Fatalf("a stream error not followed by the stream's close:\n%s", out)
			}
			checkStreamError(tb, el, out)
		}
		if last || closed {
			continue
		}
		if len(els) == 0 {
			tb.Fatalf("stream %d restarted before it said anything:\n%s", i, out)
		}
		if end := els[len(els)-1]; !restart(i, end) {
			tb.Fatalf("stream %d restarted after %s:\n%s", i, end, out)
		}
	}
	return all
}

func checkStreamError(tb testing.TB, el *xmlel.Element, out string) {
	tb.Helper()
	var conds []string
	for _, c := range el.Elements() {
		switch {
		case c.Is(stream.NSErrors, "text"):
		case c.Space == stream.NSErrors && slices.Contains(streamConditions, stream.Condition(c.Local)):
			conds = append(conds, c.Local)
		default:
			tb.Fatalf("a stream error with %s:\n%s", c, out)
		}
	}
	if len(conds) != 1 {
		tb.Fatalf("a stream error with conditions %v, want one:\n%s", conds, out)
	}
}

// readStream reads one stream: its elements, and whether it was closed.
func readStream(s string) (els []*xmlel.Element, closed bool, err error) {
	r := xmlstream.NewReader(strings.NewReader(s), xmlstream.Limits{})
	hdr, err := r.Header()
	if err != nil {
		return nil, false, err
	}
	if hdr.Space != stream.NS || hdr.Local != "stream" || r.ContentNS() != xmlel.NSServer {
		return nil, false, fmt.Errorf("stream header %s in %q", hdr, r.ContentNS())
	}
	for {
		el, err := r.Next()
		if errors.Is(err, io.EOF) {
			return els, true, nil
		}
		if err != nil {
			return els, false, err
		}
		els = append(els, el)
	}
}
