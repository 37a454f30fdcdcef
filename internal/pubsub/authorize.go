package pubsub

import (
	"context"
	"errors"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/nodeconfig"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// FormSubscribeAuthorization is the FORM_TYPE of the message that asks
// a node's owners to approve a subscription, and of their answer
// (XEP-0060 §8.6).
const FormSubscribeAuthorization = NS + "#subscribe_authorization"

// askOwners sends the owners of n the form that approves or denies a
// pending subscription (XEP-0060 §8.6); a node without owners, whose
// owners' accounts were removed, asks the host's administrators, who
// own every node. The form carries the subscription's ID, so that an
// answer to an old request does not decide a newer one.
func (s *Service) askOwners(ctx context.Context, n *node, sub storage.PubsubSubscription) {
	var owners []jid.JID
	for _, a := range n.affs {
		if j, err := jid.Parse(a.JID); err == nil && a.Affiliation == storage.AffiliationOwner {
			owners = append(owners, j)
		}
	}
	if len(owners) == 0 {
		owners = s.cfg.Admins
	}
	for _, o := range owners {
		x := xmlel.New(stanza.NSDataForm, "x", "type", dataform.TypeForm).Append(
			xmlel.TextElement(stanza.NSDataForm, "title", "PubSub subscriber request"),
			xmlel.TextElement(stanza.NSDataForm, "instructions", "To approve this entity's subscription request, set allow and submit. To deny it, submit with allow unset."),
			nodeconfig.Field(dataform.Hidden, dataform.FormTypeVar, "", FormSubscribeAuthorization),
			nodeconfig.Field(dataform.Hidden, "pubsub#subid", "", sub.SubID),
			nodeconfig.Field(dataform.TextSingle, "pubsub#node", "Node ID", n.name),
			nodeconfig.Field(dataform.JIDSingle, "pubsub#subscriber_jid", "Subscriber Address", sub.JID),
			nodeconfig.BoolField("pubsub#allow", "Allow this JID to subscribe to this pubsub node?", false),
		)
		// §8.6: a body for clients that do not show forms in messages.
		body := xmlel.TextElement("", "body", sub.JID+" asks to subscribe to the node "+n.name+" of "+s.cfg.Domain+".")
		s.send(ctx, o, "normal", x, body)
	}
}

// authorizationForm returns the subscribe_authorization form a message
// carries, or nil.
func authorizationForm(m *xmlel.Element) *xmlel.Element {
	for _, x := range m.Elements() {
		if !x.Is(stanza.NSDataForm, "x") {
			continue
		}
		for _, f := range x.Elements() {
			if f.Is(stanza.NSDataForm, "field") && f.Attr("var") == dataform.FormTypeVar &&
				f.ChildText(stanza.NSDataForm, "value") == FormSubscribeAuthorization {
				return x
			}
		}
	}
	return nil
}

// authorize applies an owner's answer to the form of askOwners
// (XEP-0060 §8.6): an approved subscription becomes subscribed, a
// denied one is removed, and the subscriber is told either way
// (§8.6, §13.14). A cancelled form leaves the subscription pending. An
// answer for a subscription that is no longer pending, as when another
// owner answered first or the subscriber gave up, changes nothing.
func (s *Service) authorize(ctx context.Context, from jid.JID, x *xmlel.Element) error {
	if x.Attr("type") == dataform.TypeCancel {
		return nil
	}
	f, err := dataform.Parse(x)
	if err != nil {
		return stanza.E(stanza.BadRequest)
	}
	name := f.Value("pubsub#node")
	j, jerr := jid.Parse(f.Value("pubsub#subscriber_jid"))
	allow, ok := dataform.ParseBool(f.Value("pubsub#allow"))
	if name == "" || jerr != nil || !ok {
		return stanza.E(stanza.BadRequest)
	}
	n, err := s.node(ctx, name)
	if err != nil {
		return err
	}
	if s.affiliation(n, from) != storage.AffiliationOwner {
		return stanza.E(stanza.Forbidden)
	}
	unlock := s.lock(name)
	sub, err := s.subscription(ctx, name, j)
	subid := f.Value("pubsub#subid")
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && (sub.State != storage.SubscriptionPending || (subid != "" && subid != sub.SubID))):
		unlock()
		return nil
	case err != nil:
		unlock()
		return err
	case allow:
		sub.State = storage.SubscriptionSubscribed
		err = s.store.Subscribe(ctx, s.cfg.Domain, sub)
	default:
		err = s.store.Unsubscribe(ctx, s.cfg.Domain, name, sub.JID, sub.SubID)
	}
	unlock()
	if err != nil {
		return notFound(err)
	}
	state := "none"
	if allow {
		state = storage.SubscriptionSubscribed
	}
	s.tellSubscription(ctx, n.name, j, state)
	if allow && n.cfg.SendLast == nodeconfig.SendOnSub && n.cfg.DeliverNotifications {
		s.sendLast(ctx, n, j)
	}
	return nil
}

// tellSubscription tells a JID that its subscription to a node changed
// (XEP-0060 §13.14, §8.8.4), at the JID it subscribed with.
func (s *Service) tellSubscription(ctx context.Context, node string, to jid.JID, state string) {
	ev := xmlel.New(NSEvent, "event").Append(
		xmlel.New(NSEvent, "subscription", "node", node, "jid", to.String(), "subscription", state))
	s.send(ctx, to, "normal", ev)
}
