package pep

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/nodeconfig"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// published is what a publication changed, for the conversions that
// follow it.
type published struct {
	node    string
	id      string
	payload *xmlel.Element
	cfg     NodeConfig
}

// handlePublish publishes the item of a <publish/> request (XEP-0060
// §7.1) and runs the conversions that depend on the node.
func (s *Service) handlePublish(ctx context.Context, owner jid.JID, pub, opts *xmlel.Element) (*xmlel.Element, error) {
	name := pub.Attr("node")
	if name == "" {
		return nil, pubsubError(stanza.BadRequest, "nodeid-required")
	}
	items := pub.Elements()
	if len(items) == 0 {
		// XEP-0060 §7.1.3.6: PEP nodes are persistent and deliver
		// payloads, so an item is required.
		return nil, pubsubError(stanza.BadRequest, "item-required")
	}
	if len(items) > 1 || !items[0].Is(NS, "item") {
		return nil, pubsubError(stanza.BadRequest, "invalid-payload")
	}
	payloads := items[0].Elements()
	switch {
	case len(payloads) == 0:
		return nil, pubsubError(stanza.BadRequest, "payload-required")
	case len(payloads) > 1:
		return nil, pubsubError(stanza.BadRequest, "invalid-payload")
	}
	var pre form
	if opts != nil {
		x := opts.Child(stanza.NSDataForm, "x")
		if x != nil {
			var err error
			if pre, err = nodeconfig.ParseForm(x); err != nil {
				return nil, err
			}
			if pre.Type != FormPublishOptions {
				// XEP-0060 §7.1.5: the form's FORM_TYPE MUST be this.
				return nil, stanza.E(stanza.BadRequest).WithText("FORM_TYPE must be " + FormPublishOptions)
			}
		}
	}
	p, err := s.publish(ctx, owner, name, items[0].Attr("id"), payloads[0], pre, false)
	if err != nil {
		return nil, err
	}
	s.afterPublish(ctx, owner, p)
	return xmlel.New(NS, "pubsub").Append(
		xmlel.New(NS, "publish", "node", name).Append(xmlel.New(NS, "item", "id", p.id))), nil
}

// publish stores an item, creating the node when it does not exist
// (auto-create) with the publish options as its configuration, or
// checking them as preconditions against the node's configuration
// (XEP-0060 §7.1.5), then notifies. With createOnly, the options only
// configure a new node: the server publishing on the user's behalf
// leaves an existing node as the user configured it.
func (s *Service) publish(ctx context.Context, owner jid.JID, name, id string, payload *xmlel.Element, pre form, createOnly bool) (published, error) {
	if len(name) > maxNodeName || len(id) > maxItemID {
		return published{}, stanza.E(stanza.NotAcceptable).WithText("node or item name too long")
	}
	data := payload.String()
	if len(data) > s.cfg.MaxItemBytes {
		// XEP-0060 §7.1.3.4.
		return published{}, pubsubError(stanza.NotAcceptable, "payload-too-big").
			WithText(fmt.Sprintf("an item may have at most %d bytes", s.cfg.MaxItemBytes))
	}
	if id == "" {
		id = randomID()
	}
	unlock := s.lock(owner)
	cfg, err := s.preconditions(ctx, owner, name, pre, createOnly)
	if err == nil {
		err = s.store.Pubsub().Publish(ctx, owner.String(), name,
			storage.PubsubItem{ID: id, Payload: data}, cfg.Kept(s.cfg.MaxItems))
		err = notFound(err) // the node was deleted in between
	}
	unlock()
	if err != nil {
		return published{}, err
	}
	s.notify(ctx, owner, name, cfg, func() *xmlel.Element {
		it := xmlel.New(NSEvent, "item", "id", id)
		if cfg.DeliverPayloads {
			it.Append(payload)
		}
		return xmlel.New(NSEvent, "items", "node", name).Append(it)
	})
	return published{node: name, id: id, payload: payload, cfg: cfg}, nil
}

// maxItemID bounds the length of an item ID.
const maxItemID = 1024

