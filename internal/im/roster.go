package im

import (
	"context"
	"errors"
	"strconv"
	"unicode/utf8"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces of this package.
const (
	NSRoster         = "jabber:iq:roster"
	NSBlocking       = "urn:xmpp:blocking"
	NSBlockingErrors = "urn:xmpp:blocking:errors"
	NSMsgOffline     = "msgoffline"
)

// maxRosterText bounds item names and group names (bytes).
const maxRosterText = 1024

// handleRoster answers roster get and set (RFC 6121 §2).
func (s *Service) handleRoster(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	user := st.To
	if !st.From.Bare().Equal(user) {
		return nil, stanza.E(stanza.Forbidden)
	}
	q := st.Payload()
	if st.Type() == "get" {
		items, ver, err := s.store.Roster().Items(ctx, user.String())
		if err != nil {
			return nil, err
		}
		s.router.SetInterested(st.From)
		v := strconv.FormatInt(ver, 10)
		if q.HasAttr("ver") && q.Attr("ver") == v {
			// RFC 6121 §2.6.3: the client's copy is current; pushes will
			// follow for later changes.
			return nil, nil
		}
		res := xmlel.New(NSRoster, "query", "ver", v)
		for _, it := range items {
			res.Append(itemElement(it))
		}
		return res, nil
	}
	children := q.Elements()
	if len(children) != 1 || !children[0].Is(NSRoster, "item") {
		return nil, stanza.E(stanza.BadRequest)
	}
	item := children[0]
	contact, err := jid.Parse(item.Attr("jid"))
	if err != nil {
		return nil, stanza.E(stanza.JIDMalformed)
	}
	contact = contact.Bare()
	if contact.Equal(user) {
		return nil, stanza.E(stanza.NotAllowed).WithText("you cannot add yourself")
	}
	if item.Attr("subscription") == "remove" {
		return nil, s.removeItem(ctx, user, contact)
	}
	name := item.Attr("name")
	if len(name) > maxRosterText {
		return nil, stanza.E(stanza.NotAcceptable)
	}
	var groups []string
	seen := map[string]bool{}
	for _, g := range item.Elements() {
		if !g.Is(NSRoster, "group") {
			continue
		}
		t := g.Text()
		if t == "" || len(t) > maxRosterText || !utf8.ValidString(t) {
			return nil, stanza.E(stanza.NotAcceptable)
		}
		if seen[t] {
			return nil, stanza.E(stanza.BadRequest)
		}
		seen[t] = true
		groups = append(groups, t)
	}
	it, err := s.store.Roster().Item(ctx, user.String(), contact.String())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		it = storage.RosterItem{Contact: contact.String(), Subscription: storage.SubNone}
	case err != nil:
		return nil, err
	}
	it.Name, it.Groups = name, groups
	if err := s.putItem(ctx, user, it); err != nil {
		return nil, err
	}
	return nil, nil
}

// putItem stores an item and pushes it to the user's interested
// resources.
func (s *Service) putItem(ctx context.Context, user jid.JID, it storage.RosterItem) error {
	ver, err := s.store.Roster().Put(ctx, user.String(), it, s.cfg.RosterItems)
	if errors.Is(err, storage.ErrQuota) {
		return stanza.E(stanza.NotAllowed).WithText("the roster is full")
	}
	if err != nil {
		return err
	}
	s.push(ctx, user, itemElement(it), ver)
	return nil
}

// removeItem removes a contact and cancels the subscriptions both ways
// (RFC 6121 §2.5.2).
func (s *Service) removeItem(ctx context.Context, user, contact jid.JID) error {
	it, err := s.store.Roster().Item(ctx, user.String(), contact.String())
	if errors.Is(err, storage.ErrNotFound) {
		return stanza.E(stanza.ItemNotFound)
	}
	if err != nil {
		return err
	}
	pending, err := s.hasPending(ctx, user, contact)
	if err != nil {
		return err
	}
	ver, err := s.store.Roster().Delete(ctx, user.String(), contact.String())
	if err != nil {
		return err
	}
	if err := s.store.Roster().RemovePending(ctx, user.String(), contact.String()); err != nil {
		return err
	}
	if it.Subscription == storage.SubTo || it.Subscription == storage.SubBoth || it.Ask {
		s.sendTo(ctx, xmlel.New("", stanza.Presence, "type", "unsubscribe"), user, contact)
	}
	from := it.Subscription == storage.SubFrom || it.Subscription == storage.SubBoth
	if from || pending {
		// Cancels the contact's subscription or refuses its request.
		s.sendTo(ctx, xmlel.New("", stanza.Presence, "type", "unsubscribed"), user, contact)
	}
	if from {
		// RFC 6121 §3.2.2: the contact no longer sees the user.
		s.sendUnavailable(ctx, user, contact)
	}
	s.push(ctx, user, xmlel.New(NSRoster, "item", "jid", contact.String(), "subscription", "remove"), ver)
	return nil
}

// push sends a roster push to every interested resource (RFC 6121 §2.1.6).
func (s *Service) push(ctx context.Context, user jid.JID, item *xmlel.Element, ver int64) {
	for _, r := range s.router.Resources(user) {
		if !r.Interested {
			continue
		}
		full := r.Session.JID()
		q := xmlel.New(NSRoster, "query", "ver", strconv.FormatInt(ver, 10)).Append(item)
		r.Session.Send(xmlel.New("", stanza.IQ, "type", "set", "id", "push-"+strconv.FormatInt(ver, 10), "to", full.String()).Append(q))
	}
}

func itemElement(it storage.RosterItem) *xmlel.Element {
	el := xmlel.New(NSRoster, "item", "jid", it.Contact, "name", it.Name, "subscription", string(it.Subscription))
	if it.Ask {
		el.SetAttr("ask", "subscribe")
	}
	if it.Approved {
		el.SetAttr("approved", "true")
	}
	for _, g := range it.Groups {
		el.Append(xmlel.TextElement(NSRoster, "group", g))
	}
	return el
}
