// Package bench is the load generator behind samtal-bench: a minimal XMPP
// client (RFC 6120 STARTTLS, SASL SCRAM-SHA-1/SHA-256 and PLAIN, resource
// binding; XEP-0388 SASL2 with XEP-0386 Bind 2 where offered, on demand;
// XEP-0077 in-band registration) and bounded scenarios that
// measure any XMPP server from the outside: idle sessions, 1:1 messaging,
// logins, group chat fan-out (XEP-0045) and archive queries (XEP-0313).
//
// It shares no code with the server but the XML reader
// (internal/xmlstream) and the element tree it returns: every byte it
// sends is written here, and the SCRAM client is computed here from
// RFC 5802.
package bench

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// XML namespaces the client speaks.
const (
	nsStream  = "http://etherx.jabber.org/streams"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
	nsReg     = "jabber:iq:register"
	nsMUC     = "http://jabber.org/protocol/muc"
	nsMUCUser = "http://jabber.org/protocol/muc#user"
	nsMUCOwn  = "http://jabber.org/protocol/muc#owner"
	nsMAM     = "urn:xmpp:mam:2"
	nsDisco   = "http://jabber.org/protocol/disco#info"
	nsSASL2   = "urn:xmpp:sasl:2"
	nsBind2   = "urn:xmpp:bind:0"
)

// Target says where and how to connect.
type Target struct {
	Addr      string // host:port of the STARTTLS listener
	Domain    string // the XMPP domain
	Mechanism string // SASL mechanism; "" picks SCRAM-SHA-256, SCRAM-SHA-1, PLAIN in that order
	CAFile    string // PEM certificate to trust; "" trusts nothing and skips verification
	Sources   []net.IP
	Timeout   time.Duration // for each step of a login; 0 is 30 s
	// SASL2 logs in with SASL2 and Bind 2 (XEP-0388, XEP-0386) where the
	// server offers them, as Conversations and Monal do: no stream
	// restart and no bind round trip. Elsewhere, and when false, a login
	// is RFC 6120's SASL, restart and bind.
	SASL2 bool

	once   sync.Once
	tlsCfg *tls.Config
	tlsErr error
	next   atomic.Uint32
}

func (t *Target) tlsConfig() (*tls.Config, error) {
	t.once.Do(func() {
		cfg := &tls.Config{ServerName: t.Domain, MinVersion: tls.VersionTLS12}
		if t.CAFile == "" {
			// A benchmark of a local server with a self-signed certificate.
			cfg.InsecureSkipVerify = true
		} else {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				t.tlsErr = err
				return
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				t.tlsErr = fmt.Errorf("bench: no certificate in %s", t.CAFile)
				return
			}
			cfg.RootCAs = pool
		}
		// The key exchanges XMPP clients and the peers' TLS libraries
		// have in common: a post-quantum hybrid share would make the
		// handshake of a server that supports it costlier than the
		// others', for a reason that is not theirs.
		cfg.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
		// Each login is a full handshake, as a fresh client's is.
		cfg.SessionTicketsDisabled = true
		cfg.ClientSessionCache = nil
		t.tlsCfg = cfg
	})
	return t.tlsCfg, t.tlsErr
}

func (t *Target) timeout() time.Duration {
	if t.Timeout <= 0 {
		return 30 * time.Second
	}
	return t.Timeout
}

// dial opens a TCP connection, from the next source address in turn.
func (t *Target) dial(ctx context.Context) (net.Conn, error) {
	// No TCP keep-alive: the connections are on loopback and short-lived,
	// so probes would never be sent, and arming them takes four system
	// calls per connection, the generator's CPU on the server's cores.
	d := net.Dialer{Timeout: t.timeout(), KeepAlive: -1}
	if n := len(t.Sources); n > 0 {
		d.LocalAddr = &net.TCPAddr{IP: t.Sources[int(t.next.Add(1))%n]}
		d.Control = bindLater
	}
	return d.DialContext(ctx, "tcp", t.Addr)
}

// Conn is one client stream.
type Conn struct {
	t   *Target
	nc  net.Conn
	g   *gather // under nc: holds writes until sent (gather.go)
	r   *xmlstream.Reader
	JID string // the bound full JID
	// SASL2 says that the login was SASL2 with Bind 2 (Target.SASL2).
	SASL2 bool
	feat  *xmlel.Element

	wmu sync.Mutex
	out []byte
}

// clientLimits are generous: archive results and room history can be
// large, and the server is trusted here.
var clientLimits = xmlstream.Limits{MaxStanzaBytes: 4 << 20, MaxDepth: 64, MaxAttrs: 256}

// StreamError is a stream error the server sent.
type StreamError struct{ Condition, Text string }

