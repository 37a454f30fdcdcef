package pubsub

import (
	"context"
	"errors"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/nodeconfig"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// subscriber reads the jid attribute of a subscribe or unsubscribe
// request: it must be the requester's bare JID or one of its full JIDs
// (XEP-0060 §6.1.3.1).
func subscriber(from jid.JID, op *xmlel.Element) (jid.JID, bool) {
	j, err := jid.Parse(op.Attr("jid"))
	if err != nil || !j.Bare().Equal(from.Bare()) {
		return jid.JID{}, false
	}
	return j, true
}

// subscribe subscribes a JID to a node (XEP-0060 §6.1). Subscribing
// again returns the subscription there is: one per JID and node
// (multi-subscribe is not offered). At an authorize node the
// subscription is pending until an owner approves it (§6.1.4, §8.6).
// With send_last_published_item on_sub, the newest item follows the
// result (§6.1.7).
func (s *Service) subscribe(ctx context.Context, from jid.JID, op *xmlel.Element) (*xmlel.Element, error) {
	name := op.Attr("node")
	if name == "" {
		return nil, errNodeIDRequired()
	}
	j, ok := subscriber(from, op)
	if !ok {
		return nil, nodeconfig.Error(stanza.BadRequest, "invalid-jid")
	}
	n, err := s.node(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := s.maySubscribe(n, from); err != nil {
		return nil, err
	}
	state := storage.SubscriptionSubscribed
	if s.needsApproval(n, from) {
		state = storage.SubscriptionPending
	}
	unlock := s.lock(name)
	subs, err := s.store.Subscriptions(ctx, s.cfg.Domain, name)
	sub, found := find(subs, j)
	switch {
	case err != nil:
		err = notFound(err)
	case state == storage.SubscriptionPending && pending(subs, j):
		// §6.1.3.7: the owners have not answered yet. Counted per bare
		// JID, so that a subscriber's resources do not ask them again.
		err = nodeconfig.Error(stanza.NotAuthorized, "pending-subscription")
	case found && sub.State == storage.SubscriptionPending:
		// The node is no longer authorize, or the subscriber became a
		// member since it asked: it needs no approval now.
		sub.State = state
		err = notFound(s.store.Subscribe(ctx, s.cfg.Domain, sub))
	case found:
	case len(subs) >= s.cfg.MaxSubscriptions:
		err = errTooManySubscriptions()
	default:
		sub = storage.PubsubSubscription{Node: name, JID: j.String(), SubID: randomID(), State: state}
		err = notFound(s.store.Subscribe(ctx, s.cfg.Domain, sub))
		if err == nil && state == storage.SubscriptionPending {
			// Asked once per subscription: asking again is refused
			// above, so a subscriber cannot flood the owners.
			iq.After(ctx, func() { s.askOwners(context.WithoutCancel(ctx), n, sub) })
		}
	}
	unlock()
	if err != nil {
		return nil, err
	}
	if sub.State == storage.SubscriptionSubscribed && n.cfg.SendLast == nodeconfig.SendOnSub && n.cfg.DeliverNotifications {
		iq.After(ctx, func() { s.sendLast(context.WithoutCancel(ctx), n, j) })
	}
	return xmlel.New(NS, "pubsub").Append(subscriptionElement(sub)), nil
}

// subscription returns the subscription of exactly j to a node, or
// storage.ErrNotFound.
func (s *Service) subscription(ctx context.Context, name string, j jid.JID) (storage.PubsubSubscription, error) {
	subs, err := s.store.Subscriptions(ctx, s.cfg.Domain, name)
	if err != nil {
		return storage.PubsubSubscription{}, err
	}
	if sub, ok := find(subs, j); ok {
		return sub, nil
	}
	return storage.PubsubSubscription{}, storage.ErrNotFound
}

// find returns the subscription of exactly j among subs.
func find(subs []storage.PubsubSubscription, j jid.JID) (storage.PubsubSubscription, bool) {
	for _, sub := range subs {
		if sub.JID == j.String() {
			return sub, true
		}
	}
	return storage.PubsubSubscription{}, false
}

// pending reports whether the bare JID of j or one of its full JIDs
// has a pending subscription among subs.
func pending(subs []storage.PubsubSubscription, j jid.JID) bool {
	for _, sub := range subs {
		if k, err := jid.Parse(sub.JID); err == nil && k.Bare().Equal(j.Bare()) && sub.State == storage.SubscriptionPending {
			return true
		}
	}
	return false
}

// errTooManySubscriptions refuses a subscription past the node's bound
// (XEP-0060 §6.1.3.9: policy-violation, of type wait as its example
// has, since a place may free up). The bound is per node: counted per
// subscriber, a server could still subscribe any number of its JIDs.
// The count is exact within one process; nodes of a cluster subscribing
// at the same instant may pass it by a few.
func errTooManySubscriptions() stanza.Error {
	e := nodeconfig.Error(stanza.PolicyViolation, "too-many-subscriptions")
	e.Type = stanza.Wait
	return e
}

func subscriptionElement(sub storage.PubsubSubscription) *xmlel.Element {
	return xmlel.New(NS, "subscription", "node", sub.Node, "jid", sub.JID, "subid", sub.SubID, "subscription", sub.State)
}

// unsubscribe ends a subscription (XEP-0060 §6.2).
func (s *Service) unsubscribe(ctx context.Context, from jid.JID, op *xmlel.Element) error {
	name := op.Attr("node")
	if name == "" {
		return errNodeIDRequired()
	}
	j, ok := subscriber(from, op)
	if !ok {
		return stanza.E(stanza.Forbidden) // §6.2.3.3
	}
	if _, err := s.node(ctx, name); err != nil {
		return err
	}
	subid := op.Attr("subid")
	defer s.lock(name)()
	sub, err := s.subscription(ctx, name, j)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nodeconfig.Error(stanza.UnexpectedRequest, "not-subscribed") // §6.2.3.2
	case err != nil:
		return notFound(err)
	case subid != "" && subid != sub.SubID:
		return nodeconfig.Error(stanza.NotAcceptable, "invalid-subid") // §6.2.3.5
	}
	err = s.store.Unsubscribe(ctx, s.cfg.Domain, name, sub.JID, sub.SubID)
	if errors.Is(err, storage.ErrNotFound) {
		return nodeconfig.Error(stanza.UnexpectedRequest, "not-subscribed")
	}
	return err
}

// ownSubscriptions lists the requester's subscriptions, of its bare JID
// and of its full JIDs, maybe to one node (XEP-0060 §5.6).
func (s *Service) ownSubscriptions(ctx context.Context, from jid.JID, node string) (*xmlel.Element, error) {
	subs, err := s.store.SubscriptionsOf(ctx, s.cfg.Domain, from.Bare().String())
	if err != nil {
		return nil, err
	}
	list := xmlel.New(NS, "subscriptions")
	if node != "" {
		list.SetAttr("node", node)
	}
	for _, sub := range subs {
		if node == "" || sub.Node == node {
			list.Append(subscriptionElement(sub))
		}
	}
	return xmlel.New(NS, "pubsub").Append(list), nil
}

// ownAffiliations lists the requester's affiliations, maybe with one
// node (XEP-0060 §5.7).
func (s *Service) ownAffiliations(ctx context.Context, from jid.JID, node string) (*xmlel.Element, error) {
	affs, err := s.store.AffiliationsOf(ctx, s.cfg.Domain, from.Bare().String())
	if err != nil {
		return nil, err
	}
	list := xmlel.New(NS, "affiliations")
	if node != "" {
		list.SetAttr("node", node)
	}
	for _, a := range affs {
		if node == "" || a.Node == node {
			list.Append(xmlel.New(NS, "affiliation", "node", a.Node, "affiliation", a.Affiliation))
		}
	}
	return xmlel.New(NS, "pubsub").Append(list), nil
}
