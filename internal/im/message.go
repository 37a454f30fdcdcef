package im

import (
	"context"
	"errors"
	"sync"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces that decide whether a message is worth keeping offline, or
// where it goes.
const (
	nsChatStates = "http://jabber.org/protocol/chatstates"
	nsHints      = "urn:xmpp:hints"
	// nsJingleMessage is Jingle Message Initiation (XEP-0353): call
	// proposals, ringing, acceptance, rejection and their end.
	nsJingleMessage = "urn:xmpp:jingle-message:0"
)

// messageType returns the type of a message: a missing or unknown type
// is normal (RFC 6121 §5.2.2).
func messageType(el *xmlel.Element) string { return stanza.MessageType(el.Attr("type")) }

// deliverMessage applies RFC 6121 §8.5.2 (bare JID) and §8.5.3 (full JID).
func (s *Service) deliverMessage(ctx context.Context, st *stanza.Stanza) {
	typ := messageType(st.El)
	if st.To.IsFull() {
		if sess := s.router.Session(st.To); sess != nil {
			sess.Send(st.El)
			s.messageDelivered(ctx, st, []router.Session{sess})
			return
		}
		// §8.5.3.2.1: a chat message to a resource that is gone is
		// treated as sent to the bare JID; an error is dropped; normal,
		// groupchat and headline messages are refused or dropped.
		switch typ {
		case "error", "headline":
			return
		case "normal", "groupchat":
			s.router.Bounce(ctx, st, stanza.E(stanza.ServiceUnavailable))
			return
		}
	}
	best, nonNegative := s.available(st.To.Bare())
	switch typ {
	case "groupchat":
		s.router.Bounce(ctx, st, stanza.E(stanza.ServiceUnavailable))
		return
	case "headline":
		// §8.5.2.1.1, §8.5.2.2.1: to every non-negative resource, or
		// to nobody.
		s.sendAll(ctx, st, nonNegative)
		return
	case "error":
		// §8.5.2.1.1, §8.5.2.2.1: an error to the bare JID answers no
		// session's request; it is dropped.
		return
	}
	if isCallSignal(st.El) && len(nonNegative) > 0 {
		// XEP-0353 §2: a call rings on all devices, and the device that
		// answers tells the others (§3.4, §3.5). RFC 6121 §8.5.2.1.1
		// lets a server deliver a chat message to every non-negative
		// resource, which is what a call needs. Resources of negative
		// priority get it as a carbon copy (XEP-0280), as XEP-0353 §1
		// expects.
		s.sendAll(ctx, st, nonNegative)
		return
	}
	if len(best) > 0 {
		// §8.5.2.1.1: to the highest-priority resources, all of them on
		// a tie, so that every device the user looks at shows the chat.
		s.sendAll(ctx, st, best)
		return
	}
	s.storeOffline(ctx, st)
	s.messageDelivered(ctx, st, nil)
}

// available returns the available resources of user with a
// non-negative priority, and those of them with the highest priority:
// where a message to the bare JID goes (RFC 6121 §8.5.2.1.1).
func (s *Service) available(user jid.JID) (best, nonNegative []router.Resource) {
	top := 0
	for _, r := range s.router.Resources(user) {
		if !r.Available || r.Priority < 0 {
			continue
		}
		nonNegative = append(nonNegative, r)
		switch {
		case len(best) == 0 || r.Priority > top:
			best, top = []router.Resource{r}, r.Priority
		case r.Priority == top:
			best = append(best, r)
		}
	}
	return best, nonNegative
}

// Forward delivers a chat or normal message that a local session sent as
// the bytes it wrote, when nothing needs its tree, and reports whether it
// did. It does when the message reaches local sessions that take bytes
// (router.RawSender), as Outbound and deliverMessage would deliver it,
// and no hook has anything to do with it (Hooks.RawMessage). Otherwise
// it does nothing, and the caller makes the tree and passes it to
// Outbound, which has the rules for everything else: blocking, offline
// storage, errors, call signals, other servers.
//
// raw is the message as its sender wrote it, in the content namespace of
// a client stream, starting with "<message" and without a from
// attribute, which Forward puts in.
func (s *Service) Forward(ctx context.Context, sess router.Session, m *stanza.Outline, raw []byte) bool {
	to := m.To
	if to.Local() == "" || !s.router.IsLocal(to.Domain()) {
		return false
	}
	if m.Type != "chat" && m.Type != "normal" {
		return false
	}
	from := sess.JID()
	if s.isBlocked(ctx, from.Bare(), to) || (!from.Bare().Equal(to.Bare()) && s.isBlocked(ctx, to.Bare(), from)) {
		return false
	}
	if m.Has(nsJingleMessage, "") {
		return false // to every resource (deliverMessage)
	}
	buf := targetsPool.Get().(*[4]router.Session)
	defer func() {
		clear(buf[:])
		targetsPool.Put(buf)
	}()
	targets := buf[:0]
	if to.IsFull() {
		if t := s.router.Session(to); t != nil {
			targets = append(targets, t)
		} else if m.Type != "chat" {
			return false // refused (RFC 6121 §8.5.3.2.1)
		}
	}
	if len(targets) == 0 {
		best, _ := s.available(to.Bare())
		for _, r := range best {
			targets = append(targets, r.Session)
		}
	}
	if len(targets) == 0 {
		return false // offline storage, or an error
	}
	for _, t := range targets {
		if _, ok := t.(router.RawSender); !ok {
			return false
		}
	}
	if !s.rawOK(ctx, m, sess, targets) {
		return false
	}
	b := stanza.WithFrom(raw, from.String())
	for _, t := range targets {
		// The sessions share b and only read it.
		t.(router.RawSender).SendRaw(ctx, b)
	}
	return true
}

// targetsPool holds the arrays that Forward collects a message's
// sessions in: the hooks see the slice, so an array of Forward's own
// would be allocated for every message.
var targetsPool = sync.Pool{New: func() any { return new([4]router.Session) }}

// sendAll delivers a message to resources and tells the hooks.
func (s *Service) sendAll(ctx context.Context, st *stanza.Stanza, to []router.Resource) {
	sessions := make([]router.Session, len(to))
	for i, r := range to {
		r.Session.Send(st.El)
		sessions[i] = r.Session
	}
	s.messageDelivered(ctx, st, sessions)
}

// storeOffline keeps a message for a user with no available resource
// (XEP-0160), or refuses it when the user does not exist or has too many
// waiting.
func (s *Service) storeOffline(ctx context.Context, st *stanza.Stanza) {
	s.storeOfflineAt(ctx, st, time.Now())
}

// storeOfflineAt stores a message that arrived at t.
func (s *Service) storeOfflineAt(ctx context.Context, st *stanza.Stanza, t time.Time) {
	user := st.To.Bare()
	if !s.exists(ctx, user) {
		s.router.Bounce(ctx, st, stanza.E(stanza.ServiceUnavailable))
		return
	}
	if !worthStoring(st.El) {
		return
	}
	el := st.El.ShallowCopy()
	el.Append(delay(user.Domain(), t).AppendText("Offline storage"))
	err := s.store.Offline().Push(ctx, user.String(), el.String(), s.cfg.OfflineMessages)
	switch {
	case errors.Is(err, storage.ErrQuota):
		s.router.Bounce(ctx, st, stanza.E(stanza.ServiceUnavailable).WithText("the recipient's offline storage is full"))
	case err != nil:
		s.log.Error("im: offline store failed", "err", err)
		s.router.Bounce(ctx, st, stanza.E(stanza.InternalServerError))
	default:
		s.offlineCatchUp(ctx, user)
	}
}

// isCallSignal reports whether a message carries Jingle Message
// Initiation (XEP-0353): <propose/>, <ringing/>, <proceed/>, <reject/>,
// <retract/> or <finish/>.
func isCallSignal(el *xmlel.Element) bool {
	for _, c := range el.Elements() {
		if c.Space == nsJingleMessage {
			return true
		}
	}
	return false
}

// worthStoring reports whether a message is kept offline: chat and
// normal messages (RFC 6121 §8.5.2.2.1) with content, not bare
// chat-state notifications (XEP-0085 §5.4) nor messages marked no-store
// (XEP-0334 §4: no-permanent-store still allows the temporary storage
// that offline delivery is). Call signals (XEP-0353) have no body and are
// content: §3 marks them <store/> so that a device that comes online
// later learns of the missed call.
func worthStoring(el *xmlel.Element) bool {
	switch messageType(el) {
	case "normal", "chat":
	default:
		return false
	}
	content := false
	for _, c := range el.Elements() {
		switch {
		case c.Space == nsHints && c.Local == "no-store":
			return false
		case c.Space == nsHints && c.Local == "no-permanent-store":
		case c.Space == nsHints && c.Local == "store":
			content = true
		case c.Space == nsChatStates, c.Space == "" && c.Local == "thread":
		default:
			content = true
		}
	}
	return content
}