func (e *StreamError) Error() string {
	if e.Text != "" {
		return "stream error " + e.Condition + ": " + e.Text
	}
	return "stream error " + e.Condition
}

// ErrConflict is returned by Register when the account exists.
var ErrConflict = errors.New("bench: account exists")

// connect opens a stream, negotiates STARTTLS and returns the features
// offered after it.
func (t *Target) connect(ctx context.Context) (*Conn, error) {
	nc, err := t.dial(ctx)
	if err != nil {
		return nil, err
	}
	g := newGather(nc)
	c := &Conn{t: t, nc: g, g: g}
	c.r = xmlstream.NewReader(g, clientLimits)
	_ = nc.SetDeadline(time.Now().Add(t.timeout()))
	if err := c.open(); err != nil {
		nc.Close()
		return nil, err
	}
	if c.feat.Child(nsTLS, "starttls") == nil {
		nc.Close()
		return nil, errors.New("bench: server offers no STARTTLS")
	}
	if err := c.writeNow([]byte(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err != nil {
		nc.Close()
		return nil, err
	}
	el, err := c.r.Next()
	if err != nil {
		nc.Close()
		return nil, err
	}
	if !el.Is(nsTLS, "proceed") {
		nc.Close()
		return nil, fmt.Errorf("bench: STARTTLS refused: <%s/>", el.Local)
	}
	cfg, err := t.tlsConfig()
	if err != nil {
		nc.Close()
		return nil, err
	}
	tc := tls.Client(g, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("bench: TLS handshake: %w", err)
	}
	c.nc = tc
	c.r.Reset(tc)
	if err := c.open(); err != nil {
		tc.Close()
		return nil, err
	}
	return c, nil
}

// open sends a stream header and reads the server's and its features.
func (c *Conn) open() error {
	hdr := "<?xml version='1.0'?><stream:stream to='" + escape(c.t.Domain) +
		"' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	if err := c.writeNow([]byte(hdr)); err != nil {
		return err
	}
	if _, err := c.r.Header(); err != nil {
		return fmt.Errorf("bench: stream header: %w", err)
	}
	return c.features()
}

// features reads the stream features the server sends next.
func (c *Conn) features() error {
	el, err := c.r.Next()
	if err != nil {
		return fmt.Errorf("bench: features: %w", err)
	}
	if !el.Is(nsStream, "features") {
		return streamErr(el)
	}
	c.feat = el
	return nil
}

func streamErr(el *xmlel.Element) error {
	if el.Is(nsStream, "error") {
		e := &StreamError{}
		for _, ch := range el.Elements() {
			if ch.Local == "text" {
				e.Text = ch.Text()
			} else {
				e.Condition = ch.Local
			}
		}
		return e
	}
	return fmt.Errorf("bench: unexpected <%s xmlns='%s'/>", el.Local, el.Space)
}

// Login connects, authenticates user (the local part) with password and
// binds resource ("" lets the server choose).
func (t *Target) Login(ctx context.Context, user, password, resource string) (*Conn, error) {
	c, err := t.connect(ctx)
	if err != nil {
		return nil, err
	}
	if t.SASL2 && c.feat.Child(nsSASL2, "authentication") != nil {
		c.SASL2 = true
		err = c.auth(sasl2, user, password, resource)
	} else {
		err = c.login6120(user, password, resource)
	}
	if err != nil {
		c.nc.Close()
		return nil, err
	}
	_ = c.nc.SetDeadline(time.Time{})
	// The scenarios write and send their stanzas themselves.
	if err := c.g.direct(); err != nil {
		c.nc.Close()
		return nil, err
	}
	return c, nil
}

// login6120 authenticates, restarts the stream and binds resource, as
// RFC 6120 §6 and §7 do.
func (c *Conn) login6120(user, password, resource string) error {
	if err := c.auth(sasl1, user, password, ""); err != nil {
		return err
	}
	c.r.Reset(c.nc)
	if err := c.open(); err != nil {
		return err
	}
	return c.bind(resource)
}

// Register creates an account with XEP-0077 in-band registration. It
// returns ErrConflict when the account exists.
func (t *Target) Register(ctx context.Context, user, password string) error {
	c, err := t.connect(ctx)
	if err != nil {
		return err
	}
	defer c.nc.Close()
	req := "<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>" + escape(user) +
		"</username><password>" + escape(password) + "</password></query></iq>"
	if err := c.writeNow([]byte(req)); err != nil {
		return err
	}
	for {
		el, err := c.r.Next()
		if err != nil {
			return fmt.Errorf("bench: register: %w", err)
		}
		if el.Local != "iq" || el.Attr("id") != "reg1" {
			if el.Is(nsStream, "error") {
				return streamErr(el)
			}
			continue
		}
		c.closeStream()
		switch el.Attr("type") {
		case "result":
			return nil
		case "error":
			if e := el.Child("", "error"); e != nil && e.Child("urn:ietf:params:xml:ns:xmpp-stanzas", "conflict") != nil {
				return ErrConflict
			}
			return fmt.Errorf("bench: registration refused: %s", errCondition(el))
		}
	}
}

func errCondition(el *xmlel.Element) string {
	if e := el.Child("", "error"); e != nil {
		for _, ch := range e.Elements() {
			if ch.Space == "urn:ietf:params:xml:ns:xmpp-stanzas" && ch.Local != "text" {
				return ch.Local
			}
		}
	}
	return "unknown error"
}

// saslProfile is one of the two ways of running SASL on a stream.
type saslProfile struct {
	ns       string // of the challenge, response, success and failure
	feature  string // the stream feature listing the mechanisms
	mechName string // the feature's child naming one mechanism
}

var (
	sasl1 = saslProfile{nsSASL, "mechanisms", "mechanism"}      // RFC 6120 §6
	sasl2 = saslProfile{nsSASL2, "authentication", "mechanism"} // XEP-0388
)

// mechanism picks the SASL mechanism among those offered.
func (c *Conn) mechanism(p saslProfile) (string, error) {
	m := c.feat.Child(p.ns, p.feature)
	if m == nil {
		return "", errors.New("bench: no SASL mechanisms offered")
	}
	offered := map[string]bool{}
	for _, e := range m.Elements() {
		if e.Is(p.ns, p.mechName) {
			offered[strings.TrimSpace(e.Text())] = true
		}
	}
	if c.t.Mechanism != "" {
		if !offered[c.t.Mechanism] {
			return "", fmt.Errorf("bench: server does not offer %s", c.t.Mechanism)
		}
		return c.t.Mechanism, nil
	}
	for _, name := range []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"} {
		if offered[name] {
			return name, nil
		}
	}
	return "", errors.New("bench: no supported SASL mechanism offered")
}

