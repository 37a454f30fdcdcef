package im

import (
	"context"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

const nsStanzaID = "urn:xmpp:sid:0" // XEP-0359

// Undelivered takes back a message that reached the session of resource
// gone but that its client never acknowledged before the session ended
// (XEP-0198 §4). It is treated as a message for a resource that is not
// available (RFC 6121 §8.5.3.2.1): a groupchat message bounces, errors
// and headlines are dropped, and chat and normal messages go to the
// resource's new session when the client bound it anew, else to the
// user's other available resources or, when there is none, to offline
// storage. Every copy carries a delay stamp (XEP-0203) of at, when the
// message was first delivered.
//
// A message that was sent to the bare JID and that the user's archive
// holds (it carries the stanza-id of the user's server, XEP-0359) is not
// delivered again to the resources that were available at: they got it
// then, and the archive has it for the rest. A resource that became
// available since did not get it, and does now.
func (s *Service) Undelivered(ctx context.Context, gone jid.JID, el *xmlel.Element, at time.Time) {
	st := &stanza.Stanza{El: el, To: gone}
	if from, err := jid.Parse(el.Attr("from")); err == nil {
		st.From = from
	}
	switch st.Type() {
	case "groupchat":
		s.router.Bounce(ctx, st, stanza.E(stanza.ServiceUnavailable))
		return
	case "error", "headline":
		return
	}
	user := gone.Bare()
	stamped := func() {
		if el.Child(stanza.NSDelay, "delay") == nil {
			el = el.ShallowCopy()
			el.Append(delay(user.Domain(), at))
			st.El = el
		}
	}
	if sess := s.router.Session(gone); sess != nil {
		// The resource is bound again: the old session left the router
		// before its stanzas came back here, so this is a new one, the
		// same client binding its resource anew after its stream could
		// not be resumed (XEP-0198 §5), on this node or another of a
		// cluster. A message to a full JID goes to the connected
		// resource (RFC 6121 §8.5.3.1), available or not yet.
		stamped()
		sess.Send(el)
		s.messageDelivered(ctx, st, []router.Session{sess})
		return
	}
	var best []router.Resource
	top := 0
	for _, r := range s.router.Resources(user) {
		if !r.Available || r.Priority < 0 || r.Session.JID().Equal(gone) {
			continue
		}
		switch {
		case len(best) == 0 || r.Priority > top:
			best, top = []router.Resource{r}, r.Priority
		case r.Priority == top:
			best = append(best, r)
		}
	}
	if len(best) == 0 {
		s.storeOfflineAt(ctx, st, at)
		s.messageDelivered(ctx, st, nil)
		return
	}
	if to, err := jid.Parse(el.Attr("to")); err == nil && to.IsBare() && archivedFor(el, user) {
		var fresh []router.Resource
		for _, r := range best {
			if r.Since.After(at) {
				fresh = append(fresh, r)
			}
		}
		if len(fresh) == 0 {
			return
		}
		best = fresh
	}
	stamped()
	s.sendAll(ctx, st, best)
}

// archivedFor reports whether a message carries a stanza-id that the
// archive of user gave it.
func archivedFor(el *xmlel.Element, user jid.JID) bool {
	for _, c := range el.Elements() {
		if c.Is(nsStanzaID, "stanza-id") && c.Attr("by") == user.String() {
			return true
		}
	}
	return false
}
