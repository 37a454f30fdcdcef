// Package s2s is federation: server-to-server streams (RFC 6120) between
// samtal and other XMPP servers.
//
// Outbound, Service is the router's remote handler (router.SetRemote): a
// stanza for a domain that is not served here goes to the stream for its
// domain pair (sender domain, target domain), which is opened on demand:
// DNS SRV lookup of _xmpps-server and _xmpp-server (RFC 6120 §3.2.1,
// XEP-0368), TLS (direct or STARTTLS), then authentication with SASL
// EXTERNAL (XEP-0178) or Server Dialback (XEP-0220). Stanzas wait in a
// bounded queue while it connects and are bounced with
// remote-server-not-found or remote-server-timeout when it fails.
//
// Inbound, Listen accepts streams from other servers, which authenticate
// the same two ways; what they send is checked against the domain pairs
// they authenticated for and handed to router.Route.
//
// The peer's certificate is checked with PKIX and the identity rules of
// RFC 6125 (DNS-ID, SRV-ID, XmppAddr). A per-domain Policy says whether a
// peer must present a valid certificate, may authenticate with dialback
// instead, or is refused. XEP-0288 bidirectional streams are used in both
// roles when the peer offers them.
//
// Every connection has one reader goroutine that negotiates and then
// handles what arrives in order, and, once TLS is up, one writer
// goroutine (transport.Queue) that any goroutine may queue to without
// blocking.
//
// Lock order: Service.mu, then an outConn's or inConn's mu, then the
// connection's transport.Queue. Nothing that routes a stanza (bounces
// included) runs with one of them held.
package s2s

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"samtal.org/samtal/internal/dns"
	"samtal.org/samtal/internal/listener"
	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/transport"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// Namespaces of federation.
const (
	NSDialback         = "jabber:server:dialback"     // XEP-0220
	NSDialbackFeature  = "urn:xmpp:features:dialback" // XEP-0220 §2.4.1
	NSBidi             = "urn:xmpp:bidi"              // XEP-0288
	NSBidiFeature      = "urn:xmpp:features:bidi"     // XEP-0288
	alpnServer         = "xmpp-server"                // XEP-0368 §3
	nsStanzas          = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsMUC              = "http://jabber.org/protocol/muc" // XEP-0045
	mechanismEXTERNAL  = "EXTERNAL"
	defaultQueueLength = 1000
)

// Policy says how a remote domain may federate.
type Policy int

// Policies.
const (
	// PolicyDialback accepts a valid certificate (SASL EXTERNAL) and,
	// when the certificate is missing or not valid, Server Dialback.
	PolicyDialback Policy = iota
	// PolicyVerify requires a certificate that validates for the domain,
	// in both directions.
	PolicyVerify
	// PolicyDeny refuses federation with the domain.
	PolicyDeny
)

func (p Policy) String() string {
	switch p {
	case PolicyVerify:
		return "verify"
	case PolicyDeny:
		return "deny"
	}
	return "dialback"
}

// Config configures federation.
type Config struct {
	// TLS is the server-side TLS configuration (certificates by SNI).
	TLS *tls.Config
	// Certificate returns the certificate to present for a local domain
	// when connecting out.
	Certificate func(domain string) *tls.Certificate
	// Roots are the trust anchors for peers' certificates; nil means the
	// system's.
	Roots *x509.CertPool
	// Resolver finds peers' servers.
	Resolver *dns.Resolver
	// Secret keys the dialback keys (XEP-0185); at least 16 bytes.
	Secret []byte
	// Policy returns the policy for a remote domain.
	Policy func(domain string) Policy
	// Limits bound what a peer can make the server hold.
	Limits xmlstream.Limits
	// ReadRate and ReadBurst limit the bytes read per connection.
	ReadRate, ReadBurst int
	// ConnectTimeout bounds DNS lookups and reaching a peer's server;
	// AuthTimeout bounds the stream negotiation; IdleTimeout closes a
	// stream that carried nothing for that long.
	ConnectTimeout, AuthTimeout, IdleTimeout time.Duration
	// QueueLength bounds the stanzas waiting for an outbound stream.
	QueueLength int
	// OutQueueBytes bounds the bytes queued for one stream.
	OutQueueBytes int
	// MaxConnsPerDomain bounds the inbound streams authenticated for one
	// remote domain; <= 0 is no limit.
	MaxConnsPerDomain int
	// UnauthPerIP and UnauthTotal bound inbound connections that have
	// not authenticated yet.
	UnauthPerIP, UnauthTotal int
}

