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
	"sync/atomic"
	"syscall"
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
	// BeforeRead, if set, is called from the reading goroutine before
	// each read from the connection, which may wait: a reader that
	// counts what it read in batches settles its counts there.
	BeforeRead func()
}

// Conn is a net.Conn with read-rate limiting and idle detection. Reads
// are expected from one goroutine at a time.
type Conn struct {
	net.Conn
	cfg     ConnConfig
	bytes   Bucket     // read rate
	mu      sync.Mutex // guards cfg.Idle/Grace/OnIdle and expires
	expires time.Time

	// Owned by the reading goroutine:
	lastData time.Time     // when bytes last arrived; idle counts from here
	quiet    time.Duration // see SetQuiet; 0: off
	// deadline is the read deadline last set. It is moved only when it
	// is later than needed or earlier by more than the slack, not on
	// every read: setting a deadline takes the runtime's timer locks,
	// and a busy stream reads often. A deadline that fires early is
	// simply set again.
	deadline time.Time
	// fired: the read deadline passed and is still set on the
	// connection (deadline is zero then, so that arm sets a new one).
	// A deadline the caller sets with SetDeadline is the caller's: Read
	// leaves it alone unless it needs one of its own.
	fired bool

	// Cork (cork.go): corkBuf is what Write kept once corked was set.
	corked  atomic.Bool
	corkMu  sync.Mutex
	corkBuf []byte

	// Writes that do not wait (nowait.go): kept is what the socket did
	// not take at once, written before anything after it; raw is the
	// socket's descriptor access (noRaw: there is none).
	shared atomic.Bool // see share
	waitOK atomic.Bool // see waiting
	keptMu sync.Mutex
	kept   []byte
	isKept atomic.Bool // len(kept) > 0, read without keptMu
	raw    syscall.RawConn
	noRaw  bool

	// Parking (park_linux.go).
	parkMu sync.Mutex
	park   *parking // set while parked
	closed bool
	polled bool // registered with the poller's epoll set
}

// deadlineSlack is the fraction of a wait by which the read deadline
// may be early.
const deadlineSlack = 16

