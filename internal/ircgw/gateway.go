package ircgw

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/listener"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/transport"
)

// Config is what the gateway needs to know; the server fills it from the
// [irc] section and the limits of the configuration file.
type Config struct {
	// TLS holds the host certificates; nil serves no TLS listener.
	TLS *tls.Config
	// ClientCAs verifies client certificates for SASL EXTERNAL; nil does
	// not offer EXTERNAL.
	ClientCAs *x509.CertPool
	// Hosts are the served domains; the first is the one a login without
	// a domain belongs to.
	Hosts []string
	// MUCDomain returns the group chat service of a host, "" for none.
	MUCDomain func(host string) string
	// ServerName is the IRC server name; Network the network name of
	// ISUPPORT.
	ServerName string
	Network    string
	// MOTD is the message of the day, one line per element; empty sends
	// ERR_NOMOTD.
	MOTD []string
	// Guests lets clients that do not authenticate in as guests under
	// their nick, when it is not an account's. For tests and open
	// servers.
	Guests bool
	// PersistentChannels makes the rooms that IRC users create
	// persistent, so that their archive serves chathistory.
	PersistentChannels bool
	// PublicAddresses makes the rooms that IRC users create show every
	// occupant's address to everyone (non-anonymous, XEP-0045 §4.2), as
	// IRC shows hostmasks and accounts.
	PublicAddresses bool
	// Archive is on when the personal archive (XEP-0313) is: the echo
	// of a private message then has its archive id.
	Archive bool
	// DefaultOccupants is the occupant limit of a new room: a room with
	// it or more shows no +l, and -l sets it.
	DefaultOccupants int

	ReadRate        int           // bytes per second per connection
	ReadBurst       int           // bytes
	LineRate        int           // commands per second, burst twice that
	AuthTimeout     time.Duration // from connect to registration
	IdleTimeout     time.Duration // silence before a PING
	OutQueueBytes   int
	SessionsPerAcct int
	UnauthPerIP     int
	UnauthTotal     int
	// MaxChannels bounds the channels of one connection (CHANLIMIT).
	MaxChannels int
	// MaxHistory bounds one CHATHISTORY request.
	MaxHistory int
	// FakeSecret makes SCRAM answers for unknown users look like those
	// for real ones; SCRAMIterations is the count real keys have.
	FakeSecret      []byte
	SCRAMIterations int
	// AuthFailuresPerIP is the number of failed logins from one address
	// after which answers slow down (doubling, up to 30 s), as for
	// client streams; zero never slows them.
	AuthFailuresPerIP int
}

// Core is what a bound session hands its stanzas to: the IM core, as for
// a client stream.
type Core interface {
	Outbound(ctx context.Context, s router.Session, st *stanza.Stanza)
	Ended(ctx context.Context, s router.Session, last router.Resource)
}

// Accounts tells whether an account exists (to keep guests off the
// nicks of accounts), and whether it is disabled (XEP-0133 §4.3), for a
// login by certificate, which proves no password: Disabled fails for an
// account that does not exist.
type Accounts interface {
	Exists(ctx context.Context, bare jid.JID) (bool, error)
	Disabled(ctx context.Context, bare jid.JID) (bool, error)
}

// Service accepts IRC connections.
type Service struct {
	cfg      Config
	router   *router.Router
	creds    sasl.Credentials
	accounts Accounts
	core     Core
	log      *slog.Logger
	gate     *transport.Gate
	fails    *penalty
	created  time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[*Session]struct{}

	// users are the accounts (and guests) with an IRC session: the nick
	// and real name their first session chose. Under usersMu, a leaf
	// lock that Send may take.
	usersMu sync.Mutex
	users   map[jid.JID]*ircUser

	// times remembers the time first shown for a message id (a room's
	// or an archive's), so that every client, and CHATHISTORY later,
	// gives the same message the same server-time: a room stamps its
	// archive a moment before its occupants get the message. Bounded;
	// timesMu is a leaf lock.
	timesMu  sync.Mutex
	times    map[string]time.Time
	timesIDs []string
}

// maxTimes bounds the message times remembered.
const maxTimes = 8192

