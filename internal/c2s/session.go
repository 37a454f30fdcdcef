package c2s

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/transport"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// Namespaces of stream features announced after authentication.
const (
	nsRosterVer   = "urn:xmpp:features:rosterver"
	nsPreApproval = "urn:xmpp:features:pre-approval"
	nsSASLCB      = "urn:xmpp:sasl-cb:0"
	nsPing        = "urn:xmpp:ping"
)

// maxAuthAttempts is how many SASL failures one stream may have before it
// is closed (RFC 6120 §6.4.5 lets the server choose).
const maxAuthAttempts = 3

// Session is one client connection and, once bound, one resource.
type Session struct {
	svc  *Service
	raw  *transport.Conn
	conn net.Conn // raw, or TLS on top of it
	tls  *tls.Conn
	// bindings are the TLS connection's channel bindings, once derived.
	bindings *[]sasl.ChannelBinding
	r        *xmlstream.Reader
	release  func() // leaves the unauthenticated gate
	plainOK  bool
	direct   bool
	// external: the transport below the stream is secure already
	// (ServeConn with ConnOptions.Secure).
	external bool

	host           string
	streamID       string
	awaitingHeader bool   // the peer's stream header is due, ours not sent
	user           string // bare JID string once authenticated
	jid            jid.JID
	bound          bool
	ip             string
	began          time.Time // when the connection was accepted (Began)

	q       *transport.Queue // outgoing, filled by Send from any goroutine
	preAuth PreAuth

	// box is the bound session's state that a resumption carries over to
	// another connection (XEP-0198); nil until bound.
	box *outbox
	// ending is set when the stream ends in a way that ends the session
	// too: a clean close, a stream error for a fault. A connection that
	// is merely lost leaves a resumable session waiting instead.
	ending atomic.Bool
	// replaced is set when another connection resumed the session.
	replaced atomic.Bool
	// clientID is the client's XEP-0388 user-agent id, or "".
	clientID string
	// noRestart: the client authenticated with SASL2 and its stream goes
	// on without a restart.
	noRestart bool
	// inline: every phase of the session runs on the goroutine that
	// called serve, and the connection is never parked (ServeConn).
	inline bool

	stanzaRate transport.Bucket

	// in counts the stanzas read, for the shared counters: only the
	// reading goroutine uses it, and it settles before each read from
	// the connection (which may wait) and when the session ends.
	in kindBatch

	// lastTo is the 'to' of the last stanza the client sent, parsed, when
	// it was in canonical form: a client mostly writes to the contact it
	// just wrote to, and comparing the address costs a fraction of
	// preparing it again (jid.Parse was 3% of the CPU per message at
	// saturation). Only the reading goroutine uses it.
	lastTo jid.JID
	// outline describes the message forward offers the core, kept here
	// so that offering one costs no allocation. Only the reading
	// goroutine uses it.
	outline stanza.Outline
	// batch holds the queues of the sessions that the messages forwarded
	// since the last read went to, for this goroutine to write them
	// before it waits (transport.Batch): before each read from the
	// connection, before a stanza that is not forwarded (it may wait for
	// storage), before the stanza rate makes it sleep, and at the end.
	// A forward itself seldom waits (a block list read from storage the
	// first time), and then only what this client sent in the same read
	// waits with it. Only the reading goroutine uses it.
	batch transport.Batch
}

func newSession(svc *Service, c net.Conn, direct, plainOK bool, release func()) *Session {
	s := &Session{
		svc:     svc,
		release: release,
		plainOK: plainOK,
		direct:  direct,
		ip:      transport.IP(c),
		preAuth: svc.preAuth(),
		began:   time.Now(),
	}
	s.raw = transport.Wrap(c, transport.ConnConfig{
		Rate: svc.cfg.ReadRate, Burst: svc.cfg.ReadBurst,
		Idle:       svc.cfg.AuthTimeout,
		BeforeRead: s.beforeRead,
	})
	if svc.cfg.AuthTimeout > 0 {
		// The time to authenticate and bind is counted from the
		// connection, not between reads: a peer that trickles bytes
		// cannot hold its place in the unauthenticated gate.
		s.raw.SetExpiry(time.Now().Add(svc.cfg.AuthTimeout))
	}
	s.conn = s.raw
	s.q = transport.NewQueue(s.conn, svc.cfg.OutQueueBytes)
	s.q.BeforeLast(s.raw.Cork)
	s.q.Batched(s.raw)
	s.r = xmlstream.NewReader(s.conn, svc.cfg.Limits)
	return s
}

// JID returns the bound full JID.
func (s *Session) JID() jid.JID { return s.jid }

