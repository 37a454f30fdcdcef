package s2s

import (
	"context"
	"crypto/hmac"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/transport"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// maxVerifying bounds the dialback verifications one inbound stream may
// have under way at once.
const maxVerifying = 8

// inConn is one inbound server-to-server connection.
type inConn struct {
	svc     *Service
	raw     *transport.Conn
	conn    net.Conn
	tls     *tls.Conn
	r       *xmlstream.Reader
	q       *transport.Queue
	release func()
	direct  bool

	// Owned by the reader goroutine.
	streamID string
	local    string // the stream's 'to'
	remote   string // the stream's 'from', or the SASL identity
	sasl     bool
	certs    map[string]bool // certificate validity by domain

	mu        sync.Mutex
	authed    map[pair]bool
	counted   []string // remote domains counted in svc.inDomains, with svc.mu held too (addInbound)
	verifying int
	bidi      bool
}

func newInConn(s *Service, c net.Conn, direct bool, release func()) *inConn {
	ic := &inConn{
		svc: s, release: release, direct: direct,
		certs:  make(map[string]bool),
		authed: make(map[pair]bool),
	}
	ic.raw = transport.Wrap(c, transport.ConnConfig{
		Rate: s.cfg.ReadRate, Burst: s.cfg.ReadBurst, Idle: s.cfg.AuthTimeout,
	})
	ic.conn = ic.raw
	ic.q = transport.NewQueue(ic.conn, s.cfg.OutQueueBytes)
	ic.r = xmlstream.NewReader(ic.conn, s.cfg.Limits)
	return ic
}

func (c *inConn) serve(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			c.svc.log.Error("s2s inbound panic", "panic", p)
		}
		c.q.Finish(2 * time.Second)
		c.release()
		c.svc.removeInbound(c)
	}()
	err := c.run(ctx)
	var se stream.Error
	switch {
	case err == nil:
	case errors.As(err, &se):
		c.closeWithError(se)
	case errors.Is(err, transport.ErrIdle):
		if c.anyAuthed() {
			// An idle authenticated stream just ends (RFC 6120 §4.4).
			c.q.CloseWith([]byte(stream.Close), true)
		} else {
			c.closeWithError(stream.Error{Condition: stream.ConnectionTimeout})
		}
	default:
		if e, ok := stream.FromParseError(err); ok {
			c.closeWithError(e)
		} else {
			c.svc.log.Debug("s2s inbound stream ended", "err", err)
		}
	}
}

// closeWithError ends the stream with a stream error after what is
// queued: the header and features of a stream just restarted, answers,
// stanzas. Dropping them could leave the error outside any stream the
// peer saw begin (RFC 6120 §4.9.1.1). A peer too slow to read loses what
// is queued instead (sendBidi), and one that does not read at all is
// cut off by serve's Finish.
func (c *inConn) closeWithError(e stream.Error) {
	c.svc.m.StreamErrs.With(string(e.Condition)).Inc()
	c.q.CloseWith(streamError(e), true)
}

// shutdown ends the stream with system-shutdown after what is queued on
// it (a bidirectional stream carries stanzas of ours).
func (c *inConn) shutdown() {
	c.svc.m.StreamErrs.With(string(stream.SystemShutdown)).Inc()
	c.q.CloseWith(streamError(stream.Error{Condition: stream.SystemShutdown}), true)
}

func (c *inConn) write(b []byte) {
	c.q.Append(func(dst []byte) []byte { return append(dst, b...) })
}

func (c *inConn) run(ctx context.Context) error {
	if c.direct {
		if err := c.startTLS(); err != nil {
			return err
		}
	}
	for {
		restart, err := c.negotiate(ctx)
		if err != nil || !restart {
			return err
		}
	}
}

func (c *inConn) startTLS() error {
	if c.svc.cfg.TLS == nil {
		return errors.New("s2s: no certificates for TLS")
	}
	cfg := c.svc.cfg.TLS.Clone()
	// Ask for the peer's certificate for SASL EXTERNAL; it is checked
	// against the domain it claims, not by the handshake.
	cfg.ClientAuth = tls.RequestClientCert
	cfg.NextProtos = []string{alpnServer}
	tc := tls.Server(c.raw, cfg)
	_ = tc.SetDeadline(time.Now().Add(c.svc.cfg.AuthTimeout)) // bounds the handshake
	if err := tc.HandshakeContext(c.svc.ctx); err != nil {
		return fmt.Errorf("s2s: TLS handshake: %w", err)
	}
	_ = tc.SetDeadline(time.Time{})
	c.tls = tc
	c.conn = tc
	c.q.SetConn(tc)
	c.q.Start()
	c.r.Reset(tc)
	return nil
}

