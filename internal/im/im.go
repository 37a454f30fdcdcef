// Package im is the instant-messaging core of RFC 6121 for local users:
// rosters (§2), presence subscriptions (§3), presence exchange (§4),
// message delivery by priority with offline storage (§8.5, XEP-0160,
// XEP-0203) and blocking (XEP-0191), which decides what may reach a user
// at all.
//
// Stanzas reach it from two sides: Outbound receives what a bound client
// sent, Handle what anyone (a local user, a remote server, a component)
// sent to a local host or user.
package im

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// Config holds the limits of the IM core.
type Config struct {
	RosterItems     int // per user; <= 0 no limit
	OfflineMessages int // per user; <= 0 no limit
}

// Service is the IM core. It is safe for concurrent use.
type Service struct {
	cfg    Config
	router *router.Router
	store  storage.Store
	mux    *iq.Mux
	log    *slog.Logger

	// ctx ends with Close: offline deliveries that wait for room stop,
	// and wg counts them.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	directed map[jid.JID]map[jid.JID]bool // full JID -> who got directed presence
	blockGen uint64                       // counts blocklist changes, so that stale loads are not cached
	offline  map[jid.JID][]jid.JID        // users with an offline delivery under way -> resources waiting for their turn
	closed   bool

	// blocks holds the blocklists of users with sessions (bare JID as a
	// string -> []jid.JID), read for every message in both directions: a
	// sync.Map reads without a lock, and a string hashes in one call
	// where a jid.JID in an interface hashes field by field. Stores and
	// deletes happen under mu, with blockGen.
	blocks sync.Map

	hooks []Hooks
}

