package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/nodeconfig"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// Values of pubsub#itemreply (XEP-0060 §16.4.3, §12.18): whether items
// carry their publisher's JID. "owner" is not offered: clients do not
// use it (the XEP's interoperability note).
const (
	ReplyPublisher = "publisher"
	ReplyNone      = "none"
)

// nodeConfig is what the service stores of a node: its configuration,
// the options PEP does not have, and what the metadata tells of its
// creation (XEP-0060 §5.4).
type nodeConfig struct {
	nodeconfig.Config
	NotifyConfig bool      `json:"notify_config,omitempty"`
	ItemReply    string    `json:"itemreply,omitempty"`
	Creator      string    `json:"creator,omitempty"`
	Created      time.Time `json:"created,omitzero"`
}

// defaultConfig is the configuration of a new node: open, as a
// community or a blog is; as many items as the service keeps; the
// publisher named in items, which clients such as Movim show as the
// author.
func (s *Service) defaultConfig() nodeConfig {
	return nodeConfig{
		Config: nodeconfig.Config{
			AccessModel:          nodeconfig.AccessOpen,
			PersistItems:         true,
			SendLast:             nodeconfig.SendNever,
			DeliverNotifications: true,
			DeliverPayloads:      true,
			NotifyRetract:        true,
			NotifyDelete:         true,
			NotificationType:     "headline",
		},
		ItemReply: ReplyPublisher,
	}
}

// rules are what the service offers. on_sub_and_presence is not: the
// service does not follow its subscribers' presence; nor are the
// presence and roster access models, for nodes that are nobody's
// account and so have no roster.
func (s *Service) rules() nodeconfig.Rules {
	return nodeconfig.Rules{
		Limit:         s.cfg.MaxItems,
		AccessModels:  []string{nodeconfig.AccessOpen, nodeconfig.AccessAuthorize, nodeconfig.AccessWhitelist},
		PublishModels: []string{nodeconfig.PublishPublishers, nodeconfig.PublishSubscribers, nodeconfig.PublishOpen},
		SendLast:      []string{nodeconfig.SendNever, nodeconfig.SendOnSub},
	}
}

func (s *Service) decodeConfig(data string) (nodeConfig, error) {
	c := s.defaultConfig()
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return nodeConfig{}, fmt.Errorf("pubsub: stored node config: %w", err)
	}
	return c, nil
}

func (c nodeConfig) encode() string {
	b, _ := json.Marshal(c) // strings, bools, ints and a time always marshal
	return string(b)
}

// set changes one option.
func (c *nodeConfig) set(name string, values []string, r nodeconfig.Rules) error {
	switch name {
	case "pubsub#notify_config":
		b, ok := dataform.ParseBool(nodeconfig.One(values))
		if !ok {
			return nodeconfig.ErrBadOption(name)
		}
		c.NotifyConfig = b
	case "pubsub#itemreply":
		v := nodeconfig.One(values)
		if v != ReplyPublisher && v != ReplyNone {
			return nodeconfig.ErrBadOption(name)
		}
		c.ItemReply = v
	default:
		return c.Config.Set(name, values, r)
	}
	return nil
}

// apply changes c by every field of a submitted form.
func (c *nodeConfig) apply(f nodeconfig.Form, r nodeconfig.Rules) error {
	for _, name := range f.Order {
		if err := c.set(name, f.Fields[name], r); err != nil {
			return err
		}
	}
	return nil
}

// meets reports whether c satisfies a publish-options precondition
// (XEP-0060 §7.1.5).
func (c nodeConfig) meets(name string, values []string, r nodeconfig.Rules) (bool, error) {
	switch name {
	case "pubsub#notify_config", "pubsub#itemreply":
		d := c
		if err := d.set(name, values, r); err != nil {
			return false, err
		}
		return d.NotifyConfig == c.NotifyConfig && d.ItemReply == c.ItemReply, nil
	}
	return c.Config.Meets(name, values, r)
}

// form returns c as a configuration form (XEP-0060 §8.2.4).
func (c nodeConfig) form(r nodeconfig.Rules) *xmlel.Element {
	return c.Config.Form(r).Append(
		nodeconfig.BoolField("pubsub#notify_config", "Notify subscribers when the node configuration changes", c.NotifyConfig),
		nodeconfig.ListSingle("pubsub#itemreply", "Whether items name their publisher", c.ItemReply, ReplyPublisher, ReplyNone),
	)
}