// Metrics are the counters of federation.
type Metrics struct {
	Streams    *metrics.GaugeVec   // label: direction
	StanzasIn  *metrics.CounterVec // label: kind
	StanzasOut *metrics.CounterVec // label: kind
	Auth       *metrics.CounterVec // label: direction, method, result
	Bounced    *metrics.CounterVec // label: condition
	Connects   *metrics.CounterVec // label: direction, tls (direct or starttls)
	StreamErrs *metrics.CounterVec // label: condition
}

// NewMetrics registers the federation metrics in reg.
func NewMetrics(reg *metrics.Registry) *Metrics {
	return &Metrics{
		Streams:    reg.NewGauge("samtal_s2s_streams", "Open server-to-server streams.", "direction"),
		StanzasIn:  reg.NewCounter("samtal_s2s_stanzas_in_total", "Stanzas received from other servers.", "kind"),
		StanzasOut: reg.NewCounter("samtal_s2s_stanzas_out_total", "Stanzas sent to other servers.", "kind"),
		Auth:       reg.NewCounter("samtal_s2s_auth_total", "Server-to-server authentications.", "direction", "method", "result"),
		Connects:   reg.NewCounter("samtal_s2s_connections_total", "Authenticated server-to-server streams, by how TLS started.", "direction", "tls"),
		Bounced:    reg.NewCounter("samtal_s2s_bounced_total", "Stanzas returned to their senders because a server could not be reached.", "condition"),
		StreamErrs: reg.NewCounter("samtal_s2s_stream_errors_total", "Stream errors sent to other servers.", "condition"),
	}
}

// pair is a domain pair: a local domain and a remote one.
type pair struct{ local, remote string }

// Service is the federation service.
type Service struct {
	cfg    Config
	router *router.Router
	log    *slog.Logger
	m      *Metrics
	gate   *transport.Gate
	key    []byte // SHA-256 of the secret, the dialback HMAC key (XEP-0185 §3)
	// dial connects to a peer's server: a net.Dialer's DialContext, set
	// by New. The package's tests replace it to serve outbound streams
	// in memory; TLS and everything after it run on what it returns as
	// on a socket.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	ctx    context.Context
	cancel context.CancelFunc
	// dialCtx ends when Close starts: no new connection is made after.
	dialCtx    context.Context
	dialCancel context.CancelFunc
	wg         sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	out       map[pair]*outConn
	bidi      map[pair]*inConn // inbound bidirectional streams usable to send
	in        map[*inConn]struct{}
	inDomains map[string]int // authenticated inbound streams per remote domain
	listeners []net.Listener
}