// New returns the IM core and registers its requests (roster, blocking)
// in mux.
func New(cfg Config, r *router.Router, store storage.Store, mux *iq.Mux, log *slog.Logger) *Service {
	s := &Service{
		cfg: cfg, router: r, store: store, mux: mux, log: log,
		directed: make(map[jid.JID]map[jid.JID]bool),
		offline:  make(map[jid.JID][]jid.JID),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	mux.Handle(iq.Account, NSRoster, s.handleRoster)
	mux.Handle(iq.Account, NSBlocking, s.handleBlocking)
	mux.AddFeature(iq.Account, NSBlocking)
	mux.AddFeature(iq.Server, NSBlocking, NSMsgOffline)
	return s
}

// Outbound handles a stanza sent by a bound client.
func (s *Service) Outbound(ctx context.Context, sess router.Session, st *stanza.Stanza) {
	from := sess.JID()
	switch st.Kind() {
	case stanza.Presence:
		if !st.To.IsZero() && s.refuseBlocked(ctx, sess, st) {
			return
		}
		s.outboundPresence(ctx, st)
		return
	case stanza.IQ:
		if st.To.IsZero() || st.To.Equal(from.Bare()) {
			st.To = from.Bare()
			if !st.IsRequest() {
				// An answer to a request the server sent on the user's
				// behalf (PEP asks the user's own resources for their
				// capabilities): the request's awaiter gets it, or a
				// hook that expects it (in a cluster, the node that
				// sent it), as in deliverIQ.
				s.mux.Serve(ctx, iq.Account, st)
				s.iqResponse(ctx, st)
				return
			}
			s.mux.Respond(ctx, iq.Account, st, func(resp *xmlel.Element) {
				resp.SetAttr("from", "")
				sess.Send(resp)
			})
			return
		}
		if st.To.IsDomain() && s.router.IsLocal(st.To.Domain()) {
			s.mux.Respond(ctx, iq.Server, st, func(resp *xmlel.Element) { sess.Send(resp) })
			return
		}
	}
	if st.To.IsZero() {
		// A message with no 'to' is addressed to the user's own bare JID
		// (RFC 6120 §8.1.1.1).
		st.To = from.Bare()
		st.El.SetAttr("to", st.To.String())
	}
	if s.refuseBlocked(ctx, sess, st) {
		return
	}
	if st.Kind() == stanza.Message && !s.messageSent(ctx, sess, st) {
		return
	}
	s.router.Route(ctx, st)
}

// refuseBlocked stops a stanza a user sends to an entity the user blocks
// and reports whether it did: nothing goes to a blocked entity, and the
// user learns why (XEP-0191 §3.3). Errors and iq results end an exchange
// and are dropped silently.
func (s *Service) refuseBlocked(ctx context.Context, sess router.Session, st *stanza.Stanza) bool {
	if !s.isBlocked(ctx, sess.JID().Bare(), st.To) {
		return false
	}
	if !(st.Kind() == stanza.IQ && st.Type() == "result") {
		if reply := stanza.ErrorReply(st.El, stanza.E(stanza.NotAcceptable).WithExtra(xmlel.New(NSBlockingErrors, "blocked"))); reply != nil {
			sess.Send(reply)
		}
	}
	return true
}

// Handle handles a stanza addressed to a local host or user.
func (s *Service) Handle(ctx context.Context, st *stanza.Stanza) {
	if st.To.Local() == "" {
		s.handleServer(ctx, st)
		return
	}
	user := st.To.Bare()
	if !st.From.IsZero() && !st.From.Bare().Equal(user) && s.isBlocked(ctx, user, st.From) {
		// XEP-0191 §3.3: nothing from a blocked entity reaches the user;
		// presence is dropped silently, messages and iq requests are
		// refused as if the user did not exist (Bounce drops iq results
		// and errors).
		if st.Kind() != stanza.Presence {
			s.router.Bounce(ctx, st, stanza.E(stanza.ServiceUnavailable))
		}
		return
	}
	switch st.Kind() {
	case stanza.Message:
		if s.messageArrived(ctx, st) {
			s.deliverMessage(ctx, st)
		}
	case stanza.Presence:
		s.inboundPresence(ctx, st)
	case stanza.IQ:
		s.deliverIQ(ctx, st)
	}
}

// handleServer answers stanzas to the host itself.
func (s *Service) handleServer(ctx context.Context, st *stanza.Stanza) {
	if st.Kind() == stanza.Message {
		s.serverMessage(ctx, st)
		return
	}
	if st.Kind() != stanza.IQ {
		return // RFC 6120 §10.3.1: the server may ignore these
	}
	if !st.IsRequest() {
		s.iqResponse(ctx, st)
		return
	}
	s.mux.Respond(ctx, iq.Server, st, func(resp *xmlel.Element) { s.routeBack(ctx, st, resp) })
}

// routeBack routes a response to the sender of st.
func (s *Service) routeBack(ctx context.Context, st *stanza.Stanza, resp *xmlel.Element) {
	s.router.Route(ctx, &stanza.Stanza{El: resp, From: st.To, To: st.From})
}

// deliverIQ applies RFC 6120 §10.5.3 to an iq for a local user.
func (s *Service) deliverIQ(ctx context.Context, st *stanza.Stanza) {
	if st.To.IsBare() {
		if !st.IsRequest() {
			// Responses to the bare JID belong to the server: they
			// answer requests it sent on the user's behalf (PEP asks
			// contacts for their entity capabilities, push services
			// answer notifications).
			s.mux.Serve(ctx, iq.Account, st)
			s.iqResponse(ctx, st)
			return
		}
		if !s.exists(ctx, st.To) {
			s.router.Bounce(ctx, st, stanza.E(stanza.ServiceUnavailable))
			return
		}
		s.mux.Respond(ctx, iq.Account, st, func(resp *xmlel.Element) { s.routeBack(ctx, st, resp) })
		return
	}
	if sess := s.router.Session(st.To); sess != nil {
		sess.Send(st.El)
		return
	}
	if st.IsRequest() {
		s.router.Bounce(ctx, st, stanza.E(stanza.ServiceUnavailable))
	}
}

// exists reports whether a local account exists; a user with sessions
// does.
func (s *Service) exists(ctx context.Context, user jid.JID) bool {
	if len(s.router.Resources(user)) > 0 {
		return true
	}
	_, err := s.store.Accounts().Get(ctx, user.String())
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.Error("im: account lookup failed", "err", err)
	}
	return err == nil
}

// Ended broadcasts unavailable presence for a session that went away
// without saying so (RFC 6121 §4.5.2), and forgets what it held. last is
// the resource's final record, which the router no longer has: whether
// it was available decides who must hear of its end.
func (s *Service) Ended(ctx context.Context, sess router.Session, last router.Resource) {
	full := sess.JID()
	s.unavailableFrom(ctx, full, xmlel.New("", stanza.Presence, "type", "unavailable", "from", full.String()), last.Available)
	if len(s.router.Resources(full.Bare())) == 0 {
		s.forgetBlocklist(full.Bare())
	}
	s.sessionEnded(ctx, sess)
}

// sendTo routes a new stanza from a local user to someone.
func (s *Service) sendTo(ctx context.Context, el *xmlel.Element, from, to jid.JID) {
	el.SetAttr("from", from.String())
	el.SetAttr("to", to.String())
	s.router.Route(ctx, &stanza.Stanza{El: el, From: from, To: to})
}
