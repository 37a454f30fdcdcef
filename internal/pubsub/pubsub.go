// Package pubsub is a host's publish-subscribe service (XEP-0060) at its
// own domain, pubsub.example.org: nodes that are nobody's account, which
// users of the host create and own, and to which anyone the access model
// lets subscribes, such as Movim's communities.
//
// It implements node creation (with a configuration, and instant nodes),
// configuration, deletion and purge; publication with publish-options
// preconditions (§7.1.5) and the publishers, subscribers and open
// publish models; retraction; item retrieval (all, by ID, the newest
// max_items, and pages of Result Set Management, XEP-0059); subscriptions
// of bare or full JIDs with subscription IDs; an entity's own
// subscriptions and affiliations; the owner's management of
// subscriptions and affiliations (owner, publisher, publish-only,
// member, outcast); the open, authorize and whitelist access models,
// with the owners' approval of pending subscriptions by the forms of
// §8.6; a bound on the subscriptions of one node; node metadata
// (§5.4); and notifications of publication, retraction, purge, deletion
// and configuration. The host's administrators act as owners of every
// node.
//
// It keeps no state of its own between requests: every request reads
// the node from storage, so that the nodes of a cluster, which share
// the store, serve any request.
package pubsub

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"time"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/nodeconfig"
	"samtal.org/samtal/internal/rsm"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces of XEP-0060 §16.2 and of the extensions the service uses.
const (
	NS       = "http://jabber.org/protocol/pubsub"
	NSOwner  = NS + "#owner"
	NSEvent  = NS + "#event"
	NSErrors = nodeconfig.NSErrors
	NSMeta   = NS + "#meta-data"
	NSPing   = "urn:xmpp:ping"
)

// Defaults of Config: the item limits of PEP ([limits] pep_items,
// pep_item_bytes), and more nodes, since a service holds many users'
// nodes; one user may own as many as PEP gives each account. A node's
// subscribers are bounded because any server may subscribe as many JIDs
// of its own domain as it likes, and each costs a notification per
// item; 10000 is far more than a community has.
const (
	DefaultMaxNodes         = 1000
	DefaultMaxUserNodes     = 100
	DefaultMaxItems         = 1000
	DefaultMaxItemBytes     = 128 << 10
	DefaultMaxSubscriptions = 10000
)

// Config is the configuration of one service.
type Config struct {
	// Domain is the service's domain, pubsub.example.org.
	Domain string
	// Admins act as owners of every node: a node whose owners' accounts
	// were removed can still be managed.
	Admins []jid.JID
	// MayCreate reports whether a bare JID may create nodes; nil lets
	// no one.
	MayCreate func(user jid.JID) bool
	// MaxNodes bounds the nodes of the service, MaxUserNodes those one
	// user may own (so that one account cannot take the service's
	// nodes; administrators are not counted), MaxItems the items of one
	// node (what max_items "max" means) and MaxItemBytes the size of
	// one item's payload as XML; MaxSubscriptions bounds the
	// subscriptions to one node, pending ones included. 0 is the
	// default.
	MaxNodes         int
	MaxUserNodes     int
	MaxItems         int
	MaxItemBytes     int
	MaxSubscriptions int
	// Clock is the time source; nil means time.Now.
	Clock func() time.Time
}

// Validate reports the problems of c.
func (c Config) Validate() error {
	var errs []error
	if d, err := jid.New("", c.Domain, ""); err != nil || c.Domain == "" || d.String() != c.Domain {
		errs = append(errs, fmt.Errorf("pubsub: invalid domain %q", c.Domain))
	}
	if c.MaxNodes < 0 || c.MaxUserNodes < 0 || c.MaxItems < 0 || c.MaxItemBytes < 0 || c.MaxSubscriptions < 0 {
		errs = append(errs, errors.New("pubsub: negative limit"))
	}
	return errors.Join(errs...)
}

// Router routes the stanzas the service sends; *router.Router is one.
type Router interface {
	Route(ctx context.Context, st *stanza.Stanza)
}

// Service is the publish-subscribe service of one domain. It is safe for
// concurrent use.
type Service struct {
	cfg    Config
	domain jid.JID
	router Router
	store  storage.PubsubServices
	log    *slog.Logger
	now    func() time.Time

	// locks serialize the changes of one node (by hash) that read before
	// they write, in this process; the store keeps each write whole.
	seed  maphash.Seed
	locks [64]sync.Mutex
}

// New returns the service of cfg.Domain.
func New(cfg Config, r Router, store storage.PubsubServices, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.MaxNodes = cmp.Or(cfg.MaxNodes, DefaultMaxNodes)
	cfg.MaxUserNodes = cmp.Or(cfg.MaxUserNodes, DefaultMaxUserNodes)
	cfg.MaxItems = cmp.Or(cfg.MaxItems, DefaultMaxItems)
	cfg.MaxItemBytes = cmp.Or(cfg.MaxItemBytes, DefaultMaxItemBytes)
	cfg.MaxSubscriptions = cmp.Or(cfg.MaxSubscriptions, DefaultMaxSubscriptions)
	now := cfg.Clock
	if now == nil {
		now = time.Now
	}
	return &Service{
		cfg: cfg, domain: jid.MustParse(cfg.Domain), router: r, store: store, log: log, now: now,
		seed: maphash.MakeSeed(),
	}, nil
}

