package s2s

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"samtal.org/samtal/internal/dns"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/transport"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

type outState uint8

const (
	outConnecting outState = iota
	outReady
	outClosed
)

type enqueueResult uint8

const (
	queued enqueueResult = iota
	full
	closedResult
)

var (
	errClosed      = errors.New("s2s: stream closed")
	errUnreachable = errors.New("s2s: server unreachable")
)

// outConn is an outbound stream for one domain pair, from the first
// stanza that needs it until it is idle or fails.
type outConn struct {
	svc *Service
	pair

	mu         sync.Mutex
	state      outState
	pending    []*stanza.Stanza
	q          *transport.Queue
	verifies   map[string]chan bool // dialback verifications by stream id
	bidi       bool
	negotiated chan struct{} // closed once TLS is up and the writer runs
	canVerify  chan struct{} // closed once no stream restart can come
	verifyOnce sync.Once
	done       chan struct{} // closed when the stream ended
	idle       *time.Timer

	last atomic.Int64 // unix nanoseconds of the last stanza either way

	// Owned by the reader goroutine.
	conn     net.Conn
	tls      *tls.Conn
	r        *xmlstream.Reader
	certOK   bool
	streamID string
}

func newOutConn(s *Service, p pair) *outConn {
	c := &outConn{
		svc: s, pair: p,
		verifies:   make(map[string]chan bool),
		negotiated: make(chan struct{}),
		canVerify:  make(chan struct{}),
		done:       make(chan struct{}),
	}
	c.touch()
	return c
}

func (c *outConn) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *outConn) isReady() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == outReady
}

// enqueue sends st, or keeps it until the stream is ready.
func (c *outConn) enqueue(st *stanza.Stanza) enqueueResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case outClosed:
		return closedResult
	case outConnecting:
		if len(c.pending) >= c.svc.cfg.QueueLength {
			return full
		}
		c.pending = append(c.pending, st)
		return queued
	}
	c.touch()
	c.send(st)
	return queued
}

// send queues a stanza for writing; c.mu is held and the writer runs.
func (c *outConn) send(st *stanza.Stanza) {
	_, over := c.q.Append(func(b []byte) []byte { return st.El.AppendXML(b, xmlel.NSServer) })
	c.svc.m.StanzasOut.With(st.Kind()).Inc()
	if over {
		c.svc.log.Info("s2s peer too slow, closing the stream")
		c.svc.m.StreamErrs.With(string(stream.PolicyViolation)).Inc()
		c.q.CloseWith(streamError(stream.Error{Condition: stream.PolicyViolation, Text: "too slow"}), false)
	}
}

// write queues raw bytes: directly to the connection before the writer
// starts (only the reader goroutine writes then), through it after.
func (c *outConn) write(b []byte) {
	c.q.Append(func(dst []byte) []byte { return append(dst, b...) })
}

// closeWithError ends the stream with a stream error after what is
// queued, which may be the header of the stream just restarted (see
// inConn.closeWithError); a peer too slow to read loses it instead
// (send).
func (c *outConn) closeWithError(e stream.Error) { c.end(e) }

// shutdown ends the stream with system-shutdown after what is queued.
func (c *outConn) shutdown() { c.end(stream.Error{Condition: stream.SystemShutdown}) }

func (c *outConn) end(e stream.Error) {
	c.mu.Lock()
	q := c.q
	c.state = outClosed
	c.mu.Unlock()
	if q != nil {
		c.svc.m.StreamErrs.With(string(e.Condition)).Inc()
		q.CloseWith(streamError(e), true)
	}
}

