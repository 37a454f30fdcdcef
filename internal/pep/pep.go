// Package pep is the Personal Eventing Protocol (XEP-0163): every account
// is a publish-subscribe service (XEP-0060) at its bare JID, whose owner
// publishes items that the owner's other resources and contacts receive
// as notifications. It implements the subset of XEP-0060 that clients
// use: publish with publish-options (§7.1.5), auto-create, retract,
// item retrieval, node creation, configuration, deletion and purge, the
// open, presence, roster and whitelist access models, and subscriptions
// made implicit by presence and entity capabilities (XEP-0115): a
// resource that advertises NODE+notify gets the notifications of NODE
// and the last item when it becomes available.
//
// Explicit subscriptions (XEP-0163 §5; XEP-0060 §6.1, §6.2) are kept in
// storage with the node, so that they outlive restarts and every node of
// a cluster sees them: a subscriber's bare JID or one of its full JIDs,
// one subscription per JID, no subscription options, within limits per
// node and per subscriber. A subscriber lists its own subscriptions
// (§5.6), an owner those to a node (§8.8.1); owners do not change them
// (§8.8.2). A notification goes to the resources that want it by their
// capabilities and to the explicitly subscribed JIDs, never twice to
// one full JID (XEP-0163 §4.3.2), and only while the access model admits
// the subscriber: one it no longer admits loses its subscription when
// the next notification is due (§7.1).
//
// On top of it sit the conversions that let old and new clients share
// data: bookmarks kept in step between Private XML Storage (XEP-0049),
// the storage:bookmarks node (XEP-0048, XEP-0411) and the per-room
// items of urn:xmpp:bookmarks:1 (XEP-0402), and avatars between the
// vCard (XEP-0153) and PEP (XEP-0084) with the hash in presence
// (XEP-0398).
package pep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"

	"samtal.org/samtal/internal/caps"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/nodeconfig"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces of XEP-0060 §16.2.
const (
	NS        = "http://jabber.org/protocol/pubsub"
	NSOwner   = "http://jabber.org/protocol/pubsub#owner"
	NSEvent   = "http://jabber.org/protocol/pubsub#event"
	NSErrors  = "http://jabber.org/protocol/pubsub#errors"
	notifyExt = "+notify"
)

// Defaults of Config.
const (
	DefaultMaxNodes     = 100
	DefaultMaxItems     = 1000
	DefaultMaxItemBytes = 128 << 10
	// DefaultMaxSubscribers bounds the explicit subscriptions to one
	// node: any server may subscribe as many full JIDs of its users as
	// the node's access model admits, and each is one more notification
	// per publication.
	DefaultMaxSubscribers = 1000
	// DefaultMaxSubscriptions bounds the explicit subscriptions of one
	// subscriber (its bare JID and full JIDs) to the nodes of all
	// accounts, so that nobody fills the store with subscriptions.
	DefaultMaxSubscriptions = 1000
)

// Config holds the limits of each user's service.
type Config struct {
	MaxNodes     int // nodes per user; 0 is DefaultMaxNodes
	MaxItems     int // items per node, what "max" means; 0 is DefaultMaxItems
	MaxItemBytes int // bytes of one item's payload as XML; 0 is DefaultMaxItemBytes
	// MaxVCardBytes bounds the vCard that an avatar is copied into
	// (XEP-0398); 0 is MaxItemBytes.
	MaxVCardBytes int
	// MaxSubscribers bounds the explicit subscriptions to one node; 0
	// is DefaultMaxSubscribers.
	MaxSubscribers int
	// MaxSubscriptions bounds the explicit subscriptions of one bare
	// JID and its full JIDs to every account's nodes; 0 is
	// DefaultMaxSubscriptions.
	MaxSubscriptions int
	// Blocks reports whether an account blocks an entity (XEP-0191);
	// nil blocks no one. No notification from an account goes to an
	// entity it blocks, however it subscribed (XEP-0163 §4.3.3).
	Blocks func(ctx context.Context, account, other jid.JID) bool
}

// Validate reports problems of c.
func (c Config) Validate() error {
	if c.MaxNodes < 0 || c.MaxItems < 0 || c.MaxItemBytes < 0 || c.MaxVCardBytes < 0 ||
		c.MaxSubscribers < 0 || c.MaxSubscriptions < 0 {
		return errors.New("pep: negative limit")
	}
	return nil
}