// Domain returns the service's domain.
func (s *Service) Domain() string { return s.cfg.Domain }

// lock serializes the changes of one node.
func (s *Service) lock(node string) func() {
	m := &s.locks[maphash.String(s.seed, node)%uint64(len(s.locks))]
	m.Lock()
	return m.Unlock
}

// Handle receives every stanza to the service's domain.
func (s *Service) Handle(ctx context.Context, st *stanza.Stanza) {
	switch {
	case st.IsRequest():
		ctx, then := iq.WithAfter(ctx)
		payload, err := s.serve(ctx, st)
		el := st.Answer(payload, err, func(err error) { s.log.Error("pubsub: request failed", "err", err) })
		if el != nil && !st.From.IsZero() {
			s.router.Route(ctx, &stanza.Stanza{El: el, From: st.To, To: st.From})
		}
		then()
	case st.Kind() == stanza.Message && st.Type() != "error":
		x := authorizationForm(st.El)
		if x == nil || !st.To.Equal(s.domain) {
			s.bounce(ctx, st, stanza.E(stanza.ServiceUnavailable))
			return
		}
		err := s.authorize(ctx, st.From, x)
		var se stanza.Error
		switch {
		case errors.As(err, &se):
			s.bounce(ctx, st, se)
		case err != nil:
			s.log.Error("pubsub: authorization failed", "err", err)
			s.bounce(ctx, st, stanza.E(stanza.InternalServerError))
		}
	}
	// Presence, iq responses and bounced notifications need nothing.
}

// bounce answers st with an error from its addressee.
func (s *Service) bounce(ctx context.Context, st *stanza.Stanza, e stanza.Error) {
	el := stanza.ErrorReply(st.El, e)
	if el == nil || st.From.IsZero() {
		return
	}
	s.router.Route(ctx, &stanza.Stanza{El: el, From: st.To, To: st.From})
}

// serve answers an iq get or set: the payload of the result, or the
// error.
func (s *Service) serve(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	p := st.Payload()
	if p == nil || len(st.El.Elements()) != 1 {
		return nil, stanza.E(stanza.BadRequest)
	}
	if !st.To.Equal(s.domain) {
		// Nothing lives at user@ or /resource of the service.
		return nil, stanza.E(stanza.ServiceUnavailable)
	}
	from := st.From
	get := st.Type() == "get"
	switch {
	case p.Is(stanza.NSDiscoInfo, "query") && get:
		if node := p.Attr("node"); node != "" {
			return s.nodeInfo(ctx, from, node)
		}
		return serviceInfo(), nil
	case p.Is(stanza.NSDiscoItems, "query") && get:
		if node := p.Attr("node"); node != "" {
			return s.nodeItems(ctx, from, node)
		}
		return s.nodes(ctx, from)
	case p.Is(NSPing, "ping") && get:
		return nil, nil
	case p.Is(NS, "pubsub"):
		return s.servePubsub(ctx, from, p, get)
	case p.Is(NSOwner, "pubsub"):
		return s.serveOwner(ctx, from, p, get)
	}
	return nil, stanza.E(stanza.ServiceUnavailable)
}

// servePubsub answers the requests of the pubsub namespace (XEP-0060
// §5, §6, §7, §8.1).
func (s *Service) servePubsub(ctx context.Context, from jid.JID, ps *xmlel.Element, get bool) (*xmlel.Element, error) {
	var op, opts, configure, set *xmlel.Element
	for _, c := range ps.Elements() {
		switch {
		case c.Is(NS, "publish-options"):
			opts = c
		case c.Is(NS, "configure"):
			configure = c
		case c.Is(NS, "options"):
			// XEP-0060 §6.3: subscription options are not offered.
			return nil, nodeconfig.Unsupported("subscription-options")
		case c.Is(rsm.NS, "set"):
			set = c
		case c.Space == NS && op == nil:
			op = c
		default:
			return nil, stanza.E(stanza.BadRequest)
		}
	}
	if op == nil {
		return nil, stanza.E(stanza.BadRequest)
	}
	if (opts != nil && op.Local != "publish") || (configure != nil && op.Local != "create") || (set != nil && op.Local != "items") {
		return nil, stanza.E(stanza.BadRequest)
	}
	if get {
		switch op.Local {
		case "items":
			return s.items(ctx, from, op, set)
		case "subscriptions":
			return s.ownSubscriptions(ctx, from, op.Attr("node"))
		case "affiliations":
			return s.ownAffiliations(ctx, from, op.Attr("node"))
		case "default":
			return nil, nodeconfig.Unsupported("retrieve-default-sub")
		}
		return nil, stanza.E(stanza.BadRequest)
	}
	switch op.Local {
	case "create":
		return s.create(ctx, from, op, configure)
	case "publish":
		return s.publish(ctx, from, op, opts)
	case "retract":
		return nil, s.retract(ctx, from, op)
	case "subscribe":
		return s.subscribe(ctx, from, op)
	case "unsubscribe":
		return nil, s.unsubscribe(ctx, from, op)
	}
	return nil, stanza.E(stanza.BadRequest)
}

