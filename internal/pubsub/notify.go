package pubsub

import (
	"context"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// notify sends an event to every subscriber of a node whose JID the
// access model still admits (XEP-0060 §7.1.2, §4.5). A JID holds one
// subscription to a node, so no SubID header is needed (§7.1.2.4).
// subs nil loads them.
func (s *Service) notify(ctx context.Context, n *node, subs []storage.PubsubSubscription, event *xmlel.Element) {
	if !n.cfg.DeliverNotifications {
		return
	}
	if subs == nil {
		var err error
		if subs, err = s.store.Subscriptions(ctx, s.cfg.Domain, n.name); err != nil {
			s.log.Error("pubsub: subscriptions load failed", "err", err)
			return
		}
	}
	sent := map[string]bool{}
	for _, sub := range subs {
		if sub.State != storage.SubscriptionSubscribed || sent[sub.JID] {
			continue
		}
		sent[sub.JID] = true
		j, err := jid.Parse(sub.JID)
		// The state was checked above: subscribed.
		if err != nil || s.mayRetrieve(n, j, true) != nil {
			continue
		}
		s.send(ctx, j, n.cfg.NotificationType, xmlel.New(NSEvent, "event").Append(event))
	}
}

// sendLast sends the newest item of a node to a new subscriber
// (XEP-0060 §6.1.7), with the time it was published (§12.3).
func (s *Service) sendLast(ctx context.Context, n *node, to jid.JID) {
	items, _, err := s.store.ItemPage(ctx, s.cfg.Domain, n.name, "", 1)
	if err != nil || len(items) == 0 {
		return
	}
	el, err := s.itemElement(NSEvent, n, items[0])
	if err != nil {
		s.log.Error("pubsub: stored item unreadable", "err", err)
		return
	}
	if !n.cfg.DeliverPayloads {
		el.Children = nil
	}
	ev := xmlel.New(NSEvent, "event").Append(xmlel.New(NSEvent, "items", "node", n.name).Append(el))
	s.send(ctx, to, n.cfg.NotificationType, ev, xmlel.New(stanza.NSDelay, "delay", "from", s.cfg.Domain,
		"stamp", items[0].Published.UTC().Format("2006-01-02T15:04:05Z")))
}

// send routes a message from the service; notifications are headlines
// unless the node asks for normal messages (pubsub#notification_type).
func (s *Service) send(ctx context.Context, to jid.JID, typ string, payload *xmlel.Element, extra ...*xmlel.Element) {
	m := xmlel.New("", stanza.Message, "from", s.cfg.Domain, "to", to.String(), "id", randomID())
	if typ != "normal" {
		m.SetAttr("type", "headline")
	}
	m.Append(payload).Append(extra...)
	s.router.Route(ctx, &stanza.Stanza{El: m, From: s.domain, To: to})
}
