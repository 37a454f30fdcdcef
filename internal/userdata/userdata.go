// Package userdata exports and imports the data of accounts in the
// portable format of XEP-0227 (Portable Import/Export Format for XMPP-IM
// Servers): SCRAM credentials, roster, offline messages, private XML,
// vCard, incoming subscription requests, PEP nodes with their items and
// subscriptions, the message archive (XEP-0313, as XEP-0227 §3.11 has
// it), the blocklist (in the XEP-0191 namespace, an extension XEP-0227
// §3 allows) and whether an administrator disabled the account (in
// samtal's own, an element other servers ignore).
//
// It is what `samtal user export` and `samtal user import` run: a user
// takes their data to another server, or an operator moves accounts
// between servers. FAST tokens (XEP-0484) are not exported: they are
// derived with this server's secret and mean nothing elsewhere; a client
// asks for new ones.
package userdata

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/pep"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// Namespaces of the format.
const (
	NS        = "urn:xmpp:pie:0"       // XEP-0227 §3
	NSSCRAM   = "urn:xmpp:pie:0#scram" // XEP-0227 §3.3
	nsRoster  = "jabber:iq:roster"
	nsPrivate = "jabber:iq:private"
	nsVCard   = "vcard-temp"
	nsPubsub  = "http://jabber.org/protocol/pubsub"
	nsOwner   = "http://jabber.org/protocol/pubsub#owner"
	nsBlock   = "urn:xmpp:blocking"
	// NSAccount holds <disabled/>: the account was disabled (XEP-0133
	// §4.3), and stays so where it is imported.
	NSAccount = "https://samtal.org/ns/account"
)

// Limits bound what an import stores, as the server bounds what clients
// store; zero means no bound.
type Limits struct {
	RosterItems     int
	OfflineMessages int
	PEPNodes        int
	PEPItems        int
	// PEPSubscribers bounds the subscriptions to one node, and
	// PEPSubscriptions those of one subscriber (a bare JID and its full
	// JIDs) to the nodes of every account, as [limits] pep_subscribers
	// and pep_subscriptions bound subscribe requests. A file is bounded
	// like a client: the subscribers are other people, and the file may
	// come from another server.
	PEPSubscribers   int
	PEPSubscriptions int
	// ArchiveRetention is how long the archive keeps a message: older
	// archived messages are not imported.
	ArchiveRetention time.Duration
	// NoArchive leaves archives out: the server keeps none.
	NoArchive bool
}

