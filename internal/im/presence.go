package im

import (
	"context"
	"errors"
	"strconv"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// outboundPresence handles presence a client sent (RFC 6121 §3, §4).
func (s *Service) outboundPresence(ctx context.Context, st *stanza.Stanza) {
	from := st.From
	switch st.Type() {
	case "", "unavailable":
		if st.To.IsZero() {
			s.broadcast(ctx, st)
			return
		}
		s.sendDirected(ctx, st)
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		if st.To.IsZero() || st.To.Equal(from.Bare()) {
			return
		}
		s.outboundSubscription(ctx, st)
	case "probe":
		// Probes come from servers, not clients (RFC 6121 §4.3).
	case "error":
		if !st.To.IsZero() {
			s.router.Route(ctx, st)
		}
	}
}

// priority reads <priority/> (RFC 6121 §4.7.2.3), default 0.
func priority(el *xmlel.Element) int {
	p, err := strconv.Atoi(el.ChildText("", "priority"))
	if err != nil || p < -128 || p > 127 {
		return 0
	}
	return p
}

// broadcast handles initial, subsequent and unavailable presence
// (RFC 6121 §4.2, §4.4, §4.5).
func (s *Service) broadcast(ctx context.Context, st *stanza.Stanza) {
	full := st.From
	if st.Type() == "unavailable" {
		s.unavailable(ctx, full, st.El)
		return
	}
	prio := priority(st.El)
	was, oldPrio := s.router.SetPresence(full, st.El, prio)
	initial := !was
	s.presenceSent(ctx, full, st.El, initial)
	user := full.Bare()
	items, _, err := s.store.Roster().Items(ctx, user.String())
	if err != nil {
		s.log.Error("im: roster load failed", "err", err)
		return
	}
	for _, it := range items {
		c, err := jid.Parse(it.Contact)
		if err != nil || s.isBlocked(ctx, user, c) {
			continue
		}
		if it.Subscription == storage.SubFrom || it.Subscription == storage.SubBoth {
			s.forward(ctx, st.El, full, c)
		}
		if initial && (it.Subscription == storage.SubTo || it.Subscription == storage.SubBoth) {
			s.sendTo(ctx, xmlel.New("", stanza.Presence, "type", "probe"), user, c)
		}
	}
	// The user's own resources see each other (RFC 6121 §4.2.2, §4.4.2).
	for _, r := range s.router.Resources(user) {
		if r.Available {
			r.Session.Send(stanza.WithAddress(st.El, full, r.Session.JID()))
			if initial && !r.Session.JID().Equal(full) {
				if self := s.router.Session(full); self != nil {
					self.Send(stanza.WithAddress(r.Presence, r.Session.JID(), full))
				}
			}
		}
	}
	if prio >= 0 && (initial || oldPrio < 0) {
		// XEP-0160 §3: messages wait for the first non-negative
		// available presence, which may follow a negative one.
		defer s.deliverOffline(ctx, full)
	}
	if !initial {
		return
	}
	if sess := s.router.Session(full); sess != nil {
		pending, err := s.store.Roster().Pending(ctx, user.String())
		if err != nil {
			s.log.Error("im: pending subscriptions load failed", "err", err)
		}
		for _, p := range pending {
			if el, err := xmlstream.ParseStored(p.Stanza); err == nil {
				sess.Send(el)
			}
		}
	}
}

// unavailable marks a resource unavailable and tells everyone who knew it
// was available: subscribers, the user's other resources and those that
// got directed presence (RFC 6121 §4.5.2, §4.6.3).
func (s *Service) unavailable(ctx context.Context, full jid.JID, el *xmlel.Element) {
	was, _ := s.router.SetPresence(full, nil, 0)
	s.unavailableFrom(ctx, full, el, was)
}

// unavailableFrom sends unavailable presence el from full to everyone who
// knew it: subscribers and the user's resources if it was available
// (was), and those that got directed presence from it.
func (s *Service) unavailableFrom(ctx context.Context, full jid.JID, el *xmlel.Element, was bool) {
	if was {
		s.presenceSent(ctx, full, nil, false)
	}
	s.mu.Lock()
	directed := s.directed[full]
	delete(s.directed, full)
	s.mu.Unlock()
	if !was && len(directed) == 0 {
		return
	}
	user := full.Bare()
	if was {
		items, _, err := s.store.Roster().Items(ctx, user.String())
		if err != nil {
			s.log.Error("im: roster load failed", "err", err)
		}
		for _, it := range items {
			if it.Subscription != storage.SubFrom && it.Subscription != storage.SubBoth {
				continue
			}
			if c, err := jid.Parse(it.Contact); err == nil {
				delete(directed, c)
				s.forward(ctx, el, full, c)
			}
		}
		for _, r := range s.router.Resources(user) {
			if r.Available || r.Session.JID().Equal(full) {
				r.Session.Send(stanza.WithAddress(el, full, r.Session.JID()))
			}
		}
	}
	for to := range directed {
		s.forward(ctx, el, full, to)
	}
}

// sendDirected sends presence to one entity and remembers it, so that it
// hears of the resource going offline (RFC 6121 §4.6).
func (s *Service) sendDirected(ctx context.Context, st *stanza.Stanza) {
	full := st.From
	s.mu.Lock()
	if st.Type() == "unavailable" {
		delete(s.directed[full], st.To)
	} else {
		m := s.directed[full]
		if m == nil {
			m = make(map[jid.JID]bool)
			s.directed[full] = m
		}
		if len(m) < 1000 {
			m[st.To] = true
		}
	}
	s.mu.Unlock()
	s.presenceDirected(ctx, st)
	s.router.Route(ctx, st)
}

// forward routes a copy of a presence element from a full JID to someone.
func (s *Service) forward(ctx context.Context, el *xmlel.Element, from, to jid.JID) {
	s.router.Route(ctx, &stanza.Stanza{El: stanza.WithAddress(el, from, to), From: from, To: to})
}

// outboundSubscription updates the user's roster for a subscription
// stanza the user sends and passes it on (RFC 6121 §3.1.2, §3.1.5,
// §3.2.2, §3.3.2, §3.4).
func (s *Service) outboundSubscription(ctx context.Context, st *stanza.Stanza) {
	user := st.From.Bare()
	contact := st.To.Bare()
	it, err := s.store.Roster().Item(ctx, user.String(), contact.String())
	if errors.Is(err, storage.ErrNotFound) {
		it = storage.RosterItem{Contact: contact.String(), Subscription: storage.SubNone}
	} else if err != nil {
		s.log.Error("im: roster load failed", "err", err)
		return
	}
	old := it
	route := true
	wasFrom := it.Subscription == storage.SubFrom || it.Subscription == storage.SubBoth
	switch st.Type() {
	case "subscribe":
		if it.Subscription == storage.SubNone || it.Subscription == storage.SubFrom {
			it.Ask = true
		}
	case "subscribed":
		pending, perr := s.hasPending(ctx, user, contact)
		if perr != nil {
			return
		}
		switch {
		case it.Subscription == storage.SubFrom || it.Subscription == storage.SubBoth:
			route = false // nothing to approve
		case pending:
			it.Subscription = addFrom(it.Subscription)
			it.Approved = false
		default:
			// Pre-approval (RFC 6121 §3.4): remember, tell nobody yet.
			it.Approved = true
			route = false
		}
		if pending {
			if err := s.store.Roster().RemovePending(ctx, user.String(), contact.String()); err != nil {
				s.log.Error("im: pending removal failed", "err", err)
			}
		}
	case "unsubscribe":
		it.Subscription = removeTo(it.Subscription)
		it.Ask = false
	case "unsubscribed":
		pending, perr := s.hasPending(ctx, user, contact)
		if perr != nil {
			return
		}
		if pending {
			if err := s.store.Roster().RemovePending(ctx, user.String(), contact.String()); err != nil {
				s.log.Error("im: pending removal failed", "err", err)
			}
		}
		// RFC 6121 §A.2.4: only a subscription or a request is cancelled
		// or refused; otherwise the stanza goes nowhere (it may cancel a
		// pre-approval, §3.4).
		route = wasFrom || pending
		it.Subscription = removeFrom(it.Subscription)
		it.Approved = false
	}
	if !itemEqual(old, it) {
		if old.Subscription == storage.SubNone && !old.Ask && !old.Approved && it.Subscription == storage.SubNone && !it.Ask && !it.Approved {
			// nothing worth a roster item
		} else if err := s.putItem(ctx, user, it); err != nil {
			s.log.Error("im: roster update failed", "err", err)
			return
		}
	}
	if !route {
		return
	}
	// The subscription is between bare JIDs (RFC 6121 §3.1.2).
	el := stanza.WithAddress(st.El, user, contact)
	s.router.Route(ctx, &stanza.Stanza{El: el, From: user, To: contact})
	switch st.Type() {
	case "subscribed":
		s.sendCurrentPresence(ctx, user, contact)
	case "unsubscribed":
		if wasFrom {
			// RFC 6121 §3.2.2: the contact no longer sees the user.
			s.sendUnavailable(ctx, user, contact)
		}
	}
}

func (s *Service) hasPending(ctx context.Context, user, contact jid.JID) (bool, error) {
	pending, err := s.store.Roster().Pending(ctx, user.String())
	if err != nil {
		s.log.Error("im: pending subscriptions load failed", "err", err)
		return false, err
	}
	for _, p := range pending {
		if p.From == contact.String() {
			return true, nil
		}
	}
	return false, nil
}

// sendCurrentPresence sends the presence of each available resource of a
// user to a contact that was just allowed to see it.
func (s *Service) sendCurrentPresence(ctx context.Context, user, contact jid.JID) {
	for _, r := range s.router.Resources(user) {
		if r.Available && r.Presence != nil {
			s.forward(ctx, r.Presence, r.Session.JID(), contact)
		}
	}
}

// sendUnavailable tells a contact that lost the subscription that the
// user's resources are gone (RFC 6121 §3.2.2).
func (s *Service) sendUnavailable(ctx context.Context, user, contact jid.JID) {
	for _, r := range s.router.Resources(user) {
		if r.Available {
			s.forward(ctx, xmlel.New("", stanza.Presence, "type", "unavailable"), r.Session.JID(), contact)
		}
	}
}

// inboundPresence handles presence for a local user (RFC 6121 §3, §4.3,
// §4.6, §8.5).
func (s *Service) inboundPresence(ctx context.Context, st *stanza.Stanza) {
	switch st.Type() {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		s.inboundSubscription(ctx, st)
	case "probe":
		s.probe(ctx, st)
	default:
		s.presenceArrived(ctx, st)
		if st.To.IsFull() {
			if sess := s.router.Session(st.To); sess != nil {
				sess.Send(st.El)
			}
			return
		}
		for _, r := range s.router.Resources(st.To) {
			if r.Available {
				r.Session.Send(stanza.WithAddress(st.El, st.From, r.Session.JID()))
			}
		}
	}
}

// probe answers a presence probe: only a contact with a subscription to
// the user's presence learns anything (RFC 6121 §4.3.2).
func (s *Service) probe(ctx context.Context, st *stanza.Stanza) {
	user := st.To.Bare()
	prober := st.From.Bare()
	it, err := s.store.Roster().Item(ctx, user.String(), prober.String())
	if err != nil || (it.Subscription != storage.SubFrom && it.Subscription != storage.SubBoth) {
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.log.Error("im: roster load failed", "err", err)
			return
		}
		s.sendTo(ctx, xmlel.New("", stanza.Presence, "type", "unsubscribed"), user, st.From)
		return
	}
	sent := false
	for _, r := range s.router.Resources(user) {
		if r.Available && r.Presence != nil {
			s.forward(ctx, r.Presence, r.Session.JID(), st.From)
			sent = true
		}
	}
	if !sent {
		s.sendTo(ctx, xmlel.New("", stanza.Presence, "type", "unavailable"), user, st.From)
	}
}