// Began returns when the connection was accepted, before it read anything
// of its account: the router refuses to bind the session if the account
// was disabled or removed since (router.Beginner).
func (s *Session) Began() time.Time { return s.began }

// Host returns the domain the client connected to.
func (s *Session) Host() string { return s.host }

// serve runs the connection to its end. The negotiation (TLS handshake,
// SASL) runs on the goroutine serve is called on, one of the service's
// negotiators; once the client has authenticated, the rest of the session
// runs on a fresh goroutine. The handshake's cryptography grows a
// goroutine's stack to tens of kilobytes, which the runtime shrinks only
// slowly; an authenticated session that mostly waits should not carry it,
// while the negotiator keeps it for the next connection.
//
// A stream that another transport hands over (ServeConn: a WebSocket or
// BOSH pipe) runs every phase on the caller's goroutine instead, since
// ServeConn returns only when the stream ends, and the transport holds
// goroutines of its own for the stream anyway.
func (s *Session) serve(ctx context.Context) {
	s.svc.track(s, true)
	if !s.phase(ctx, s.runPreAuth) {
		return
	}
	// Authenticated: no more SASL on this connection, and an idle
	// session should not keep what only SASL needed.
	s.bindings = nil
	// What the last step of the negotiation answered (SASL2's success)
	// leaves from here, before the session moves to another goroutine.
	s.batch.Flush()
	if s.inline {
		s.phase(ctx, s.runAuthenticated)
		return
	}
	s.continueOn(ctx, s.runAuthenticated)
}

// continueOn runs f on a fresh goroutine, and the session's rest after
// it.
func (s *Session) continueOn(ctx context.Context, f func(context.Context) (bool, error)) {
	s.svc.wg.Add(1)
	go s.runPhase(ctx, f)
}

// runPhase runs f. If the client falls quiet, its connection is parked:
// no goroutine waits for it, and the session goes on in a new one when
// the client speaks, or the connection closes, or the idle time is up.
// A session that waits costs no stack at all. Where a connection cannot
// be parked, a fresh goroutine with a small stack waits instead.
func (s *Session) runPhase(ctx context.Context, f func(context.Context) (bool, error)) {
	defer s.svc.wg.Done()
	if !s.phase(ctx, f) {
		return
	}
	s.svc.wg.Add(1)
	if s.raw.Park(func() { s.runPhase(ctx, s.stanzaPhase) }) {
		return
	}
	go s.runPhase(ctx, s.waitPhase)
}

// phase runs one part of the session. Unless that part hands the
// session on (handoff), the session ends here: the error becomes the
// right stream close, and everything the connection holds is released.
func (s *Session) phase(ctx context.Context, f func(context.Context) (bool, error)) (handoff bool) {
	defer func() {
		if p := recover(); p != nil {
			s.svc.log.Error("c2s session panic", "panic", p)
			handoff = false
		}
		if !handoff {
			s.finish()
			s.svc.track(s, false)
		}
	}()
	handoff, err := f(ctx)
	if handoff && err == nil {
		return true
	}
	if err != nil && s.awaitingHeader {
		// RFC 6120 §4.9.1.2: an error before the stream is open is
		// sent after a stream header of ours.
		s.openStream(s.host)
	}
	var se stream.Error
	switch {
	case err == nil:
		// A clean close (XEP-0198 §7: the session ends with it), or a
		// connection whose session was resumed elsewhere.
		s.ending.Store(true)
	case errors.As(err, &se):
		s.closeStream(se, true, false)
	case errors.Is(err, transport.ErrExpired):
		// auth_timeout passed before a resource was bound.
		s.closeStream(stream.Error{Condition: stream.ConnectionTimeout}, true, false)
	case errors.Is(err, transport.ErrIdle):
		// The client went silent: its network may be gone, and a
		// resumable session waits for it.
		s.closeStream(stream.Error{Condition: stream.ConnectionTimeout}, true, true)
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The connection was cut, possibly inside a stanza: nobody is
		// left to read a stream error.
	default:
		if e, ok := stream.FromParseError(err); ok {
			s.closeStream(e, true, false)
		}
	}
	return false
}

// finish releases everything the connection holds; it runs once. A
// bound session ends with it unless it waits to be resumed, or another
// connection has taken it over.
func (s *Session) finish() {
	s.beforeRead()
	// Let the writer flush a final stream error, briefly.
	s.q.Finish(2 * time.Second)
	if s.r != nil {
		s.r.Release()
	}
	if s.release != nil {
		s.release()
	}
	b := s.box
	if b == nil {
		return
	}
	if !s.ending.Load() && b.detach(s) {
		s.svc.log.Debug("c2s session waits to be resumed")
		return
	}
	b.mu.Lock()
	mine := b.conn == s
	b.mu.Unlock()
	if mine {
		b.end()
	}
}