// certValid reports whether the peer's certificate is valid for domain.
func (c *inConn) certValid(domain string) bool {
	if c.tls == nil || domain == "" {
		return false
	}
	if ok, seen := c.certs[domain]; seen {
		return ok
	}
	err := VerifyCert(c.tls.ConnectionState().PeerCertificates, c.svc.cfg.Roots, domain, time.Now())
	if err != nil {
		c.svc.log.Debug("s2s peer certificate not valid", "domain", domain, "err", err)
	}
	if len(c.certs) < 16 {
		c.certs[domain] = err == nil
	}
	return err == nil
}

// negotiate reads a stream header, sends features and handles what
// follows until a stream restart (true) or the end of the stream.
func (c *inConn) negotiate(ctx context.Context) (restart bool, err error) {
	hdr, err := c.r.Header()
	if err != nil {
		if e, ok := stream.FromParseError(err); ok {
			c.write(appendHeader(nil, "", "", randomID()))
			return false, e
		}
		return false, err
	}
	to := domainOf(hdr.Attr("to"))
	from := domainOf(hdr.Attr("from"))
	c.streamID = randomID()
	c.write(appendHeader(nil, to, from, c.streamID))
	switch {
	case hdr.Space != stream.NS || hdr.Local != "stream" || c.r.ContentNS() != xmlel.NSServer:
		return false, stream.Error{Condition: stream.InvalidNamespace}
	case !strings.HasPrefix(hdr.Attr("version"), "1."):
		return false, stream.Error{Condition: stream.UnsupportedVersion}
	case to == "" || !c.svc.isLocal(to):
		return false, stream.Error{Condition: stream.HostUnknown}
	case c.local != "" && to != c.local:
		return false, stream.Error{Condition: stream.HostUnknown, Text: "the host changed on restart"}
	case hdr.Attr("from") != "" && from == "":
		return false, stream.Error{Condition: stream.InvalidFrom}
	case c.sasl && from != "" && from != c.remote:
		return false, stream.Error{Condition: stream.InvalidFrom}
	case from != "" && c.svc.cfg.Policy(from) == PolicyDeny:
		return false, stream.Error{Condition: stream.PolicyViolation, Text: "federation with this domain is not allowed"}
	}
	c.local = to
	if !c.sasl {
		c.remote = from
	}

	features := xmlel.New(stream.NS, "features")
	switch {
	case c.tls == nil:
		// RFC 7590 §3: no server stream without TLS.
		features.Append(xmlel.New(stream.NSTLS, "starttls").Append(xmlel.New(stream.NSTLS, "required")))
	case !c.sasl:
		if c.certValid(from) {
			features.Append(xmlel.New(stream.NSSASL, "mechanisms").Append(
				xmlel.TextElement(stream.NSSASL, "mechanism", mechanismEXTERNAL)))
		}
		if from == "" || c.svc.cfg.Policy(from) == PolicyDialback || c.certValid(from) {
			features.Append(xmlel.New(NSDialbackFeature, "dialback").Append(xmlel.New(NSDialbackFeature, "errors")))
		}
		features.Append(xmlel.New(NSBidiFeature, "bidi"))
	}
	c.write(stream.AppendElement(nil, features, xmlel.NSServer))

	for {
		el, err := c.r.Next()
		if errors.Is(err, io.EOF) {
			c.q.CloseWith([]byte(stream.Close), true)
			return false, nil
		}
		if err != nil {
			return false, err
		}
		switch {
		case el.Is(stream.NS, "error"):
			c.svc.log.Debug("s2s peer ended the stream with an error", "err", peerError(el))
			return false, nil
		case c.tls == nil:
			if !el.Is(stream.NSTLS, "starttls") {
				return false, stream.Error{Condition: stream.PolicyViolation, Text: "STARTTLS is required"}
			}
			c.write(xmlel.New(stream.NSTLS, "proceed").AppendXML(nil, xmlel.NSServer))
			if err := c.startTLS(); err != nil {
				return false, err
			}
			return true, nil
		case el.Is(NSBidi, "bidi"):
			c.mu.Lock()
			c.bidi = true
			c.mu.Unlock()
		case el.Is(stream.NSSASL, "auth"):
			ok, err := c.external(el)
			if err != nil || ok {
				return ok, err
			}
		case el.Is(NSDialback, "result"):
			if err := c.dialbackResult(ctx, el); err != nil {
				return false, err
			}
		case el.Is(NSDialback, "verify"):
			c.dialbackVerify(el)
		case stanza.IsStanza(el):
			if err := c.stanza(ctx, el); err != nil {
				return false, err
			}
		default:
			return false, stream.Error{Condition: stream.UnsupportedStanzaType}
		}
	}
}

