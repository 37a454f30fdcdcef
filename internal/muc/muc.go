package muc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/rsm"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces of XEP-0045 and of the extensions the rooms implement.
const (
	NS          = "http://jabber.org/protocol/muc"
	NSUser      = NS + "#user"
	NSAdmin     = NS + "#admin"
	NSOwner     = NS + "#owner"
	NSStableID  = NS + "#stable_id"
	NSSelfPing  = NS + "#self-ping-optimization"
	NSOccupant  = "urn:xmpp:occupant-id:0"
	NSStanzaID  = "urn:xmpp:sid:0"
	NSModerate  = "urn:xmpp:message-moderate:1"
	NSModerate0 = "urn:xmpp:message-moderate:0"
	NSRetract   = "urn:xmpp:message-retract:1"
	NSRetract0  = "urn:xmpp:message-retract:0"
	NSFasten    = "urn:xmpp:fasten:0"
	NSFallback  = "urn:xmpp:fallback:0"
	NSConfInv   = "jabber:x:conference"
	NSPing      = "urn:xmpp:ping"
	NSVCard     = "vcard-temp"
	NSVCardUpd  = "vcard-temp:x:update"
	NSMAM       = "urn:xmpp:mam:2"
	NSMAMExt    = "urn:xmpp:mam:2#extended"
	NSRegister  = "jabber:iq:register"
)

// Config is the configuration of one group chat service.
type Config struct {
	// Domain is the service's domain, conference.example.org.
	Domain string
	// Admins are the bare JIDs of the host's administrators. They act as
	// owners of every room, as Prosody's and ejabberd's do, so that a
	// room whose owners' accounts were removed can still be configured,
	// given a new owner or destroyed. They are not written in the rooms'
	// lists: the lists stay the room's own.
	Admins []jid.JID
	// MaxRoomsPerUser bounds the rooms one user owns or created and that
	// still exist.
	MaxRoomsPerUser int
	// DefaultOccupants is the occupant limit of new rooms, MaxOccupants
	// the highest an owner may set.
	DefaultOccupants int
	MaxOccupants     int
	// HistoryDefault is the history a new occupant gets when it asks for
	// none in particular; HistoryMax the most anyone gets, and what a room
	// keeps in memory.
	HistoryDefault int
	HistoryMax     int
	// ArchiveDefault archives the messages of new persistent rooms.
	ArchiveDefault bool
	// ArchiveRetention is how long archived messages are kept; history on
	// join never goes further back.
	ArchiveRetention time.Duration
	// MaxPage bounds one archive query.
	MaxPage int
	// MaxVCardBytes bounds a room's vCard.
	MaxVCardBytes int
	// Secret keys the occupant identifiers (XEP-0421); it must stay the
	// same across restarts so that they are stable.
	Secret []byte
	// MayCreate reports whether a user may create rooms; nil lets anyone.
	// The server lets its own users.
	MayCreate func(user jid.JID) bool
	// Clock is the time source; nil means time.Now.
	Clock func() time.Time
}

// Validate reports the problems of c.
func (c Config) Validate() error {
	var errs []error
	if _, err := jid.New("", c.Domain, ""); err != nil || c.Domain == "" {
		errs = append(errs, fmt.Errorf("muc: invalid domain %q", c.Domain))
	}
	for name, v := range map[string]int{
		"MaxRoomsPerUser": c.MaxRoomsPerUser, "DefaultOccupants": c.DefaultOccupants,
		"MaxOccupants": c.MaxOccupants, "HistoryMax": c.HistoryMax, "MaxPage": c.MaxPage,
	} {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("muc: %s must be positive", name))
		}
	}
	if c.ArchiveRetention <= 0 {
		errs = append(errs, errors.New("muc: ArchiveRetention must be positive"))
	}
	for _, a := range c.Admins {
		if a.Local() == "" || !a.IsBare() {
			// A domain here would make every user of it an owner.
			errs = append(errs, fmt.Errorf("muc: admin %q is not the bare JID of a user", a))
		}
	}
	if len(c.Secret) < 16 {
		errs = append(errs, errors.New("muc: Secret must have at least 16 bytes"))
	}
	return errors.Join(errs...)
}