// Wrap returns c with the given limits.
func Wrap(c net.Conn, cfg ConnConfig) *Conn {
	now := time.Now()
	return &Conn{Conn: c, cfg: cfg, lastData: now}
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

// SetQuiet makes Read return ErrQuiet when the peer has sent nothing for
// d (0 turns it off). The caller can then wait for input with
// WaitReadable from a goroutine with a small stack: a session that
// handled a stanza deep in its stack (a database query, say) does not
// keep that stack while it waits. Only for the reading goroutine.
func (c *Conn) SetQuiet(d time.Duration) {
	c.quiet = d
}

// SetDeadline sets the connection's deadlines; a Read that needs a read
// deadline of its own (idle, quiet, expiry) replaces it. Like Read, it
// is for the reading goroutine.
func (c *Conn) SetDeadline(t time.Time) error {
	c.deadline, c.fired = time.Time{}, false
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline is like SetDeadline, for reads only.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.deadline, c.fired = time.Time{}, false
	return c.Conn.SetReadDeadline(t)
}

// ErrIdle is returned by Read when the peer stayed silent past the idle
// timeout and the grace period.
var ErrIdle = errors.New("transport: peer idle")

// ErrExpired is returned by Read once the expiry set with SetExpiry has
// passed.
var ErrExpired = errors.New("transport: connection expired")

// ErrQuiet is returned by Read after the quiet time (see SetQuiet). It
// is a temporary net.Error: TLS and the XML reader keep their state, and
// reading may go on.
var ErrQuiet error = quietError{}

type quietError struct{}

func (quietError) Error() string   { return "transport: peer quiet" }
func (quietError) Timeout() bool   { return true }
func (quietError) Temporary() bool { return true }

// within reports whether a deadline that is set to set can stay for one
// wanted at at: it is no later than at and no earlier than at-slack.
// Moving a deadline moves a runtime timer under its lock, which costs
// more than the check.
func within(set, at time.Time, slack time.Duration) bool {
	return !set.IsZero() && !set.After(at) && at.Sub(set) <= slack
}

// arm makes sure a read deadline is set no later than at and no earlier
// than at-slack.
func (c *Conn) arm(at time.Time, slack time.Duration) {
	if !within(c.deadline, at, slack) {
		c.deadline, c.fired = at, false
		_ = c.Conn.SetReadDeadline(at) // an error here surfaces on Read
	}
}

// disarm removes the read deadline, if one is set.
func (c *Conn) disarm() {
	if !c.deadline.IsZero() || c.fired {
		c.deadline, c.fired = time.Time{}, false
		_ = c.Conn.SetReadDeadline(time.Time{}) // an error here surfaces on Read
	}
}

// Read reads with the configured rate limit, idle detection, quiet time
// and expiry.
func (c *Conn) Read(p []byte) (int, error) {
	if c.cfg.BeforeRead != nil {
		c.cfg.BeforeRead()
	}
	c.mu.Lock()
	idle, grace, onIdle, expires := c.cfg.Idle, c.cfg.Grace, c.cfg.OnIdle, c.expires
	c.mu.Unlock()
	if c.cfg.Rate > 0 && len(p) > c.cfg.Burst {
		p = p[:c.cfg.Burst]
	}
	var probedAt time.Time
	start := time.Now()
	for {
		// When this read gives up: idle (or, after the probe, grace)
		// time after the last byte, or the quiet time after its start.
		var due, quietDue time.Time
		slack := time.Duration(0)
		if idle > 0 {
			due = c.lastData.Add(idle)
			slack = idle / deadlineSlack
			if !probedAt.IsZero() {
				due = probedAt.Add(grace)
				slack = grace / deadlineSlack
			}
		}
		if c.quiet > 0 && probedAt.IsZero() {
			quietDue = start.Add(c.quiet)
			if due.IsZero() || quietDue.Before(due) {
				due, slack = quietDue, c.quiet/deadlineSlack
			}
		}
		if !expires.IsZero() {
			if !time.Now().Before(expires) {
				return 0, ErrExpired
			}
			if due.IsZero() || expires.Before(due) {
				due, slack = expires, 0
			}
		}
		if due.IsZero() {
			c.disarm()
		} else {
			c.arm(due, slack)
		}
		n, err := c.Conn.Read(p)
		if n > 0 {
			c.lastData = time.Now()
			if c.cfg.Rate > 0 {
				c.throttle(n)
			}
			return n, err
		}
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || due.IsZero() {
			return n, err
		}
		c.deadline, c.fired = time.Time{}, true
		now := time.Now()
		switch {
		case !expires.IsZero() && !now.Before(expires):
			return 0, ErrExpired
		case idle > 0 && !now.Before(c.lastData.Add(idle)) && probedAt.IsZero():
			if onIdle == nil || grace <= 0 {
				return 0, ErrIdle
			}
			probedAt = now
			onIdle()
		case !probedAt.IsZero() && !now.Before(probedAt.Add(grace)):
			return 0, ErrIdle
		case !quietDue.IsZero() && !now.Before(quietDue.Add(-c.quiet/deadlineSlack)):
			return 0, ErrQuiet
		}
		// Otherwise the deadline fired early: wait again.
	}
}

// LastData returns when bytes last arrived: for the reading goroutine,
// when what it is reading now arrived, without reading the clock again.
func (c *Conn) LastData() time.Time { return c.lastData }

// throttle takes n bytes from the read rate, so that a peer cannot make
// the server parse faster than Rate bytes per second.
func (c *Conn) throttle(n int) {
	c.bytes.Take(c.lastData, float64(n), float64(c.cfg.Rate), float64(c.cfg.Burst))
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
