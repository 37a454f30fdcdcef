package pubsub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/nodeconfig"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// create creates a node, maybe configured, maybe instant (XEP-0060
// §8.1); its creator becomes its owner.
func (s *Service) create(ctx context.Context, from jid.JID, op, configure *xmlel.Element) (*xmlel.Element, error) {
	if !s.isAdmin(from) && (s.cfg.MayCreate == nil || !s.cfg.MayCreate(from.Bare())) {
		return nil, stanza.E(stanza.Forbidden) // §8.1.3.3
	}
	name := op.Attr("node")
	instant := name == ""
	if instant {
		// §8.1.2: the service names an instant node.
		name = randomID()
	}
	if len(name) > maxNodeName {
		return nil, stanza.E(stanza.NotAcceptable).WithText("node name too long")
	}
	if !s.isAdmin(from) {
		// One creation at a time per user in this process, so that two
		// at once do not both pass the count.
		defer s.lock("\x00owner " + from.Bare().String())()
		affs, err := s.store.AffiliationsOf(ctx, s.cfg.Domain, from.Bare().String())
		if err != nil {
			return nil, err
		}
		owned := 0
		for _, a := range affs {
			if a.Affiliation == storage.AffiliationOwner {
				owned++
			}
		}
		if owned >= s.cfg.MaxUserNodes {
			return nil, stanza.E(stanza.PolicyViolation).WithText(fmt.Sprintf("you own %d nodes, the limit for one user", s.cfg.MaxUserNodes))
		}
	}
	cfg := s.defaultConfig()
	cfg.Creator = from.Bare().String()
	cfg.Created = s.now().UTC().Truncate(time.Second)
	if x := configure.Child(stanza.NSDataForm, "x"); x != nil {
		f, err := nodeconfig.ParseForm(x)
		if err != nil {
			return nil, err
		}
		if f.Type != "" && f.Type != nodeconfig.FormNodeConfig {
			return nil, stanza.E(stanza.BadRequest).WithText("FORM_TYPE must be " + nodeconfig.FormNodeConfig)
		}
		if err := cfg.apply(f, s.rules()); err != nil {
			return nil, err
		}
	}
	err := s.store.CreateNode(ctx, s.cfg.Domain, storage.PubsubNode{Name: name, Config: cfg.encode()}, s.cfg.MaxNodes)
	switch {
	case errors.Is(err, storage.ErrExists):
		return nil, stanza.E(stanza.Conflict) // §8.1.3.4
	case errors.Is(err, storage.ErrQuota):
		return nil, stanza.E(stanza.PolicyViolation).WithText(fmt.Sprintf("the service has %d nodes, its limit", s.cfg.MaxNodes))
	case err != nil:
		return nil, err
	}
	err = s.store.SetAffiliation(ctx, s.cfg.Domain, storage.PubsubAffiliation{
		Node: name, JID: from.Bare().String(), Affiliation: storage.AffiliationOwner})
	if err != nil {
		return nil, notFound(err)
	}
	if !instant {
		return nil, nil
	}
	return xmlel.New(NS, "pubsub").Append(xmlel.New(NS, "create", "node", name)), nil
}

// configure changes a node's configuration (XEP-0060 §8.2.5) and, when
// the node says so, tells its subscribers (§8.2.5.2).
func (s *Service) configure(ctx context.Context, n *node, op *xmlel.Element) error {
	x := op.Child(stanza.NSDataForm, "x")
	if x != nil && x.Attr("type") == "cancel" {
		return nil
	}
	f, err := nodeconfig.ParseForm(x)
	if err != nil {
		return err
	}
	if f.Type != nodeconfig.FormNodeConfig {
		return stanza.E(stanza.BadRequest).WithText("FORM_TYPE must be " + nodeconfig.FormNodeConfig)
	}
	unlock := s.lock(n.name)
	fresh, err := s.node(ctx, n.name)
	if err == nil {
		n = fresh
		err = n.cfg.apply(f, s.rules())
	}
	if err == nil {
		err = notFound(s.store.ConfigureNode(ctx, s.cfg.Domain,
			storage.PubsubNode{Name: n.name, Config: n.cfg.encode()}, n.cfg.Kept(s.cfg.MaxItems)))
	}
	unlock()
	if err != nil {
		return err
	}
	if n.cfg.NotifyConfig {
		ev := xmlel.New(NSEvent, "configuration", "node", n.name)
		if n.cfg.DeliverPayloads {
			form := n.cfg.form(s.rules())
			form.SetAttr("type", "result")
			ev.Append(form)
		}
		s.notify(ctx, n, nil, ev)
	}
	return nil
}

