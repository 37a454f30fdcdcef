// Package c2s serves client-to-server streams (RFC 6120): it accepts
// connections, negotiates STARTTLS, SASL and resource binding, and then
// runs one session per connection that hands the client's stanzas to the
// core and writes stanzas for the client through a bounded queue.
//
// Each connection has one reader goroutine (read, parse, handle in order)
// and, once bound, one writer goroutine that drains the queue and writes
// everything pending in one write. Send never blocks: a client whose queue
// grows past its byte limit is disconnected.
package c2s

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/listener"
	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/transport"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// Config is what the c2s service needs to know; the server fills it from
// the configuration file.
type Config struct {
	TLS               *tls.Config // certificates by SNI; nil: no TLS
	Limits            xmlstream.Limits
	ReadRate          int
	ReadBurst         int
	StanzaRate        int
	AuthTimeout       time.Duration
	IdleTimeout       time.Duration
	IdleGrace         time.Duration
	SessionsPerAcct   int
	OutQueueBytes     int
	ReplaceOnConflict bool
	UnauthPerIP       int
	UnauthTotal       int
	AuthFailuresPerIP int
	// AuthFailuresPerAccount is the same for one account, whatever the
	// address the attempts come from.
	AuthFailuresPerAccount int
	// FakeSecret makes the SCRAM answers for unknown users look like
	// those for real ones.
	FakeSecret      []byte
	SCRAMIterations int
	// NoChannelBinding hides the SCRAM -PLUS mechanisms.
	NoChannelBinding bool

	// ResumeWindow is how long a session whose connection was lost
	// waits to be resumed (XEP-0198 §5); zero offers no resumption.
	ResumeWindow time.Duration
	// MaxUnacked and MaxUnackedBytes bound what one session keeps until
	// its client acknowledges it; past either the session ends.
	MaxUnacked      int
	MaxUnackedBytes int
	// AckEvery and AckDelay decide when the server asks for an ack: when
	// AckEvery stanzas wait for one, or AckDelay after the first.
	AckEvery int
	AckDelay time.Duration
	// Location is the address ("host:port") where a client should
	// resume its session, sent in <enabled/>; empty sends none.
	Location string
	// ResumeNode, on a node of a cluster, is the node's name: it ends
	// the SM-IDs of the sessions here, so that another node can tell
	// where a session it cannot resume lives. Empty on a single node.
	ResumeNode string
	// ResumeElsewhere returns the location of a live node of the
	// cluster, where its sessions are resumed; false when the node is
	// unknown, dead or has no location. Nil on a single node.
	ResumeElsewhere func(node string) (location string, ok bool)
	// CSIBuffer bounds the stanzas held back for an inactive client
	// (XEP-0352); a full buffer is sent.
	CSIBuffer int

	// FastTokens stores FAST tokens (XEP-0484); nil offers no FAST.
	FastTokens storage.FastTokens
	// AccountDisabled says whether an account is disabled (XEP-0133
	// §4.3), sasl.ErrNoSuchUser when there is none, for a FAST token,
	// which proves no password; password mechanisms learn it from the
	// credentials. nil: none is.
	AccountDisabled func(ctx context.Context, user string) (bool, error)
	// FASTLifetime is how long a FAST token is valid.
	FASTLifetime time.Duration
	// Carbons enables message carbons for Bind 2 (XEP-0386); nil
	// does not offer them inline.
	Carbons Carbons
	// Bound returns elements for Bind 2's <bound/> that describe the
	// new session's account, such as the archive's <metadata/>
	// (XEP-0386 §3, XEP-0313); nil adds none.
	Bound func(ctx context.Context, full jid.JID) []*xmlel.Element
}

// Defaults of the stream management and client state settings that are
// zero in a Config.
const (
	DefaultMaxUnacked      = 1000
	DefaultMaxUnackedBytes = 1 << 20
	DefaultAckEvery        = 5
	DefaultAckDelay        = 2 * time.Second
	DefaultCSIBuffer       = 100
	DefaultFASTLifetime    = 21 * 24 * time.Hour
)

// Core is what a bound session hands its stanzas to.
type Core interface {
	// Outbound handles a stanza sent by the client; From is the
	// session's full JID and To is prepared (or zero when absent).
	Outbound(ctx context.Context, s router.Session, st *stanza.Stanza)
	// Ended is called once after a bound session ended and was unbound,
	// with the resource's last record, for example to broadcast
	// unavailable presence.
	Ended(ctx context.Context, s router.Session, last router.Resource)
}

