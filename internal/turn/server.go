package turn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/logging"
	pion "github.com/pion/turn/v5"

	"samtal.org/samtal/internal/transport"
)

// Config configures the embedded STUN/TURN server.
type Config struct {
	// UDP, TCP and TLS are the listen addresses, "host:port".
	UDP, TCP, TLS []string
	// TLSConfig serves the TLS listeners (the hosts' certificates).
	TLSConfig *tls.Config
	// RelayIP is the address relayed transport addresses carry; relay
	// sockets bind RelayBind, RelayIP when RelayBind is not valid.
	RelayIP, RelayBind netip.Addr
	// RelayMinPort and RelayMaxPort bound the relay ports.
	RelayMinPort, RelayMaxPort uint16
	// Realm is the realm of the long-term credential mechanism.
	Realm string
	// Secret checks the time-limited credentials (see Credentials).
	Secret string
	// UserAllocations and TotalAllocations bound the allocations of one
	// user and of everyone.
	UserAllocations, TotalAllocations int
	// AllocationRate bounds the bytes per second one allocation relays in
	// each direction; 0 is no bound.
	AllocationRate int
	// ConnectionsPerIP bounds the TCP and TLS connections of one IP
	// address.
	ConnectionsPerIP int
	// Policy decides where relays may send.
	Policy *Policy
}

// tcpIdle is how long a TCP or TLS connection may stay silent. A client
// refreshes its allocation before the default lifetime of 10 minutes
// runs out (RFC 8656 §3.8 and §7), so a connection silent for longer
// holds nothing worth keeping.
const tcpIdle = 11 * time.Minute

// errQuota refuses an allocation over a quota. The QuotaHandler answers
// 486 (Allocation Quota Reached) before it is needed; it guards the race
// between two requests of one user.
var errQuota = errors.New("turn: allocation quota reached")

// errDenied refuses to relay to a peer the policy does not permit.
var errDenied = errors.New("turn: peer address denied")

// Server is a running STUN/TURN server.
type Server struct {
	pion  *pion.Server
	quota *quota
	udp   []net.Addr
	tcp   []net.Addr
	tls   []net.Addr
}

// Start opens the listeners and serves STUN and TURN on them.
func Start(cfg Config, log *slog.Logger) (*Server, error) {
	if cfg.Policy == nil {
		return nil, errors.New("turn: no relay policy")
	}
	s := &Server{quota: newQuota(cfg.UserAllocations, cfg.TotalAllocations)}
	bind := cfg.RelayBind
	if !bind.IsValid() {
		bind = cfg.RelayIP
	}
	relays := func() *relays {
		return &relays{
			ports: pion.RelayAddressGeneratorPortRange{
				RelayAddress: net.IP(cfg.RelayIP.AsSlice()),
				Address:      bind.String(),
				MinPort:      cfg.RelayMinPort,
				MaxPort:      cfg.RelayMaxPort,
				MaxRetries:   30,
			},
			quota:  s.quota,
			policy: cfg.Policy,
			rate:   cfg.AllocationRate,
		}
	}
	permit := func(_ net.Addr, peer net.IP) bool {
		ip, ok := netip.AddrFromSlice(peer)
		return ok && cfg.Policy.Permit(ip)
	}
	var packetConns []pion.PacketConnConfig
	var listeners []pion.ListenerConfig
	closeAll := func() {
		for _, p := range packetConns {
			p.PacketConn.Close()
		}
		for _, l := range listeners {
			l.Listener.Close()
		}
	}
	for _, a := range cfg.UDP {
		pc, err := net.ListenPacket("udp", a)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("turn: udp listener: %w", err)
		}
		packetConns = append(packetConns, pion.PacketConnConfig{PacketConn: pc, RelayAddressGenerator: relays(), PermissionHandler: permit})
		s.udp = append(s.udp, pc.LocalAddr())
	}
	gate := transport.NewGate(cfg.ConnectionsPerIP, cfg.TotalAllocations)
	for i, a := range append(append([]string(nil), cfg.TCP...), cfg.TLS...) {
		isTLS := i >= len(cfg.TCP)
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("turn: tcp listener: %w", err)
		}
		l := &listener{Listener: ln, gate: gate}
		if isTLS {
			l.tls = cfg.TLSConfig
			s.tls = append(s.tls, ln.Addr())
		} else {
			s.tcp = append(s.tcp, ln.Addr())
		}
		listeners = append(listeners, pion.ListenerConfig{Listener: l, RelayAddressGenerator: relays(), PermissionHandler: permit})
	}
	srv, err := pion.NewServer(pion.ServerConfig{
		PacketConnConfigs: packetConns,
		ListenerConfigs:   listeners,
		LoggerFactory:     pionLogs{log},
		Realm:             cfg.Realm,
		AuthHandler: func(ra *pion.RequestAttributes) (string, []byte, bool) {
			user, ok := parseUsername(ra.Username, time.Now())
			if !ok {
				return "", nil, false
			}
			return user, pion.GenerateAuthKey(ra.Username, ra.Realm, Password(cfg.Secret, ra.Username)), true
		},
		// RFC 8656 §7.2 step 7: 486 when the user's quota is used up.
		QuotaHandler: func(user, _ string, _ net.Addr) bool { return s.quota.allowed(user) },
	})
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("turn: %w", err)
	}
	s.pion = srv
	return s, nil
}