// Export returns the XEP-0227 document of one account: a <server-data/>
// with one <host/> and one <user/>. limit is the PEP item limit, which
// the node configuration forms mention. ErrNotFound if there is no such
// account.
func Export(ctx context.Context, st storage.Store, user jid.JID, pepItems int) (*xmlel.Element, error) {
	bare := user.Bare().String()
	acct, err := st.Accounts().Get(ctx, bare)
	if err != nil {
		return nil, err
	}
	u := xmlel.New(NS, "user", "name", user.Local())
	if acct.Disabled {
		u.Append(xmlel.New(NSAccount, "disabled"))
	}

	// XEP-0227 §3.3: one <scram-credentials/> per mechanism.
	for _, h := range []storage.Hash{storage.SHA1, storage.SHA256} {
		k, ok := acct.Keys[h]
		if !ok {
			continue
		}
		u.Append(xmlel.New(NSSCRAM, "scram-credentials", "mechanism", "SCRAM-"+string(h)).Append(
			xmlel.TextElement(NSSCRAM, "iter-count", strconv.Itoa(k.Iterations)),
			xmlel.TextElement(NSSCRAM, "salt", base64.StdEncoding.EncodeToString(k.Salt)),
			xmlel.TextElement(NSSCRAM, "server-key", base64.StdEncoding.EncodeToString(k.ServerKey)),
			xmlel.TextElement(NSSCRAM, "stored-key", base64.StdEncoding.EncodeToString(k.StoredKey)),
		))
	}

	// §3.4: the roster as a roster query result (RFC 6121 §2.1).
	items, _, err := st.Roster().Items(ctx, bare)
	if err != nil {
		return nil, err
	}
	q := xmlel.New(nsRoster, "query")
	for _, it := range items {
		q.Append(rosterItem(it))
	}
	u.Append(q)

	// §3.5: offline messages, oldest first.
	msgs, err := st.Offline().List(ctx, bare)
	if err != nil {
		return nil, err
	}
	if len(msgs) > 0 {
		off := xmlel.New(NS, "offline-messages")
		for _, m := range msgs {
			el, err := xmlstream.ParseStored(m.Stanza)
			if err != nil {
				return nil, fmt.Errorf("userdata: offline message %d: %w", m.ID, err)
			}
			if el.Child(stanza.NSDelay, "delay") == nil {
				el.Append(xmlel.New(stanza.NSDelay, "delay", "from", user.Domain(),
					"stamp", m.Stored.UTC().Format(time.RFC3339)).AppendText("Offline Storage"))
			}
			off.Append(el)
		}
		u.Append(off)
	}

	// §3.6: private XML storage, every namespace in one query.
	spaces, err := st.Private().Namespaces(ctx, bare)
	if err != nil {
		return nil, err
	}
	if len(spaces) > 0 {
		pq := xmlel.New(nsPrivate, "query")
		for _, ns := range spaces {
			data, err := st.Private().Get(ctx, bare, ns)
			if err != nil {
				return nil, err
			}
			el, err := xmlstream.ParseStored(data)
			if err != nil {
				return nil, fmt.Errorf("userdata: private data of %s: %w", ns, err)
			}
			// Stored as a <query/> holding the namespace's elements.
			pq.Append(el.Elements()...)
		}
		u.Append(pq)
	}

	// §3.7: the vCard.
	switch data, err := st.VCards().Get(ctx, bare); {
	case err == nil:
		el, err := xmlstream.ParseStored(data)
		if err != nil {
			return nil, fmt.Errorf("userdata: vCard: %w", err)
		}
		u.Append(el)
	case !errors.Is(err, storage.ErrNotFound):
		return nil, err
	}

	// §3.9: incoming subscription requests, as received.
	pending, err := st.Roster().Pending(ctx, bare)
	if err != nil {
		return nil, err
	}
	for _, p := range pending {
		el, err := xmlstream.ParseStored(p.Stanza)
		if err != nil || el.Local != stanza.Presence || el.Space != "" {
			el = xmlel.New("", stanza.Presence, "from", p.From)
		}
		el.SetAttr("type", "subscribe")
		u.Append(el)
	}

	// §3.10: PEP node configurations with their subscriptions, and
	// items, oldest item first so that an import publishes them in their
	// order.
	nodes, err := st.Pubsub().Nodes(ctx, bare)
	if err != nil {
		return nil, err
	}
	if len(nodes) > 0 {
		owner := xmlel.New(nsOwner, "pubsub")
		data := xmlel.New(nsPubsub, "pubsub")
		for _, n := range nodes {
			form, err := pep.ConfigForm(n.Config, pepItems)
			if err != nil {
				return nil, fmt.Errorf("userdata: node %s: %w", n.Name, err)
			}
			owner.Append(xmlel.New(nsOwner, "configure", "node", n.Name).Append(form))
			subs, err := st.Pubsub().Subscriptions(ctx, bare, n.Name)
			if err != nil {
				return nil, err
			}
			if len(subs) > 0 {
				// XEP-0060 §8.8.1.2's owner list, without subid: PEP
				// keeps one subscription per JID.
				el := xmlel.New(nsOwner, "subscriptions", "node", n.Name)
				for _, s := range subs {
					el.Append(xmlel.New(nsOwner, "subscription", "jid", s.JID, "subscription", s.State))
				}
				owner.Append(el)
			}
			its, err := st.Pubsub().Items(ctx, bare, n.Name, 0)
			if err != nil {
				return nil, err
			}
			items := xmlel.New(nsPubsub, "items", "node", n.Name)
			for _, it := range slices.Backward(its) {
				item := xmlel.New(nsPubsub, "item", "id", it.ID)
				if it.Payload != "" {
					p, err := xmlstream.ParseStored(it.Payload)
					if err != nil {
						return nil, fmt.Errorf("userdata: item %s of %s: %w", it.ID, n.Name, err)
					}
					item.Append(p)
				}
				items.Append(item)
			}
			data.Append(items)
		}
		u.Append(owner, data)
	}

	// The blocklist, as XEP-0191 §3.2 lists it.
	blocked, err := st.Blocklist().List(ctx, bare)
	if err != nil {
		return nil, err
	}
	if len(blocked) > 0 {
		bl := xmlel.New(nsBlock, "blocklist")
		for _, b := range blocked {
			bl.Append(xmlel.New(nsBlock, "item", "jid", b))
		}
		u.Append(bl)
	}

	// §3.11: the message archive.
	if err := exportArchive(ctx, st, bare, u); err != nil {
		return nil, err
	}

	return xmlel.New(NS, "server-data").Append(
		xmlel.New(NS, "host", "jid", user.Domain()).Append(u)), nil
}