// New returns the federation service. Set it as the router's remote
// handler and call Listen for the inbound listeners.
func New(cfg Config, r *router.Router, log *slog.Logger, m *Metrics) *Service {
	if cfg.QueueLength <= 0 {
		cfg.QueueLength = defaultQueueLength
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.Policy == nil {
		cfg.Policy = func(string) Policy { return PolicyDialback }
	}
	if cfg.Resolver == nil {
		cfg.Resolver = dns.New(dns.Config{})
	}
	k := sha256.Sum256(cfg.Secret)
	ctx, cancel := context.WithCancel(context.Background())
	dialCtx, dialCancel := context.WithCancel(ctx)
	return &Service{
		dialCtx: dialCtx, dialCancel: dialCancel,
		cfg: cfg, router: r, log: log, m: m,
		gate: transport.NewGate(cfg.UnauthPerIP, cfg.UnauthTotal),
		key:  k[:],
		dial: (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		ctx:  ctx, cancel: cancel,
		out:       make(map[pair]*outConn),
		bidi:      make(map[pair]*inConn),
		in:        make(map[*inConn]struct{}),
		inDomains: make(map[string]int),
	}
}

// isLocal reports whether samtal speaks for domain: a host, or a
// service or component domain.
func (s *Service) isLocal(domain string) bool {
	return s.router.IsLocal(domain) || s.router.HasDomain(domain)
}

// dialbackKey computes the key of XEP-0185 §3:
// HMAC-SHA256(SHA256(secret), receiving + ' ' + originating + ' ' + id),
// in hex.
func (s *Service) dialbackKey(receiving, originating, id string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(receiving + " " + originating + " " + id))
	return hex.EncodeToString(m.Sum(nil))
}

// Handle sends a stanza from a local domain to a remote one; it is the
// router's remote handler. It never blocks on the network.
func (s *Service) Handle(ctx context.Context, st *stanza.Stanza) {
	local, remote := st.From.Domain(), st.To.Domain()
	if st.From.IsZero() || !s.isLocal(local) {
		// Only what samtal's own domains send goes out: no relaying.
		s.log.Debug("s2s dropped a stanza not from a local domain")
		return
	}
	if s.cfg.Policy(remote) == PolicyDeny {
		s.bounce(ctx, st, stanza.NotAllowed)
		return
	}
	p := pair{local, remote}
	for range 3 {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			s.bounce(ctx, st, stanza.RemoteServerNotFound)
			return
		}
		c := s.out[p]
		if b := s.bidi[p]; b != nil && (c == nil || !c.isReady()) {
			// An authenticated inbound stream on which the peer enabled
			// bidirectionality (XEP-0288) is ready now and saves a
			// connection.
			s.mu.Unlock()
			if b.sendBidi(p, st) {
				return
			}
			s.mu.Lock()
			if s.bidi[p] == b {
				delete(s.bidi, p)
			}
			c = s.out[p]
		}
		if c == nil {
			c = s.newOut(p)
		}
		s.mu.Unlock()
		switch c.enqueue(st) {
		case queued:
			return
		case full:
			s.bounce(ctx, st, stanza.ResourceConstraint)
			return
		}
		// The stream closed under us: forget it and try a new one.
		s.forget(c)
	}
	s.bounce(ctx, st, stanza.RemoteServerNotFound)
}

// newOut starts an outbound stream for p; s.mu is held.
func (s *Service) newOut(p pair) *outConn {
	c := newOutConn(s, p)
	s.out[p] = c
	s.m.Streams.With("out").Add(1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.m.Streams.With("out").Add(-1)
		c.run(s.ctx)
	}()
	return c
}

// forget removes an outbound stream from the pool if it is still there.
func (s *Service) forget(c *outConn) {
	s.mu.Lock()
	if s.out[c.pair] == c {
		delete(s.out, c.pair)
	}
	s.mu.Unlock()
}

// bounce returns a stanza to its local sender with an error.
//
// Available presence comes back too, which the router's Bounce leaves
// alone: for a remote domain it is most often directed presence, such
// as entering a room (XEP-0045 §7.2), whose sender waits for the room's
// answer and would otherwise wait for ever. Prosody and ejabberd do the
// same. Unavailable presence and probes are not answered: no one waits
// for them.
func (s *Service) bounce(ctx context.Context, st *stanza.Stanza, cond stanza.Condition) {
	s.m.Bounced.With(string(cond)).Inc()
	if st.Kind() == stanza.Presence && st.Type() == "" {
		el := stanza.ErrorReply(st.El, stanza.E(cond))
		if el == nil || st.From.IsZero() {
			return
		}
		if x := st.El.Child(nsMUC, "x"); x != nil {
			// XEP-0045 §7.2: an error to a join carries the <x/> of the
			// request, by which clients tell it from other presence.
			el.Children = append([]xmlel.Node{xmlel.New(nsMUC, "x")}, el.Children...)
		}
		s.router.Route(ctx, &stanza.Stanza{El: el, From: st.To, To: st.From})
		return
	}
	s.router.Bounce(ctx, st, stanza.E(cond))
}

// verify asks the Authoritative Server of remote whether key is the
// dialback key for the stream id (XEP-0220 §2.1.2), over the outbound
// stream from local to remote.
func (s *Service) verify(ctx context.Context, local, remote, id, key string) (bool, error) {
	p := pair{local, remote}
	for range 2 {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return false, errors.New("s2s: shutting down")
		}
		c := s.out[p]
		if c == nil {
			c = s.newOut(p)
		}
		s.mu.Unlock()
		ok, err := c.verify(ctx, id, key)
		if !errors.Is(err, errClosed) {
			return ok, err
		}
		s.forget(c)
	}
	return false, errClosed
}