// settleIn adds the stanzas read since the last time to the shared
// counters. Only the reading goroutine calls it.
func (s *Session) settleIn() { s.in.settle(s.svc.m.in) }

// beforeRead runs before each read from the connection, which may wait,
// and when the session ends: the messages forwarded since the last read
// leave, and the counts settle.
func (s *Session) beforeRead() {
	s.batch.Flush()
	s.settleIn()
}

// runPreAuth negotiates until the client has authenticated (handoff)
// or the stream ends.
func (s *Session) runPreAuth(ctx context.Context) (handoff bool, err error) {
	if s.direct {
		if s.svc.cfg.TLS == nil {
			return false, errors.New("c2s: direct TLS without certificates")
		}
		if err := s.startTLS(); err != nil {
			return false, err
		}
	}
	for {
		restart, err := s.negotiate(ctx)
		if err == errAuthenticated {
			return true, nil
		}
		if err != nil || !restart {
			return false, err
		}
		if s.user != "" {
			return true, nil
		}
	}
}

// errAuthenticated ends the negotiation of a client that authenticated
// with SASL2, whose stream goes on without a restart (XEP-0388 §2.6.1).
var errAuthenticated = errors.New("c2s: authenticated without a restart")

// runAuthenticated serves an authenticated client: the restarted stream
// (after SASL) or the same one (after SASL2), resource binding unless
// SASL2 bound already, then stanzas until the stream ends or the client
// falls quiet (handoff).
func (s *Session) runAuthenticated(ctx context.Context) (bool, error) {
	var err error
	if s.noRestart {
		err = s.stanzas(ctx)
	} else {
		_, err = s.negotiate(ctx)
	}
	if err == errQuiet {
		return true, nil
	}
	return false, err
}

// waitPhase waits, with a small stack, for a client that fell quiet,
// and serves its stanzas until it falls quiet again (handoff) or the
// stream ends.
func (s *Session) waitPhase(ctx context.Context) (bool, error) {
	s.raw.WaitReadable()
	return s.stanzaPhase(ctx)
}

// stanzaPhase serves a bound client's stanzas until it falls quiet
// (handoff) or the stream ends.
func (s *Session) stanzaPhase(ctx context.Context) (bool, error) {
	err := s.stanzas(ctx)
	if err == errQuiet {
		return true, nil
	}
	return false, err
}

// errQuiet ends a goroutine of a session whose client fell quiet; the
// session goes on in another (see runPhase).
var errQuiet = errors.New("c2s: client quiet")

// quietAfter is how long a bound client may be silent before its session
// waits without a goroutine (or on a fresh one). Each such wait costs
// one goroutine start.
const quietAfter = 2 * time.Second

// setQuiet lets a bound stream's reads give up after quietAfter, so
// that the session can park (see runPhase); not for a stream that runs
// inline.
func (s *Session) setQuiet() {
	if !s.inline {
		s.raw.SetQuiet(quietAfter)
	}
}

// negotiate reads a stream header, sends features and handles the
// negotiation until a restart (true) or until the stream ends.
func (s *Session) negotiate(ctx context.Context) (restart bool, err error) {
	s.awaitingHeader = true
	hdr, err := s.r.Header()
	if err != nil {
		if e, ok := stream.FromParseError(err); ok {
			s.openStream("")
			return false, e
		}
		return false, err
	}
	to := hdr.Attr("to")
	if d, err := jid.Parse(to); err == nil {
		to = d.Domain()
	}
	if s.host != "" && to != s.host {
		s.openStream(s.host)
		return false, stream.Error{Condition: stream.HostUnknown, Text: "the host changed on restart"}
	}
	s.openStream(to)
	switch {
	case hdr.Space != stream.NS || hdr.Local != "stream":
		return false, stream.Error{Condition: stream.InvalidNamespace}
	case s.r.ContentNS() != xmlel.NSClient:
		return false, stream.Error{Condition: stream.InvalidNamespace}
	case !versionOK(hdr.Attr("version")):
		return false, stream.Error{Condition: stream.UnsupportedVersion}
	case to == "" || !s.svc.router.IsLocal(to):
		return false, stream.Error{Condition: stream.HostUnknown}
	}
	s.host = to
	if s.user == "" {
		return s.preAuthLoop(ctx)
	}
	return false, s.boundLoop(ctx)
}

// versionOK accepts 1.x (RFC 6120 §4.7.5); a missing version means a
// pre-RFC 3920 stream, which is not supported.
func versionOK(v string) bool {
	major, _, _ := strings.Cut(v, ".")
	return major == "1"
}