func rosterItem(it storage.RosterItem) *xmlel.Element {
	el := xmlel.New(nsRoster, "item", "jid", it.Contact, "name", it.Name, "subscription", string(it.Subscription))
	if it.Ask {
		el.SetAttr("ask", "subscribe")
	}
	if it.Approved {
		el.SetAttr("approved", "true")
	}
	for _, g := range it.Groups {
		el.Append(xmlel.TextElement(nsRoster, "group", g))
	}
	return el
}

// Marshal writes a document as an XML file.
func Marshal(doc *xmlel.Element) []byte {
	b := []byte("<?xml version='1.0' encoding='UTF-8'?>\n")
	b = doc.AppendXML(b, xmlel.NSClient)
	return append(b, '\n')
}

// Parse reads a file written by Marshal or by another server.
func Parse(data []byte) (*xmlel.Element, error) {
	doc, err := xmlstream.Parse(data, xmlstream.Limits{MaxStanzaBytes: len(data) + 1, MaxDepth: 64, MaxAttrs: 256})
	if err != nil {
		return nil, fmt.Errorf("userdata: %w", err)
	}
	if !doc.Is(NS, "server-data") {
		return nil, fmt.Errorf("userdata: the document is <%s xmlns='%s'>, not XEP-0227's <server-data xmlns='%s'>", doc.Local, doc.Space, NS)
	}
	return doc, nil
}

// Importer stores the users of XEP-0227 documents.
type Importer struct {
	Store  storage.Store
	Limits Limits
	// IsHost reports whether the server serves a domain; users of other
	// hosts are not imported.
	IsHost func(domain string) bool
	// Keys derives SCRAM keys from a plaintext password, for a file that
	// carries one (XEP-0227 §3.2) instead of SCRAM credentials.
	Keys func(password string) (map[storage.Hash]storage.SCRAMKeys, error)
	// Warn receives what could not be imported as it was; nil drops it.
	Warn func(format string, args ...any)
}

func (im *Importer) warn(format string, args ...any) {
	if im.Warn != nil {
		im.Warn(format, args...)
	}
}

// Import stores every user of doc whose host the server serves and who
// has no account yet. It returns the users imported; an account that
// exists already is left alone and reported in the error, as are users
// whose data could not be stored, after the others were imported.
func (im *Importer) Import(ctx context.Context, doc *xmlel.Element) ([]string, error) {
	var done []string
	var errs []error
	for _, h := range doc.Elements() {
		if !h.Is(NS, "host") {
			im.warn("ignoring <%s xmlns='%s'> in <server-data/>", h.Local, h.Space)
			continue
		}
		domain, err := jid.Parse(h.Attr("jid"))
		if err != nil || !domain.IsDomain() {
			errs = append(errs, fmt.Errorf("host %q: not a domain", h.Attr("jid")))
			continue
		}
		if im.IsHost != nil && !im.IsHost(domain.Domain()) {
			errs = append(errs, fmt.Errorf("host %s is not served here; its users were not imported", domain))
			continue
		}
		for _, u := range h.Elements() {
			if !u.Is(NS, "user") {
				im.warn("ignoring <%s xmlns='%s'> in host %s", u.Local, u.Space, domain)
				continue
			}
			user, err := jid.New(u.Attr("name"), domain.Domain(), "")
			if err != nil {
				errs = append(errs, fmt.Errorf("user %q of %s: %w", u.Attr("name"), domain, err))
				continue
			}
			if err := im.importUser(ctx, user, u); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", user, err))
				continue
			}
			done = append(done, user.String())
		}
	}
	return done, errors.Join(errs...)
}

