package disco

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces of Service Discovery (XEP-0030 §11).
const (
	NSInfo  = stanza.NSDiscoInfo
	NSItems = stanza.NSDiscoItems
)

// Roster is what disco reads of a user's roster to decide whether a
// requester may see the account (XEP-0030 §8). storage.Roster has it.
type Roster interface {
	Item(ctx context.Context, user, contact string) (storage.RosterItem, error)
}

// Item is one item of a host's disco#items (XEP-0030 §4.1).
type Item struct {
	JID  string // required
	Name string // optional natural-language name
	Node string // optional; only for items that are not addressable by JID alone
}

// Config is the discovery configuration.
type Config struct {
	// Contacts holds the XEP-0157 contact addresses of each host, keyed by
	// host domain in canonical form.
	Contacts map[string]Contacts
}

// Validate reports every problem of c.
func (c Config) Validate() error {
	var errs []error
	for host, cs := range c.Contacts {
		if err := cs.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("disco: host %s: %w", host, err))
		}
	}
	return errors.Join(errs...)
}

// Disco answers disco#info and disco#items. It is safe for concurrent
// use.
type Disco struct {
	mux    *iq.Mux
	roster Roster
	forms  map[string]*xmlel.Element // XEP-0157 form per host

	mu    sync.RWMutex
	items map[string][]Item // by host domain
	nodes map[string]Node   // host nodes, by node name
}

// Node answers discovery requests to a node of a host (XEP-0030 §3.2,
// §4.2), such as the commands node of XEP-0050. Either function may be
// nil: the node then has no info, or no items. Their errors go to the
// requester as iq.Handler errors do.
type Node struct {
	Info  func(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error)
	Items func(ctx context.Context, st *stanza.Stanza) ([]Item, error)
}

// New registers the discovery handlers for hosts and accounts in mux,
// the server identity and the contact address forms of cfg. roster is
// read to authorize requests to bare JIDs.
func New(cfg Config, mux *iq.Mux, roster Roster) *Disco {
	d := &Disco{
		mux:    mux,
		roster: roster,
		forms:  make(map[string]*xmlel.Element, len(cfg.Contacts)),
		items:  make(map[string][]Item),
		nodes:  make(map[string]Node),
	}
	for host, cs := range cfg.Contacts {
		if f := cs.form(); f != nil {
			d.forms[host] = f
		}
	}
	// XEP-0030 §3.1: every entity has an identity; a host is an IM server
	// (server/im in the Service Discovery Identities registry).
	mux.AddIdentity(iq.Identity{Category: "server", Type: "im", Name: "samtal"})
	mux.AddFeature(iq.Server, NSInfo, NSItems)
	mux.AddFeature(iq.Account, NSInfo, NSItems)
	mux.AddExtension(d.contactForm)
	mux.Handle(iq.Server, NSInfo, d.serverInfo)
	mux.Handle(iq.Server, NSItems, d.serverItems)
	mux.Handle(iq.Account, NSInfo, d.accountInfo)
	mux.Handle(iq.Account, NSItems, d.accountItems)
	return d
}

// AddItem lists item in the disco#items of the host domain. An item with
// the same JID and node replaces the one before.
func (d *Disco) AddItem(domain string, item Item) {
	d.mu.Lock()
	defer d.mu.Unlock()
	list := d.items[domain]
	for i := range list {
		if list[i].JID == item.JID && list[i].Node == item.Node {
			list[i] = item
			return
		}
	}
	d.items[domain] = append(list, item)
}

// RemoveItem takes the item with the JID and node off the host's list.
func (d *Disco) RemoveItem(domain, itemJID, node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	list := d.items[domain]
	for i := range list {
		if list[i].JID == itemJID && list[i].Node == node {
			d.items[domain] = append(list[:i:i], list[i+1:]...)
			return
		}
	}
}

// HandleNode makes n answer requests to node of every host.
func (d *Disco) HandleNode(node string, n Node) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nodes[node] = n
}

func (d *Disco) node(name string) Node {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.nodes[name]
}

// Items returns the items of a host.
func (d *Disco) Items(domain string) []Item {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return append([]Item(nil), d.items[domain]...)
}

// query checks a discovery request and returns its node. XEP-0030 defines
// only IQ-gets of an empty <query/>.
func query(st *stanza.Stanza) (node string, err error) {
	q := st.Payload()
	if st.Type() != "get" || q.Local != "query" {
		return "", stanza.E(stanza.BadRequest)
	}
	return q.Attr("node"), nil
}

