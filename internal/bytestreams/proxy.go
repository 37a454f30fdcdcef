// Package bytestreams is the SOCKS5 Bytestreams proxy of XEP-0065: a
// streamhost, proxy.<domain>, that relays a file transfer between two
// clients that cannot connect to each other directly.
//
// Both clients open a TCP connection to the proxy and ask, in the subset
// of SOCKS5 (RFC 1928) that XEP-0065 §5.3.2 defines, for the same
// destination: the hexadecimal SHA-1 of the stream ID and the initiator's
// and target's JIDs. The proxy pairs the two connections by that hash and
// holds them, reading nothing, until the initiator asks it over XMPP to
// activate the stream (§5.3.3); it then copies the bytes between them. Only
// users of this server may use it, each stream is rate-limited and lasts at
// most MaxDuration, and the connections and streams are bounded.
package bytestreams

import (
	"context"
	"crypto/sha1" //nolint:gosec // XEP-0065 names streams by SHA-1
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/transport"
	"samtal.org/samtal/internal/xmlel"
)

// NS is the namespace of SOCKS5 Bytestreams (XEP-0065).
const NS = "http://jabber.org/protocol/bytestreams"

// Config configures the proxy.
type Config struct {
	// Listen are the SOCKS5 listen addresses, "host:port".
	Listen []string
	// Host and Port are announced in <streamhost/>. "" is the listener's
	// address, or the host's domain when that listens on every
	// interface; 0 is the listener's port.
	Host string
	Port int
	// Rate bounds the bytes per second of a stream in each direction.
	Rate int
	// MaxDuration bounds how long an activated stream lasts.
	MaxDuration time.Duration
	// StreamsPerUser bounds the active streams of one user, MaxStreams
	// the streams (waiting or active) of everyone.
	StreamsPerUser, MaxStreams int
	// WaitTimeout is how long a connection waits for its peer and the
	// activation; 0 is two minutes.
	WaitTimeout time.Duration
}

// handshakeTimeout bounds the SOCKS5 negotiation of a connection.
const handshakeTimeout = 10 * time.Second

// Proxy is the running proxy. It is safe for concurrent use.
type Proxy struct {
	cfg    Config
	router *router.Router
	mux    *iq.Mux
	log    *slog.Logger
	gate   *transport.Gate
	host   string
	port   int

	mu      sync.Mutex
	waiting map[string]*stream // by destination hash, until activated
	active  map[*stream]bool   // activated streams
	users   map[jid.JID]int    // active streams per user
	lns     []net.Listener
	closed  bool
	wg      sync.WaitGroup
}

// stream is one pair of connections, by the hash both asked for.
type stream struct {
	hash  string
	conns []net.Conn // in the order they connected: the target first
	timer *time.Timer
}

// Domain returns the proxy's domain for a host.
func Domain(host string) string { return "proxy." + host }

// New starts the proxy's listeners. It serves the requests of r's hosts
// at their proxy domains once the caller routes them to it (Handle).
func New(cfg Config, r *router.Router, log *slog.Logger) (*Proxy, error) {
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = 2 * time.Minute
	}
	p := &Proxy{
		cfg:    cfg,
		router: r,
		mux:    iq.NewMux(log),
		log:    log,
		// Both sides of a user's streams, waiting and active, may come
		// from one address; and users share addresses behind NAT.
		gate:    transport.NewGate(max(8, 4*cfg.StreamsPerUser), 2*cfg.MaxStreams),
		waiting: make(map[string]*stream),
		active:  make(map[*stream]bool),
		users:   make(map[jid.JID]int),
	}
	p.mux.Handle(iq.Server, stanza.NSDiscoInfo, p.info)
	p.mux.Handle(iq.Server, stanza.NSDiscoItems, p.items)
	p.mux.Handle(iq.Server, NS, p.bytestreams)
	for _, a := range cfg.Listen {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.lns = append(p.lns, ln)
		p.wg.Add(1)
		go p.accept(ln)
	}
	if len(p.lns) > 0 {
		addr := p.lns[0].Addr().(*net.TCPAddr)
		p.port = addr.Port
		if !addr.IP.IsUnspecified() {
			p.host = addr.IP.String()
		}
	}
	if cfg.Host != "" {
		p.host = cfg.Host
	}
	if cfg.Port != 0 {
		p.port = cfg.Port
	}
	return p, nil
}

// Addrs returns the addresses the proxy listens on.
func (p *Proxy) Addrs() []net.Addr {
	var out []net.Addr
	for _, ln := range p.lns {
		out = append(out, ln.Addr())
	}
	return out
}

// Streams returns the number of streams waiting for activation and
// active.
func (p *Proxy) Streams() (waiting, active int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiting), len(p.active)
}