func (s *Session) openStream(host string) {
	s.awaitingHeader = false
	s.streamID = randomID(16)
	hdr := stream.Header{From: host, ID: s.streamID, Lang: "en", ContentNS: xmlel.NSClient}
	// Features or a stream error follow at once: in the same write.
	s.q.Hold(hdr.Append)
}

func (s *Session) secure() bool { return s.tls != nil || s.external }

// preAuthLoop offers STARTTLS or SASL and handles them.
func (s *Session) preAuthLoop(ctx context.Context) (bool, error) {
	features := xmlel.New(stream.NS, "features")
	var mechs []string
	if !s.secure() && s.svc.cfg.TLS != nil {
		st := xmlel.New(stream.NSTLS, "starttls")
		if !s.plainOK {
			st.Append(xmlel.New(stream.NSTLS, "required"))
		}
		features.Append(st)
	}
	if s.secure() || s.plainOK {
		offer := s.saslOffer()
		mechs = offer.mechs
		features.Append(offer.features...)
		if s.preAuth.Features != nil {
			features.Append(s.preAuth.Features(s.host)...)
		}
	}
	s.writeDirect(features)

	failures := 0
	for {
		el, err := s.r.Next()
		if err != nil {
			return false, s.endOfStream(err)
		}
		switch {
		case el.Is(stream.NSTLS, "starttls"):
			if s.secure() || s.svc.cfg.TLS == nil {
				// RFC 6120 §5.4.2.2: the failure closes the stream.
				s.writeDirect(xmlel.New(stream.NSTLS, "failure"))
				s.closeClean()
				return false, nil
			}
			s.writeDirect(xmlel.New(stream.NSTLS, "proceed"))
			if err := s.startTLS(); err != nil {
				return false, err
			}
			return true, nil
		case el.Is(stream.NSSASL, "auth"):
			if !s.secure() && !s.plainOK {
				return false, stream.Error{Condition: stream.PolicyViolation, Text: "STARTTLS is required"}
			}
			ok, err := s.authenticate(el, mechs)
			if err != nil {
				return false, err
			}
			if ok {
				s.r.Reset(s.conn)
				return true, nil
			}
			if failures++; failures >= maxAuthAttempts {
				return false, stream.Error{Condition: stream.PolicyViolation, Text: "too many authentication failures"}
			}
		case el.Is(nsSASL2, "authenticate") && s.secure():
			ok, err := s.authenticate2(ctx, el, mechs)
			if err != nil {
				return false, err
			}
			if ok {
				// XEP-0388 §2.6.1: the stream goes on without a restart.
				s.noRestart = true
				return false, errAuthenticated
			}
			if failures++; failures >= maxAuthAttempts {
				return false, stream.Error{Condition: stream.PolicyViolation, Text: "too many authentication failures"}
			}
		case el.Local == stanza.IQ && el.Space == "" && (s.secure() || s.plainOK):
			st, err := s.inboundStanza(el, true)
			if err != nil {
				return false, err
			}
			if st == nil {
				continue
			}
			if resp := s.preAuth.Serve(ctx, s.host, st); resp != nil {
				resp.SetAttr("to", "")
				s.writeDirect(resp)
			}
		case stanza.IsStanza(el):
			return false, stream.Error{Condition: stream.NotAuthorized}
		default:
			return false, stream.Error{Condition: stream.UnsupportedStanzaType}
		}
	}
}

// endOfStream turns the end of the input into the right close: a clean
// close tag is answered with ours.
func (s *Session) endOfStream(err error) error {
	if errors.Is(err, io.EOF) {
		s.closeClean()
		return nil
	}
	return err
}

// closeClean ends the session with our closing tag and no error: finish
// writes it, from this goroutine.
func (s *Session) closeClean() {
	s.ending.Store(true)
	s.q.CloseNext([]byte(stream.Close))
}

func (s *Session) startTLS() error {
	tc := tls.Server(s.raw, s.svc.cfg.TLS)
	// Bounds the handshake's writes; its reads end at the expiry.
	_ = tc.SetDeadline(time.Now().Add(s.svc.cfg.AuthTimeout))
	if err := tc.HandshakeContext(s.svc.ctx); err != nil {
		return fmt.Errorf("c2s: tls handshake: %w", err)
	}
	_ = tc.SetDeadline(time.Time{})
	s.tls = tc
	s.conn = tc
	s.q.SetConn(tc)
	if s.direct && tc.ConnectionState().ServerName != "" {
		s.host = strings.ToLower(tc.ConnectionState().ServerName)
		if !s.svc.router.IsLocal(s.host) {
			s.host = "" // the stream header will name the host
		}
	}
	s.r.Reset(s.conn)
	return nil
}