// importUser creates the account and stores its data. A failure after
// the account was created removes it again, so that an import can be
// repeated.
func (im *Importer) importUser(ctx context.Context, user jid.JID, u *xmlel.Element) (err error) {
	bare := user.String()
	keys, err := im.credentials(u)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		im.warn("%s: no SCRAM-SHA-1 or SCRAM-SHA-256 credentials and no password: the account cannot log in until `samtal user passwd`", bare)
	}
	disabled := u.Child(NSAccount, "disabled") != nil
	if err := im.Store.Accounts().Create(ctx, storage.Account{User: bare, Keys: keys, Disabled: disabled}); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return errors.New("the account exists already; remove it first to import over it")
		}
		return err
	}
	defer func() {
		if err != nil {
			_ = im.Store.Accounts().Delete(ctx, bare) // the import error is the one to report
		}
	}()
	var owner, items *xmlel.Element
	for _, el := range u.Elements() {
		switch {
		case el.Is(NSSCRAM, "scram-credentials"), el.Is(NSAccount, "disabled"):
			// Read above.
		case el.Is(nsRoster, "query"):
			err = im.roster(ctx, bare, el)
		case el.Is(NS, "offline-messages"):
			err = im.offline(ctx, user, el)
		case el.Is(nsPrivate, "query"):
			err = im.private(ctx, bare, el)
		case el.Is(nsVCard, "vCard"):
			err = im.Store.VCards().Put(ctx, bare, el.String())
		case el.Space == "" && el.Local == stanza.Presence:
			err = im.pending(ctx, bare, el)
		case el.Is(nsOwner, "pubsub"):
			owner = el
		case el.Is(nsPubsub, "pubsub"):
			items = el
		case el.Is(NSArchive, "archive"):
			err = im.archive(ctx, user, el)
		case el.Is(nsBlock, "blocklist"):
			var jids []string
			for _, it := range el.Elements() {
				if j, perr := jid.Parse(it.Attr("jid")); perr == nil && it.Is(nsBlock, "item") {
					jids = append(jids, j.String())
				}
			}
			err = im.Store.Blocklist().Add(ctx, bare, jids)
		default:
			// XEP-0227 §3: unknown data is ignored, and the operator told.
			im.warn("%s: ignoring <%s xmlns='%s'>", bare, el.Local, el.Space)
		}
		if err != nil {
			return err
		}
	}
	return im.pep(ctx, bare, owner, items)
}

// credentials reads the SCRAM credentials (XEP-0227 §3.3), or derives
// them from a plaintext password (§3.2).
func (im *Importer) credentials(u *xmlel.Element) (map[storage.Hash]storage.SCRAMKeys, error) {
	keys := map[storage.Hash]storage.SCRAMKeys{}
	for _, c := range u.Elements() {
		if !c.Is(NSSCRAM, "scram-credentials") {
			continue
		}
		mech := c.Attr("mechanism")
		h, ok := map[string]storage.Hash{"SCRAM-SHA-1": storage.SHA1, "SCRAM-SHA-256": storage.SHA256}[mech]
		if !ok {
			im.warn("user %s: ignoring credentials for %q, which samtal does not offer", u.Attr("name"), mech)
			continue
		}
		if _, dup := keys[h]; dup {
			return nil, fmt.Errorf("two sets of %s credentials", mech)
		}
		n, err := strconv.Atoi(strings.TrimSpace(c.ChildText(NSSCRAM, "iter-count")))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s credentials: iter-count is not a positive integer", mech)
		}
		var k storage.SCRAMKeys
		k.Iterations = n
		for _, f := range []struct {
			name string
			dst  *[]byte
		}{{"salt", &k.Salt}, {"server-key", &k.ServerKey}, {"stored-key", &k.StoredKey}} {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.ChildText(NSSCRAM, f.name)))
			if err != nil || len(b) == 0 {
				return nil, fmt.Errorf("%s credentials: %s is not base64", mech, f.name)
			}
			*f.dst = b
		}
		keys[h] = k
	}
	if pw := u.Attr("password"); pw != "" && len(keys) == 0 && im.Keys != nil {
		return im.Keys(pw)
	}
	return keys, nil
}

