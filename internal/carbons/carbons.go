// Package carbons implements Message Carbons (XEP-0280): a session that
// enables them gets a copy of every instant message its user sends from
// another device (a sent carbon) and of every one the user receives on
// another device (a received carbon), so that all of a user's devices
// show both sides of every conversation. Which messages are copied
// follows §6.1 (urn:xmpp:carbons:rules:0), and the private and no-copy
// hints (§8, XEP-0334) keep a message from being copied.
//
// Carbons plug into the IM core through hooks (MessageSent,
// MessageDelivered, SessionEnded) and into the iq mux for enable and
// disable. Which sessions enabled them is kept here, by full JID, for as
// long as the session lives.
package carbons

import (
	"context"
	"slices"
	"sync"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces of XEP-0280 and of the payloads its rules look at.
const (
	NS = "urn:xmpp:carbons:2"
	// NSRules is advertised by a server that applies every rule of §6.1.
	NSRules = "urn:xmpp:carbons:rules:0"

	nsForward    = "urn:xmpp:forward:0"
	nsHints      = "urn:xmpp:hints"
	nsReceipts   = "urn:xmpp:receipts"
	nsChatStates = "http://jabber.org/protocol/chatstates"
	nsMarkers    = "urn:xmpp:chat-markers:0"
	nsMUCUser    = "http://jabber.org/protocol/muc#user"
	nsConfInv    = "jabber:x:conference"
)

// recentSent bounds the eligible messages remembered per user, to tell
// which errors answer them (§6.1: an error is copied when it answers a
// message that was).
const recentSent = 64

// Service keeps the carbons state and makes the copies. It is safe for
// concurrent use.
type Service struct {
	router *router.Router

	mu      sync.Mutex
	enabled map[jid.JID]router.Session // by full JID
	// users counts the full JIDs in enabled by bare JID (as a string,
	// which hashes in one call), so that a message to or from a user
	// without carbons costs nothing more. Every message asks
	// (anyEnabled), and a sync.Map answers without a lock the cores would
	// contend for; it changes under mu.
	users sync.Map
	sent  map[jid.JID]*ring // by bare JID: recent eligible messages sent

	// changed, when set, hears that a session enabled or disabled
	// carbons (cluster mode tells the other nodes).
	changed func(full jid.JID)
}

// OnChange makes s call f after a session enables or disables carbons.
// Set it before serving.
func (s *Service) OnChange(f func(full jid.JID)) { s.changed = f }

// SetRemote records the carbons state of a session on another cluster
// node, which that node's directory entry carries; enabled false forgets
// the session.
func (s *Service) SetRemote(sess router.Session, enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	full := sess.JID()
	switch {
	case enabled:
		s.enable(full, sess)
	case s.enabled[full] == sess:
		s.disable(full)
	}
}

func (s *Service) notify(full jid.JID) {
	if s.changed != nil {
		s.changed(full)
	}
}

// New returns the carbons service and registers enable and disable in
// mux.
func New(r *router.Router, mux *iq.Mux) *Service {
	s := &Service{router: r, enabled: make(map[jid.JID]router.Session), sent: make(map[jid.JID]*ring)}
	// Clients send enable to their account (no 'to'); accept it at the
	// server too.
	mux.Handle(iq.Account, NS, s.handle)
	mux.Handle(iq.Server, NS, s.handle)
	// §2, §6.2: the feature and the rules are the server's.
	mux.AddFeature(iq.Server, NS, NSRules)
	return s
}

// handle enables or disables carbons for the requesting session (§3,
// §4). Repeated requests succeed (§9.1).
func (s *Service) handle(_ context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	sess := s.router.Session(st.From)
	if sess == nil || !st.To.Bare().Equal(st.From.Bare()) && !(st.To.IsDomain() && st.To.Domain() == st.From.Domain()) {
		// §3.1, §4.1: only a client of this server, for itself.
		return nil, stanza.E(stanza.NotAllowed)
	}
	p := st.Payload()
	if st.Type() != "set" {
		return nil, stanza.E(stanza.BadRequest)
	}
	s.mu.Lock()
	switch p.Local {
	case "enable":
		s.enable(st.From, sess)
	case "disable":
		s.disable(st.From)
	default:
		s.mu.Unlock()
		return nil, stanza.E(stanza.BadRequest)
	}
	s.mu.Unlock()
	s.notify(st.From)
	return nil, nil
}

// Enable enables carbons for a session that asked for them inline when
// binding its resource (XEP-0386 §3).
func (s *Service) Enable(sess router.Session) {
	s.mu.Lock()
	s.enable(sess.JID(), sess)
	s.mu.Unlock()
	s.notify(sess.JID())
}

// enable and disable change enabled and users; s.mu is held.
func (s *Service) enable(full jid.JID, sess router.Session) {
	if _, ok := s.enabled[full]; !ok {
		bare := full.Bare().String()
		n, _ := s.users.Load(bare)
		s.users.Store(bare, count(n)+1)
	}
	s.enabled[full] = sess
}

func (s *Service) disable(full jid.JID) {
	if _, ok := s.enabled[full]; !ok {
		return
	}
	delete(s.enabled, full)
	bare := full.Bare().String()
	n, _ := s.users.Load(bare)
	if c := count(n) - 1; c > 0 {
		s.users.Store(bare, c)
	} else {
		s.users.Delete(bare)
	}
}

// Enabled reports whether sess enabled carbons.
func (s *Service) Enabled(sess router.Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enabled[sess.JID()] == sess
}

// MessageSent is the im hook for messages a session sends: the user's
// other carbons-enabled sessions get a sent carbon (§7), whether the
// sender enabled carbons or not.
func (s *Service) MessageSent(_ context.Context, sess router.Session, st *stanza.Stanza) bool {
	user := sess.JID().Bare()
	if !s.anyEnabled(user) {
		// Nothing to copy to, and so no copied message an error could
		// answer later.
		return true
	}
	if !s.eligible(st, user, true) {
		return true
	}
	s.remember(user, st)
	s.copyTo(user, st.El, "sent", func(r router.Session) bool { return r != sess })
	return true
}

// MessageDelivered is the im hook for messages delivered to a local
// user: the user's carbons-enabled sessions that did not get the message
// get a received carbon (§6).
func (s *Service) MessageDelivered(_ context.Context, st *stanza.Stanza, to []router.Session) {
	user := st.To.Bare()
	if !s.anyEnabled(user) || !s.eligible(st, user, false) {
		return
	}
	s.copyTo(user, st.El, "received", func(r router.Session) bool {
		for _, d := range to {
			if d == r {
				return false
			}
		}
		return true
	})
}

// RawMessage is the im hook for a message that could travel as the bytes
// its sender wrote (im.Hooks.RawMessage): fine when it makes no carbon,
// because no carbons-enabled session of the sender other than the
// sending one, and none of the recipient's that does not get the message
// anyway, could take one. A message that would be copied if a session
// enabled carbons later is noted, as MessageSent notes it, so that an
// error answering it is copied too.
func (s *Service) RawMessage(_ context.Context, m *stanza.Outline, sender router.Session, to []router.Session) bool {
	from := m.From.Bare()
	if !s.anyEnabled(from) && !s.anyEnabled(m.To.Bare()) {
		return true
	}
	if m.Has(nsMUCUser, "") || m.Has(nsConfInv, "") {
		return false // invitations and private messages: eligible decides from the tree
	}
	if s.copies(from, func(r router.Session) bool { return r != sender }) ||
		s.copies(m.To.Bare(), func(r router.Session) bool { return !slices.Contains(to, r) }) {
		return false
	}
	if s.anyEnabled(from) && len(m.ID) > 0 && !private(m.Kids) && copiedKind(m.Type, m.Kids) {
		// eligible's answer for a chat or normal message that is no
		// invitation.
		s.note(from, string(m.ID), m.To)
	}
	return true
}

// copies reports whether a carbons-enabled session of user that want
// accepts exists.
func (s *Service) copies(user jid.JID, want func(router.Session) bool) bool {
	if !s.anyEnabled(user) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.router.Resources(user) {
		if s.enabled[r.Session.JID()] == r.Session && want(r.Session) {
			return true
		}
	}
	return false
}

// anyEnabled reports whether a session of user enabled carbons.
func (s *Service) anyEnabled(user jid.JID) bool {
	_, ok := s.users.Load(user.String())
	return ok
}

// count is a value of users, or 0 for none.
func count(v any) int {
	n, _ := v.(int)
	return n
}

// copyTo sends a carbon of el, wrapped in <sent/> or <received/>, to
// each carbons-enabled session of user that want accepts.
func (s *Service) copyTo(user jid.JID, el *xmlel.Element, wrapper string, want func(router.Session) bool) {
	var targets []router.Session
	s.mu.Lock()
	if !s.anyEnabled(user) {
		s.mu.Unlock()
		return
	}
	for _, r := range s.router.Resources(user) {
		if s.enabled[r.Session.JID()] == r.Session && want(r.Session) {
			targets = append(targets, r.Session)
		}
	}
	s.mu.Unlock()
	if len(targets) == 0 {
		return
	}
	// A copy with its own children: the hooks after this one change the
	// original (the archive takes its stanza-id off outgoing messages).
	orig := el.ShallowCopy()
	for _, t := range targets {
		// §6, §7: from the user's bare JID, to the session, the same type,
		// the original forwarded (XEP-0297).
		c := xmlel.New("", stanza.Message, "from", user.String(), "to", t.JID().String(), "type", el.Attr("type")).Append(
			xmlel.New(NS, wrapper).Append(xmlel.New(nsForward, "forwarded").Append(orig)))
		t.Send(c)
	}
}

// eligible applies §6.1 and §8 to a message a user sends (outgoing) or
// receives.
func (s *Service) eligible(st *stanza.Stanza, user jid.JID, outgoing bool) bool {
	el := st.El
	names := stanza.NamesOf(el)
	if private(names) {
		return false
	}
	muc := el.Child(nsMUCUser, "x")
	switch el.Attr("type") {
	case "groupchat":
		return false
	case "error":
		// Hints in errors are ignored (XEP-0334 §5); an error is copied
		// when it answers a message that was.
		return !outgoing && s.answers(user, st)
	}
	switch {
	case el.Child(nsConfInv, "x") != nil, muc != nil && muc.Child(nsMUCUser, "invite") != nil:
		return true // invitations, direct (XEP-0249) and mediated
	case muc != nil && !outgoing && st.From.IsFull():
		// A private message from a room occupant: the room sends it to
		// every joined client of the user already.
		return false
	}
	return copiedKind(el.Attr("type"), names)
}

// private reports whether a message asks not to be copied (§8, XEP-0334
// §4.3).
func private(n stanza.Names) bool { return n.Has(NS, "private") || n.Has(nsHints, "no-copy") }

// copiedKind applies §6.1 to a message that is no error, group chat or
// invitation: a chat message is copied, a normal one (typ "" or
// "normal") with a body, and any with a receipt, a chat state or a
// marker.
func copiedKind(typ string, n stanza.Names) bool {
	switch typ {
	case "chat":
		return true
	case "", "normal":
		if n.Has("", "body") {
			return true
		}
	}
	return n.Has(nsReceipts, "") || n.Has(nsChatStates, "") || n.Has(nsMarkers, "")
}

// ring is a small ring of recently sent message keys.
type ring struct {
	keys [recentSent]string
	next int
}

// sentKey identifies a message by its id and its recipient, which an
// error answering it comes from.
func sentKey(id string, peer jid.JID) string { return id + "\x00" + peer.String() }

// remember notes an eligible message a user sent, so that an error
// answering it is copied too.
func (s *Service) remember(user jid.JID, st *stanza.Stanza) {
	s.note(user, st.ID(), st.To)
}

// note remembers that user sent an eligible message with this id to peer.
func (s *Service) note(user jid.JID, id string, peer jid.JID) {
	if id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.sent[user]
	if r == nil {
		r = &ring{}
		s.sent[user] = r
	}
	r.keys[r.next] = sentKey(id, peer)
	r.next = (r.next + 1) % recentSent
}

// answers reports whether an error to user answers an eligible message
// the user sent.
func (s *Service) answers(user jid.JID, st *stanza.Stanza) bool {
	id := st.ID()
	if id == "" {
		return false
	}
	key := sentKey(id, st.From)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.sent[user]; r != nil {
		for _, k := range r.keys {
			if k == key {
				return true
			}
		}
	}
	return false
}

// SessionEnded is the im hook for sessions that end: their carbons state
// goes, and the user's when no session is left.
func (s *Service) SessionEnded(_ context.Context, sess router.Session) {
	full := sess.JID()
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.enabled[full]; cur != nil && (cur == sess || s.router.Session(full) == nil) {
		s.disable(full)
	}
	if len(s.router.Resources(full.Bare())) == 0 {
		delete(s.sent, full.Bare())
	}
}