// Close stops the listeners and ends every stream.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for _, ln := range p.lns {
		ln.Close()
	}
	for _, s := range p.waiting {
		s.timer.Stop()
		for _, c := range s.conns {
			c.Close()
		}
	}
	p.waiting = nil
	for s := range p.active {
		for _, c := range s.conns {
			c.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// Handle serves a stanza addressed to a proxy domain.
func (p *Proxy) Handle(ctx context.Context, st *stanza.Stanza) {
	switch st.Kind() {
	case stanza.IQ:
		if !st.IsRequest() {
			return // a response to the proxy: it asks nothing
		}
		var resp *xmlel.Element
		if st.To.IsDomain() {
			resp = p.mux.Serve(ctx, iq.Server, st)
		} else {
			resp = stanza.ErrorReply(st.El, stanza.E(stanza.ServiceUnavailable))
		}
		if resp != nil {
			p.router.Route(ctx, &stanza.Stanza{El: resp, From: st.To, To: st.From})
		}
	case stanza.Message:
		p.router.Bounce(ctx, st, stanza.E(stanza.ServiceUnavailable))
	}
}

// local reports whether from is a user of this server.
func (p *Proxy) local(from jid.JID) bool {
	return from.Local() != "" && p.router.IsLocal(from.Domain())
}

func (p *Proxy) info(_ context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	if st.Type() != "get" || st.Payload().Attr("node") != "" {
		return nil, stanza.E(stanza.ItemNotFound)
	}
	// XEP-0065 §6.3: the proxy/bytestreams identity.
	return xmlel.New(stanza.NSDiscoInfo, "query").Append(
		xmlel.New(stanza.NSDiscoInfo, "identity", "category", "proxy", "type", "bytestreams", "name", "SOCKS5 Bytestreams Service"),
		xmlel.New(stanza.NSDiscoInfo, "feature", "var", stanza.NSDiscoInfo),
		xmlel.New(stanza.NSDiscoInfo, "feature", "var", NS),
	), nil
}

func (p *Proxy) items(_ context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	if st.Type() != "get" || st.Payload().Attr("node") != "" {
		return nil, stanza.E(stanza.ItemNotFound)
	}
	return xmlel.New(stanza.NSDiscoItems, "query"), nil
}

// bytestreams answers the request for the network address (§5.3.1) and
// the activation (§5.3.3).
func (p *Proxy) bytestreams(_ context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	if !p.local(st.From) {
		// §5.3.1: forbidden to those who may not use the proxy.
		return nil, stanza.E(stanza.Forbidden)
	}
	q := st.Payload()
	if q.Local != "query" {
		return nil, stanza.E(stanza.BadRequest)
	}
	if st.Type() == "get" {
		host := p.host
		if host == "" {
			host = strings.TrimPrefix(st.To.Domain(), "proxy.")
		}
		return xmlel.New(NS, "query").Append(
			xmlel.New(NS, "streamhost", "jid", st.To.String(), "host", host, "port", strconv.Itoa(p.port)),
		), nil
	}
	act := q.Child(NS, "activate")
	sid := q.Attr("sid")
	if act == nil || sid == "" || len(sid) >= 128 {
		return nil, stanza.E(stanza.BadRequest)
	}
	target, err := jid.Parse(act.Text())
	if err != nil {
		return nil, stanza.E(stanza.JIDMalformed)
	}
	return nil, p.activate(Hash(sid, st.From, target), st.From.Bare())
}

// Hash returns the destination both sides of a stream ask the proxy for
// (XEP-0065 §5.3.2): the hexadecimal SHA-1 of the stream ID, the
// initiator's JID and the target's JID, all prepared.
func Hash(sid string, initiator, target jid.JID) string {
	h := sha1.Sum([]byte(sid + initiator.String() + target.String()))
	return hex.EncodeToString(h[:])
}

// activate starts relaying the stream with the hash. The proxy knows who
// asks from the address the server stamped on the request: the hash
// includes the initiator's full JID, so only the initiator finds it
// (§5.3.3).
func (p *Proxy) activate(hash string, user jid.JID) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.waiting[hash]
	switch {
	case s == nil:
		return stanza.E(stanza.ItemNotFound)
	case len(s.conns) < 2:
		// §5.3.3: not-allowed when only one party is connected.
		return stanza.E(stanza.NotAllowed)
	case p.users[user] >= p.cfg.StreamsPerUser:
		return stanza.E(stanza.ResourceConstraint).WithText("too many transfers at once")
	}
	s.timer.Stop()
	delete(p.waiting, hash)
	p.active[s] = true
	p.users[user]++
	deadline := time.Now().Add(p.cfg.MaxDuration)
	a, b := s.conns[0], s.conns[1]
	_ = a.SetDeadline(deadline) // errors surface in the copy
	_ = b.SetDeadline(deadline)
	p.wg.Add(1)
	go p.relay(s, user, a, b)
	return nil
}

// relay copies the bytes of a stream both ways, each no faster than the
// rate. When one side has sent all it will, the other learns it by a
// half close, so that a transfer ends cleanly; the stream ends when
// both have, at an error, or at the deadline.
func (p *Proxy) relay(s *stream, user jid.JID, a, b net.Conn) {
	defer p.wg.Done()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		r := transport.Wrap(src, transport.ConnConfig{Rate: p.cfg.Rate, Burst: p.cfg.Rate})
		if _, err := io.Copy(dst, r); err != nil {
			a.Close()
			b.Close()
			return
		}
		if hc, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = hc.CloseWrite() // the peer may have gone already
		}
	}
	wg.Add(2)
	go pipe(a, b)
	go pipe(b, a)
	wg.Wait()
	a.Close()
	b.Close()
	p.mu.Lock()
	delete(p.active, s)
	if p.users[user]--; p.users[user] <= 0 {
		delete(p.users, user)
	}
	p.mu.Unlock()
	p.log.Debug("bytestream ended")
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	delay := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(delay)
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		release, ok := p.gate.Enter(transport.IP(c))
		if !ok {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if !p.negotiate(c, release) {
				release()
				c.Close()
			}
		}()
	}
}

