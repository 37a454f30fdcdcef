package im

import (
	"context"
	"slices"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// blocklist returns the user's blocked JIDs, cached while the user has
// sessions.
func (s *Service) blocklist(ctx context.Context, user jid.JID) []jid.JID {
	s.mu.Lock()
	list, ok := s.blocks[user]
	s.mu.Unlock()
	if ok {
		return list
	}
	raw, err := s.store.Blocklist().List(ctx, user.String())
	if err != nil {
		s.log.Error("im: blocklist load failed", "err", err)
		return nil
	}
	list = make([]jid.JID, 0, len(raw))
	for _, r := range raw {
		if j, err := jid.Parse(r); err == nil {
			list = append(list, j)
		}
	}
	if len(s.router.Resources(user)) > 0 {
		s.mu.Lock()
		s.blocks[user] = list
		s.mu.Unlock()
	}
	return list
}

// isBlocked reports whether user blocks other, matching as XEP-0191 §3.4
// prescribes: a blocked full JID matches only itself, a bare JID all its
// resources, a domain everything at it.
func (s *Service) isBlocked(ctx context.Context, user, other jid.JID) bool {
	if other.IsZero() || other.Domain() == user.Domain() && other.Local() == "" {
		return false // never block one's own server
	}
	for _, b := range s.blocklist(ctx, user) {
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
	s.mu.Lock()
	delete(s.blocks, user)
	s.mu.Unlock()
	after := s.blocklist(ctx, user)

	// Push the change to every resource of the user (XEP-0191 §3.3).
	push := xmlel.New(NSBlocking, q.Local)
	for _, j := range jids {
		push.Append(xmlel.New(NSBlocking, "item", "jid", j.String()))
	}
	for _, r := range s.router.Resources(user) {
		r.Session.Send(xmlel.New("", stanza.IQ, "type", "set", "id", "block-push", "to", r.Session.JID().String()).Append(push.Copy()))
	}
	// Newly blocked contacts stop seeing the user; newly unblocked
	// subscribers see the current presence again.
	if q.Local == "block" {
		for _, j := range jids {
			if !slices.ContainsFunc(before, j.Equal) {
				s.sendUnavailable(ctx, user, j)
			}
		}
	} else {
		for _, b := range before {
			if !slices.ContainsFunc(after, b.Equal) && b.Local() != "" {
				if it, err := s.store.Roster().Item(ctx, user.String(), b.Bare().String()); err == nil &&
					(it.Subscription == "from" || it.Subscription == "both") {
					s.sendCurrentPresence(ctx, user, b)
				}
			}
		}
	}
	return nil, nil
}