// Service is the PEP service of every local account. It is safe for
// concurrent use.
type Service struct {
	cfg    Config
	router *router.Router
	store  storage.Store
	mux    *iq.Mux
	log    *slog.Logger

	seed  maphash.Seed
	locks [64]sync.Mutex // per user (by hash): one change at a time

	caps *caps.Cache[notifySet]

	mu       sync.Mutex
	users    map[jid.JID]*userState
	inflight map[string]*capsQuery
	avatars  map[jid.JID]string // vCard photo hash per user with sessions; "" none

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New registers the PEP handlers and features for accounts in mux. It
// wraps the vcard-temp and private storage handlers for the avatar and
// bookmarks conversions, so it is called after those are registered.
func New(cfg Config, r *router.Router, store storage.Store, mux *iq.Mux, log *slog.Logger) *Service {
	if cfg.MaxNodes == 0 {
		cfg.MaxNodes = DefaultMaxNodes
	}
	if cfg.MaxItems == 0 {
		cfg.MaxItems = DefaultMaxItems
	}
	if cfg.MaxItemBytes == 0 {
		cfg.MaxItemBytes = DefaultMaxItemBytes
	}
	if cfg.MaxVCardBytes == 0 {
		cfg.MaxVCardBytes = cfg.MaxItemBytes
	}
	if cfg.MaxSubscribers == 0 {
		cfg.MaxSubscribers = DefaultMaxSubscribers
	}
	if cfg.MaxSubscriptions == 0 {
		cfg.MaxSubscriptions = DefaultMaxSubscriptions
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg: cfg, router: r, store: store, mux: mux, log: log,
		seed:     maphash.MakeSeed(),
		caps:     caps.NewCache[notifySet](capsCacheSize),
		users:    make(map[jid.JID]*userState),
		inflight: make(map[string]*capsQuery),
		avatars:  make(map[jid.JID]string),
		ctx:      ctx,
		cancel:   cancel,
	}
	mux.Handle(iq.Account, NS, s.handlePubsub)
	mux.Handle(iq.Account, NSOwner, s.handleOwner)
	// XEP-0163 §6.1: the account is a pubsub service of type pep.
	mux.AddAccountIdentity(iq.Identity{Category: "pubsub", Type: "pep"})
	features := []string{NS}
	for _, f := range []string{
		"access-open", "access-presence", "access-roster", "access-whitelist",
		"auto-create", "auto-subscribe", "config-node", "create-and-configure",
		"create-nodes", "delete-items", "delete-nodes", "filtered-notifications",
		"item-ids", "last-published", "manage-subscriptions", "multi-items", "persistent-items",
		"presence-notifications", "presence-subscribe", "publish", "publish-options",
		"purge-nodes", "retrieve-default", "retrieve-items", "retrieve-subscriptions",
		"subscribe",
	} {
		features = append(features, NS+"#"+f)
	}
	mux.AddFeature(iq.Account, features...)
	mux.AddAccountItems(s.discoItems)
	s.wrapVCard()
	s.wrapPrivate()
	return s
}

// Close stops the queries in flight and waits for them.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// lock serializes the changes of one user's service.
func (s *Service) lock(user jid.JID) func() {
	m := &s.locks[maphash.String(s.seed, user.String())%uint64(len(s.locks))]
	m.Lock()
	return m.Unlock
}

// randomID returns an unguessable identifier.
func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails on Linux
	return hex.EncodeToString(b)
}

// pubsubError returns a stanza error with a pubsub-specific condition
// (XEP-0060 §7.1.3 and on).
func pubsubError(c stanza.Condition, app string) stanza.Error {
	return nodeconfig.Error(c, app)
}

// unsupported is the error for a pubsub feature samtal does not have
// (XEP-0060 §7.1.3.1 and others).
func unsupported(feature string) stanza.Error {
	return nodeconfig.Unsupported(feature)
}

// handlePubsub answers requests in the pubsub namespace to an account.
func (s *Service) handlePubsub(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	ps := st.Payload()
	if ps.Local != "pubsub" {
		return nil, stanza.E(stanza.BadRequest)
	}
	owner := st.To.Bare()
	isOwner := st.From.Bare().Equal(owner)
	var first *xmlel.Element
	for _, c := range ps.Elements() {
		if c.Space == NS && c.Local != "publish-options" && c.Local != "configure" {
			first = c
			break
		}
	}
	if first == nil {
		return nil, stanza.E(stanza.BadRequest)
	}
	if st.Type() == "get" {
		switch first.Local {
		case "items":
			return s.items(ctx, owner, st.From, first)
		case "subscriptions":
			return s.ownSubscriptions(ctx, owner, st.From, first)
		case "affiliations", "options", "default":
			return nil, unsupported(map[string]string{
				"affiliations": "retrieve-affiliations", "options": "subscription-options", "default": "retrieve-default-sub",
			}[first.Local])
		}
		return nil, stanza.E(stanza.BadRequest)
	}
	switch first.Local {
	case "publish", "retract", "create":
		if !isOwner {
			// XEP-0163 §3: one publisher per node, the owner.
			return nil, stanza.E(stanza.Forbidden)
		}
	}
	switch first.Local {
	case "publish":
		opts := ps.Child(NS, "publish-options")
		return s.handlePublish(ctx, owner, first, opts)
	case "retract":
		return nil, s.handleRetract(ctx, owner, first)
	case "create":
		return nil, s.handleCreate(ctx, owner, first, ps.Child(NS, "configure"))
	case "subscribe":
		if ps.Child(NS, "options") != nil {
			// XEP-0060 §6.3.5: subscribe-and-configure.
			return nil, unsupported("subscription-options")
		}
		return s.subscribe(ctx, owner, st.From, first)
	case "unsubscribe":
		return nil, s.unsubscribe(ctx, owner, st.From, first)
	}
	return nil, stanza.E(stanza.BadRequest)
}