// UDPAddrs, TCPAddrs and TLSAddrs return the addresses listened on.
func (s *Server) UDPAddrs() []net.Addr { return s.udp }

// TCPAddrs returns the TCP listener addresses.
func (s *Server) TCPAddrs() []net.Addr { return s.tcp }

// TLSAddrs returns the TLS listener addresses.
func (s *Server) TLSAddrs() []net.Addr { return s.tls }

// Allocations returns the number of relays in use.
func (s *Server) Allocations() int { return s.quota.count() }

// Close stops the server and frees its relays.
func (s *Server) Close() {
	_ = s.pion.Close() // closing listeners; their errors say nothing useful at shutdown
}

// quota counts allocations per user and in all.
type quota struct {
	mu           sync.Mutex
	perUser, max int
	n            int
	users        map[string]int
}

func newQuota(perUser, max int) *quota {
	return &quota{perUser: perUser, max: max, users: make(map[string]int)}
}

func (q *quota) allowed(user string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n < q.max && q.users[user] < q.perUser
}

// take counts one allocation of user; release, called once per
// successful take, gives it back.
func (q *quota) take(user string) (release func(), ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n >= q.max || q.users[user] >= q.perUser {
		return nil, false
	}
	q.n++
	q.users[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			q.n--
			if q.users[user]--; q.users[user] <= 0 {
				delete(q.users, user)
			}
		})
	}, true
}

func (q *quota) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// relays makes relay sockets within the port range, counted against the
// quotas, and wraps them so that they send only where the policy permits
// and no faster than the rate.
type relays struct {
	ports  pion.RelayAddressGeneratorPortRange
	quota  *quota
	policy *Policy
	rate   int
}

func (r *relays) Validate() error { return r.ports.Validate() }

func (r *relays) AllocatePacketConn(c pion.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	release, ok := r.quota.take(c.UserID)
	if !ok {
		return nil, nil, errQuota
	}
	pc, addr, err := r.ports.AllocatePacketConn(c)
	if err != nil {
		release()
		return nil, nil, err
	}
	return &relayConn{PacketConn: pc, release: release, policy: r.policy, in: newBucket(r.rate), out: newBucket(r.rate)}, addr, nil
}

// AllocateListener makes the relay of a TCP allocation (RFC 6062).
func (r *relays) AllocateListener(c pion.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	release, ok := r.quota.take(c.UserID)
	if !ok {
		return nil, nil, errQuota
	}
	ln, addr, err := r.ports.AllocateListener(c)
	if err != nil {
		release()
		return nil, nil, err
	}
	return &relayListener{Listener: ln, release: release, rate: r.rate}, addr, nil
}

// AllocateConn connects a TCP allocation to a peer (RFC 6062 §5.2).
func (r *relays) AllocateConn(c pion.AllocateConnConfig) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(c.RemoteAddr.String())
	if err != nil || !r.policy.PermitPort(ap) {
		return nil, errDenied
	}
	conn, err := r.ports.AllocateConn(c)
	if err != nil {
		return nil, err
	}
	return throttle(conn, r.rate), nil
}