// node is a node as a request sees it: its configuration and who is
// affiliated with it.
type node struct {
	name string
	cfg  nodeConfig
	affs []storage.PubsubAffiliation
}

// node loads a node; item-not-found if there is none (XEP-0060
// §6.5.9.11 and others).
func (s *Service) node(ctx context.Context, name string) (*node, error) {
	n, err := s.store.Node(ctx, s.cfg.Domain, name)
	if err != nil {
		return nil, notFound(err)
	}
	cfg, err := s.decodeConfig(n.Config)
	if err != nil {
		return nil, err
	}
	affs, err := s.store.Affiliations(ctx, s.cfg.Domain, name)
	if err != nil {
		return nil, notFound(err)
	}
	return &node{name: name, cfg: cfg, affs: affs}, nil
}

// affiliation returns the affiliation of a JID's bare JID with n: owner
// for the host's administrators.
func (s *Service) affiliation(n *node, who jid.JID) string {
	if s.isAdmin(who) {
		return storage.AffiliationOwner
	}
	bare := who.Bare().String()
	for _, a := range n.affs {
		if a.JID == bare {
			return a.Affiliation
		}
	}
	return storage.AffiliationNone
}

// maySubscribe applies the affiliations (XEP-0060 §4.1) and the access
// model (§4.5) to one who would subscribe to n: outcasts and
// publish-only entities never; members, publishers and owners always;
// others when the node is open, or authorize, where the owners approve
// the subscription.
func (s *Service) maySubscribe(n *node, who jid.JID) error {
	switch s.affiliation(n, who) {
	case storage.AffiliationOwner, storage.AffiliationPublisher, storage.AffiliationMember:
		return nil
	case storage.AffiliationOutcast, storage.AffiliationPublishOnly:
		// §6.1.3.8: blocked.
		return stanza.E(stanza.Forbidden)
	}
	switch n.cfg.AccessModel {
	case nodeconfig.AccessOpen, nodeconfig.AccessAuthorize:
		return nil
	}
	// §6.1.3.4, §6.5.9.x: not on the whitelist.
	return nodeconfig.Error(stanza.NotAllowed, "closed-node")
}

// needsApproval reports whether a subscription of who to n waits for an
// owner (XEP-0060 §6.1.4): at an authorize node, for those with no
// affiliation, since members, publishers and owners subscribe at once
// as §6.1.4 allows.
func (s *Service) needsApproval(n *node, who jid.JID) bool {
	return n.cfg.AccessModel == nodeconfig.AccessAuthorize && s.affiliation(n, who) == storage.AffiliationNone
}

// mayRetrieve is maySubscribe for one who would retrieve n's items or
// be notified of them, where subscribed says whether its bare JID holds
// an approved subscription: at an authorize node only subscribers may
// (§6.5.1).
func (s *Service) mayRetrieve(n *node, who jid.JID, subscribed bool) error {
	if err := s.maySubscribe(n, who); err != nil {
		return err
	}
	if s.needsApproval(n, who) && !subscribed {
		// §6.5.9.3: a pending subscription is no subscription.
		return nodeconfig.Error(stanza.NotAuthorized, "not-subscribed")
	}
	return nil
}

// subscribed reports whether the bare JID of who or one of its full
// JIDs holds an approved subscription to n.
func (s *Service) subscribed(ctx context.Context, n *node, who jid.JID) (bool, error) {
	subs, err := s.store.Subscriptions(ctx, s.cfg.Domain, n.name)
	if err != nil {
		return false, notFound(err)
	}
	for _, sub := range subs {
		if j, err := jid.Parse(sub.JID); err == nil && j.Bare().Equal(who.Bare()) && sub.State == storage.SubscriptionSubscribed {
			return true, nil
		}
	}
	return false, nil
}

// visible reports whether n exists for who: a whitelist node is hidden
// from disco of those it would refuse, so that its name and metadata do
// not leak. An authorize node is seen by those who may ask to
// subscribe.
func (s *Service) visible(n *node, who jid.JID) bool {
	return s.maySubscribe(n, who) == nil
}