// verify sends a dialback verification request on this stream and waits
// for the answer (XEP-0220 §2.1.2).
func (c *outConn) verify(ctx context.Context, id, key string) (bool, error) {
	wait := time.NewTimer(c.svc.cfg.ConnectTimeout + c.svc.cfg.AuthTimeout)
	defer wait.Stop()
	// A verification request sent while SASL is under way would land
	// between <success/> and the stream restart, where the peer drops
	// it: wait until the stream is authenticated or on to dialback.
	select {
	case <-c.canVerify:
	case <-c.done:
		return false, errUnreachable
	case <-ctx.Done():
		return false, ctx.Err()
	case <-wait.C:
		return false, errUnreachable
	}
	ch := make(chan bool, 1)
	c.mu.Lock()
	if c.state == outClosed {
		c.mu.Unlock()
		return false, errClosed
	}
	if _, dup := c.verifies[id]; dup {
		c.mu.Unlock()
		return false, errors.New("s2s: verification already pending for this stream")
	}
	c.verifies[id] = ch
	c.write(dbElement{name: "verify", from: c.local, to: c.remote, id: id, key: key}.append(nil))
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.verifies, id)
		c.mu.Unlock()
	}()
	select {
	case ok := <-ch:
		return ok, nil
	case <-c.done:
		return false, errClosed
	case <-ctx.Done():
		return false, ctx.Err()
	case <-wait.C:
		return false, errors.New("s2s: verification timed out")
	}
}

// run connects, negotiates and then reads until the stream ends.
func (c *outConn) run(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			c.svc.log.Error("s2s outbound panic", "panic", p)
		}
		c.finish(ctx, stanza.RemoteServerTimeout)
	}()
	cctx, cancel := context.WithTimeout(c.svc.dialCtx, c.svc.cfg.ConnectTimeout)
	conn, err := c.dial(cctx)
	cancel()
	if err != nil {
		cond := stanza.RemoteServerNotFound
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			cond = stanza.RemoteServerTimeout
		}
		// The error names the peer and its addresses: metadata of who
		// talks to whom, for debug logs only.
		c.svc.log.Info("s2s could not reach a server")
		c.svc.log.Debug("s2s could not reach a server", "remote", c.remote, "err", err)
		c.finish(ctx, cond)
		return
	}
	raw := transport.Wrap(conn, transport.ConnConfig{Rate: c.svc.cfg.ReadRate, Burst: c.svc.cfg.ReadBurst})
	direct := c.tls != nil
	if c.tls == nil {
		c.conn = raw
	} else {
		// Direct TLS: the handshake ran on the bare connection; wrap
		// above it so the rate limit still applies to what is read.
		c.conn = c.tls
	}
	c.mu.Lock()
	c.q = transport.NewQueue(c.conn, c.svc.cfg.OutQueueBytes)
	c.mu.Unlock()
	c.r = xmlstream.NewReader(c.conn, c.svc.cfg.Limits)
	_ = c.conn.SetDeadline(time.Now().Add(c.svc.cfg.AuthTimeout)) // bounds the negotiation
	if err := c.negotiate(raw); err != nil {
		c.svc.log.Info("s2s outbound negotiation failed")
		c.svc.log.Debug("s2s outbound negotiation failed", "remote", c.remote, "err", err)
		var se stream.Error
		if errors.As(err, &se) && se.Condition != "" {
			c.closeWithError(se)
		} else if pe, ok := stream.FromParseError(err); ok {
			// What the peer sent does not parse: say so, as the
			// inbound side and an established stream do (RFC 6120
			// §4.9.3).
			c.closeWithError(pe)
		} else {
			// The close tag goes after what is queued, as a stream
			// error does (closeWithError): after SASL's <success/> that
			// is the header of the restarted stream (RFC 6120 §6.4.6),
			// and without it the tag would close a stream the peer
			// never saw begin (§4.4). Only negotiation elements can be
			// queued here; stanzas wait in c.pending until ready.
			c.q.CloseWith([]byte(stream.Close), true)
		}
		c.finish(ctx, stanza.RemoteServerTimeout)
		return
	}
	_ = c.conn.SetDeadline(time.Time{})
	c.svc.m.Connects.With("out", tlsMode(direct)).Inc()
	c.ready()
	err = c.readLoop(ctx)
	var se stream.Error
	switch {
	case err == nil:
	case errors.As(err, &se) && se.Condition != "":
		c.closeWithError(se)
	default:
		if e, ok := stream.FromParseError(err); ok {
			c.closeWithError(e)
		}
	}
}