// inboundSubscription applies a contact's subscription stanza to the
// user's roster (RFC 6121 §3.1.3, §3.1.6, §3.2.3, §3.3.3).
func (s *Service) inboundSubscription(ctx context.Context, st *stanza.Stanza) {
	user := st.To.Bare()
	contact := st.From.Bare()
	if !s.exists(ctx, user) {
		if st.Type() == "subscribe" {
			// RFC 6121 §3.1.3: answer for a user that does not exist as
			// one who declines, revealing nothing more.
			s.sendTo(ctx, xmlel.New("", stanza.Presence, "type", "unsubscribed"), user, contact)
		}
		return
	}
	it, err := s.store.Roster().Item(ctx, user.String(), contact.String())
	found := err == nil
	if errors.Is(err, storage.ErrNotFound) {
		it = storage.RosterItem{Contact: contact.String(), Subscription: storage.SubNone}
	} else if err != nil {
		s.log.Error("im: roster load failed", "err", err)
		return
	}
	old := it
	deliver := false
	el := stanza.WithAddress(st.El, contact, user)
	switch st.Type() {
	case "subscribe":
		switch {
		case it.Subscription == storage.SubFrom || it.Subscription == storage.SubBoth:
			// Already subscribed: confirm again, bother nobody.
			s.sendTo(ctx, xmlel.New("", stanza.Presence, "type", "subscribed"), user, contact)
			return
		case it.Approved:
			it.Subscription = addFrom(it.Subscription)
			it.Approved = false
			s.sendTo(ctx, xmlel.New("", stanza.Presence, "type", "subscribed"), user, contact)
			s.sendCurrentPresence(ctx, user, contact)
		default:
			pending, perr := s.hasPending(ctx, user, contact)
			if perr != nil {
				return
			}
			if err := s.store.Roster().AddPending(ctx, user.String(), storage.PendingSubscription{
				From: contact.String(), Stanza: el.String()}); err != nil {
				s.log.Error("im: pending subscription store failed", "err", err)
				return
			}
			// RFC 6121 §A.3.1: a request already pending is not
			// delivered again; the user sees it at every login.
			deliver = !pending
		}
	case "subscribed":
		if !found || !it.Ask {
			return // RFC 6121 §3.1.6: not asked for, ignore
		}
		it.Subscription = addTo(it.Subscription)
		it.Ask = false
		deliver = true
	case "unsubscribe":
		pending, perr := s.hasPending(ctx, user, contact)
		if perr != nil {
			return
		}
		if pending {
			if err := s.store.Roster().RemovePending(ctx, user.String(), contact.String()); err != nil {
				s.log.Error("im: pending removal failed", "err", err)
			}
		}
		if !found || (it.Subscription != storage.SubFrom && it.Subscription != storage.SubBoth) {
			if pending {
				deliver = true
			}
			break
		}
		it.Subscription = removeFrom(it.Subscription)
		deliver = true
		s.sendUnavailable(ctx, user, contact)
	case "unsubscribed":
		if !found || (it.Subscription != storage.SubTo && it.Subscription != storage.SubBoth && !it.Ask) {
			return
		}
		it.Subscription = removeTo(it.Subscription)
		it.Ask = false
		deliver = true
	}
	if found && !itemEqual(old, it) {
		if err := s.putItem(ctx, user, it); err != nil {
			s.log.Error("im: roster update failed", "err", err)
			return
		}
	}
	if deliver {
		for _, r := range s.router.Resources(user) {
			if r.Available {
				r.Session.Send(stanza.WithAddress(el, contact, r.Session.JID()))
			}
		}
	}
}

