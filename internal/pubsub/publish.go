package pubsub

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/nodeconfig"
	"samtal.org/samtal/internal/rsm"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// mayPublish applies the affiliations (XEP-0060 §4.1) and the publish
// model (§16.4.3) to a would-be publisher.
func (s *Service) mayPublish(ctx context.Context, n *node, who jid.JID) error {
	switch s.affiliation(n, who) {
	case storage.AffiliationOwner, storage.AffiliationPublisher, storage.AffiliationPublishOnly:
		return nil
	case storage.AffiliationOutcast:
		return stanza.E(stanza.Forbidden)
	}
	switch n.cfg.Publish() {
	case nodeconfig.PublishOpen:
		return nil
	case nodeconfig.PublishSubscribers:
		ok, err := s.subscribed(ctx, n, who)
		if err != nil || ok {
			return err
		}
	}
	return stanza.E(stanza.Forbidden) // §7.1.3.1
}

// publish publishes the item of a <publish/> request (XEP-0060 §7.1),
// checking the publish options as preconditions (§7.1.5), and notifies
// the subscribers.
func (s *Service) publish(ctx context.Context, from jid.JID, op, opts *xmlel.Element) (*xmlel.Element, error) {
	name := op.Attr("node")
	if name == "" {
		return nil, errNodeIDRequired()
	}
	var item, payload *xmlel.Element
	switch items := op.Elements(); {
	case len(items) > 1 || (len(items) == 1 && !items[0].Is(NS, "item")):
		return nil, nodeconfig.Error(stanza.BadRequest, "invalid-payload")
	case len(items) == 1:
		item = items[0]
		switch payloads := item.Elements(); {
		case len(payloads) > 1:
			return nil, nodeconfig.Error(stanza.BadRequest, "invalid-payload") // §7.1.3.7
		case len(payloads) == 1:
			payload = payloads[0]
		}
	}
	var pre nodeconfig.Form
	if x := opts.Child(stanza.NSDataForm, "x"); x != nil {
		var err error
		if pre, err = nodeconfig.ParseForm(x); err != nil {
			return nil, err
		}
		if pre.Type != nodeconfig.FormPublishOptions {
			// §7.1.5: the form's FORM_TYPE MUST be this.
			return nil, stanza.E(stanza.BadRequest).WithText("FORM_TYPE must be " + nodeconfig.FormPublishOptions)
		}
	}
	n, err := s.node(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := s.mayPublish(ctx, n, from); err != nil {
		return nil, err
	}
	// §7.1.3.6: a node that persists items or delivers payloads needs
	// an item with a payload.
	needPayload := n.cfg.PersistItems || n.cfg.DeliverPayloads
	switch {
	case item == nil && needPayload:
		return nil, nodeconfig.Error(stanza.BadRequest, "item-required")
	case payload == nil && needPayload:
		return nil, nodeconfig.Error(stanza.BadRequest, "payload-required")
	}
	var data string
	if payload != nil {
		data = payload.String()
	}
	if len(data) > s.cfg.MaxItemBytes {
		// §7.1.3.4.
		return nil, nodeconfig.Error(stanza.NotAcceptable, "payload-too-big").
			WithText(fmt.Sprintf("an item may have at most %d bytes", s.cfg.MaxItemBytes))
	}
	for _, f := range pre.Order {
		ok, err := n.cfg.meets(f, pre.Fields[f], s.rules())
		if err != nil {
			// §7.1.5: an option the node cannot have fails too.
			return nil, nodeconfig.Error(stanza.Conflict, "precondition-not-met").WithText("unsupported option " + f)
		}
		if !ok {
			return nil, nodeconfig.Error(stanza.Conflict, "precondition-not-met").WithText("the node's " + f + " differs")
		}
	}
	id := ""
	if item != nil {
		id = item.Attr("id")
	}
	if len(id) > maxItemID {
		return nil, stanza.E(stanza.NotAcceptable).WithText("item ID too long")
	}
	if id == "" {
		id = randomID() // §7.1.2: the service names the item
	}
	it := storage.PubsubItem{ID: id, Payload: data, Publisher: from.Bare().String()}
	if err := s.store.Publish(ctx, s.cfg.Domain, name, it, n.cfg.Kept(s.cfg.MaxItems)); err != nil {
		return nil, notFound(err) // deleted meanwhile
	}
	ev := xmlel.New(NSEvent, "item", "id", id)
	if n.cfg.ItemReply == ReplyPublisher {
		ev.SetAttr("publisher", it.Publisher)
	}
	if n.cfg.DeliverPayloads && payload != nil {
		ev.Append(payload)
	}
	s.notify(ctx, n, nil, xmlel.New(NSEvent, "items", "node", name).Append(ev))
	return xmlel.New(NS, "pubsub").Append(
		xmlel.New(NS, "publish", "node", name).Append(xmlel.New(NS, "item", "id", id))), nil
}

// retract deletes an item (XEP-0060 §7.2): owners and publishers any,
// others who may publish their own.
func (s *Service) retract(ctx context.Context, from jid.JID, op *xmlel.Element) error {
	name := op.Attr("node")
	if name == "" {
		return errNodeIDRequired()
	}
	items := op.Elements()
	if len(items) != 1 || !items[0].Is(NS, "item") || items[0].Attr("id") == "" {
		return nodeconfig.Error(stanza.BadRequest, "item-required") // §7.2.3.4
	}
	id := items[0].Attr("id")
	notify, err := nodeconfig.RetractNotify(op.Attr("notify"))
	if err != nil {
		return err
	}
	n, err := s.node(ctx, name)
	if err != nil {
		return err
	}
	it, err := s.store.Item(ctx, s.cfg.Domain, name, id)
	if err != nil {
		return notFound(err)
	}
	switch s.affiliation(n, from) {
	case storage.AffiliationOwner, storage.AffiliationPublisher:
	default:
		if it.Publisher != from.Bare().String() || s.mayPublish(ctx, n, from) != nil {
			return stanza.E(stanza.Forbidden) // §7.2.3.1
		}
	}
	if err := s.store.Retract(ctx, s.cfg.Domain, name, id); err != nil {
		return notFound(err)
	}
	// §7.2.2.1: the notify attribute decides; without it, the node.
	if (notify == nil && n.cfg.NotifyRetract) || (notify != nil && *notify) {
		s.notify(ctx, n, nil, xmlel.New(NSEvent, "items", "node", name).Append(xmlel.New(NSEvent, "retract", "id", id)))
	}
	return nil
}

// items answers an item retrieval (XEP-0060 §6.5): those asked for by
// ID, or the newest, all of them, max_items of them, or a page of them
// (XEP-0059, §6.5.4), newest first.
func (s *Service) items(ctx context.Context, from jid.JID, op, set *xmlel.Element) (*xmlel.Element, error) {
	name := op.Attr("node")
	if name == "" {
		return nil, errNodeIDRequired()
	}
	max := s.cfg.MaxItems
	if v := op.Attr("max_items"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 {
			return nil, stanza.E(stanza.BadRequest)
		}
		max = min(m, max)
	}
	q, err := rsm.Parse(set)
	if err != nil {
		return nil, stanza.E(stanza.BadRequest)
	}
	if q.HasBefore || q.Index >= 0 {
		// Pages go from the newest item on, with <after/>.
		return nil, stanza.E(stanza.FeatureNotImplemented).WithText("page with <after/> only")
	}
	if q.Max >= 0 {
		max = min(q.Max, max)
	}
	var ids []string
	for _, it := range op.Elements() {
		if !it.Is(NS, "item") || it.Attr("id") == "" {
			return nil, stanza.E(stanza.BadRequest)
		}
		ids = append(ids, it.Attr("id"))
	}
	if len(ids) > s.cfg.MaxItems {
		return nil, stanza.E(stanza.PolicyViolation)
	}
	n, err := s.node(ctx, name)
	if err != nil {
		return nil, err
	}
	subscribed := false
	if s.needsApproval(n, from) {
		if subscribed, err = s.subscribed(ctx, n, from); err != nil {
			return nil, err
		}
	}
	if err := s.mayRetrieve(n, from, subscribed); err != nil {
		return nil, err
	}
	var items []storage.PubsubItem
	total := 0
	switch {
	case len(ids) > 0:
		for _, id := range ids {
			it, err := s.store.Item(ctx, s.cfg.Domain, name, id)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			items = append(items, it)
		}
		if len(items) == 0 {
			return nil, stanza.E(stanza.ItemNotFound) // §6.5.9.11
		}
	case max == 0:
		// XEP-0059 §2.6: the count only.
		if _, total, err = s.store.ItemPage(ctx, s.cfg.Domain, name, "", 1); err != nil {
			return nil, notFound(err)
		}
	default:
		if items, total, err = s.store.ItemPage(ctx, s.cfg.Domain, name, q.After, max); err != nil {
			return nil, notFound(err)
		}
	}
	out := xmlel.New(NS, "items", "node", name)
	for _, it := range items {
		el, err := s.itemElement(NS, n, it)
		if err != nil {
			s.log.Error("pubsub: stored item unreadable", "err", err)
			continue
		}
		out.Append(el)
	}
	res := xmlel.New(NS, "pubsub").Append(out)
	if set != nil {
		page := rsm.Page{FirstIndex: -1, Count: total}
		if len(items) > 0 {
			page.First, page.Last = items[0].ID, items[len(items)-1].ID
			if q.After == "" {
				page.FirstIndex = 0
			}
		}
		res.Append(page.Element())
	}
	return res, nil
}

// itemElement returns a stored item as an <item/> of namespace ns,
// naming its publisher when the node says so (XEP-0060 §7.1.2.3: then
// in every form of retrieval).
func (s *Service) itemElement(ns string, n *node, it storage.PubsubItem) (*xmlel.Element, error) {
	el := xmlel.New(ns, "item", "id", it.ID)
	if n.cfg.ItemReply == ReplyPublisher && it.Publisher != "" {
		el.SetAttr("publisher", it.Publisher)
	}
	if it.Payload == "" {
		return el, nil
	}
	p, err := xmlstream.ParseStored(it.Payload)
	if err != nil {
		return nil, fmt.Errorf("pubsub: stored XML: %w", err)
	}
	return el.Append(p), nil
}
