// Package component accepts external components (XEP-0114, Jabber
// Component Protocol): a gateway or bot connects, proves it knows the
// shared secret of its domain with the handshake, and from then on the
// server routes every stanza for that domain to it and routes what it
// sends.
package component

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/listener"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/transport"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// Config configures the component listener.
type Config struct {
	Secrets       map[string]string // domain -> shared secret
	Limits        xmlstream.Limits
	AuthTimeout   time.Duration
	IdleTimeout   time.Duration
	OutQueueBytes int
}

// Service accepts component connections.
type Service struct {
	cfg    Config
	router *router.Router
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[*conn]struct{}
}

// New returns a component service.
func New(cfg Config, r *router.Router, log *slog.Logger) *Service {
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{cfg: cfg, router: r, log: log, ctx: ctx, cancel: cancel, conns: make(map[*conn]struct{})}
}

// acceptBackoff is the pause after a failed Accept: always 50 ms.
var acceptBackoff = listener.Backoff{Min: 50 * time.Millisecond, Max: 50 * time.Millisecond}

// Listen accepts components on ln until Close.
func (s *Service) Listen(ln net.Listener) {
	s.mu.Lock()
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		listener.Accept(s.ctx, ln, acceptBackoff, nil, func(c net.Conn) bool {
			cn := &conn{svc: s, raw: transport.Wrap(c, transport.ConnConfig{Idle: s.cfg.AuthTimeout})}
			if s.cfg.AuthTimeout > 0 {
				// The handshake must be done within the time, however
				// slowly the bytes come.
				cn.raw.SetExpiry(time.Now().Add(s.cfg.AuthTimeout))
			}
			cn.q = transport.NewQueue(cn.raw, s.cfg.OutQueueBytes)
			cn.r = xmlstream.NewReader(cn.raw, s.cfg.Limits)
			s.mu.Lock()
			s.conns[cn] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				cn.serve(s.ctx)
				s.mu.Lock()
				delete(s.conns, cn)
				s.mu.Unlock()
			}()
			return true
		})
	}()
}

// Close stops accepting and ends every component stream.
func (s *Service) Close(ctx context.Context) {
	s.mu.Lock()
	for _, ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.CloseWithError(stream.Error{Condition: stream.SystemShutdown})
	}
	listener.Wait(ctx, &s.wg)
	s.cancel()
}

// conn is one component connection.
type conn struct {
	svc    *Service
	raw    *transport.Conn
	q      *transport.Queue
	r      *xmlstream.Reader
	domain string
}

func (c *conn) write(el *xmlel.Element) {
	c.q.Append(func(b []byte) []byte { return stream.AppendElement(b, el, xmlel.NSComponent) })
}

// Handle routes a stanza to the component.
func (c *conn) Handle(_ context.Context, st *stanza.Stanza) {
	_, over := c.q.Append(func(b []byte) []byte { return st.El.AppendXML(b, xmlel.NSComponent) })
	if over {
		c.CloseWithError(stream.Error{Condition: stream.PolicyViolation, Text: "too slow"})
	}
}

// CloseWithError ends the stream with an error.
func (c *conn) CloseWithError(e stream.Error) {
	b := stream.AppendElement(nil, e.Element(), xmlel.NSComponent)
	c.q.CloseWith(append(b, stream.Close...), false)
}

func (c *conn) serve(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			c.svc.log.Error("component panic", "panic", p)
		}
		c.q.Finish(2 * time.Second)
		if c.domain != "" {
			c.svc.router.RemoveDomain(c.domain, c)
			c.svc.log.Info("component disconnected", "domain", c.domain)
		}
	}()
	err := c.run(ctx)
	var se stream.Error
	switch {
	case err == nil:
	case errors.As(err, &se):
		c.CloseWithError(se)
	case errors.Is(err, transport.ErrIdle), errors.Is(err, transport.ErrExpired):
		c.CloseWithError(stream.Error{Condition: stream.ConnectionTimeout})
	default:
		if e, ok := stream.FromParseError(err); ok {
			c.CloseWithError(e)
		}
	}
}

func (c *conn) run(ctx context.Context) error {
	hdr, err := c.r.Header()
	id := randomID()
	open := func(from string) {
		h := stream.Header{From: from, ID: id, ContentNS: xmlel.NSComponent, NoVersion: true}
		c.q.Append(func(b []byte) []byte { return h.Append(b) })
	}
	if err != nil {
		if e, ok := stream.FromParseError(err); ok {
			open("")
			return e
		}
		return err
	}
	domain := strings.ToLower(hdr.Attr("to"))
	open(domain)
	secret, known := c.svc.cfg.Secrets[domain]
	switch {
	case hdr.Space != stream.NS || hdr.Local != "stream" || c.r.ContentNS() != xmlel.NSComponent:
		return stream.Error{Condition: stream.InvalidNamespace}
	case !known:
		return stream.Error{Condition: stream.HostUnknown}
	}
	el, err := c.r.Next()
	if err != nil {
		return err
	}
	if !el.Is("", "handshake") {
		return stream.Error{Condition: stream.NotAuthorized}
	}
	// XEP-0114 §3: the handshake is hex(SHA-1(stream id + secret)).
	want := sha1.Sum([]byte(id + secret))
	got := strings.ToLower(strings.TrimSpace(el.Text()))
	if subtle.ConstantTimeCompare([]byte(got), []byte(hex.EncodeToString(want[:]))) != 1 {
		return stream.Error{Condition: stream.NotAuthorized}
	}
	if c.svc.router.HasDomain(domain) || c.svc.router.IsLocal(domain) {
		return stream.Error{Condition: stream.Conflict, Text: "the domain is already served"}
	}
	c.domain = domain
	c.raw.SetExpiry(time.Time{})
	c.q.Start()
	c.svc.router.AddDomain(domain, c)
	c.write(xmlel.New("", "handshake"))
	c.raw.SetIdle(c.svc.cfg.IdleTimeout, time.Minute, func() {
		c.q.Append(func(b []byte) []byte { return append(b, ' ') })
	})
	c.svc.log.Info("component connected", "domain", domain)
	for {
		el, err := c.r.Next()
		if errors.Is(err, io.EOF) {
			c.q.CloseWith([]byte(stream.Close), true)
			return nil
		}
		if err != nil {
			return err
		}
		if !stanza.IsStanza(el) {
			return stream.Error{Condition: stream.UnsupportedStanzaType}
		}
		st, err := c.address(el)
		if err != nil {
			return err
		}
		if st != nil {
			c.svc.router.Route(ctx, st)
		}
	}
}

// address checks that a component speaks only for its own domain
// (XEP-0114 §3: 'from' at the component's domain, 'to' present).
func (c *conn) address(el *xmlel.Element) (*stanza.Stanza, error) {
	from, err := jid.Parse(el.Attr("from"))
	if err != nil || from.Domain() != c.domain {
		return nil, stream.Error{Condition: stream.InvalidFrom}
	}
	to, err := jid.Parse(el.Attr("to"))
	if err != nil {
		if el.Attr("to") == "" {
			return nil, stream.Error{Condition: stream.ImproperAddressing}
		}
		if reply := stanza.ErrorReply(el, stanza.E(stanza.JIDMalformed)); reply != nil {
			c.write(reply)
		}
		return nil, nil
	}
	return &stanza.Stanza{El: el, From: from, To: to}, nil
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails on Linux
	return hex.EncodeToString(b)
}
