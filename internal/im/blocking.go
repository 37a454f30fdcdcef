package im

import (
	"context"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// blocklist returns the user's blocked JIDs, cached while the user has
// sessions.
func (s *Service) blocklist(ctx context.Context, user jid.JID) []jid.JID {
	if list, ok := s.blocks.Load(user.String()); ok {
		return list.([]jid.JID)
	}
	s.mu.Lock()
	gen := s.blockGen
	s.mu.Unlock()
	raw, err := s.store.Blocklist().List(ctx, user.String())
	if err != nil {
		s.log.Error("im: blocklist load failed", "err", err)
		return nil
	}
	list := make([]jid.JID, 0, len(raw))
	for _, r := range raw {
		if j, err := jid.Parse(r); err == nil {
			list = append(list, j)
		}
	}
	if len(s.router.Resources(user)) > 0 {
		s.mu.Lock()
		// A list read before a change must not be cached after it.
		if s.blockGen == gen {
			s.blocks.Store(user.String(), list)
		}
		s.mu.Unlock()
	}
	return list
}

// ForgetBlocklist drops the cached blocklist of a user whose list
// changed elsewhere (on another node of a cluster).
func (s *Service) ForgetBlocklist(user jid.JID) { s.forgetBlocklist(user) }

// forgetBlocklist drops a cached blocklist after a change or when its
// user has no session left; loads under way then cache nothing.
func (s *Service) forgetBlocklist(user jid.JID) {
	s.mu.Lock()
	s.blocks.Delete(user.String())
	s.blockGen++
	s.mu.Unlock()
}

// Blocks reports whether user blocks other, as isBlocked does, for
// services that send in the user's name without the IM core, such as
// PEP's notifications.
func (s *Service) Blocks(ctx context.Context, user, other jid.JID) bool {
	return s.isBlocked(ctx, user, other)
}

// isBlocked reports whether user blocks other, matching as XEP-0191 §3.4
// prescribes: a blocked full JID matches only itself, a bare JID all its
// resources, a domain everything at it.
func (s *Service) isBlocked(ctx context.Context, user, other jid.JID) bool {
	switch {
	case other.IsZero(), other.Domain() == user.Domain() && other.Local() == "":
		return false // never block one's own server
	case other.Bare().Equal(user):
		// XEP-0191 §5 (with XEP-0016): a user's resources always reach
		// each other, whatever the list says.
		return false
	}
	return blockedBy(s.blocklist(ctx, user), other)
}

// blockedBy reports whether an entry of list matches other.
func blockedBy(list []jid.JID, other jid.JID) bool {
	for _, b := range list {
		if blockMatches(b, other) {
			return true
		}
	}
	return false
}

func blockMatches(b, other jid.JID) bool {
	switch {
	case b.Local() != "" && b.Resource() != "":
		return b.Equal(other)
	case b.Local() != "":
		return b.Equal(other.Bare())
	case b.Resource() != "":
		return b.Domain() == other.Domain() && b.Resource() == other.Resource() && other.Local() == ""
	default:
		return b.Domain() == other.Domain()
	}
}

// handleBlocking answers blocklist retrieval, block and unblock
// (XEP-0191 §3).
func (s *Service) handleBlocking(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	user := st.To
	if !st.From.Bare().Equal(user) {
		return nil, stanza.E(stanza.Forbidden)
	}
	q := st.Payload()
	switch {
	case st.Type() == "get" && q.Local == "blocklist":
		// XEP-0191 §3.3: pushes go to the resources that asked.
		s.router.SetBlocklistInterested(st.From)
		res := xmlel.New(NSBlocking, "blocklist")
		for _, b := range s.blocklist(ctx, user) {
			res.Append(xmlel.New(NSBlocking, "item", "jid", b.String()))
		}
		return res, nil
	case st.Type() == "set" && (q.Local == "block" || q.Local == "unblock"):
	default:
		return nil, stanza.E(stanza.BadRequest)
	}
	var jids []jid.JID
	for _, it := range q.Elements() {
		if !it.Is(NSBlocking, "item") {
			continue
		}
		j, err := jid.Parse(it.Attr("jid"))
		if err != nil {
			return nil, stanza.E(stanza.JIDMalformed)
		}
		jids = append(jids, j)
	}
	if q.Local == "block" && len(jids) == 0 {
		return nil, stanza.E(stanza.BadRequest)
	}
	strs := make([]string, len(jids))
	for i, j := range jids {
		strs[i] = j.String()
	}
	before := s.blocklist(ctx, user)
	var err error
	if q.Local == "block" {
		err = s.store.Blocklist().Add(ctx, user.String(), strs)
	} else {
		err = s.store.Blocklist().Remove(ctx, user.String(), strs)
	}
	if err != nil {
		return nil, err
	}
	s.forgetBlocklist(user)
	s.blocklistChanged(ctx, user)
	after := s.blocklist(ctx, user)

	// Push the change to every resource of the user (XEP-0191 §3.3).
	push := xmlel.New(NSBlocking, q.Local)
	for _, j := range jids {
		push.Append(xmlel.New(NSBlocking, "item", "jid", j.String()))
	}
	for _, r := range s.router.Resources(user) {
		if r.Blocklist {
			r.Session.Send(xmlel.New("", stanza.IQ, "type", "set", "id", "block-push", "to", r.Session.JID().String()).Append(push.Copy()))
		}
	}
	s.presenceAfterBlocking(ctx, user, before, after)
	if q.Local == "block" {
		s.blockedItems(ctx, user, q)
	}
	return nil, nil
}

// blockedItems shows the Blocked hooks the items of a block that carry
// more than a JID, after the answer: XEP-0377 §6 has the block done "just
// as" without a report, whatever the hooks make of it.
func (s *Service) blockedItems(ctx context.Context, user jid.JID, q *xmlel.Element) {
	var items []*xmlel.Element
	for _, it := range q.Elements() {
		if it.Is(NSBlocking, "item") && it.FirstElement() != nil {
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return
	}
	iq.After(ctx, func() { s.blocked(context.WithoutCancel(ctx), user, items) })
}

// presenceAfterBlocking tells the entities that may see the user's
// presence of a change of the blocklist (XEP-0191 §3.3, §3.4): newly
// blocked ones get unavailable presence, newly unblocked ones the current
// presence. May see means a subscription from them (RFC 6121 §4.4.2) or,
// for unavailable presence, directed presence they got (§4.6.3); no one
// else learns anything, so a block reveals nothing to a stranger.
func (s *Service) presenceAfterBlocking(ctx context.Context, user jid.JID, before, after []jid.JID) {
	items, _, err := s.store.Roster().Items(ctx, user.String())
	if err != nil {
		s.log.Error("im: roster load failed", "err", err)
		return
	}
	for _, it := range items {
		if it.Subscription != storage.SubFrom && it.Subscription != storage.SubBoth {
			continue
		}
		c, err := jid.Parse(it.Contact)
		if err != nil {
			continue
		}
		was, is := blockedBy(before, c), blockedBy(after, c)
		switch {
		case !was && is:
			s.sendUnavailable(ctx, user, c)
		case was && !is:
			s.sendCurrentPresence(ctx, user, c)
		}
	}
	for _, r := range s.router.Resources(user) {
		full := r.Session.JID()
		var gone []jid.JID
		s.mu.Lock()
		for to := range s.directed[full] {
			if !blockedBy(before, to) && blockedBy(after, to) {
				gone = append(gone, to)
				delete(s.directed[full], to)
			}
		}
		s.mu.Unlock()
		for _, to := range gone {
			s.forward(ctx, xmlel.New("", stanza.Presence, "type", "unavailable"), full, to)
		}
	}
}