// Router routes the stanzas rooms send; *router.Router is one.
type Router interface {
	Route(ctx context.Context, st *stanza.Stanza)
}

// Limits of what peers can grow in a room.
const (
	// mailboxSize bounds the stanzas waiting for one room; beyond it the
	// room refuses more (resource-constraint) rather than hold memory.
	mailboxSize = 10000
	// maxAffiliations bounds the affiliation lists of one room.
	maxAffiliations = 10000
	// maxNickBytes bounds a nickname.
	maxNickBytes = 128
	// maxPendingIQs bounds the requests a room forwards between
	// occupants and waits answers to.
	maxPendingIQs = 1000
	// pendingIQTimeout is how long a room waits for such an answer.
	pendingIQTimeout = time.Minute
	// idleUnload is how long an empty persistent room stays in memory.
	idleUnload = 5 * time.Minute
	// lockTimeout is how long a new room waits for its initial
	// configuration before it takes the default one (§10.1.1 allows a
	// timeout).
	lockTimeout = 2 * time.Minute
	// maxInvites bounds the invitations a room remembers for declines.
	maxInvites = 1000
	// maxDirectory bounds the rooms listed in one disco#items answer.
	maxDirectory = 500
)

// Service is the group chat service of one domain. It is the router's
// handler for that domain. It is safe for concurrent use.
type Service struct {
	cfg     Config
	domain  jid.JID
	router  Router
	rooms   storage.Rooms
	archive storage.RoomArchive
	log     *slog.Logger
	now     func() time.Time

	ctx    context.Context // ends when the service closes
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	live   map[string]*room // active rooms by localpart
	closed bool
}

// New returns the service for cfg.Domain. Route stanzas for the domain to
// it (router.AddDomain) and list it in the hosts' disco#items.
func New(cfg Config, r Router, rooms storage.Rooms, archive storage.RoomArchive, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, _ := jid.New("", cfg.Domain, "") // checked by Validate
	now := cfg.Clock
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		cfg: cfg, domain: d, router: r, rooms: rooms, archive: archive, log: log, now: now,
		ctx: ctx, cancel: cancel, live: make(map[string]*room),
	}, nil
}

// Domain returns the service's domain.
func (s *Service) Domain() string { return s.cfg.Domain }

// Handle receives every stanza to the service's domain.
func (s *Service) Handle(ctx context.Context, st *stanza.Stanza) {
	if st.To.Local() == "" {
		s.handleService(ctx, st)
		return
	}
	s.post(st.To.Bare(), event{st: st})
}

// event is one item of a room's mailbox: a stanza, or a function that
// the service runs in the room's goroutine.
type event struct {
	st *stanza.Stanza
	fn func(r *room)
}

// post puts an event in a room's mailbox, starting the room when it is
// not active.
func (s *Service) post(roomJID jid.JID, ev event) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if ev.st != nil {
			s.bounce(ev.st, stanza.E(stanza.ServiceUnavailable))
		}
		return
	}
	r := s.live[roomJID.Local()]
	if r == nil {
		r = newRoom(s, roomJID)
		s.live[roomJID.Local()] = r
		s.wg.Add(1)
		go r.run()
	}
	ok := r.mbox.put(ev)
	s.mu.Unlock()
	if !ok && ev.st != nil {
		s.bounce(ev.st, stanza.E(stanza.ResourceConstraint))
	}
}

// retire removes r from the active rooms if nothing waits in its
// mailbox, and reports whether it did; the room's goroutine then ends.
func (s *Service) retire(r *room) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !r.mbox.closeIfEmpty() {
		return false
	}
	if s.live[r.jid.Local()] == r {
		delete(s.live, r.jid.Local())
	}
	return true
}