// external handles SASL EXTERNAL (XEP-0178 §3): the identity is the
// authorization identity, or the stream's 'from' when it is empty, and
// the peer's certificate must be valid for it.
func (c *inConn) external(el *xmlel.Element) (bool, error) {
	fail := func(cond string) (bool, error) {
		c.svc.m.Auth.With("in", "external", cond).Inc()
		c.write(xmlel.New(stream.NSSASL, "failure").Append(xmlel.New(stream.NSSASL, cond)).AppendXML(nil, xmlel.NSServer))
		return false, nil
	}
	if c.sasl {
		return false, stream.Error{Condition: stream.PolicyViolation, Text: "already authenticated"}
	}
	if el.Attr("mechanism") != mechanismEXTERNAL {
		return fail("invalid-mechanism")
	}
	data, err := sasl.Decode(strings.TrimSpace(el.Text()))
	if err != nil {
		return fail("incorrect-encoding")
	}
	domain := c.remote
	if len(data) > 0 {
		domain = domainOf(string(data))
		if domain == "" || c.remote != "" && domain != c.remote {
			return fail("invalid-authzid")
		}
	}
	if domain == "" || !c.certValid(domain) || c.svc.cfg.Policy(domain) == PolicyDeny {
		return fail("not-authorized")
	}
	if err := c.authorize(pair{c.local, domain}); err != nil {
		return false, err
	}
	c.svc.m.Auth.With("in", "external", "success").Inc()
	c.sasl = true
	c.remote = domain
	c.write(xmlel.New(stream.NSSASL, "success").AppendXML(nil, xmlel.NSServer))
	c.r.Reset(c.conn)
	return true, nil
}

// authorize records that the peer may send from p.remote to p.local.
// It fails with errClosed once the stream ended.
func (c *inConn) authorize(p pair) error {
	c.mu.Lock()
	if c.authed[p] {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if err := c.svc.addInbound(c, p.remote); err != nil {
		return err
	}
	c.mu.Lock()
	first := len(c.authed) == 0
	c.authed[p] = true
	bidi := c.bidi
	c.mu.Unlock()
	if first {
		// Authenticated: the connection leaves the unauthenticated
		// gate and may stay as long as it is used.
		c.svc.m.Connects.With("in", tlsMode(c.direct)).Inc()
		c.release()
		c.raw.SetIdle(c.svc.cfg.IdleTimeout, 0, nil)
	}
	if bidi {
		c.svc.addBidi(c, p)
	}
	c.svc.log.Debug("s2s inbound stream authenticated", "local", p.local, "remote", p.remote)
	return nil
}

func (c *inConn) isAuthed(local, remote string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authed[pair{local, remote}]
}

func (c *inConn) remoteAuthed(remote string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := range c.authed {
		if p.remote == remote {
			return true
		}
	}
	return false
}

func (c *inConn) anyAuthed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.authed) > 0
}