// deleteNode deletes a node and tells its subscribers (XEP-0060 §8.4).
func (s *Service) deleteNode(ctx context.Context, n *node) error {
	subs, err := s.store.Subscriptions(ctx, s.cfg.Domain, n.name)
	if err != nil {
		return notFound(err)
	}
	if err := s.store.DeleteNode(ctx, s.cfg.Domain, n.name); err != nil {
		return notFound(err)
	}
	if n.cfg.NotifyDelete {
		s.notify(ctx, n, subs, xmlel.New(NSEvent, "delete", "node", n.name))
	}
	return nil
}

// purge removes every item of a node (XEP-0060 §8.5) and, when the node
// notifies of retractions, tells its subscribers once.
func (s *Service) purge(ctx context.Context, n *node) error {
	if !n.cfg.PersistItems {
		return nodeconfig.Unsupported("persistent-items") // §8.5.3.3
	}
	if err := s.store.Purge(ctx, s.cfg.Domain, n.name); err != nil {
		return notFound(err)
	}
	if n.cfg.NotifyRetract {
		s.notify(ctx, n, nil, xmlel.New(NSEvent, "purge", "node", n.name))
	}
	return nil
}

// subscriptionList is the owner's list of a node's subscriptions
// (XEP-0060 §8.8.1).
func (s *Service) subscriptionList(ctx context.Context, n *node) (*xmlel.Element, error) {
	subs, err := s.store.Subscriptions(ctx, s.cfg.Domain, n.name)
	if err != nil {
		return nil, notFound(err)
	}
	list := xmlel.New(NSOwner, "subscriptions", "node", n.name)
	for _, sub := range subs {
		list.Append(xmlel.New(NSOwner, "subscription", "jid", sub.JID, "subscription", sub.State, "subid", sub.SubID))
	}
	return xmlel.New(NSOwner, "pubsub").Append(list), nil
}

// setSubscriptions lets an owner subscribe entities or end their
// subscriptions (XEP-0060 §8.8.2); each one changed is told (§8.8.4). An
// element without a subscription attribute changes nothing. The changes
// that cannot be made (an invalid JID or state, or past
// max_subscriptions) come back in the error with the subscription each
// JID still has, and the others are made (§8.8.2.4): not-acceptable, or
// too-many-subscriptions when the bound alone refused them.
func (s *Service) setSubscriptions(ctx context.Context, n *node, op *xmlel.Element) (*xmlel.Element, error) {
	type change struct {
		to    jid.JID
		raw   string // the jid attribute as given
		state string
		subid string
		bad   bool // an invalid JID or state
	}
	var changes []change
	for _, el := range op.Elements() {
		if !el.Is(NSOwner, "subscription") {
			return nil, stanza.E(stanza.BadRequest)
		}
		if !el.HasAttr("subscription") {
			continue
		}
		j, err := jid.Parse(el.Attr("jid"))
		state := el.Attr("subscription")
		bad := err != nil || (state != storage.SubscriptionSubscribed && state != "none")
		changes = append(changes, change{to: j, raw: el.Attr("jid"), state: state, subid: el.Attr("subid"), bad: bad})
	}
	// The subscribers are told once the lock is released: routing takes
	// locks of its own (docs/CONCURRENCY.md).
	var tell []change
	defer func() {
		for _, c := range tell {
			s.tellSubscription(ctx, n.name, c.to, c.state)
		}
	}()
	defer s.lock(n.name)()
	subs, err := s.store.Subscriptions(ctx, s.cfg.Domain, n.name)
	if err != nil {
		return nil, notFound(err)
	}
	count := len(subs)
	failed := xmlel.New(NSOwner, "subscriptions", "node", n.name)
	bound := true // every failure was the bound's
	fail := func(c change, mine []storage.PubsubSubscription, byBound bool) {
		state := "none"
		if len(mine) > 0 {
			state = mine[0].State
		}
		failed.Append(xmlel.New(NSOwner, "subscription", "jid", c.raw, "subscription", state, "subid", c.subid))
		bound = bound && byBound
	}
	for _, c := range changes {
		var mine []storage.PubsubSubscription
		for _, sub := range subs {
			if !c.bad && sub.JID == c.to.String() && (c.subid == "" || sub.SubID == c.subid) {
				mine = append(mine, sub)
			}
		}
		switch {
		case c.bad:
			fail(c, mine, false)
			continue
		case c.state == "none":
			for _, sub := range mine {
				if err := s.store.Unsubscribe(ctx, s.cfg.Domain, n.name, sub.JID, sub.SubID); err != nil && !errors.Is(err, storage.ErrNotFound) {
					return nil, err
				}
			}
			if len(mine) == 0 {
				continue
			}
			count -= len(mine)
		case len(mine) > 0 && mine[0].State == storage.SubscriptionSubscribed:
			continue
		default:
			// One subscription per JID (multi-subscribe is not offered):
			// the service names it.
			sub := storage.PubsubSubscription{Node: n.name, JID: c.to.String(), SubID: randomID(), State: storage.SubscriptionSubscribed}
			if len(mine) > 0 {
				sub.SubID = mine[0].SubID
			} else if count >= s.cfg.MaxSubscriptions {
				// Owners are bound as well, so that the bound holds.
				fail(c, mine, true)
				continue
			} else {
				count++
			}
			if err := s.store.Subscribe(ctx, s.cfg.Domain, sub); err != nil {
				return nil, notFound(err)
			}
		}
		tell = append(tell, c)
	}
	if len(failed.Elements()) > 0 {
		e := stanza.E(stanza.NotAcceptable)
		if bound {
			e = errTooManySubscriptions()
		}
		e.Echo = xmlel.New(NSOwner, "pubsub").Append(failed)
		return nil, e
	}
	return nil, nil
}

