package pep

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// subscriber reads the jid attribute of a subscribe or unsubscribe
// request: a JID whose bare JID is the requester's (XEP-0060 §6.1.3.1,
// §6.2.3.3). ok is false when there is no valid JID; match tells
// whether it is the requester's.
func subscriber(from jid.JID, op *xmlel.Element) (j jid.JID, ok, match bool) {
	j, err := jid.Parse(op.Attr("jid"))
	if err != nil {
		return jid.JID{}, false, false
	}
	return j, true, j.Bare().Equal(from.Bare())
}

// subscribe subscribes the requester's bare JID or one of its full JIDs
// to a node whose access model lets it retrieve the items (XEP-0163 §5,
// XEP-0060 §6.1). Subscribing again changes nothing. The subscription
// holds until it is ended or the subscriber loses access (see notifyAll).
// With send_last_published_item on_sub or on_sub_and_presence the newest
// item goes to the subscribed JID (XEP-0163 §4.3.4, XEP-0060 §6.1.7).
func (s *Service) subscribe(ctx context.Context, owner, from jid.JID, op *xmlel.Element) (*xmlel.Element, error) {
	name := op.Attr("node")
	if name == "" {
		// NOTSPEC(XEP-0163 §5): the account is the root collection,
		// whose subscriptions (XEP-0248) PEP does not offer.
		return nil, pubsubError(stanza.BadRequest, "nodeid-required")
	}
	j, ok, match := subscriber(from, op)
	if !ok || !match {
		return nil, pubsubError(stanza.BadRequest, "invalid-jid")
	}
	cfg, err := s.node(ctx, owner, name)
	if err != nil {
		return nil, notFound(err)
	}
	// §6.1.3.2–§6.1.3.4: presence-subscription-required,
	// not-in-roster-group, closed-node, as for retrieving items.
	if err := s.mayRetrieve(ctx, owner, from, cfg); err != nil {
		return nil, err
	}
	err = s.store.Pubsub().Subscribe(ctx, owner.String(), storage.PubsubSubscription{Node: name, JID: j.String()},
		s.cfg.MaxSubscribers, s.cfg.MaxSubscriptions)
	switch {
	case errors.Is(err, storage.ErrQuota):
		return nil, errTooManySubscriptions(s.cfg)
	case err != nil:
		return nil, notFound(err) // the node was deleted in between
	}
	// After the result, as XEP-0060 §6.1.7's example has it.
	iq.After(ctx, func() { s.sendLast(context.WithoutCancel(ctx), owner, j, []string{name}) })
	return xmlel.New(NS, "pubsub").Append(subscriptionElement(NS, name, j.String(), storage.SubscriptionSubscribed)), nil
}

// errTooManySubscriptions is §6.1.3.9's refusal, of type wait as its
// example has: a place may free up.
func errTooManySubscriptions(cfg Config) stanza.Error {
	e := pubsubError(stanza.PolicyViolation, "too-many-subscriptions").WithText(fmt.Sprintf(
		"at most %d subscriptions to one node, and %d of one subscriber", cfg.MaxSubscribers, cfg.MaxSubscriptions))
	e.Type = stanza.Wait
	return e
}

// subscriptionElement is a <subscription/> of namespace ns; node is
// left out when it is "" (the owner's list names it once, §8.8.1.2).
func subscriptionElement(ns, node, jid, state string) *xmlel.Element {
	return xmlel.New(ns, "subscription", "node", node, "jid", jid, "subscription", state)
}

// unsubscribe ends a subscription (XEP-0060 §6.2).
func (s *Service) unsubscribe(ctx context.Context, owner, from jid.JID, op *xmlel.Element) error {
	name := op.Attr("node")
	if name == "" {
		return pubsubError(stanza.BadRequest, "nodeid-required")
	}
	j, ok, match := subscriber(from, op)
	switch {
	case !ok:
		return pubsubError(stanza.BadRequest, "invalid-jid")
	case !match:
		return stanza.E(stanza.Forbidden) // §6.2.3.3
	}
	if _, err := s.node(ctx, owner, name); err != nil {
		return notFound(err) // §6.2.3.4
	}
	err := s.store.Pubsub().Unsubscribe(ctx, owner.String(), name, j.String())
	if errors.Is(err, storage.ErrNotFound) {
		return pubsubError(stanza.UnexpectedRequest, "not-subscribed") // §6.2.3.2
	}
	return err
}

// ownSubscriptions lists the subscriptions of the requester's bare JID
// and its full JIDs to the owner's nodes, or to one of them (XEP-0060
// §5.6).
func (s *Service) ownSubscriptions(ctx context.Context, owner, from jid.JID, op *xmlel.Element) (*xmlel.Element, error) {
	subs, err := s.store.Pubsub().SubscriptionsOf(ctx, owner.String(), from.Bare().String())
	if err != nil {
		return nil, err
	}
	node := op.Attr("node")
	out := xmlel.New(NS, "subscriptions", "node", node)
	for _, sub := range subs {
		if node == "" || sub.Node == node {
			out.Append(subscriptionElement(NS, sub.Node, sub.JID, sub.State))
		}
	}
	return xmlel.New(NS, "pubsub").Append(out), nil
}