// channelBindings returns the connection's channel-binding data, derived
// once: the features, the SASL and the FAST exchange of one login all ask,
// and the TLS exporter is a key derivation each time.
func (s *Session) channelBindings() []sasl.ChannelBinding {
	if s.tls == nil || s.svc.cfg.NoChannelBinding {
		return nil
	}
	if s.bindings != nil {
		return *s.bindings
	}
	cs := s.tls.ConnectionState()
	var out []sasl.ChannelBinding
	if sasl.TLSExporterAvailable(cs) {
		out = append(out, sasl.ChannelBinding{Type: sasl.CBTLSExporter, Derive: sync.OnceValue(func() []byte {
			data, _ := sasl.TLSExporter(cs)
			return data
		})})
	}
	if cert := s.localCert(); cert != nil {
		out = append(out, sasl.ChannelBinding{Type: sasl.CBTLSServerEndPoint, Data: sasl.TLSServerEndPoint(cert)})
	}
	if cs.HandshakeComplete {
		s.bindings = &out
	}
	return out
}

// saslOffer is what a stream announces for authentication: the SASL
// mechanisms, and the features that list them (SASL, SASL2 with what it
// can do inline, the channel-binding types). Streams alike get the same
// offer, built once and shared read-only: built anew, it was a fifth of
// what the server allocated for a login outside TLS.
type saslOffer struct {
	mechs    []string
	features []*xmlel.Element
}

// saslOffer returns the offer for this stream. It depends on the
// service's configuration, on whether the stream is encrypted and on
// the channel-binding types it supports (see channelBindings).
func (s *Session) saslOffer() *saslOffer {
	bindings := s.channelBindings()
	types := sasl.ChannelBindingTypes(bindings)
	key := strings.Join(types, " ")
	if s.secure() {
		key = "tls " + key
	}
	if o, ok := s.svc.offers.Load(key); ok {
		return o.(*saslOffer)
	}
	o := &saslOffer{mechs: sasl.Names(s.secure(), bindings)}
	m := xmlel.New(stream.NSSASL, "mechanisms")
	for _, name := range o.mechs {
		m.Append(xmlel.TextElement(stream.NSSASL, "mechanism", name))
	}
	o.features = append(o.features, m)
	if s.secure() {
		// XEP-0388 §4: SASL2 only on an encrypted stream.
		o.features = append(o.features, s.sasl2Feature(o.mechs))
	}
	if len(types) > 0 {
		cb := xmlel.New(nsSASLCB, "sasl-channel-binding")
		for _, t := range types {
			cb.Append(xmlel.New(nsSASLCB, "channel-binding", "type", t))
		}
		o.features = append(o.features, cb)
	}
	shared, _ := s.svc.offers.LoadOrStore(key, o)
	return shared.(*saslOffer)
}

// authenticate runs one SASL exchange; ok reports success.
func (s *Session) authenticate(auth *xmlel.Element, advertised []string) (ok bool, err error) {
	name := auth.Attr("mechanism")
	ex, err := sasl.Start(name, sasl.Config{
		Creds:      s.credsFor(),
		TLS:        s.secure(),
		Bindings:   s.channelBindings(),
		Advertised: advertised,
		FakeSecret: s.svc.cfg.FakeSecret,
		Iterations: s.svc.cfg.SCRAMIterations,
	})
	if err != nil {
		s.saslFailure(stream.NSSASL, name, err)
		return false, nil
	}
	in, err := sasl.Decode(strings.TrimSpace(auth.Text()))
	for {
		var out []byte
		var done bool
		if err == nil {
			out, done, err = ex.Step(in)
		}
		if err != nil {
			s.authFailed(ex.Username())
			s.saslFailure(stream.NSSASL, name, err)
			return false, nil
		}
		if done {
			user := ex.Username()
			bare, perr := jid.New(user, s.host, "")
			if perr != nil {
				s.saslFailure(stream.NSSASL, name, sasl.ErrNotAuthorized)
				return false, nil
			}
			if az := ex.Authzid(); az != "" {
				if a, perr := jid.Parse(az); perr != nil || !a.Equal(bare) {
					s.saslFailure(stream.NSSASL, name, sasl.ErrInvalidAuthzid)
					return false, nil
				}
			}
			s.authSucceeded(bare.String())
			s.user = bare.String()
			s.svc.m.AuthResults.With(name, "success").Inc()
			success := xmlel.New(stream.NSSASL, "success")
			if len(out) > 0 {
				success.AppendText(base64.StdEncoding.EncodeToString(out))
			}
			s.writeDirect(success)
			// Authenticated: this connection no longer counts against
			// the unauthenticated limits.
			s.release()
			return true, nil
		}
		ch := xmlel.New(stream.NSSASL, "challenge")
		if len(out) > 0 {
			ch.AppendText(base64.StdEncoding.EncodeToString(out))
		}
		s.writeDirect(ch)
		el, rerr := s.r.Next()
		if rerr != nil {
			return false, s.endOfStream(rerr)
		}
		switch {
		case el.Is(stream.NSSASL, "response"):
			in, err = sasl.Decode(strings.TrimSpace(el.Text()))
		case el.Is(stream.NSSASL, "abort"):
			s.writeDirect(xmlel.New(stream.NSSASL, "failure").Append(xmlel.New(stream.NSSASL, "aborted")))
			return false, nil
		default:
			return false, stream.Error{Condition: stream.UnsupportedStanzaType}
		}
	}
}