func addFrom(sub storage.Subscription) storage.Subscription {
	if sub == storage.SubTo || sub == storage.SubBoth {
		return storage.SubBoth
	}
	return storage.SubFrom
}

func addTo(sub storage.Subscription) storage.Subscription {
	if sub == storage.SubFrom || sub == storage.SubBoth {
		return storage.SubBoth
	}
	return storage.SubTo
}

func removeFrom(sub storage.Subscription) storage.Subscription {
	if sub == storage.SubBoth || sub == storage.SubTo {
		return storage.SubTo
	}
	return storage.SubNone
}

func removeTo(sub storage.Subscription) storage.Subscription {
	if sub == storage.SubBoth || sub == storage.SubFrom {
		return storage.SubFrom
	}
	return storage.SubNone
}

func itemEqual(a, b storage.RosterItem) bool {
	if a.Contact != b.Contact || a.Name != b.Name || a.Subscription != b.Subscription ||
		a.Ask != b.Ask || a.Approved != b.Approved || len(a.Groups) != len(b.Groups) {
		return false
	}
	for i := range a.Groups {
		if a.Groups[i] != b.Groups[i] {
			return false
		}
	}
	return true
}

// delayStamp is the XEP-0082 date-time format used by XEP-0203.
const delayStamp = "2006-01-02T15:04:05.000Z"

// delay returns a XEP-0203 delay element.
func delay(from string, t time.Time) *xmlel.Element {
	return xmlel.New(stanza.NSDelay, "delay", "from", from, "stamp", t.UTC().Format(delayStamp))
}