// msgTime returns the time to show for a message id: the one shown
// before, or t, which it remembers.
func (s *Service) msgTime(id string, t time.Time) time.Time {
	if id == "" {
		return t
	}
	s.timesMu.Lock()
	defer s.timesMu.Unlock()
	if v, ok := s.times[id]; ok {
		return v
	}
	if len(s.timesIDs) >= maxTimes {
		delete(s.times, s.timesIDs[0])
		s.timesIDs = s.timesIDs[1:]
	}
	s.times[id] = t
	s.timesIDs = append(s.timesIDs, id)
	return t
}

// shownTime returns the time shown for a message id before, or t.
func (s *Service) shownTime(id string, t time.Time) time.Time {
	s.timesMu.Lock()
	defer s.timesMu.Unlock()
	if v, ok := s.times[id]; ok {
		return v
	}
	return t
}

// ircUser is what IRC shows of a user with an IRC session.
type ircUser struct {
	nick, user, real string
	guest            bool
	sessions         int
}

func (s *Service) addUser(u jid.JID, nick, user, real string, guest bool) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	if iu := s.users[u]; iu != nil {
		iu.sessions++
		return
	}
	s.users[u] = &ircUser{nick: nick, user: user, real: real, guest: guest, sessions: 1}
}

func (s *Service) removeUser(u jid.JID) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	if iu := s.users[u]; iu != nil {
		if iu.sessions--; iu.sessions <= 0 {
			delete(s.users, u)
		}
	}
}

// ircUserOf returns what an IRC session of u shows, if it has one.
func (s *Service) ircUserOf(u jid.JID) (ircUser, bool) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	if iu := s.users[u]; iu != nil {
		return *iu, true
	}
	return ircUser{}, false
}

// ircUsers returns the users with IRC sessions.
func (s *Service) ircUsers() map[jid.JID]ircUser {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	out := make(map[jid.JID]ircUser, len(s.users))
	for k, v := range s.users {
		out[k] = *v
	}
	return out
}

// New returns a gateway; call Listen to accept connections.
func New(cfg Config, r *router.Router, creds sasl.Credentials, accounts Accounts, core Core, log *slog.Logger) *Service {
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.LineRate <= 0 {
		cfg.LineRate = 20
	}
	if cfg.MaxChannels <= 0 {
		cfg.MaxChannels = 100
	}
	if cfg.MaxHistory <= 0 {
		cfg.MaxHistory = 100
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = time.Minute
	}
	if cfg.ServerName == "" && len(cfg.Hosts) > 0 {
		cfg.ServerName = cfg.Hosts[0]
	}
	if cfg.Network == "" {
		cfg.Network = "samtal"
	}
	if cfg.MUCDomain == nil {
		cfg.MUCDomain = func(string) string { return "" }
	}
	return &Service{
		cfg: cfg, router: r, creds: creds, accounts: accounts, core: core, log: log,
		gate:    transport.NewGate(cfg.UnauthPerIP, cfg.UnauthTotal),
		fails:   newPenalty(cfg.AuthFailuresPerIP),
		created: time.Now(),
		ctx:     ctx, cancel: cancel,
		conns: make(map[*Session]struct{}),
		users: make(map[jid.JID]*ircUser),
		times: make(map[string]time.Time),
	}
}

// Listen accepts connections on ln until Close; tlsOn starts each with a
// TLS handshake.
func (s *Service) Listen(ln net.Listener, tlsOn bool) {
	s.mu.Lock()
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var delay time.Duration
		for {
			c, err := ln.Accept()
			if err != nil {
				if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
					return
				}
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("irc accept failed", "err", err)
				time.Sleep(delay)
				continue
			}
			delay = 0
			release, ok := s.gate.Enter(transport.IP(c))
			if !ok {
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(2 * time.Second))
					_, _ = c.Write(ircmsg.New("ERROR", "Too many connections").Append(nil)) // best effort
				}()
				continue
			}
			sess := newSession(s, c, tlsOn, release)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				sess.serve()
			}()
		}
	}()
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

// Close stops accepting, tells every client that the server shuts down
// and waits until the connections are gone or ctx ends.
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
		c.closeWith("Server shutting down")
	}
	listener.Wait(ctx, &s.wg)
	s.cancel()
}