// serverInfo answers disco#info to a host (XEP-0030 §3.1): the
// identities, features and extension forms that services registered.
func (d *Disco) serverInfo(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	node, err := query(st)
	if err != nil {
		return nil, err
	}
	if node != "" {
		if n := d.node(node); n.Info != nil {
			return n.Info(ctx, st)
		}
		// XEP-0030 §3.2: no info node is known here.
		return nil, stanza.E(stanza.ItemNotFound)
	}
	q := xmlel.New(NSInfo, "query")
	for _, id := range d.mux.Identities() {
		q.Append(identity(id))
	}
	for _, f := range d.mux.HostFeatures(st.To.Domain()) {
		q.Append(xmlel.New(NSInfo, "feature", "var", f))
	}
	// XEP-0128 §3: extension forms follow as children of <query/>.
	q.Append(d.mux.Extensions(st.To.Domain())...)
	return q, nil
}

// serverItems answers disco#items to a host (XEP-0030 §4.1).
func (d *Disco) serverItems(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	node, err := query(st)
	if err != nil {
		return nil, err
	}
	items := d.Items(st.To.Domain())
	if node != "" {
		n := d.node(node)
		if n.Items == nil {
			return nil, stanza.E(stanza.ItemNotFound)
		}
		if items, err = n.Items(ctx, st); err != nil {
			return nil, err
		}
	}
	q := xmlel.New(NSItems, "query", "node", node)
	for _, it := range items {
		q.Append(xmlel.New(NSItems, "item", "jid", it.JID, "name", it.Name, "node", it.Node))
	}
	return q, nil
}

// accountInfo answers disco#info to a bare JID on the user's behalf
// (XEP-0030 §3.1). The caller has checked that the account exists.
func (d *Disco) accountInfo(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	node, err := query(st)
	if err != nil {
		return nil, err
	}
	ok, err := d.authorized(ctx, st.From, st.To)
	if err != nil {
		return nil, err
	}
	if !ok {
		// XEP-0030 §8: service-unavailable, the same as for an account
		// that does not exist, whatever the node.
		return nil, stanza.E(stanza.ServiceUnavailable)
	}
	if node != "" {
		return nil, stanza.E(stanza.ItemNotFound)
	}
	// XEP-0030 §3.1: the primary identity of a bare JID is account, "most
	// likely" of type registered.
	q := xmlel.New(NSInfo, "query").Append(identity(iq.Identity{Category: "account", Type: "registered"}))
	for _, id := range d.mux.AccountIdentities() {
		q.Append(identity(id))
	}
	for _, f := range d.mux.Features(iq.Account) {
		q.Append(xmlel.New(NSInfo, "feature", "var", f))
	}
	return q, nil
}

// accountItems answers disco#items to a bare JID (XEP-0030 §4.1).
//
// NOTSPEC(XEP-0030 §4.1): the account's available resources are not
// listed, not even to those allowed to see them: which devices a user
// has online is theirs to tell, through presence, and entity
// capabilities (XEP-0115) make the list unnecessary.
func (d *Disco) accountItems(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	node, err := query(st)
	if err != nil {
		return nil, err
	}
	q := xmlel.New(NSItems, "query", "node", node)
	if node != "" {
		ok, err := d.authorized(ctx, st.From, st.To)
		if err != nil {
			return nil, err
		}
		if !ok {
			// XEP-0030 §8: an empty result set, as for an account that
			// does not exist.
			return q, nil
		}
		return nil, stanza.E(stanza.ItemNotFound)
	}
	// Services list what the requester may see, whoever it is: PEP
	// nodes with the open access model are for anyone (XEP-0163 §6.2).
	items, err := d.mux.AccountItems(ctx, st.To, st.From)
	if err != nil {
		return nil, err
	}
	return q.Append(items...), nil
}

// authorized reports whether from may discover the account user
// (XEP-0030 §8): the owner, the user's own server, or a contact to whom
// the user grants a presence subscription ("from" or "both").
func (d *Disco) authorized(ctx context.Context, from, user jid.JID) (bool, error) {
	switch {
	case from.Bare().Equal(user):
		return true, nil
	case from.IsDomain() && from.Domain() == user.Domain():
		return true, nil
	case from.IsZero():
		return false, nil
	}
	it, err := d.roster.Item(ctx, user.String(), from.Bare().String())
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return it.Subscription == storage.SubFrom || it.Subscription == storage.SubBoth, nil
}

func identity(id iq.Identity) *xmlel.Element {
	return xmlel.New(NSInfo, "identity", "category", id.Category, "type", id.Type, "name", id.Name)
}

// contactForm returns the XEP-0157 form of a host, or nil.
func (d *Disco) contactForm(domain string) *xmlel.Element {
	f := d.forms[domain]
	if f == nil {
		return nil
	}
	// The mux hands the form to a response that is written and maybe
	// changed later: give each its own copy.
	return f.Copy()
}