// nodes lists the nodes the asker may see, with their titles, as
// disco#items of the service (XEP-0060 §5.2).
func (s *Service) nodes(ctx context.Context, from jid.JID) (*xmlel.Element, error) {
	ns, err := s.store.Nodes(ctx, s.cfg.Domain)
	if err != nil {
		return nil, err
	}
	q := xmlel.New(stanza.NSDiscoItems, "query")
	for _, sn := range ns {
		cfg, err := s.decodeConfig(sn.Config)
		if err != nil {
			return nil, err
		}
		n := &node{name: sn.Name, cfg: cfg}
		if cfg.AccessModel != nodeconfig.AccessOpen {
			// Only closed nodes need their affiliations read.
			if n.affs, err = s.store.Affiliations(ctx, s.cfg.Domain, sn.Name); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					continue // deleted meanwhile
				}
				return nil, err
			}
		}
		if !s.visible(n, from) {
			continue
		}
		it := xmlel.New(stanza.NSDiscoItems, "item", "jid", s.cfg.Domain, "node", sn.Name)
		if cfg.Title != "" {
			it.SetAttr("name", cfg.Title)
		}
		q.Append(it)
	}
	return q, nil
}

// nodeInfo is the disco#info of a node with its metadata (XEP-0060
// §5.3, §5.4).
func (s *Service) nodeInfo(ctx context.Context, from jid.JID, name string) (*xmlel.Element, error) {
	n, err := s.node(ctx, name)
	if err != nil {
		return nil, err
	}
	if !s.visible(n, from) {
		return nil, stanza.E(stanza.ItemNotFound)
	}
	subs, err := s.store.Subscriptions(ctx, s.cfg.Domain, name)
	if err != nil {
		return nil, notFound(err)
	}
	subscribers := 0
	for _, sub := range subs {
		if sub.State == storage.SubscriptionSubscribed {
			subscribers++
		}
	}
	var owners, publishers []string
	for _, a := range n.affs {
		switch a.Affiliation {
		case storage.AffiliationOwner:
			owners = append(owners, a.JID)
		case storage.AffiliationPublisher:
			publishers = append(publishers, a.JID)
		}
	}
	c := n.cfg
	max := "max"
	if c.MaxItems > 0 {
		max = strconv.Itoa(c.MaxItems)
	}
	x := xmlel.New(stanza.NSDataForm, "x", "type", "result").Append(
		nodeconfig.Field("hidden", "FORM_TYPE", "", NSMeta),
		nodeconfig.Field("text-single", "pubsub#title", "A short name for the node", c.Title),
		nodeconfig.Field("text-single", "pubsub#description", "A description of the node", c.Description),
		nodeconfig.Field("text-single", "pubsub#type", "Payload semantic type information", c.Type),
		nodeconfig.Field("list-single", "pubsub#access_model", "Access model", c.AccessModel),
		nodeconfig.Field("list-single", "pubsub#publish_model", "Publish model", c.Publish()),
		nodeconfig.Field("text-single", "pubsub#max_items", "Max # of items to persist", max),
		nodeconfig.Field("jid-multi", "pubsub#owner", "Node owners", owners...),
		nodeconfig.Field("jid-multi", "pubsub#publisher", "Publishers to this node", publishers...),
		nodeconfig.Field("text-single", "pubsub#num_subscribers", "Number of subscribers to this node", strconv.Itoa(subscribers)),
	)
	if c.Creator != "" {
		x.Append(nodeconfig.Field("jid-single", "pubsub#creator", "Node creator", c.Creator))
	}
	if !c.Created.IsZero() {
		x.Append(nodeconfig.Field("text-single", "pubsub#creation_date", "Creation date", c.Created.UTC().Format(time.RFC3339)))
	}
	return xmlel.New(stanza.NSDiscoInfo, "query", "node", name).Append(
		xmlel.New(stanza.NSDiscoInfo, "identity", "category", "pubsub", "type", "leaf"),
		xmlel.New(stanza.NSDiscoInfo, "feature", "var", NS),
		x,
	), nil
}

// nodeItems lists the IDs of a node's items as disco#items of the node
// (XEP-0060 §5.5).
func (s *Service) nodeItems(ctx context.Context, from jid.JID, name string) (*xmlel.Element, error) {
	n, err := s.node(ctx, name)
	if err != nil {
		return nil, err
	}
	if !s.visible(n, from) {
		return nil, stanza.E(stanza.ItemNotFound)
	}
	items, _, err := s.store.ItemPage(ctx, s.cfg.Domain, name, "", s.cfg.MaxItems)
	if err != nil {
		return nil, notFound(err)
	}
	q := xmlel.New(stanza.NSDiscoItems, "query", "node", name)
	for _, it := range items {
		q.Append(xmlel.New(stanza.NSDiscoItems, "item", "jid", s.cfg.Domain, "name", it.ID))
	}
	return q, nil
}