// saslFailure sends <failure/> in ns, RFC 6120's (stream.NSSASL) or
// SASL2's (nsSASL2), with the RFC 6120 §6.5 condition for err.
func (s *Session) saslFailure(ns, mech string, err error) {
	cond := saslCondition(err)
	s.svc.m.AuthResults.With(metricMech(mech), cond).Inc()
	s.svc.log.Debug("c2s authentication failed", "mechanism", metricMech(mech), "condition", cond, "sasl2", ns == nsSASL2)
	s.writeDirect(xmlel.New(ns, "failure").Append(xmlel.New(stream.NSSASL, cond)))
}

// authFailed waits before the answer to a failed authentication when
// the connection's address, or the account the client claimed, failed too
// often lately (see penalty). The longer of the two waits counts.
func (s *Session) authFailed(user string) {
	d := s.svc.fails.fail(s.ip)
	if acct := s.accountKey(user); acct != "" {
		d = max(d, s.svc.acctFails.fail(acct))
	}
	if d > 0 {
		time.Sleep(d)
	}
}

// authSucceeded forgets the failures of the address and of the account
// bare (a bare JID).
func (s *Session) authSucceeded(bare string) {
	s.svc.fails.succeed(s.ip)
	s.svc.acctFails.succeed(bare)
}

// accountKey returns the bare JID the claimed username names on the
// stream's host, "" when it names none.
func (s *Session) accountKey(user string) string {
	if user == "" || s.host == "" {
		return ""
	}
	if strings.Contains(user, "@") {
		// A SASL2 or FAST exchange may carry the bare JID.
		if j, err := jid.Parse(user); err == nil && j.Domain() == s.host {
			return j.Bare().String()
		}
		return ""
	}
	bare, err := jid.New(user, s.host, "")
	if err != nil {
		return ""
	}
	return bare.String()
}

// credsFor scopes credential lookups to the stream's host.
func (s *Session) credsFor() sasl.Credentials {
	return hostCreds{host: s.host, c: s.svc.creds}
}

type hostCreds struct {
	host string
	c    sasl.Credentials
}

// Keys looks the user up as user@host.
func (h hostCreds) Keys(username string, hash sasl.Hash) (sasl.Keys, error) {
	bare, err := jid.New(username, h.host, "")
	if err != nil {
		return sasl.Keys{}, sasl.ErrNoSuchUser
	}
	return h.c.Keys(bare.String(), hash)
}

// boundLoop offers binding and then serves stanzas until the stream ends.
func (s *Session) boundLoop(ctx context.Context) error {
	s.writeDirect(s.postAuthFeatures())
	return s.stanzas(ctx)
}

// postAuthFeatures are the stream features of an authenticated stream:
// resource binding until a resource is bound, stream management until it
// is enabled (XEP-0198 §2), client state indication (XEP-0352 §3.1).
func (s *Session) postAuthFeatures() *xmlel.Element {
	f := xmlel.New(stream.NS, "features")
	if !s.bound {
		f.Append(
			xmlel.New(stream.NSBind, "bind"),
			xmlel.New(stream.NSSession, "session").Append(xmlel.New(stream.NSSession, "optional")),
		)
	}
	f.Append(xmlel.New(nsRosterVer, "ver"), xmlel.New(nsPreApproval, "sub"))
	if b := s.box; b == nil || !b.smEnabled() {
		f.Append(xmlel.New(nsSM, "sm"))
	}
	f.Append(xmlel.New(nsCSI, "csi"))
	return f
}