func (im *Importer) roster(ctx context.Context, user string, q *xmlel.Element) error {
	for _, el := range q.Elements() {
		if !el.Is(nsRoster, "item") {
			continue
		}
		contact, err := jid.Parse(el.Attr("jid"))
		if err != nil || contact.Resource() != "" {
			im.warn("%s: ignoring roster item %q: not a bare JID", user, el.Attr("jid"))
			continue
		}
		sub := storage.Subscription(el.Attr("subscription"))
		switch sub {
		case storage.SubNone, storage.SubTo, storage.SubFrom, storage.SubBoth:
		case "":
			sub = storage.SubNone
		default:
			im.warn("%s: roster item %s: subscription %q taken as none", user, contact, sub)
			sub = storage.SubNone
		}
		it := storage.RosterItem{
			Contact:      contact.String(),
			Name:         el.Attr("name"),
			Subscription: sub,
			Ask:          el.Attr("ask") == "subscribe",
			Approved:     el.Attr("approved") == "true" || el.Attr("approved") == "1",
		}
		for _, g := range el.Elements() {
			if g.Is(nsRoster, "group") && !slices.Contains(it.Groups, g.Text()) {
				it.Groups = append(it.Groups, g.Text())
			}
		}
		if _, err := im.Store.Roster().Put(ctx, user, it, im.Limits.RosterItems); err != nil {
			return fmt.Errorf("roster item %s: %w", contact, err)
		}
	}
	return nil
}

func (im *Importer) offline(ctx context.Context, user jid.JID, off *xmlel.Element) error {
	for _, el := range off.Elements() {
		if el.Space != "" || el.Local != stanza.Message {
			im.warn("%s: ignoring <%s xmlns='%s'> in offline-messages", user, el.Local, el.Space)
			continue
		}
		if el.Child(stanza.NSDelay, "delay") == nil {
			// Without a stamp the message would look new.
			el.Append(xmlel.New(stanza.NSDelay, "delay", "from", user.Domain(),
				"stamp", time.Now().UTC().Format(time.RFC3339)).AppendText("Offline Storage"))
		}
		if err := im.Store.Offline().Push(ctx, user.String(), el.String(), im.Limits.OfflineMessages); err != nil {
			return fmt.Errorf("offline message: %w", err)
		}
	}
	return nil
}

// private stores private XML as the private storage service does: one
// <query/> per namespace holding its elements.
func (im *Importer) private(ctx context.Context, user string, q *xmlel.Element) error {
	var spaces []string
	groups := map[string]*xmlel.Element{}
	for _, c := range q.Elements() {
		g := groups[c.Space]
		if g == nil {
			g = xmlel.New(nsPrivate, "query")
			groups[c.Space] = g
			spaces = append(spaces, c.Space)
		}
		g.Append(c)
	}
	for _, ns := range spaces {
		if err := im.Store.Private().Put(ctx, user, ns, groups[ns].String()); err != nil {
			return fmt.Errorf("private data of %s: %w", ns, err)
		}
	}
	return nil
}

func (im *Importer) pending(ctx context.Context, user string, el *xmlel.Element) error {
	if el.Attr("type") != "subscribe" {
		im.warn("%s: ignoring presence of type %q", user, el.Attr("type"))
		return nil
	}
	from, err := jid.Parse(el.Attr("from"))
	if err != nil {
		im.warn("%s: ignoring a subscription request from %q", user, el.Attr("from"))
		return nil
	}
	from = from.Bare()
	el.SetAttr("from", from.String())
	el.SetAttr("to", user)
	return im.Store.Roster().AddPending(ctx, user, storage.PendingSubscription{From: from.String(), Stanza: el.String()})
}