// handleOwner answers requests in the pubsub#owner namespace.
func (s *Service) handleOwner(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	ps := st.Payload()
	if ps.Local != "pubsub" {
		return nil, stanza.E(stanza.BadRequest)
	}
	owner := st.To.Bare()
	if !st.From.Bare().Equal(owner) {
		return nil, stanza.E(stanza.Forbidden)
	}
	op := ps.FirstElement()
	if op == nil || op.Space != NSOwner {
		return nil, stanza.E(stanza.BadRequest)
	}
	switch {
	case op.Local == "configure" && st.Type() == "get":
		return s.configureGet(ctx, owner, op)
	case op.Local == "configure":
		return nil, s.configureSet(ctx, owner, op)
	case op.Local == "default" && st.Type() == "get":
		return xmlel.New(NSOwner, "pubsub").Append(
			xmlel.New(NSOwner, "default").Append(DefaultConfig().Form(rules(s.cfg.MaxItems)))), nil
	case op.Local == "delete" && st.Type() == "set":
		return nil, s.deleteNode(ctx, owner, op.Attr("node"))
	case op.Local == "purge" && st.Type() == "set":
		return nil, s.purge(ctx, owner, op.Attr("node"))
	case op.Local == "subscriptions" && st.Type() == "get":
		return s.nodeSubscriptions(ctx, owner, op)
	case op.Local == "subscriptions":
		return nil, s.manageSubscriptions(ctx, owner, op)
	case op.Local == "affiliations":
		// §8.9: a PEP node has one owner and no other affiliations
		// to manage.
		return nil, unsupported("manage-" + op.Local)
	}
	return nil, stanza.E(stanza.BadRequest)
}

// node loads a node and its configuration.
func (s *Service) node(ctx context.Context, owner jid.JID, name string) (NodeConfig, error) {
	n, err := s.store.Pubsub().Node(ctx, owner.String(), name)
	if err != nil {
		return NodeConfig{}, err
	}
	return decodeConfig(n.Config)
}

// notFound maps storage.ErrNotFound to item-not-found.
func notFound(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return stanza.E(stanza.ItemNotFound)
	}
	return err
}

// createNode stores a new node, mapping the storage errors to stanza
// errors.
func (s *Service) createNode(ctx context.Context, owner jid.JID, name string, cfg NodeConfig) error {
	err := s.store.Pubsub().CreateNode(ctx, owner.String(), storage.PubsubNode{Name: name, Config: cfg.Encode()}, s.cfg.MaxNodes)
	switch {
	case errors.Is(err, storage.ErrExists):
		return stanza.E(stanza.Conflict)
	case errors.Is(err, storage.ErrQuota):
		return stanza.E(stanza.PolicyViolation).WithText(fmt.Sprintf("at most %d nodes", s.cfg.MaxNodes))
	}
	return err
}

// handleCreate creates a node, maybe configured (XEP-0060 §8.1).
func (s *Service) handleCreate(ctx context.Context, owner jid.JID, create, configure *xmlel.Element) error {
	name := create.Attr("node")
	if name == "" {
		// XEP-0060 §8.1.3: no instant nodes here.
		return pubsubError(stanza.NotAcceptable, "nodeid-required")
	}
	if len(name) > maxNodeName {
		return stanza.E(stanza.NotAcceptable).WithText("node name too long")
	}
	cfg := DefaultConfig()
	if x := configure.Child("jabber:x:data", "x"); x != nil {
		f, err := nodeconfig.ParseForm(x)
		if err != nil {
			return err
		}
		if f.Type != "" && f.Type != FormNodeConfig {
			return stanza.E(stanza.BadRequest)
		}
		if err := cfg.Apply(f, rules(s.cfg.MaxItems)); err != nil {
			return err
		}
	}
	defer s.lock(owner)()
	return s.createNode(ctx, owner, name, cfg)
}