// dial connects to the first server of the remote domain that answers,
// in the order of its SRV records; for a direct TLS record it also
// completes the TLS handshake.
func (c *outConn) dial(ctx context.Context) (net.Conn, error) {
	targets, err := c.svc.cfg.Resolver.ServerTargets(ctx, c.remote)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, t := range targets {
		addrs, err := c.svc.cfg.Resolver.LookupAddrs(ctx, t.Host)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, a := range addrs {
			conn, err := c.dialOne(ctx, t, a)
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				return nil, errors.Join(append(errs, ctx.Err())...)
			}
		}
	}
	if len(errs) == 0 {
		errs = append(errs, dns.ErrNotFound)
	}
	return nil, fmt.Errorf("s2s: %s: %w", c.remote, errors.Join(errs...))
}

func (c *outConn) dialOne(ctx context.Context, t dns.Target, a netip.Addr) (net.Conn, error) {
	conn, err := c.svc.dial(ctx, "tcp", net.JoinHostPort(a.String(), strconv.Itoa(int(t.Port))))
	if err != nil {
		return nil, err
	}
	if !t.DirectTLS {
		return conn, nil
	}
	tc := tls.Client(transport.Wrap(conn, transport.ConnConfig{Rate: c.svc.cfg.ReadRate, Burst: c.svc.cfg.ReadBurst}), c.tlsConfig(true))
	hctx, cancel := context.WithTimeout(ctx, c.svc.cfg.AuthTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("s2s: direct TLS: %w", err)
	}
	c.tls = tc
	return conn, nil
}

// tlsConfig is the client side of TLS: SNI is the remote domain
// (XEP-0368 §3), the local domain's certificate is offered for SASL
// EXTERNAL, and the peer's chain is checked afterwards by checkCert
// against the policy rather than by the handshake.
func (c *outConn) tlsConfig(direct bool) *tls.Config {
	cfg := &tls.Config{
		ServerName:         c.remote,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // checked in checkCert, with RFC 6125 identities
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c.svc.cfg.Certificate != nil {
				if cert := c.svc.cfg.Certificate(c.local); cert != nil {
					return cert, nil
				}
			}
			return &tls.Certificate{}, nil
		},
	}
	if direct {
		cfg.NextProtos = []string{alpnServer}
	}
	return cfg
}