// Close tells the occupants of every active room that the service is
// shutting down (status 332), and waits for the rooms to end.
func (s *Service) Close(ctx context.Context) {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// RemoveAccount takes away every affiliation of a removed account, in
// storage and in the active rooms.
func (s *Service) RemoveAccount(ctx context.Context, user jid.JID) {
	user = user.Bare()
	if _, err := s.rooms.RemoveJID(ctx, user.String()); err != nil {
		s.log.Error("muc: removing the affiliations of an account failed", "err", err)
	}
	s.mu.Lock()
	rooms := make([]jid.JID, 0, len(s.live))
	for _, r := range s.live {
		rooms = append(rooms, r.jid)
	}
	s.mu.Unlock()
	for _, rj := range rooms {
		s.post(rj, event{fn: func(r *room) { r.forget(user) }})
	}
}

// isAdmin reports whether j is one of the host's administrators
// (Config.Admins).
func (s *Service) isAdmin(j jid.JID) bool { return slices.Contains(s.cfg.Admins, j.Bare()) }

// ours reports whether j is the service, one of its rooms or an occupant
// JID: an address on the service's own domain, never a user's.
func (s *Service) ours(j jid.JID) bool { return j.Domain() == s.domain.Domain() }

// bounce answers st with an error from its addressee.
func (s *Service) bounce(st *stanza.Stanza, e stanza.Error) {
	if st.Kind() == stanza.Presence && st.Type() == "unavailable" {
		return
	}
	el := stanza.ErrorReply(st.El, e)
	if el == nil || st.From.IsZero() {
		return
	}
	s.router.Route(context.WithoutCancel(s.ctx), &stanza.Stanza{El: el, From: st.To, To: st.From})
}

// occupantID derives the occupant identifier of a user in a room
// (XEP-0421 §4.1): stable for the user's bare JID and the room, the same
// nowhere else, and not reversible without the server's secret.
func (s *Service) occupantID(room, user jid.JID) string {
	m := hmac.New(sha256.New, s.cfg.Secret)
	m.Write([]byte(room.Bare().String()))
	m.Write([]byte{0})
	m.Write([]byte(user.Bare().String()))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// newID returns a random, unpredictable identifier (XEP-0359 §7).
func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails on supported systems
	return base64.RawURLEncoding.EncodeToString(b)
}

// roomInfo is what the service reads of an active room without asking
// its goroutine: the room publishes a new one on every change.
type roomInfo struct {
	name       string
	public     bool
	listed     bool // public, unlocked and existing
	persistent bool
	occupants  int
	creator    jid.JID // for temporary rooms: counts against the creator
}

// handleService answers stanzas to the service's own domain.
func (s *Service) handleService(ctx context.Context, st *stanza.Stanza) {
	if st.Kind() != stanza.IQ || !st.IsRequest() {
		if st.Kind() == stanza.Message && st.Type() != "error" {
			s.bounce(st, stanza.E(stanza.ServiceUnavailable))
		}
		return
	}
	reply := func(payload *xmlel.Element, err error) {
		el := st.Answer(payload, err, func(err error) { s.log.Error("muc: service request failed", "err", err) })
		s.router.Route(ctx, &stanza.Stanza{El: el, From: st.To, To: st.From})
	}
	p := st.Payload()
	if p == nil || len(st.El.Elements()) != 1 {
		reply(nil, stanza.E(stanza.BadRequest))
		return
	}
	switch {
	case p.Is(stanza.NSDiscoInfo, "query") && st.Type() == "get":
		if p.Attr("node") != "" {
			reply(nil, stanza.E(stanza.ItemNotFound))
			return
		}
		q := xmlel.New(stanza.NSDiscoInfo, "query").Append(
			xmlel.New(stanza.NSDiscoInfo, "identity", "category", "conference", "type", "text", "name", "Group chat"))
		for _, f := range []string{stanza.NSDiscoInfo, stanza.NSDiscoItems, NS, NSStableID, NSOccupant, NSPing} {
			q.Append(xmlel.New(stanza.NSDiscoInfo, "feature", "var", f))
		}
		reply(q, nil)
	case p.Is(stanza.NSDiscoItems, "query") && st.Type() == "get":
		if p.Attr("node") != "" {
			reply(nil, stanza.E(stanza.ItemNotFound))
			return
		}
		reply(s.directory(ctx, p))
	case p.Is(NSPing, "ping") && st.Type() == "get":
		reply(nil, nil)
	default:
		reply(nil, stanza.E(stanza.ServiceUnavailable))
	}
}

// directory lists the public rooms (§6.3), paged with RSM when the
// requester asks or the list is long.
func (s *Service) directory(ctx context.Context, q *xmlel.Element) (*xmlel.Element, error) {
	page, err := rsm.Parse(q.Child(rsm.NS, "set"))
	if err != nil || page.Index >= 0 {
		return nil, stanza.E(stanza.BadRequest)
	}
	stored, err := s.rooms.List(ctx, s.cfg.Domain)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, r := range stored {
		c, err := s.decodeConfig(r.Config)
		if err != nil || !c.Public {
			continue
		}
		names[r.JID] = c.Name
	}
	s.mu.Lock()
	for _, r := range s.live {
		info := r.info.Load()
		if info == nil {
			continue
		}
		if info.listed {
			names[r.jid.String()] = info.name
		} else {
			delete(names, r.jid.String())
		}
	}
	s.mu.Unlock()
	jids := make([]string, 0, len(names))
	for j := range names {
		jids = append(jids, j)
	}
	slices.Sort(jids)
	count := len(jids)
	start, end := 0, len(jids)
	if page.After != "" {
		i, _ := slices.BinarySearch(jids, page.After)
		if i < len(jids) && jids[i] == page.After {
			i++
		}
		start = i
	}
	if page.HasBefore && page.Before != "" {
		end, _ = slices.BinarySearch(jids, page.Before)
	}
	max := maxDirectory
	if page.Max >= 0 && page.Max < max {
		max = page.Max
	}
	paged := page.Max >= 0 || end-start > max
	if end-start > max {
		if page.HasBefore {
			start = end - max
		} else {
			end = start + max
		}
	}
	start = min(start, end)
	out := xmlel.New(stanza.NSDiscoItems, "query")
	for _, j := range jids[start:end] {
		out.Append(xmlel.New(stanza.NSDiscoItems, "item", "jid", j, "name", names[j]))
	}
	if paged {
		p := rsm.Page{FirstIndex: start, Count: count}
		if end > start {
			p.First, p.Last = jids[start], jids[end-1]
		}
		out.Append(p.Element())
	}
	return out, nil
}

// ownedTemporary counts the active temporary rooms that user created,
// for the per-user limit.
func (s *Service) ownedTemporary(user jid.JID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.live {
		if info := r.info.Load(); info != nil && !info.persistent && info.creator.Equal(user) {
			n++
		}
	}
	return n
}

// mailbox is a room's queue of events: bounded, and never blocking the
// sender.
type mailbox struct {
	mu     sync.Mutex
	q      []event
	closed bool
	wake   chan struct{}
}

func (m *mailbox) put(ev event) bool {
	m.mu.Lock()
	if m.closed || len(m.q) >= mailboxSize {
		m.mu.Unlock()
		return false
	}
	m.q = append(m.q, ev)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return true
}

// take returns the waiting events, oldest first.
func (m *mailbox) take(buf []event) []event {
	m.mu.Lock()
	defer m.mu.Unlock()
	buf = append(buf[:0], m.q...)
	clear(m.q)
	m.q = m.q[:0]
	return buf
}

func (m *mailbox) closeIfEmpty() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.q) > 0 {
		return false
	}
	m.closed = true
	return true
}

// foldNick is the form in which nicknames conflict: two nicknames that
// differ only in case name the same occupant, so that no one can pass
// for another by changing case.
func foldNick(n string) string { return strings.ToLower(n) }