// auth authenticates user with password. With sasl2 it also binds a
// resource with Bind 2, tagged resource ("bench" when empty), and reads
// the features that follow; with sasl1 the caller restarts the stream.
func (c *Conn) auth(p saslProfile, user, password, resource string) error {
	mech, err := c.mechanism(p)
	if err != nil {
		return err
	}
	var sc *scram
	var first []byte
	switch mech {
	case "PLAIN":
		first = []byte("\x00" + user + "\x00" + password)
	case "SCRAM-SHA-1", "SCRAM-SHA-256":
		sc = newSCRAM(mech, user, password)
		first = sc.first()
	default:
		return fmt.Errorf("bench: unsupported mechanism %s", mech)
	}
	ir := base64.StdEncoding.EncodeToString(first)
	var msg string
	if p == sasl1 {
		msg = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" + mech + "'>" + ir + "</auth>"
	} else {
		if resource == "" {
			resource = "bench"
		}
		// A new installation each time, as each login here is a fresh
		// client's: the server makes a new resource for it.
		msg = "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='" + mech + "'><initial-response>" + ir +
			"</initial-response><user-agent id='" + uuid4() + "'><software>samtal-bench</software></user-agent>" +
			"<bind xmlns='urn:xmpp:bind:0'><tag>" + escape(resource) + "</tag></bind></authenticate>"
	}
	if err := c.writeNow([]byte(msg)); err != nil {
		return err
	}
	for {
		el, err := c.r.Next()
		if err != nil {
			return fmt.Errorf("bench: SASL: %w", err)
		}
		text := el.Text()
		if p == sasl2 && el.Is(p.ns, "success") {
			text = el.ChildText(p.ns, "additional-data")
		}
		data, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
		if derr != nil {
			return fmt.Errorf("bench: SASL: bad base64 from server")
		}
		switch {
		case el.Is(p.ns, "challenge"):
			if sc == nil {
				return errors.New("bench: unexpected SASL challenge")
			}
			resp, err := sc.step(data)
			if err != nil {
				return err
			}
			if err := c.writeNow([]byte("<response xmlns='" + p.ns + "'>" +
				base64.StdEncoding.EncodeToString(resp) + "</response>")); err != nil {
				return err
			}
		case el.Is(p.ns, "success"):
			if sc != nil {
				if len(data) > 0 {
					if _, err := sc.step(data); err != nil {
						return err
					}
				}
				if !sc.verified {
					return errors.New("bench: server signature missing")
				}
			}
			if p == sasl2 {
				return c.bound2(el)
			}
			return nil
		case el.Is(p.ns, "failure"):
			cond := "failure"
			if ch := el.FirstElement(); ch != nil {
				cond = ch.Local
			}
			return fmt.Errorf("bench: authentication failed: %s", cond)
		default:
			return streamErr(el)
		}
	}
}