// negotiate runs TLS and authentication (RFC 6120 §5, §6; XEP-0220).
func (c *outConn) negotiate(raw net.Conn) error {
	authed := false
	policy := c.svc.cfg.Policy(c.remote)
	for {
		c.write(appendHeader(nil, c.local, c.remote, ""))
		hdr, err := c.r.Header()
		if err != nil {
			return err
		}
		if hdr.Space != stream.NS || hdr.Local != "stream" || c.r.ContentNS() != xmlel.NSServer {
			return stream.Error{Condition: stream.InvalidNamespace}
		}
		id := hdr.Attr("id")
		el, err := c.next()
		if err != nil {
			return err
		}
		if !el.Is(stream.NS, "features") {
			return stream.Error{Condition: stream.UnsupportedStanzaType}
		}
		f := parseFeatures(el)
		if c.tls == nil {
			// RFC 7590 §3: server streams are encrypted; a peer that
			// does not offer STARTTLS gets nothing.
			if !f.startTLS {
				return stream.Error{Condition: stream.PolicyViolation, Text: "TLS is required"}
			}
			c.write(xmlel.New(stream.NSTLS, "starttls").AppendXML(nil, xmlel.NSServer))
			el, err := c.next()
			if err != nil {
				return err
			}
			if !el.Is(stream.NSTLS, "proceed") {
				return errors.New("s2s: STARTTLS refused")
			}
			tc := tls.Client(raw, c.tlsConfig(false))
			if err := tc.Handshake(); err != nil {
				return fmt.Errorf("s2s: TLS: %w", err)
			}
			c.tls = tc
			c.conn = tc
			c.q.SetConn(tc)
			c.r.Reset(tc)
			continue
		}
		if !c.checkedCert() {
			c.checkCert()
			if !c.certOK && policy == PolicyVerify {
				return stream.Error{Condition: stream.PolicyViolation, Text: "certificate not valid for the domain"}
			}
			c.q.Start()
			close(c.negotiated)
		}
		if authed {
			return nil
		}
		c.streamID = id
		if f.bidi {
			// XEP-0288 §3.2: before authentication.
			c.write(xmlel.New(NSBidi, "bidi").AppendXML(nil, xmlel.NSServer))
			c.mu.Lock()
			c.bidi = true
			c.mu.Unlock()
		}
		if f.external && c.hasCert() {
			c.write(saslAuth(c.local))
			el, err := c.next()
			if err != nil {
				return err
			}
			if el.Is(stream.NSSASL, "success") {
				c.svc.m.Auth.With("out", "external", "success").Inc()
				c.r.Reset(c.conn)
				authed = true
				continue
			}
			c.svc.m.Auth.With("out", "external", "failure").Inc()
			if !f.dialback {
				return errors.New("s2s: SASL EXTERNAL failed and no dialback offered")
			}
		}
		if id == "" {
			return errors.New("s2s: no stream id for dialback")
		}
		// XEP-0220 §2.1.1: ask to send stanzas from local to remote.
		c.allowVerify()
		c.write(dbElement{name: "result", from: c.local, to: c.remote, key: c.svc.dialbackKey(c.remote, c.local, id)}.append(nil))
		for {
			el, err := c.next()
			if err != nil {
				return err
			}
			if !el.Is(NSDialback, "result") {
				continue
			}
			d := parseDB(el)
			if domainOf(d.from) != c.remote || domainOf(d.to) != c.local {
				continue
			}
			switch d.typ {
			case "valid":
				c.svc.m.Auth.With("out", "dialback", "success").Inc()
				return nil
			case "invalid":
				c.svc.m.Auth.With("out", "dialback", "failure").Inc()
				return errors.New("s2s: dialback key refused")
			default:
				c.svc.m.Auth.With("out", "dialback", "failure").Inc()
				return fmt.Errorf("s2s: dialback error %s", d.errCond)
			}
		}
	}
}

func tlsMode(direct bool) string {
	if direct {
		return "direct"
	}
	return "starttls"
}

func (c *outConn) checkedCert() bool {
	select {
	case <-c.negotiated:
		return true
	default:
		return false
	}
}

func (c *outConn) hasCert() bool {
	return c.svc.cfg.Certificate != nil && c.svc.cfg.Certificate(c.local) != nil
}

// checkCert validates the receiving server's certificate for the remote
// domain (RFC 6120 §13.7.2, RFC 6125).
func (c *outConn) checkCert() {
	err := VerifyCert(c.tls.ConnectionState().PeerCertificates, c.svc.cfg.Roots, c.remote, time.Now())
	c.certOK = err == nil
	if err != nil {
		c.svc.log.Debug("s2s peer certificate not valid", "domain", c.remote, "err", err)
	}
}

// next reads the next element, handling the answers to dialback
// verifications and the peer's stream errors on the way.
func (c *outConn) next() (*xmlel.Element, error) {
	for {
		el, err := c.r.Next()
		if err != nil {
			return nil, err
		}
		if el.Is(stream.NS, "error") {
			return nil, peerError(el)
		}
		if el.Is(NSDialback, "verify") {
			d := parseDB(el)
			c.mu.Lock()
			ch := c.verifies[d.id]
			c.mu.Unlock()
			if ch != nil && domainOf(d.from) == c.remote && domainOf(d.to) == c.local {
				select {
				case ch <- d.typ == "valid":
				default:
				}
			}
			continue
		}
		return el, nil
	}
}