// affiliationList is the owner's list of a node's affiliations
// (XEP-0060 §8.9.1).
func affiliationList(n *node) *xmlel.Element {
	list := xmlel.New(NSOwner, "affiliations", "node", n.name)
	for _, a := range n.affs {
		list.Append(xmlel.New(NSOwner, "affiliation", "jid", a.JID, "affiliation", a.Affiliation))
	}
	return xmlel.New(NSOwner, "pubsub").Append(list)
}

// affiliations that an owner may give.
var affiliations = []string{
	storage.AffiliationOwner, storage.AffiliationPublisher, storage.AffiliationPublishOnly,
	storage.AffiliationMember, storage.AffiliationOutcast, storage.AffiliationNone,
}

// setAffiliations lets an owner change affiliations (XEP-0060 §8.9.2).
// A node keeps at least one owner (§8.9.2.4), unless it had none, as
// when its owners' accounts were removed and an administrator manages
// it. An outcast loses its subscriptions, pending ones denied; an owner,
// publisher or member has its pending ones approved (§8.7's note); each
// subscriber so changed is told (§13.14).
func (s *Service) setAffiliations(ctx context.Context, n *node, op *xmlel.Element) (*xmlel.Element, error) {
	changes := map[string]string{}
	var order []string
	for _, el := range op.Elements() {
		if !el.Is(NSOwner, "affiliation") {
			return nil, stanza.E(stanza.BadRequest)
		}
		j, err := jid.Parse(el.Attr("jid"))
		aff := el.Attr("affiliation")
		if err != nil || !slices.Contains(affiliations, aff) {
			return nil, stanza.E(stanza.BadRequest)
		}
		bare := j.Bare().String()
		if _, dup := changes[bare]; dup {
			return nil, stanza.E(stanza.BadRequest) // §8.9.2.4
		}
		changes[bare] = aff
		order = append(order, bare)
	}
	// Told once the lock is released, as in setSubscriptions.
	type told struct {
		to    jid.JID
		state string
	}
	var tell []told
	defer func() {
		for _, t := range tell {
			s.tellSubscription(ctx, n.name, t.to, t.state)
		}
	}()
	defer s.lock(n.name)()
	fresh, err := s.node(ctx, n.name)
	if err != nil {
		return nil, err
	}
	owners, ownersAfter := 0, 0
	for _, a := range fresh.affs {
		if a.Affiliation != storage.AffiliationOwner {
			continue
		}
		owners++
		if aff, ok := changes[a.JID]; !ok || aff == storage.AffiliationOwner {
			ownersAfter++
		}
	}
	for _, aff := range changes {
		if aff == storage.AffiliationOwner {
			ownersAfter++ // counted twice for an owner who stays one: harmless here
		}
	}
	if owners > 0 && ownersAfter == 0 {
		return nil, stanza.E(stanza.NotAcceptable).WithText("a node keeps at least one owner")
	}
	var subs []storage.PubsubSubscription
	for _, bare := range order {
		aff := changes[bare]
		err := s.store.SetAffiliation(ctx, s.cfg.Domain, storage.PubsubAffiliation{Node: n.name, JID: bare, Affiliation: aff})
		if err != nil {
			return nil, notFound(err)
		}
		if aff == storage.AffiliationNone || aff == storage.AffiliationPublishOnly {
			continue
		}
		if subs == nil {
			if subs, err = s.store.Subscriptions(ctx, s.cfg.Domain, n.name); err != nil {
				return nil, notFound(err)
			}
		}
		for _, sub := range subs {
			j, err := jid.Parse(sub.JID)
			switch {
			case err != nil || j.Bare().String() != bare:
			case aff == storage.AffiliationOutcast:
				if err := s.store.Unsubscribe(ctx, s.cfg.Domain, n.name, sub.JID, sub.SubID); err != nil && !errors.Is(err, storage.ErrNotFound) {
					return nil, err
				}
				tell = append(tell, told{j, "none"})
			case sub.State == storage.SubscriptionPending:
				sub.State = storage.SubscriptionSubscribed
				if err := s.store.Subscribe(ctx, s.cfg.Domain, sub); err != nil {
					return nil, notFound(err)
				}
				tell = append(tell, told{j, storage.SubscriptionSubscribed})
			}
		}
	}
	return nil, nil
}