// Redeliverer is implemented by a Core that takes back the messages the
// client of an ended session did not acknowledge (XEP-0198 §4): it treats
// them as sent to the user while the resource gone is unavailable, so that
// they reach another resource or offline storage.
type Redeliverer interface {
	Undelivered(ctx context.Context, gone jid.JID, el *xmlel.Element, at time.Time)
}

// Forwarder is implemented by a Core that delivers a message as the bytes
// its client wrote, without an element tree, when nothing needs the tree
// (im.Service.Forward). It reports false, having done nothing, when the
// message must go to Outbound as a tree instead. raw starts with
// "<message", has no from attribute, and is valid only during the call.
type Forwarder interface {
	Forward(ctx context.Context, s router.Session, m *stanza.Outline, raw []byte) bool
}

// PreAuth is what a connection offers before authentication: in-band
// registration (XEP-0077) and its stream features.
type PreAuth struct {
	// Serve answers a request and returns the response to send.
	Serve func(ctx context.Context, host string, st *stanza.Stanza) *xmlel.Element
	// Features returns the stream features to announce for a host.
	Features func(host string) []*xmlel.Element
}

// PreAuthFactory makes the pre-authentication handler of one connection,
// which may keep state (an accepted invitation) for that connection only.
type PreAuthFactory func() PreAuth

// Metrics are the counters the service updates.
type Metrics struct {
	Sessions    *metrics.Gauge
	StanzasIn   *metrics.CounterVec // label: kind
	StanzasOut  *metrics.CounterVec // label: kind
	StreamErrs  *metrics.CounterVec // label: condition
	AuthResults *metrics.CounterVec // label: mechanism, result
	Waiting     *metrics.Gauge      // sessions waiting to be resumed
	Resumptions *metrics.CounterVec // label: result (resumed, failed, redirected)
	Undelivered *metrics.CounterVec // label: kind; stanzas handed back when a session ended

	in, out byKind // StanzasIn and StanzasOut
}

// byKind holds a stanza counter family's children for the three stanza
// kinds, looked up once: every stanza in and out is counted.
type byKind struct {
	vec   *metrics.CounterVec
	kinds [3]*metrics.Counter // message, presence, iq
}

func newByKind(v *metrics.CounterVec) byKind {
	return byKind{vec: v, kinds: [3]*metrics.Counter{v.With(stanza.Message), v.With(stanza.Presence), v.With(stanza.IQ)}}
}

// kindIndex is the index in byKind.kinds of a stanza kind, or -1.
func kindIndex(kind string) int {
	switch kind {
	case stanza.Message:
		return 0
	case stanza.Presence:
		return 1
	case stanza.IQ:
		return 2
	}
	return -1
}

// inc counts a stanza of the given kind (its element's local name).
func (b byKind) inc(kind string) {
	if i := kindIndex(kind); i >= 0 {
		b.kinds[i].Inc()
		return
	}
	b.vec.With(kind).Inc()
}

// batchMax is the most stanzas of one kind a kindBatch holds before it
// settles.
const batchMax = 64

// kindBatch counts stanzas by kind where only one goroutine at a time
// counts (a session's reader; an outbox under its lock) and adds them to
// the shared counters in batches, when the counter's owner may go quiet
// or after batchMax of a kind: every core bumping the shared counters
// for every stanza kept taking their cache lines from each other (2% of
// the CPU per message at saturation).
type kindBatch [3]uint64

// count counts a stanza of kind, settling into b when the batch is full.
func (c *kindBatch) count(b byKind, kind string) {
	i := kindIndex(kind)
	if i < 0 {
		b.vec.With(kind).Inc()
		return
	}
	if c[i]++; c[i] >= batchMax {
		c.settle(b)
	}
}

// settle adds what the batch counted to b.
func (c *kindBatch) settle(b byKind) {
	for i, n := range c {
		if n > 0 {
			b.kinds[i].Add(n)
			c[i] = 0
		}
	}
}