// preconditions returns the configuration of the node, which it creates
// with the publish options when it does not exist. The caller holds the
// user's lock.
func (s *Service) preconditions(ctx context.Context, owner jid.JID, name string, pre form, createOnly bool) (NodeConfig, error) {
	cfg, err := s.node(ctx, owner, name)
	if errors.Is(err, storage.ErrNotFound) {
		cfg = DefaultConfig()
		if err := cfg.Apply(pre, rules(s.cfg.MaxItems)); err != nil {
			return NodeConfig{}, err
		}
		return cfg, s.createNode(ctx, owner, name, cfg)
	}
	if err != nil || createOnly {
		return cfg, err
	}
	for _, f := range pre.Order {
		ok, err := cfg.Meets(f, pre.Fields[f], rules(s.cfg.MaxItems))
		if err != nil {
			// XEP-0060 §7.1.5: an unknown field rejects the
			// publication; so does a value the node could not have.
			return NodeConfig{}, pubsubError(stanza.Conflict, "precondition-not-met").WithText("unsupported option " + f)
		}
		if !ok {
			return NodeConfig{}, pubsubError(stanza.Conflict, "precondition-not-met").WithText("the node's " + f + " differs")
		}
	}
	return cfg, nil
}

// handleRetract deletes an item (XEP-0060 §7.2) and, when the request's
// notify attribute or the node's notify_retract says so, notifies.
func (s *Service) handleRetract(ctx context.Context, owner jid.JID, r *xmlel.Element) error {
	name := r.Attr("node")
	if name == "" {
		return pubsubError(stanza.BadRequest, "nodeid-required")
	}
	items := r.Elements()
	if len(items) != 1 || !items[0].Is(NS, "item") || items[0].Attr("id") == "" {
		return pubsubError(stanza.BadRequest, "item-required")
	}
	id := items[0].Attr("id")
	notify, err := nodeconfig.RetractNotify(r.Attr("notify"))
	if err != nil {
		return err
	}
	cfg, err := s.retract(ctx, owner, name, id, notify)
	if err != nil {
		return err
	}
	s.afterRetract(ctx, owner, name, id, cfg)
	return nil
}

// retract deletes an item and notifies. XEP-0060 §7.2.2.1 ties the
// notification to the notify attribute; with no attribute the node's
// notify_retract decides.
func (s *Service) retract(ctx context.Context, owner jid.JID, name, id string, notify *bool) (NodeConfig, error) {
	unlock := s.lock(owner)
	cfg, err := s.node(ctx, owner, name)
	if err == nil {
		err = s.store.Pubsub().Retract(ctx, owner.String(), name, id)
	}
	unlock()
	if err != nil {
		return NodeConfig{}, notFound(err)
	}
	if (notify == nil && cfg.NotifyRetract) || (notify != nil && *notify) {
		s.notify(ctx, owner, name, cfg, func() *xmlel.Element {
			return xmlel.New(NSEvent, "items", "node", name).Append(xmlel.New(NSEvent, "retract", "id", id))
		})
	}
	return cfg, nil
}

// items answers an item retrieval (XEP-0060 §6.5): all items, the
// newest max_items, or those asked for by ID, to whoever the node's
// access model lets see them.
func (s *Service) items(ctx context.Context, owner, from jid.JID, req *xmlel.Element) (*xmlel.Element, error) {
	name := req.Attr("node")
	if name == "" {
		return nil, pubsubError(stanza.BadRequest, "nodeid-required")
	}
	max := 0
	if v := req.Attr("max_items"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, stanza.E(stanza.BadRequest)
		}
		max = n
	}
	if name == NSBookmarks2 && from.Bare().Equal(owner) {
		s.migrateBookmarks(ctx, owner)
	}
	cfg, err := s.node(ctx, owner, name)
	if err != nil {
		return nil, notFound(err)
	}
	if err := s.mayRetrieve(ctx, owner, from, cfg); err != nil {
		return nil, err
	}
	out := xmlel.New(NS, "items", "node", name)
	var ids []string
	for _, it := range req.Elements() {
		if it.Is(NS, "item") && it.Attr("id") != "" {
			ids = append(ids, it.Attr("id"))
		}
	}
	var items []storage.PubsubItem
	if len(ids) > 0 {
		if len(ids) > s.cfg.MaxItems {
			return nil, stanza.E(stanza.PolicyViolation)
		}
		for _, id := range ids {
			it, err := s.store.Pubsub().Item(ctx, owner.String(), name, id)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			items = append(items, it)
		}
	} else {
		items, err = s.store.Pubsub().Items(ctx, owner.String(), name, max)
		if err != nil {
			return nil, notFound(err)
		}
	}
	for _, it := range items {
		el, err := itemElement(NS, it)
		if err != nil {
			s.log.Error("pep: stored item unreadable", "err", err)
			continue
		}
		out.Append(el)
	}
	return xmlel.New(NS, "pubsub").Append(out), nil
}