// peerError is the error for a <stream:error/> the peer sent; its zero
// Condition means "do not answer with one".
type peerStreamError struct{ cond string }

func (e peerStreamError) Error() string { return "s2s: peer sent stream error " + e.cond }

func peerError(el *xmlel.Element) error {
	cond := "unknown"
	for _, c := range el.Elements() {
		if c.Space == stream.NSErrors && c.Local != "text" {
			cond = c.Local
		}
	}
	return peerStreamError{cond}
}

func (c *outConn) allowVerify() {
	c.verifyOnce.Do(func() { close(c.canVerify) })
}

// ready flushes what waited and starts the idle timer.
func (c *outConn) ready() {
	c.allowVerify()
	c.mu.Lock()
	c.state = outReady
	pending := c.pending
	c.pending = nil
	for _, st := range pending {
		c.send(st)
	}
	c.idle = time.AfterFunc(c.svc.cfg.IdleTimeout, c.idleCheck)
	c.mu.Unlock()
	c.touch()
	c.svc.log.Debug("s2s outbound stream ready", "local", c.local, "remote", c.remote, "tls_verified", c.certOK)
}

// idleCheck closes the stream when nothing went either way for the idle
// timeout; a stanza that arrives meanwhile opens a new one.
func (c *outConn) idleCheck() {
	idle := c.svc.cfg.IdleTimeout
	since := time.Since(time.Unix(0, c.last.Load()))
	c.mu.Lock()
	if c.state != outReady {
		c.mu.Unlock()
		return
	}
	if since < idle {
		c.idle.Reset(idle - since)
		c.mu.Unlock()
		return
	}
	c.state = outClosed
	c.mu.Unlock()
	c.svc.forget(c)
	c.svc.log.Debug("s2s closing an idle stream")
	c.q.CloseWith([]byte(stream.Close), true)
}

// readLoop handles what the peer sends on an authenticated stream: with
// bidirectionality, stanzas from the remote domain (XEP-0288).
func (c *outConn) readLoop(ctx context.Context) error {
	for {
		el, err := c.next()
		if errors.Is(err, io.EOF) {
			c.q.CloseWith([]byte(stream.Close), true)
			return nil
		}
		if err != nil {
			return err
		}
		if el.Is(NSDialback, "result") || el.Is(NSDialback, "verify") {
			continue
		}
		if !stanza.IsStanza(el) {
			return stream.Error{Condition: stream.UnsupportedStanzaType}
		}
		c.mu.Lock()
		bidi := c.bidi
		c.mu.Unlock()
		if !bidi {
			return stream.Error{Condition: stream.UnsupportedStanzaType, Text: "bidirectionality was not negotiated"}
		}
		st, err := checkAddress(el, c.svc.isLocal,
			func(local, remote string) bool { return local == c.local && remote == c.remote },
			func(remote string) bool { return remote == c.remote })
		if err != nil {
			return err
		}
		c.touch()
		c.svc.m.StanzasIn.With(el.Local).Inc()
		c.svc.router.Route(ctx, st)
	}
}

// finish ends the stream: what still waits is bounced with cond, and
// everyone waiting on it learns it is gone. It runs once.
func (c *outConn) finish(ctx context.Context, cond stanza.Condition) {
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return
	default:
	}
	c.state = outClosed
	pending := c.pending
	c.pending = nil
	if c.idle != nil {
		c.idle.Stop()
	}
	q := c.q
	close(c.done)
	c.mu.Unlock()
	c.svc.forget(c)
	if q != nil {
		q.Finish(2 * time.Second)
	}
	for _, st := range pending {
		c.svc.bounce(ctx, st, cond)
	}
}