// stanzas reads until the stream ends or the client falls quiet
// (errQuiet): binding first, then stanzas for the core, and the stream
// management and client state elements.
func (s *Session) stanzas(ctx context.Context) error {
	// The stanzas' context carries the session's tracker, which counts
	// each as handled once its writes are durable (XEP-0198 §4).
	var tracked *outbox
	tctx := ctx
	// Messages forwarded as bytes are written through s.batch.
	bctx := transport.WithBatch(ctx, &s.batch)
	for {
		v, err := s.r.NextView()
		if err != nil {
			if errors.Is(err, transport.ErrQuiet) {
				return errQuiet
			}
			return s.endOfStream(err)
		}
		if s.replaced.Load() {
			// Another connection resumed the session: what still
			// arrives here belongs to a stream that is over.
			return nil
		}
		if s.bound && s.forward(bctx, v) {
			// Nothing it did waits for storage: handled.
			s.box.settled.Done(true)
			continue
		}
		// What follows may wait (storage, another session's lock).
		s.batch.Flush()
		el := v.Element()
		if !stanza.IsStanza(el) {
			if el.Is(stream.NS, "error") {
				return nil
			}
			ok, err := s.nonza(el)
			if err != nil {
				return err
			}
			if !ok {
				return stream.Error{Condition: stream.UnsupportedStanzaType}
			}
			continue
		}
		if !s.bound {
			if err := s.bind(ctx, el); err != nil {
				return err
			}
			continue
		}
		if s.box != tracked {
			tracked = s.box
			tctx = tracked.settled.Context(ctx)
		}
		err = s.handle(tctx, el)
		// XEP-0198 §4: handled, whatever became of it, once it is.
		tracked.settled.Done(err == nil)
		if err != nil {
			return err
		}
	}
}

// handle passes one stanza from the bound client on.
func (s *Session) handle(ctx context.Context, el *xmlel.Element) error {
	st, err := s.inboundStanza(el, false)
	if err != nil || st == nil {
		return err
	}
	s.throttle()
	s.in.count(s.svc.m.in, el.Local)
	if st.Kind() == stanza.IQ {
		p := st.Payload()
		// Legacy session establishment (RFC 3921 §3, dropped by RFC 6121,
		// Appendix E), without 'to' or addressed to the host as RFC 3921
		// shows it: there is nothing to establish, so it succeeds.
		if p != nil && p.Is(stream.NSSession, "session") && st.Type() == "set" &&
			(st.To.IsZero() || st.To.IsDomain() && st.To.Domain() == s.host) {
			s.Send(st.Result())
			return nil
		}
		if p != nil && p.Space == nsMAM && st.IsRequest() {
			s.box.queriedArchive()
		}
	}
	s.svc.core.Outbound(ctx, s, st)
	return nil
}

// forward passes on a message from the bound client as the bytes it
// wrote, when the core takes it so (Forwarder), and reports whether it
// did. Everything else, and any message that needs more than its
// addresses checked, becomes a tree for handle: one with a 'from', whose
// 'to' is malformed or not in canonical form, or whose bytes the reader
// did not keep whole.
func (s *Session) forward(ctx context.Context, v *xmlstream.View) bool {
	fwd := s.svc.forwarder
	raw := v.Raw()
	// Bytes that open with "<message" and no prefix are a message; its
	// namespace is the one in scope, the stream's unless it declares one.
	if fwd == nil || raw == nil || !opensMessage(raw) || v.Space() != "" {
		return false
	}
	if _, ok := v.Attr("from"); ok {
		return false
	}
	to, ok := v.Attr("to")
	if !ok {
		return false
	}
	var t jid.JID
	if string(to) == s.lastTo.String() {
		t = s.lastTo
	} else {
		p, err := jid.Parse(string(to))
		if err != nil || p.String() != string(to) {
			return false
		}
		t, s.lastTo = p, p
	}
	typ, _ := v.Attr("type")
	id, _ := v.Attr("id")
	m := &s.outline
	*m = stanza.Outline{From: s.jid, To: t, Type: stanza.MessageType(string(typ)), ID: id, Kids: v}
	took := fwd.Forward(ctx, s, m, raw)
	*m = stanza.Outline{}
	if !took {
		return false
	}
	s.throttle()
	s.in.count(s.svc.m.in, stanza.Message)
	return true
}

// opensMessage reports whether raw starts with a message's start tag
// without a prefix: "<message" and a space or the tag's end.
func opensMessage(raw []byte) bool {
	const open = "<" + stanza.Message
	if len(raw) <= len(open) || string(raw[:len(open)]) != open {
		return false
	}
	switch raw[len(open)] {
	case ' ', '\t', '\r', '\n', '>', '/':
		return true
	}
	return false
}