// maxNodeName bounds the length of a node name.
const maxNodeName = 1024

// configureGet returns a node's configuration form (XEP-0060 §8.2).
func (s *Service) configureGet(ctx context.Context, owner jid.JID, op *xmlel.Element) (*xmlel.Element, error) {
	name := op.Attr("node")
	if name == "" {
		return nil, pubsubError(stanza.BadRequest, "nodeid-required")
	}
	cfg, err := s.node(ctx, owner, name)
	if err != nil {
		return nil, notFound(err)
	}
	return xmlel.New(NSOwner, "pubsub").Append(
		xmlel.New(NSOwner, "configure", "node", name).Append(cfg.Form(rules(s.cfg.MaxItems)))), nil
}

// configureSet changes a node's configuration (XEP-0060 §8.2.5).
func (s *Service) configureSet(ctx context.Context, owner jid.JID, op *xmlel.Element) error {
	name := op.Attr("node")
	if name == "" {
		return pubsubError(stanza.BadRequest, "nodeid-required")
	}
	x := op.Child("jabber:x:data", "x")
	if x != nil && x.Attr("type") == "cancel" {
		return nil
	}
	f, err := nodeconfig.ParseForm(x)
	if err != nil {
		return err
	}
	if f.Type != FormNodeConfig {
		return stanza.E(stanza.BadRequest).WithText("FORM_TYPE must be " + FormNodeConfig)
	}
	defer s.lock(owner)()
	cfg, err := s.node(ctx, owner, name)
	if err != nil {
		return notFound(err)
	}
	if err := cfg.Apply(f, rules(s.cfg.MaxItems)); err != nil {
		return err
	}
	return notFound(s.store.Pubsub().ConfigureNode(ctx, owner.String(),
		storage.PubsubNode{Name: name, Config: cfg.Encode()}, cfg.Kept(s.cfg.MaxItems)))
}

// deleteNode deletes a node and tells those notified of it (XEP-0060
// §8.4).
func (s *Service) deleteNode(ctx context.Context, owner jid.JID, name string) error {
	if name == "" {
		return pubsubError(stanza.BadRequest, "nodeid-required")
	}
	unlock := s.lock(owner)
	cfg, err := s.node(ctx, owner, name)
	var subs []storage.PubsubSubscription
	if err == nil {
		// Read before they go with the node, to tell them of it.
		subs, err = s.store.Pubsub().Subscriptions(ctx, owner.String(), name)
	}
	if err == nil {
		err = s.store.Pubsub().DeleteNode(ctx, owner.String(), name)
	}
	unlock()
	if err != nil {
		return notFound(err)
	}
	if cfg.NotifyDelete {
		s.notifyAll(ctx, owner, name, cfg, subs, func() *xmlel.Element {
			return xmlel.New(NSEvent, "delete", "node", name)
		})
	}
	return nil
}

// purge removes every item of a node (XEP-0060 §8.5) and, when the node
// notifies of retractions, sends one <purge/> in their place (§8.5.2).
func (s *Service) purge(ctx context.Context, owner jid.JID, name string) error {
	if name == "" {
		return pubsubError(stanza.BadRequest, "nodeid-required")
	}
	unlock := s.lock(owner)
	cfg, err := s.node(ctx, owner, name)
	if err == nil {
		err = s.store.Pubsub().Purge(ctx, owner.String(), name)
	}
	unlock()
	if err != nil {
		return notFound(err)
	}
	if cfg.NotifyRetract {
		s.notify(ctx, owner, name, cfg, func() *xmlel.Element {
			return xmlel.New(NSEvent, "purge", "node", name)
		})
	}
	return nil
}

// discoItems lists the nodes the requester may retrieve items from, as
// disco#items of the account (XEP-0163 §6.2: "only those nodes to which
// the contact is allowed to subscribe or from which the contact is
// allowed to retrieve items").
func (s *Service) discoItems(ctx context.Context, owner, from jid.JID) ([]*xmlel.Element, error) {
	nodes, err := s.store.Pubsub().Nodes(ctx, owner.String())
	if err != nil {
		return nil, err
	}
	var out []*xmlel.Element
	for _, n := range nodes {
		cfg, err := decodeConfig(n.Config)
		if err != nil {
			return nil, err
		}
		if err := s.mayRetrieve(ctx, owner, from, cfg); err != nil {
			var se stanza.Error
			if errors.As(err, &se) {
				continue
			}
			return nil, err
		}
		out = append(out, xmlel.New(stanza.NSDiscoItems, "item", "jid", owner.String(), "node", n.Name))
	}
	return out, nil
}