// SOCKS5 constants (RFC 1928).
const (
	socksVersion     = 5
	methodNone       = 0
	methodNoneUsable = 0xff
	cmdConnect       = 1
	atypDomain       = 3

	repSucceeded       = 0
	repFailure         = 1
	repNotAllowed      = 2
	repCmdUnsupported  = 7
	repAtypUnsupported = 8
)

// negotiate runs the SOCKS5 handshake of one connection and files it
// under its destination. It reports false when the connection is to be
// closed; otherwise the connection belongs to its stream, and release to
// the connection's close.
func (p *Proxy) negotiate(c net.Conn, release func()) bool {
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout)) // errors surface in the reads
	var buf [2 + 255]byte
	// Greeting: VER, NMETHODS, METHODS.
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != socksVersion || buf[1] == 0 {
		return false
	}
	methods := buf[2 : 2+int(buf[1])]
	if _, err := io.ReadFull(c, methods); err != nil {
		return false
	}
	none := false
	for _, m := range methods {
		none = none || m == methodNone
	}
	if !none {
		// XEP-0065 uses no SOCKS5 authentication: the hash is the
		// secret.
		_, _ = c.Write([]byte{socksVersion, methodNoneUsable})
		return false
	}
	if _, err := c.Write([]byte{socksVersion, methodNone}); err != nil {
		return false
	}
	// Request: VER, CMD, RSV, ATYP, DST.ADDR, DST.PORT.
	if _, err := io.ReadFull(c, buf[:5]); err != nil || buf[0] != socksVersion {
		return false
	}
	cmd, atyp, n := buf[1], buf[3], int(buf[4])
	if atyp != atypDomain {
		reply(c, repAtypUnsupported, nil)
		return false
	}
	if _, err := io.ReadFull(c, buf[:n+2]); err != nil {
		return false
	}
	dst := buf[:n]
	if cmd != cmdConnect {
		// UDP (§8) is optional and not offered.
		reply(c, repCmdUnsupported, dst)
		return false
	}
	hash, ok := parseHash(dst)
	if !ok || buf[n] != 0 || buf[n+1] != 0 {
		reply(c, repNotAllowed, dst)
		return false
	}
	conn := &closer{Conn: c, release: release}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	s := p.waiting[hash]
	if s == nil {
		if len(p.waiting)+len(p.active) >= p.cfg.MaxStreams {
			p.mu.Unlock()
			reply(c, repFailure, dst)
			return false
		}
		s = &stream{hash: hash}
		s.timer = time.AfterFunc(p.cfg.WaitTimeout, func() { p.expire(s) })
		p.waiting[hash] = s
	} else if len(s.conns) >= 2 {
		// §7: only one target per stream; no multicast.
		p.mu.Unlock()
		reply(c, repNotAllowed, dst)
		return false
	}
	s.conns = append(s.conns, conn)
	p.mu.Unlock()
	// §5.3.2: BND.ADDR and BND.PORT are what the client asked for.
	if !reply(c, repSucceeded, dst) {
		// The stream holds the connection; its timer closes it.
		return true
	}
	_ = c.SetDeadline(time.Time{}) // waiting is bounded by the stream's timer
	return true
}

// expire ends a stream that was not activated in time.
func (p *Proxy) expire(s *stream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting[s.hash] != s {
		return
	}
	delete(p.waiting, s.hash)
	for _, c := range s.conns {
		c.Close()
	}
}

// reply sends a SOCKS5 reply with the domain dst as the bound address.
func reply(c net.Conn, rep byte, dst []byte) bool {
	b := append([]byte{socksVersion, rep, 0, atypDomain, byte(len(dst))}, dst...)
	b = append(b, 0, 0)
	_, err := c.Write(b)
	return err == nil
}

// parseHash checks that a destination is a hexadecimal SHA-1 and returns
// it in lowercase.
func parseHash(dst []byte) (string, bool) {
	if len(dst) != 2*sha1.Size {
		return "", false
	}
	var raw [sha1.Size]byte
	if _, err := hex.Decode(raw[:], dst); err != nil {
		return "", false
	}
	return hex.EncodeToString(raw[:]), true
}

// closer releases the connection's place in the gate when it closes.
type closer struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *closer) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// CloseWrite half-closes the underlying TCP connection.
func (c *closer) CloseWrite() error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return nil
}