// NewMetrics registers the c2s metrics in reg.
func NewMetrics(reg *metrics.Registry) *Metrics {
	m := &Metrics{
		Sessions:    reg.NewGauge("samtal_c2s_sessions", "Bound client sessions.").With(),
		StanzasIn:   reg.NewCounter("samtal_c2s_stanzas_in_total", "Stanzas received from clients.", "kind"),
		StanzasOut:  reg.NewCounter("samtal_c2s_stanzas_out_total", "Stanzas queued for clients.", "kind"),
		StreamErrs:  reg.NewCounter("samtal_c2s_stream_errors_total", "Stream errors sent to clients.", "condition"),
		AuthResults: reg.NewCounter("samtal_c2s_auth_total", "SASL authentication attempts.", "mechanism", "result"),
		Waiting:     reg.NewGauge("samtal_c2s_sessions_waiting", "Sessions waiting for their client to resume them (XEP-0198).").With(),
		Resumptions: reg.NewCounter("samtal_c2s_resumptions_total", "Stream resumption attempts (XEP-0198).", "result"),
		Undelivered: reg.NewCounter("samtal_c2s_undelivered_total", "Unacknowledged stanzas handed back when a session ended.", "kind"),
	}
	m.in, m.out = newByKind(m.StanzasIn), newByKind(m.StanzasOut)
	return m
}

// Service accepts client connections.
type Service struct {
	cfg       Config
	router    *router.Router
	creds     sasl.Credentials
	core      Core
	forwarder Forwarder // core, when it is one
	preAuth   PreAuthFactory
	log       *slog.Logger
	m         *Metrics
	gate      *transport.Gate
	fails     *penalty // by IP address
	acctFails *penalty // by account
	// negotiators run each accepted connection up to authentication.
	negotiators *listener.Workers

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[*Session]struct{}

	smMu      sync.Mutex
	resumable map[string]*outbox // by SM-ID

	// offers are the SASL offers made so far (see Session.saslOffer),
	// by what they depend on.
	offers sync.Map
}

// New returns a service; call Listen to accept connections.
func New(cfg Config, r *router.Router, creds sasl.Credentials, core Core, preAuth PreAuthFactory, log *slog.Logger, m *Metrics) *Service {
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.IdleGrace == 0 {
		cfg.IdleGrace = time.Minute
	}
	if cfg.MaxUnacked == 0 {
		cfg.MaxUnacked = DefaultMaxUnacked
	}
	if cfg.MaxUnackedBytes == 0 {
		cfg.MaxUnackedBytes = DefaultMaxUnackedBytes
	}
	if cfg.AckEvery <= 0 {
		cfg.AckEvery = DefaultAckEvery
	}
	if cfg.AckDelay <= 0 {
		cfg.AckDelay = DefaultAckDelay
	}
	if cfg.CSIBuffer <= 0 {
		cfg.CSIBuffer = DefaultCSIBuffer
	}
	if cfg.FASTLifetime <= 0 {
		cfg.FASTLifetime = DefaultFASTLifetime
	}
	fwd, _ := core.(Forwarder)
	return &Service{
		cfg: cfg, router: r, creds: creds, core: core, forwarder: fwd, preAuth: preAuth, log: log, m: m,
		gate:      transport.NewGate(cfg.UnauthPerIP, cfg.UnauthTotal),
		fails:     newPenalty(cfg.AuthFailuresPerIP),
		acctFails: newPenalty(cfg.AuthFailuresPerAccount),
		ctx:       ctx, cancel: cancel,
		conns:     make(map[*Session]struct{}),
		resumable: make(map[string]*outbox),
		// Up to 64 goroutines that negotiated a connection wait 1 s for
		// the next one, with the stack that a TLS handshake grew.
		negotiators: listener.NewWorkers(64, time.Second),
	}
}

// Listen accepts connections on ln until Close. directTLS makes every
// connection start with a TLS handshake (XEP-0368); allowPlain lets
// clients skip STARTTLS (only for loopback listeners).
func (s *Service) Listen(ln net.Listener, directTLS, allowPlain bool) {
	s.mu.Lock()
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		failed := func(err error) { s.log.Warn("c2s accept failed", "err", err) }
		listener.Accept(s.ctx, ln, listener.Doubling, failed, func(c net.Conn) bool {
			release, ok := s.gate.Enter(transport.IP(c))
			if !ok {
				// Too many unauthenticated connections: answer with a
				// stream error rather than a silent close.
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					refuse(c, stream.Error{Condition: stream.PolicyViolation, Text: "too many connections"})
				}()
				return true
			}
			sess := newSession(s, c, directTLS, allowPlain, release)
			s.wg.Add(1)
			s.negotiators.Go(func() {
				defer s.wg.Done()
				sess.serve(s.ctx)
			})
			return true
		})
	}()
}

// ConnOptions describes a connection that another transport accepted and
// hands to ServeConn: a WebSocket (RFC 7395) or a BOSH session (XEP-0206)
// presented as the classic XML stream byte pipe.
type ConnOptions struct {
	// Secure says that the layer below the stream already protects it
	// (TLS at the HTTP layer, or a loopback listener): STARTTLS is not
	// offered and SASL PLAIN is allowed. No channel binding is offered,
	// since the TLS session is not the stream's own.
	Secure bool
}