// dialbackResult handles a request to send from a domain to one of ours
// (XEP-0220 §2.2.1). A certificate valid for the sender domain settles it
// at once; otherwise, if the policy allows, the key is verified with the
// sender domain's authoritative server while the stream goes on.
func (c *inConn) dialbackResult(ctx context.Context, el *xmlel.Element) error {
	d := parseDB(el)
	from, to := domainOf(d.from), domainOf(d.to)
	answer := func(typ, cond string) {
		c.write(dbElement{name: "result", from: to, to: from, typ: typ, errCond: cond}.append(nil))
	}
	if d.typ != "" {
		return nil // an answer, which only bidi peers would send here
	}
	switch {
	case to == "" || !c.svc.isLocal(to):
		to = d.to
		answer("error", "item-not-found")
		return nil
	case from == "":
		from = d.from
		answer("error", "bad-request")
		return nil
	case c.isAuthed(to, from):
		answer("valid", "")
		return nil
	}
	policy := c.svc.cfg.Policy(from)
	switch {
	case policy == PolicyDeny:
		c.svc.m.Auth.With("in", "dialback", "denied").Inc()
		answer("error", "policy-violation")
		return nil
	case c.certValid(from):
		// XEP-0344 §2.3: a certificate valid for the sender domain
		// proves more than a dialback key would.
		if err := c.authorize(pair{to, from}); err != nil {
			return err
		}
		c.svc.m.Auth.With("in", "dialback-cert", "success").Inc()
		answer("valid", "")
		return nil
	case policy == PolicyVerify:
		c.svc.m.Auth.With("in", "dialback", "untrusted").Inc()
		answer("error", "not-authorized")
		return nil
	}
	c.mu.Lock()
	if c.verifying >= maxVerifying {
		c.mu.Unlock()
		answer("error", "resource-constraint")
		return nil
	}
	c.verifying++
	c.mu.Unlock()
	id, key := c.streamID, d.key
	c.svc.wg.Add(1)
	go func() {
		defer c.svc.wg.Done()
		defer func() {
			c.mu.Lock()
			c.verifying--
			c.mu.Unlock()
		}()
		vctx, cancel := context.WithTimeout(ctx, c.svc.cfg.ConnectTimeout+c.svc.cfg.AuthTimeout)
		defer cancel()
		ok, err := c.svc.verify(vctx, to, from, id, key)
		switch {
		case err != nil:
			c.svc.m.Auth.With("in", "dialback", "error").Inc()
			// Which domains talk is metadata: at info level, only that
			// it happened.
			c.svc.log.Info("s2s dialback verification failed")
			c.svc.log.Debug("s2s dialback verification failed", "remote", from, "err", err)
			answer("error", "remote-server-not-found")
		case ok:
			if err := c.authorize(pair{to, from}); err != nil {
				var se stream.Error
				if errors.As(err, &se) {
					c.closeWithError(se)
				}
				return
			}
			c.svc.m.Auth.With("in", "dialback", "success").Inc()
			answer("valid", "")
		default:
			// XEP-0220 §2.2.1: an invalid key on a stream with no
			// other domain pair ends it.
			c.svc.m.Auth.With("in", "dialback", "invalid").Inc()
			c.svc.log.Info("s2s dialback key refused by the authoritative server")
			answer("invalid", "")
			if !c.anyAuthed() {
				c.q.CloseWith([]byte(stream.Close), true)
			}
		}
	}()
	return nil
}

// dialbackVerify answers a verification request about a key this server
// made (XEP-0220 §2.2.2, as Authoritative Server).
func (c *inConn) dialbackVerify(el *xmlel.Element) {
	d := parseDB(el)
	receiving, originating := domainOf(d.from), domainOf(d.to)
	reply := dbElement{name: "verify", from: d.to, to: d.from, id: d.id}
	switch {
	case originating == "" || !c.svc.isLocal(originating):
		reply.typ, reply.errCond = "error", "item-not-found"
	case receiving == "" || d.id == "":
		reply.typ, reply.errCond = "error", "bad-request"
	case hmac.Equal([]byte(c.svc.dialbackKey(receiving, originating, d.id)), []byte(d.key)):
		reply.typ = "valid"
	default:
		reply.typ = "invalid"
	}
	c.write(reply.append(nil))
}

// stanza routes a stanza the peer may send.
func (c *inConn) stanza(ctx context.Context, el *xmlel.Element) error {
	if !c.anyAuthed() {
		return stream.Error{Condition: stream.NotAuthorized}
	}
	st, err := checkAddress(el, c.svc.isLocal, c.isAuthed, c.remoteAuthed)
	if err != nil {
		c.svc.log.Info("s2s peer sent a stanza it may not send", "condition", err)
		return err
	}
	c.svc.m.StanzasIn.With(el.Local).Inc()
	c.svc.router.Route(ctx, st)
	return nil
}

// sendBidi sends a stanza over this inbound stream when the peer enabled
// bidirectionality and authenticated the pair (XEP-0288 §3.2); false if
// it cannot.
func (c *inConn) sendBidi(p pair, st *stanza.Stanza) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.bidi || !c.authed[p] || c.q.Closing() {
		return false
	}
	_, over := c.q.Append(func(b []byte) []byte { return st.El.AppendXML(b, xmlel.NSServer) })
	c.svc.m.StanzasOut.With(st.Kind()).Inc()
	if over {
		c.q.CloseWith(streamError(stream.Error{Condition: stream.PolicyViolation, Text: "too slow"}), false)
	}
	return true
}