// Listen accepts server-to-server connections on ln until Close;
// directTLS makes every connection start with TLS (XEP-0368).
func (s *Service) Listen(ln net.Listener, directTLS bool) {
	s.mu.Lock()
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		failed := func(err error) { s.log.Warn("s2s accept failed", "err", err) }
		listener.Accept(s.ctx, ln, listener.Doubling, failed, func(c net.Conn) bool {
			ic, ok := s.admit(c, directTLS)
			if ic != nil {
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					s.serveIn(ic)
				}()
			}
			return ok
		})
	}()
}

// admit takes an accepted connection through the gate of connections
// that have not authenticated and registers its stream, which serveIn
// then serves. It returns nil when the gate is full or the service is
// closed, having closed c, and reports false when the service is
// closed: accepting ends.
func (s *Service) admit(c net.Conn, directTLS bool) (*inConn, bool) {
	release, ok := s.gate.Enter(transport.IP(c))
	if !ok {
		c.Close()
		return nil, true
	}
	ic := newInConn(s, c, directTLS, release)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		release()
		c.Close()
		return nil, false
	}
	s.in[ic] = struct{}{}
	s.mu.Unlock()
	return ic, true
}

// serveIn serves an admitted inbound stream until it ends.
func (s *Service) serveIn(ic *inConn) {
	s.m.Streams.With("in").Add(1)
	defer s.m.Streams.With("in").Add(-1)
	ic.serve(s.ctx)
}

// Close stops accepting, ends every stream with system-shutdown once
// what is queued on it is written, and waits for them until ctx ends.
func (s *Service) Close(ctx context.Context) {
	s.dialCancel()
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.listeners {
		ln.Close()
	}
	var outs []*outConn
	for _, c := range s.out {
		outs = append(outs, c)
	}
	var ins []*inConn
	for c := range s.in {
		ins = append(ins, c)
	}
	s.mu.Unlock()
	// What is queued goes out before the stream error: in a shutdown
	// it is the goodbyes of local users and rooms (unavailable presence,
	// RFC 6121 §4.5.2; XEP-0045 §11.2), sent just before. The writers
	// end once it is written, within the bound of the queue.
	for _, c := range outs {
		c.shutdown()
	}
	for _, c := range ins {
		c.shutdown()
	}
	listener.Wait(ctx, &s.wg)
	s.cancel()
}

// Count returns the open inbound and outbound streams.
func (s *Service) Count() (in, out int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.in), len(s.out)
}

// addInbound counts c among the streams authenticated for remote, once.
// It fails with a stream error when remote has as many streams as it
// may, and with errClosed when c ended: a dialback verification may
// answer after its stream is gone, and what it counted then would never
// be taken back. The check and the count are under s.mu, as is
// removeInbound's taking them back.
func (s *Service) addInbound(c *inConn, remote string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.in[c]; !ok {
		return errClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if slices.Contains(c.counted, remote) {
		return nil
	}
	if max := s.cfg.MaxConnsPerDomain; max > 0 && s.inDomains[remote] >= max {
		return stream.Error{Condition: stream.PolicyViolation, Text: "too many streams from this domain"}
	}
	s.inDomains[remote]++
	c.counted = append(c.counted, remote)
	return nil
}

// removeInbound forgets an inbound stream that ended, and what it
// counted.
func (s *Service) removeInbound(c *inConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.in, c)
	c.mu.Lock()
	counted := c.counted
	c.counted = nil
	c.mu.Unlock()
	for _, r := range counted {
		if s.inDomains[r]--; s.inDomains[r] <= 0 {
			delete(s.inDomains, r)
		}
	}
	for p, b := range s.bidi {
		if b == c {
			delete(s.bidi, p)
		}
	}
}

// addBidi makes an inbound stream a route for stanzas from local to
// remote (XEP-0288), unless it ended.
func (s *Service) addBidi(c *inConn, p pair) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.in[c]; !ok {
		return
	}
	if _, ok := s.bidi[p]; !ok {
		s.bidi[p] = c
	}
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails on Linux
	return hex.EncodeToString(b)
}