// ServeConn serves one client stream on c until it ends. c carries the
// stream's bytes exactly as a TCP connection would; its RemoteAddr is the
// client's address, which the connection limits count by.
func (s *Service) ServeConn(c net.Conn, opts ConnOptions) {
	if s.ctx.Err() != nil {
		refuse(c, stream.Error{Condition: stream.SystemShutdown})
		return
	}
	release, ok := s.gate.Enter(transport.IP(c))
	if !ok {
		refuse(c, stream.Error{Condition: stream.PolicyViolation, Text: "too many connections"})
		return
	}
	sess := newSession(s, c, false, false, release)
	sess.external = opts.Secure
	sess.inline = true
	s.wg.Add(1)
	defer s.wg.Done()
	sess.serve(s.ctx)
}

// refuse answers a connection that will not be served with a stream
// header and a stream error, within a short deadline.
func refuse(c net.Conn, e stream.Error) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second)) // best effort
	b := stream.Header{ContentNS: xmlel.NSClient}.Append(nil)
	b = stream.AppendElement(b, e.Element(), xmlel.NSClient)
	b = append(b, stream.Close...)
	_, _ = c.Write(b) // the peer may be gone already
}

// Sessions returns the number of open connections.
func (s *Service) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Service) track(sess *Session, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if open {
		s.conns[sess] = struct{}{}
	} else {
		delete(s.conns, sess)
	}
}

// Close stops accepting, ends every stream with system-shutdown and waits
// until the sessions are gone or ctx ends.
func (s *Service) Close(ctx context.Context) {
	s.mu.Lock()
	for _, ln := range s.listeners {
		ln.Close()
	}
	sessions := make([]*Session, 0, len(s.conns))
	for c := range s.conns {
		sessions = append(sessions, c)
	}
	s.mu.Unlock()
	for _, c := range sessions {
		c.CloseWithError(stream.Error{Condition: stream.SystemShutdown})
	}
	listener.Wait(ctx, &s.wg)
	// Sessions waiting to be resumed end now, while storage is still
	// open for what their clients did not acknowledge.
	s.smMu.Lock()
	waiting := make([]*outbox, 0, len(s.resumable))
	for _, b := range s.resumable {
		waiting = append(waiting, b)
	}
	s.smMu.Unlock()
	for _, b := range waiting {
		b.end()
	}
	s.cancel()
}

// penalty slows down answers to failed authentications, by IP address
// or by account: after limit failures each further failure waits twice as
// long as the last, from one second up to half a minute. Failures are
// forgotten after ten quiet minutes, or when the key authenticates.
//
// Only the answer to a failure waits, in the connection that failed: the
// right password is answered at once, so the back-off slows an attacker
// guessing a user's password without locking the user out (a lockout
// would let anyone keep any user from logging in).
type penalty struct {
	mu    sync.Mutex
	limit int
	fails map[string]*strikes
	now   func() time.Time
}

type strikes struct {
	n    int
	last time.Time
}

// Bounds of the back-off.
const (
	penaltyForget = 10 * time.Minute
	penaltyMax    = 30 * time.Second
	// penaltyKeys bounds the keys remembered: a flood of failures for
	// made-up accounts must not grow the map without end. Past it the
	// quiet keys go, then arbitrary ones.
	penaltyKeys = 100000
)

func newPenalty(limit int) *penalty {
	return &penalty{limit: limit, fails: make(map[string]*strikes), now: time.Now}
}

// fail records a failure and returns how long to wait before answering.
func (p *penalty) fail(key string) time.Duration {
	if p.limit <= 0 || key == "" {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if len(p.fails) >= penaltyKeys {
		for k, v := range p.fails {
			if now.Sub(v.last) > penaltyForget {
				delete(p.fails, k)
			}
		}
		for k := range p.fails {
			if len(p.fails) < penaltyKeys*9/10 {
				break
			}
			delete(p.fails, k) // map order: an arbitrary key
		}
	}
	st := p.fails[key]
	if st == nil || now.Sub(st.last) > penaltyForget {
		st = &strikes{}
		p.fails[key] = st
	}
	st.n++
	st.last = now
	if st.n <= p.limit {
		return 0
	}
	d := time.Second << min(st.n-p.limit-1, 5)
	return min(d, penaltyMax)
}

func (p *penalty) succeed(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.fails, key)
}

// len returns the number of keys remembered.
func (p *penalty) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.fails)
}