// relayConn is the socket of a UDP relay.
type relayConn struct {
	net.PacketConn
	release func()
	policy  *Policy
	in, out *bucket
	once    sync.Once
}

// WriteTo sends a datagram of the client to a peer. pion checked the
// permission for the peer's IP address; the port is checked here, and
// the rate: a datagram over it is dropped, as a congested link would.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	var ap netip.AddrPort
	if ua, ok := addr.(*net.UDPAddr); ok {
		ap = ua.AddrPort()
	} else {
		ap, _ = netip.ParseAddrPort(addr.String()) // an invalid one is denied below
	}
	if !c.policy.PermitPort(ap) {
		return 0, errDenied
	}
	if !c.out.take(len(p)) {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// ReadFrom reads a datagram of a peer, dropping those over the rate.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || c.in.take(n) {
			return n, addr, err
		}
	}
}

func (c *relayConn) Close() error {
	c.once.Do(c.release)
	return c.PacketConn.Close()
}

// relayListener is the listener of a TCP relay; peers that connect to it
// are read no faster than the rate.
type relayListener struct {
	net.Listener
	release func()
	rate    int
	once    sync.Once
}

func (l *relayListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return throttle(c, l.rate), nil
}

func (l *relayListener) Close() error {
	l.once.Do(l.release)
	return l.Listener.Close()
}

// throttle bounds the bytes per second read from a peer's connection.
func throttle(c net.Conn, rate int) net.Conn {
	if rate <= 0 {
		return c
	}
	return transport.Wrap(c, transport.ConnConfig{Rate: rate, Burst: rate})
}

// bucket is a token bucket of bytes per second with a burst of one
// second; nil lets everything through.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

func newBucket(rate int) *bucket {
	if rate <= 0 {
		return nil
	}
	return &bucket{rate: float64(rate), tokens: float64(rate), last: time.Now()}
}

// take reports whether n bytes fit, and takes them if so.
func (b *bucket) take(n int) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens = min(b.rate, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}

// listener admits TCP and TLS connections within the per-IP and total
// limits, closes silent ones, and speaks TLS on them when it has a
// configuration.
type listener struct {
	net.Listener
	gate *transport.Gate
	tls  *tls.Config
}

// Accept returns the next admitted connection. It retries after
// temporary errors (too many open files, say): pion stops serving a
// listener at the first error Accept returns.
func (l *listener) Accept() (net.Conn, error) {
	delay := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			time.Sleep(delay)
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		release, ok := l.gate.Enter(transport.IP(c))
		if !ok {
			c.Close()
			continue
		}
		var conn net.Conn = &gatedConn{Conn: transport.Wrap(c, transport.ConnConfig{Idle: tcpIdle}), release: release}
		if l.tls != nil {
			// pion finishes the handshake, within 10 seconds, on the
			// *tls.Conn it gets here.
			conn = tls.Server(conn, l.tls)
		}
		return conn, nil
	}
}

// gatedConn leaves the gate when it closes.
type gatedConn struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *gatedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// pionLogs hands pion's log lines to slog. They name client and peer
// addresses, so they go to the debug level whatever pion's level; pion's
// own debug and trace lines, one or more per packet, are dropped.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ l *slog.Logger }

func (pionLogger) Trace(string)          {}
func (pionLogger) Tracef(string, ...any) {}
func (pionLogger) Debug(string)          {}
func (pionLogger) Debugf(string, ...any) {}
func (l pionLogger) Info(m string)       { l.l.Debug(m) }
func (l pionLogger) Infof(f string, a ...any) {
	l.l.Debug(fmt.Sprintf(f, a...))
}
func (l pionLogger) Warn(m string) { l.l.Debug(m) }
func (l pionLogger) Warnf(f string, a ...any) {
	l.l.Debug(fmt.Sprintf(f, a...))
}
func (l pionLogger) Error(m string) { l.l.Debug(m) }
func (l pionLogger) Errorf(f string, a ...any) {
	l.l.Debug(fmt.Sprintf(f, a...))
}
