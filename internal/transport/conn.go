// Package transport wraps accepted connections with what every stream
// needs below XML: a read-rate limit (token bucket), idle detection that
// asks the stream to probe a silent peer before giving up on it, and a
// per-IP gate on connections that have not authenticated yet.
package transport

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// ConnConfig configures a wrapped connection.
type ConnConfig struct {
	// Rate is the sustained read rate in bytes per second; 0 disables
	// the limit. Burst is the bucket size.
	Rate, Burst int
	// Idle is how long a read may wait before OnIdle is called; Grace is
	// how much longer the peer then has to send anything. Zero disables.
	Idle, Grace time.Duration
	// OnIdle is called (from the reading goroutine) when the peer has
	// been silent for Idle; it typically sends a ping. It may be nil.
	OnIdle func()
}

// Conn is a net.Conn with read-rate limiting and idle detection. Reads
// are expected from one goroutine at a time.
type Conn struct {
	net.Conn
	cfg     ConnConfig
	tokens  float64
	last    time.Time
	mu      sync.Mutex // guards cfg.Idle/Grace/OnIdle and expires
	expires time.Time
	armed   bool // a read deadline is set; only the reader uses it
}

// Wrap returns c with the given limits.
func Wrap(c net.Conn, cfg ConnConfig) *Conn {
	return &Conn{Conn: c, cfg: cfg, tokens: float64(cfg.Burst), last: time.Now()}
}

// SetIdle changes idle detection, e.g. from the short authentication
// timeout to the long idle timeout once a session is bound.
func (c *Conn) SetIdle(idle, grace time.Duration, onIdle func()) {
	c.mu.Lock()
	c.cfg.Idle, c.cfg.Grace, c.cfg.OnIdle = idle, grace, onIdle
	c.mu.Unlock()
}

// SetExpiry makes reads fail with ErrExpired from t on, however busy the
// peer is: the time a connection has to authenticate, which a peer that
// trickles bytes must not stretch. The zero time removes it.
func (c *Conn) SetExpiry(t time.Time) {
	c.mu.Lock()
	c.expires = t
	c.mu.Unlock()
}

// ErrIdle is returned by Read when the peer stayed silent past the idle
// timeout and the grace period.
var ErrIdle = errors.New("transport: peer idle")

// ErrExpired is returned by Read once the expiry set with SetExpiry has
// passed.
var ErrExpired = errors.New("transport: connection expired")

// Read reads with the configured rate limit, idle detection and expiry.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	idle, grace, onIdle, expires := c.cfg.Idle, c.cfg.Grace, c.cfg.OnIdle, c.expires
	c.mu.Unlock()
	if c.cfg.Rate > 0 && len(p) > c.cfg.Burst {
		p = p[:c.cfg.Burst]
	}
	probed := false
	wait := idle
	for {
		var deadline time.Time
		if wait > 0 {
			deadline = time.Now().Add(wait)
		}
		if !expires.IsZero() {
			if !time.Now().Before(expires) {
				return 0, ErrExpired
			}
			if deadline.IsZero() || expires.Before(deadline) {
				deadline = expires
			}
		}
		if !deadline.IsZero() || c.armed {
			_ = c.Conn.SetReadDeadline(deadline) // an error here surfaces on Read
			c.armed = !deadline.IsZero()
		}
		n, err := c.Conn.Read(p)
		if n == 0 && err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !expires.IsZero() && !time.Now().Before(expires) {
			return 0, ErrExpired
		}
		if n == 0 && err != nil && errors.Is(err, os.ErrDeadlineExceeded) && wait > 0 {
			if probed || onIdle == nil || grace <= 0 {
				return 0, ErrIdle
			}
			probed = true
			onIdle()
			wait = grace
			continue
		}
		if n > 0 && c.cfg.Rate > 0 {
			c.throttle(n)
		}
		return n, err
	}
}

// throttle takes n tokens and sleeps while the bucket is in debt, so that
// a peer cannot make the server parse faster than Rate bytes per second.
func (c *Conn) throttle(n int) {
	now := time.Now()
	c.tokens += now.Sub(c.last).Seconds() * float64(c.cfg.Rate)
	if c.tokens > float64(c.cfg.Burst) {
		c.tokens = float64(c.cfg.Burst)
	}
	c.last = now
	c.tokens -= float64(n)
	if c.tokens < 0 {
		d := time.Duration(-c.tokens / float64(c.cfg.Rate) * float64(time.Second))
		time.Sleep(d)
		c.tokens = 0
		c.last = time.Now()
	}
}

// Gate limits connections that have not authenticated, per IP address and
// in total. It is safe for concurrent use.
type Gate struct {
	mu       sync.Mutex
	perIP    int
	total    int
	count    int
	countsIP map[string]int
}

// NewGate returns a gate; a limit <= 0 is no limit.
func NewGate(perIP, total int) *Gate {
	return &Gate{perIP: perIP, total: total, countsIP: make(map[string]int)}
}

// Enter admits one connection from ip, or reports false when a limit is
// reached. Every admitted connection must call the returned release once.
func (g *Gate) Enter(ip string) (release func(), ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total > 0 && g.count >= g.total {
		return nil, false
	}
	if g.perIP > 0 && g.countsIP[ip] >= g.perIP {
		return nil, false
	}
	g.count++
	g.countsIP[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.count--
			if g.countsIP[ip]--; g.countsIP[ip] <= 0 {
				delete(g.countsIP, ip)
			}
		})
	}, true
}

// Count returns the connections inside the gate.
func (g *Gate) Count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.count
}

// IP returns the address part of a connection's remote address.
func IP(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// IsLoopback reports whether addr (host:port or host) is a loopback
// address.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