// bound2 takes the full JID from a SASL2 success that bound a resource
// (XEP-0386 §3), and the stream features that follow it without a
// restart (XEP-0388).
func (c *Conn) bound2(success *xmlel.Element) error {
	if success.Child(nsBind2, "bound") == nil {
		return errors.New("bench: Bind 2 bound no resource")
	}
	c.JID = strings.TrimSpace(success.ChildText(nsSASL2, "authorization-identifier"))
	if !strings.Contains(c.JID, "/") {
		return fmt.Errorf("bench: Bind 2 bound %q, not a full JID", c.JID)
	}
	return c.features()
}

func (c *Conn) bind(resource string) error {
	if c.feat.Child(nsBind, "bind") == nil {
		return errors.New("bench: server offers no resource binding")
	}
	req := "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
	if resource != "" {
		req = "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" +
			escape(resource) + "</resource></bind></iq>"
	}
	el, err := c.request(req, "bind1")
	if err != nil {
		return err
	}
	if el.Attr("type") != "result" {
		return fmt.Errorf("bench: bind failed: %s", errCondition(el))
	}
	b := el.Child(nsBind, "bind")
	if b == nil {
		return errors.New("bench: bind result without a JID")
	}
	c.JID = strings.TrimSpace(b.ChildText(nsBind, "jid"))
	// RFC 3921 session establishment, for servers that still require it.
	if s := c.feat.Child(nsSession, "session"); s != nil && s.Child(nsSession, "optional") == nil {
		el, err := c.request("<iq type='set' id='sess1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>", "sess1")
		if err != nil {
			return err
		}
		if el.Attr("type") != "result" {
			return fmt.Errorf("bench: session failed: %s", errCondition(el))
		}
	}
	return nil
}

// request writes an iq and waits for the answer with the same id,
// skipping anything else that arrives meanwhile. Only for use before the
// connection's reader is handed to a scenario.
func (c *Conn) request(req, id string) (*xmlel.Element, error) {
	if err := c.writeNow([]byte(req)); err != nil {
		return nil, err
	}
	for {
		el, err := c.r.Next()
		if err != nil {
			return nil, err
		}
		if el.Is(nsStream, "error") {
			return nil, streamErr(el)
		}
		if el.Local == "iq" && el.Space == "" && el.Attr("id") == id {
			return el, nil
		}
	}
}

// Next reads the next element from the server.
func (c *Conn) Next() (*xmlel.Element, error) { return c.r.Next() }

// SetReadDeadline bounds the next reads.
func (c *Conn) SetReadDeadline(t time.Time) { _ = c.nc.SetReadDeadline(t) }

// Queue adds raw XML to the output buffer; Flush writes it.
func (c *Conn) Queue(b []byte) {
	c.wmu.Lock()
	c.out = append(c.out, b...)
	c.wmu.Unlock()
}

// QueueFunc appends to the output buffer with f.
func (c *Conn) QueueFunc(f func([]byte) []byte) {
	c.wmu.Lock()
	c.out = f(c.out)
	c.wmu.Unlock()
}

// Flush writes what was queued in one write.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.out) == 0 {
		return nil
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.t.timeout()))
	_, err := c.nc.Write(c.out)
	if err == nil && c.g.on.Load() {
		err = c.g.send()
	}
	if cap(c.out) > 64<<10 {
		c.out = nil
	} else {
		c.out = c.out[:0]
	}
	return err
}

// Send queues b and flushes.
func (c *Conn) Send(b []byte) error {
	c.Queue(b)
	return c.Flush()
}

func (c *Conn) writeNow(b []byte) error { return c.Send(b) }

// closeStream ends the stream politely and closes the connection
// without waiting for the server's close tag. The tag and TLS's
// close_notify leave together when the connection closes.
func (c *Conn) closeStream() {
	c.g.on.Store(true)
	c.wmu.Lock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.t.timeout()))
	_, _ = c.nc.Write([]byte("</stream:stream>"))
	c.wmu.Unlock()
	c.nc.Close()
}

// Close ends the stream and closes the connection.
func (c *Conn) Close() { c.closeStream() }

// Abort closes the connection without a closing tag.
func (c *Conn) Abort() { c.nc.Close() }

// escape escapes s for an attribute value or character data.
func escape(s string) string { return xmlEscaper.Replace(s) }

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", "\"", "&quot;")

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on Linux
	return hex.EncodeToString(b)
}

// isClosed reports whether err is the end of a connection that this
// side closed or the server ended cleanly.
func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// uuid4 is a random UUID (RFC 9562 §5.4), as XEP-0388 asks of a
// user agent's id.
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randInt(n int64) int64 {
	if n <= 0 {
		return 0
	}
	v, _ := rand.Int(rand.Reader, big.NewInt(n))
	return v.Int64()
}