// serveOwner answers the requests of the pubsub#owner namespace
// (XEP-0060 §8).
func (s *Service) serveOwner(ctx context.Context, from jid.JID, ps *xmlel.Element, get bool) (*xmlel.Element, error) {
	els := ps.Elements()
	if len(els) != 1 || els[0].Space != NSOwner {
		return nil, stanza.E(stanza.BadRequest)
	}
	op := els[0]
	if op.Local == "default" {
		if !get {
			return nil, stanza.E(stanza.BadRequest)
		}
		// XEP-0060 §8.3.
		return xmlel.New(NSOwner, "pubsub").Append(
			xmlel.New(NSOwner, "default").Append(s.defaultConfig().form(s.rules()))), nil
	}
	name := op.Attr("node")
	if name == "" {
		return nil, errNodeIDRequired()
	}
	n, err := s.node(ctx, name)
	if err != nil {
		return nil, err
	}
	aff := s.affiliation(n, from)
	// XEP-0060 §4.1: publishers may purge too.
	if aff != storage.AffiliationOwner && !(op.Local == "purge" && aff == storage.AffiliationPublisher) {
		return nil, stanza.E(stanza.Forbidden)
	}
	switch {
	case op.Local == "configure" && get:
		return xmlel.New(NSOwner, "pubsub").Append(
			xmlel.New(NSOwner, "configure", "node", name).Append(n.cfg.form(s.rules()))), nil
	case op.Local == "configure":
		return nil, s.configure(ctx, n, op)
	case op.Local == "delete" && !get:
		return nil, s.deleteNode(ctx, n)
	case op.Local == "purge" && !get:
		return nil, s.purge(ctx, n)
	case op.Local == "subscriptions" && get:
		return s.subscriptionList(ctx, n)
	case op.Local == "subscriptions":
		return s.setSubscriptions(ctx, n, op)
	case op.Local == "affiliations" && get:
		return affiliationList(n), nil
	case op.Local == "affiliations":
		return s.setAffiliations(ctx, n, op)
	}
	return nil, stanza.E(stanza.BadRequest)
}

// features are the pubsub features of XEP-0060 §10 the service has.
var features = []string{
	"access-authorize", "access-open", "access-whitelist", "config-node", "create-and-configure",
	"create-nodes", "delete-items", "delete-nodes", "instant-nodes", "item-ids",
	"last-published", "manage-subscriptions", "member-affiliation", "meta-data",
	"modify-affiliations", "outcast-affiliation", "persistent-items", "publish",
	"publish-only-affiliation", "publish-options", "publisher-affiliation",
	"purge-nodes", "retract-items", "retrieve-affiliations", "retrieve-default",
	"retrieve-items", "retrieve-subscriptions", "rsm", "subscribe",
}

// serviceInfo is the disco#info of the service (XEP-0060 §5.1).
func serviceInfo() *xmlel.Element {
	q := xmlel.New(stanza.NSDiscoInfo, "query").Append(
		xmlel.New(stanza.NSDiscoInfo, "identity", "category", "pubsub", "type", "service", "name", "Publish-Subscribe"))
	for _, f := range []string{stanza.NSDiscoInfo, stanza.NSDiscoItems, NS, NSPing, rsm.NS} {
		q.Append(xmlel.New(stanza.NSDiscoInfo, "feature", "var", f))
	}
	for _, f := range features {
		q.Append(xmlel.New(stanza.NSDiscoInfo, "feature", "var", NS+"#"+f))
	}
	return q
}

// randomID returns an unguessable identifier, for instant nodes, item
// IDs and subscription IDs.
func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails on Linux
	return hex.EncodeToString(b)
}

// errNodeIDRequired is the error for a request without its node
// (XEP-0060 §7.2.3.3, §8.2.3.3).
func errNodeIDRequired() stanza.Error {
	return nodeconfig.Error(stanza.BadRequest, "nodeid-required")
}

// notFound maps storage.ErrNotFound to item-not-found.
func notFound(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return stanza.E(stanza.ItemNotFound)
	}
	return err
}

// isAdmin reports whether a JID is one of the host's administrators.
func (s *Service) isAdmin(j jid.JID) bool {
	return slices.ContainsFunc(s.cfg.Admins, func(a jid.JID) bool { return a.Equal(j.Bare()) })
}

// Limits of what requests can name.
const (
	maxNodeName = 1024
	maxItemID   = 1024
)