// inboundStanza checks a stanza's addresses (RFC 6120 §8.1.2.1: the
// server stamps 'from'; a client may only claim its own JID) and prepares
// them. It answers a malformed 'to' itself and returns nil then.
func (s *Session) inboundStanza(el *xmlel.Element, preAuth bool) (*stanza.Stanza, error) {
	st := &stanza.Stanza{El: el}
	if !preAuth {
		if from := el.Attr("from"); from != "" {
			f, err := jid.Parse(from)
			if err != nil || !(f.Equal(s.jid) || (f.IsBare() && f.Equal(s.jid.Bare()))) {
				return nil, stream.Error{Condition: stream.InvalidFrom}
			}
		}
		st.From = s.jid
		el.SetAttr("from", s.jid.String())
	}
	if to := el.Attr("to"); to != "" {
		if to == s.lastTo.String() {
			st.To = s.lastTo
			return st, nil
		}
		t, err := jid.Parse(to)
		if err != nil {
			if reply := stanza.ErrorReply(el, stanza.E(stanza.JIDMalformed)); reply != nil {
				reply.SetAttr("from", "")
				s.send(reply, preAuth)
			}
			return nil, nil
		}
		st.To = t
		if t.String() != to {
			el.SetAttr("to", t.String())
		} else {
			s.lastTo = t.Clone()
		}
	}
	return st, nil
}

func (s *Session) send(el *xmlel.Element, direct bool) {
	if direct {
		s.writeDirect(el)
		return
	}
	s.Send(el)
}

// bind handles resource binding (RFC 6120 §7), the only stanza accepted
// before a resource is bound.
func (s *Session) bind(ctx context.Context, el *xmlel.Element) error {
	b := el.Child(stream.NSBind, "bind")
	if el.Local != stanza.IQ || el.Attr("type") != "set" || b == nil {
		if el.Local == stanza.IQ && el.Attr("type") != "result" && el.Attr("type") != "error" {
			s.writeDirect(stanza.ErrorReply(el, stanza.E(stanza.NotAuthorized)))
			return nil
		}
		return stream.Error{Condition: stream.NotAuthorized, Text: "bind a resource first"}
	}
	resource := strings.TrimSpace(b.ChildText(stream.NSBind, "resource"))
	if resource == "" {
		resource = randomID(10)
	}
	if cond := s.bindResource(resource, s.svc.cfg.ReplaceOnConflict); cond != "" {
		s.Send(stanza.ErrorReply(el, stanza.E(cond)))
		return nil
	}
	res := xmlel.New("", stanza.IQ, "type", "result", "id", el.Attr("id")).Append(
		xmlel.New(stream.NSBind, "bind").Append(xmlel.TextElement(stream.NSBind, "jid", s.jid.String())))
	s.reply(res)
	s.box.start()
	return nil
}

// bindResource binds resource to the session, or returns the stanza error
// condition that says why not. replace decides what happens to another
// session bound to the same resource (RFC 6120 §7.7.2.2).
func (s *Session) bindResource(resource string, replace bool) stanza.Condition {
	bare, _ := jid.Parse(s.user) // validated at authentication
	full, err := bare.WithResource(resource)
	if err != nil {
		return stanza.BadRequest
	}
	s.jid = full
	s.q.Start()
	s.box = newOutbox(s.svc, s)
	old, err := s.svc.router.Bind(s, replace, s.svc.cfg.SessionsPerAcct)
	switch {
	case errors.Is(err, router.ErrConflict):
		s.box = nil
		return stanza.Conflict
	case errors.Is(err, router.ErrTooManySessions):
		s.box = nil
		return stanza.ResourceConstraint
	case err != nil:
		// The account was disabled or removed while this session logged
		// in (router.Revoke): it ends as the account's bound sessions
		// did, and what follows the failed bind is not written.
		var revoked *router.RevokedError
		e := stream.Error{Condition: stream.NotAuthorized}
		if errors.As(err, &revoked) {
			e = revoked.Stream
		}
		s.box = nil
		s.closeStream(e, true, false)
		return stanza.NotAuthorized
	}
	if old != nil {
		old.CloseWithError(stream.Error{Condition: stream.Conflict, Text: "replaced by a new session"})
	}
	s.bound = true
	s.raw.SetExpiry(time.Time{})
	s.svc.m.Sessions.Add(1)
	s.raw.SetIdle(s.svc.cfg.IdleTimeout, s.svc.cfg.IdleGrace, s.ping)
	s.setQuiet()
	return ""
}

// ping probes a silent client (XEP-0199); any answer, or anything else
// the client sends, counts as alive.
func (s *Session) ping() {
	s.Send(xmlel.New("", stanza.IQ, "type", "get", "id", "ping-"+randomID(6), "from", s.host, "to", s.jid.String()).
		Append(xmlel.New(nsPing, "ping")))
}

// throttle delays the reader when the client sends stanzas faster than
// its rate (burst twice the rate): a flood slows the flooder only.
func (s *Session) throttle() {
	rate := float64(s.svc.cfg.StanzaRate)
	if rate <= 0 {
		return
	}
	// Counted from when the bytes holding the stanza arrived: the clock
	// is read once per read, not per stanza.
	s.stanzaRate.TakeAfter(s.raw.LastData(), 1, rate, 2*rate, s.batch.Flush)
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:n]
}