// pep creates the nodes of owner's <configure/> elements with their
// configuration, publishes the items of data's <items/> elements and
// stores the subscriptions of owner's <subscriptions/> elements
// (XEP-0227 §3.10). Items of a node without a configuration get the
// default one.
func (im *Importer) pep(ctx context.Context, user string, owner, data *xmlel.Element) error {
	created := map[string]bool{}
	create := func(node string, x *xmlel.Element) error {
		if created[node] || node == "" {
			return nil
		}
		stored := ""
		if x != nil {
			var ignored []string
			var err error
			stored, ignored, err = pep.ConfigFromForm(x, max(im.Limits.PEPItems, 1))
			if err != nil {
				im.warn("%s: node %s: unreadable configuration, default used: %v", user, node, err)
				stored = ""
			} else if len(ignored) > 0 {
				im.warn("%s: node %s: options left at their defaults: %s", user, node, strings.Join(ignored, ", "))
			}
		}
		if stored == "" {
			s, _, _ := pep.ConfigFromForm(xmlel.New(stanza.NSDataForm, "x"), max(im.Limits.PEPItems, 1))
			stored = s
		}
		if err := im.Store.Pubsub().CreateNode(ctx, user, storage.PubsubNode{Name: node, Config: stored}, im.Limits.PEPNodes); err != nil {
			return fmt.Errorf("node %s: %w", node, err)
		}
		created[node] = true
		return nil
	}
	var subs []*xmlel.Element
	if owner != nil {
		for _, c := range owner.Elements() {
			switch {
			case c.Is(nsOwner, "configure"):
				if err := create(c.Attr("node"), c.Child(stanza.NSDataForm, "x")); err != nil {
					return err
				}
			case c.Is(nsOwner, "subscriptions"):
				subs = append(subs, c) // once every node is created
			}
		}
	}
	var lists []*xmlel.Element
	if data != nil {
		lists = data.Elements()
	}
	for _, items := range lists {
		if !items.Is(nsPubsub, "items") {
			continue
		}
		node := items.Attr("node")
		if err := create(node, nil); err != nil {
			return err
		}
		for _, it := range items.Elements() {
			if !it.Is(nsPubsub, "item") {
				continue
			}
			var payload string
			if p := it.FirstElement(); p != nil {
				payload = p.String()
			}
			id := it.Attr("id")
			if id == "" {
				im.warn("%s: node %s: ignoring an item without id", user, node)
				continue
			}
			if err := im.Store.Pubsub().Publish(ctx, user, node, storage.PubsubItem{ID: id, Payload: payload}, im.Limits.PEPItems); err != nil {
				return fmt.Errorf("item %s of %s: %w", id, node, err)
			}
		}
	}
	for _, s := range subs {
		if err := im.subscriptions(ctx, user, s, created[s.Attr("node")]); err != nil {
			return err
		}
	}
	return nil
}

// subscriptions stores the <subscription/> elements of a node's
// <subscriptions/> (XEP-0060 §8.8.1.2). exists tells whether the file
// gave the node a configuration or items. As with roster items,
// malformed entries are skipped with a warning: a subscriber who is
// missing can subscribe again. Subscriptions over the limits fail the
// import, as roster items and nodes over theirs do. An imported
// subscriber is not checked against the access model here: the first
// notification ends the subscription of one who has no access (XEP-0163
// §7.1), as it does for one who lost it.
func (im *Importer) subscriptions(ctx context.Context, user string, subs *xmlel.Element, exists bool) error {
	node := subs.Attr("node")
	if !exists {
		im.warn("%s: ignoring subscriptions to node %q, which the file does not configure", user, node)
		return nil
	}
	for _, el := range subs.Elements() {
		if !el.Is(nsOwner, "subscription") {
			continue
		}
		j, err := jid.Parse(el.Attr("jid"))
		if err != nil {
			im.warn("%s: node %s: ignoring a subscription of %q: not a JID", user, node, el.Attr("jid"))
			continue
		}
		// PEP has no pending or unconfigured state (XEP-0060 §4.2):
		// taking such a subscription as subscribed would let in whom
		// the owner never approved.
		if state := el.Attr("subscription"); state != storage.SubscriptionSubscribed {
			im.warn("%s: node %s: ignoring the subscription of %s in state %q", user, node, j, state)
			continue
		}
		s := storage.PubsubSubscription{Node: node, JID: j.String(), State: storage.SubscriptionSubscribed}
		if err := im.Store.Pubsub().Subscribe(ctx, user, s, im.Limits.PEPSubscribers, im.Limits.PEPSubscriptions); err != nil {
			return fmt.Errorf("subscription of %s to %s: %w", j, node, err)
		}
	}
	return nil
}