// nodeSubscriptions lists the subscriptions to one of the owner's nodes
// (XEP-0060 §8.8.1); the caller checked that the requester is the owner.
func (s *Service) nodeSubscriptions(ctx context.Context, owner jid.JID, op *xmlel.Element) (*xmlel.Element, error) {
	name := op.Attr("node")
	if name == "" {
		return nil, pubsubError(stanza.BadRequest, "nodeid-required")
	}
	subs, err := s.store.Pubsub().Subscriptions(ctx, owner.String(), name)
	if err != nil {
		return nil, notFound(err)
	}
	out := xmlel.New(NSOwner, "subscriptions", "node", name)
	for _, sub := range subs {
		out.Append(subscriptionElement(NSOwner, "", sub.JID, sub.State))
	}
	return xmlel.New(NSOwner, "pubsub").Append(out), nil
}

// manageSubscriptions changes the subscriptions to one of the owner's
// nodes as the owner asks (XEP-0060 §8.8.2): "none" removes one (§8.8.3),
// "subscribed" adds one for a JID the node's access model lets retrieve
// the items, within the limits a subscriber's own request has; an
// element without a subscription attribute changes nothing. Each
// subscriber whose subscription changed is told (§8.8.4). The changes
// that could not be made come back in the error with the subscription
// each JID still has (§8.8.2.4), the others made: not-acceptable, or
// too-many-subscriptions when the limits alone refused them.
func (s *Service) manageSubscriptions(ctx context.Context, owner jid.JID, op *xmlel.Element) error {
	name := op.Attr("node")
	if name == "" {
		return pubsubError(stanza.BadRequest, "nodeid-required")
	}
	cfg, err := s.node(ctx, owner, name)
	if err != nil {
		return notFound(err)
	}
	subs, err := s.store.Pubsub().Subscriptions(ctx, owner.String(), name)
	if err != nil {
		return notFound(err)
	}
	failed := xmlel.New(NSOwner, "subscriptions", "node", name)
	bound := true // every failure was the limits'
	for _, el := range op.Elements() {
		if !el.Is(NSOwner, "subscription") {
			return stanza.E(stanza.BadRequest)
		}
		state, given := el.Attr("subscription"), el.HasAttr("subscription")
		j, err := jid.Parse(el.Attr("jid"))
		if err != nil {
			// Nothing to name in the list of failures.
			return pubsubError(stanza.BadRequest, "invalid-jid")
		}
		was := "none"
		if slices.ContainsFunc(subs, func(sub storage.PubsubSubscription) bool { return sub.JID == j.String() }) {
			was = storage.SubscriptionSubscribed
		}
		if !given || state == was {
			continue
		}
		if err := s.setSubscription(ctx, owner, name, cfg, j, state); err != nil {
			var se stanza.Error
			if !errors.As(err, &se) {
				return err
			}
			failed.Append(subscriptionElement(NSOwner, "", j.String(), was))
			bound = bound && se.Condition == stanza.PolicyViolation
			continue
		}
		s.send(ctx, owner, j, cfg, subscriptionElement(NSEvent, name, j.String(), state))
	}
	if len(failed.Elements()) > 0 {
		e := stanza.E(stanza.NotAcceptable)
		if bound {
			e = errTooManySubscriptions(s.cfg)
		}
		e.Echo = xmlel.New(NSOwner, "pubsub").Append(failed)
		return e
	}
	return nil
}

// setSubscription makes one change of manageSubscriptions: a stanza error
// when it may not be made.
func (s *Service) setSubscription(ctx context.Context, owner jid.JID, name string, cfg NodeConfig, j jid.JID, state string) error {
	switch state {
	case "none":
		err := s.store.Pubsub().Unsubscribe(ctx, owner.String(), name, j.String())
		if errors.Is(err, storage.ErrNotFound) {
			return nil // ended in between
		}
		return err
	case storage.SubscriptionSubscribed:
		// The owner subscribes no one the node would not notify: the
		// next notification would end the subscription again.
		if err := s.mayRetrieve(ctx, owner, j, cfg); err != nil {
			return err
		}
		err := s.store.Pubsub().Subscribe(ctx, owner.String(), storage.PubsubSubscription{Node: name, JID: j.String()},
			s.cfg.MaxSubscribers, s.cfg.MaxSubscriptions)
		switch {
		case errors.Is(err, storage.ErrQuota):
			return errTooManySubscriptions(s.cfg)
		case errors.Is(err, storage.ErrNotFound):
			return stanza.E(stanza.ItemNotFound) // the node was deleted in between
		}
		return err
	}
	// PEP keeps no pending or unconfigured subscriptions (§4.2).
	return stanza.E(stanza.NotAcceptable)
}

// endSubscription ends the subscription of a JID that lost access to a node
// (XEP-0163 §7.1) and tells it so, as XEP-0060 §8.8.4 notifies a
// subscriber whose subscription an owner removed.
func (s *Service) endSubscription(ctx context.Context, owner jid.JID, node string, cfg NodeConfig, j jid.JID) {
	err := s.store.Pubsub().Unsubscribe(ctx, owner.String(), node, j.String())
	if errors.Is(err, storage.ErrNotFound) {
		return // ended in between, and told then
	}
	if err != nil {
		s.log.Error("pep: subscription cancel failed", "err", err)
		return
	}
	s.send(ctx, owner, j, cfg, subscriptionElement(NSEvent, node, j.String(), "none"))
}
