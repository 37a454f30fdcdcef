package pep_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/caps"
	"samtal.org/samtal/internal/im"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/pep"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
	"samtal.org/samtal/internal/xmpptest"
)

// env is a server with the IM core and PEP on a real store.
type env struct {
	t     *testing.T
	store storage.Store
	r     *router.Router
	core  *im.Service
	pep   *pep.Service
}

func newEnv(t *testing.T, cfg pep.Config, users ...string) *env {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	xmpptest.CreateAccounts(t, store.Accounts(), users...)
	r := router.New([]string{"example.org"})
	mux := iq.NewMux(log)
	core := im.New(im.Config{}, r, store, mux, log)
	r.SetLocal(core)
	p := pep.New(cfg, r, store, mux, log)
	t.Cleanup(p.Close)
	core.AddHooks(im.Hooks{PresenceSent: p.PresenceSent, PresenceArrived: p.PresenceArrived, PresenceDirected: p.PresenceDirected})
	return &env{t: t, store: store, r: r, core: core, pep: p}
}

// session is a bound client that records what it gets and answers
// disco#info queries for its capabilities node with its features.
type session struct {
	e        *env
	full     jid.JID
	features []string
	mu       sync.Mutex
	got      []*xmlel.Element
}

func (s *session) JID() jid.JID                  { return s.full }
func (s *session) CloseWithError(_ stream.Error) {}
func (s *session) Send(el *xmlel.Element) {
	if el.Local == stanza.IQ && el.Attr("type") == "get" {
		if q := el.Child(stanza.NSDiscoInfo, "query"); q != nil {
			res := xmlel.New("", stanza.IQ, "type", "result", "id", el.Attr("id"), "to", el.Attr("from"))
			res.Append(discoInfo(s.features).Append())
			go s.e.core.Outbound(context.Background(), s, s.e.stanza(res, s.full))
			return
		}
	}
	s.mu.Lock()
	s.got = append(s.got, el)
	s.mu.Unlock()
}

// events returns the items notified of node so far: their ids, or
// "-id" for retractions.
func (s *session) events(node string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, el := range s.got {
		items := el.Child(pep.NSEvent, "event").Child(pep.NSEvent, "items")
		if el.Local != stanza.Message || items == nil || items.Attr("node") != node {
			continue
		}
		for _, it := range items.Elements() {
			if it.Local == "retract" {
				out = append(out, "-"+it.Attr("id"))
			} else {
				out = append(out, it.Attr("id"))
			}
		}
	}
	return out
}

func discoInfo(features []string) *xmlel.Element {
	q := xmlel.New(stanza.NSDiscoInfo, "query")
	q.Append(xmlel.New(stanza.NSDiscoInfo, "identity", "category", "client", "type", "pc"))
	for _, f := range features {
		q.Append(xmlel.New(stanza.NSDiscoInfo, "feature", "var", f))
	}
	return q
}

func (e *env) stanza(el *xmlel.Element, from jid.JID) *stanza.Stanza {
	st := &stanza.Stanza{El: el, From: from}
	if to := el.Attr("to"); to != "" {
		st.To = jid.MustParse(to)
	}
	el.SetAttr("from", from.String())
	return st
}

// login binds a session and sends available presence with caps for
// features.
func (e *env) login(full string, features ...string) *session {
	e.t.Helper()
	s := &session{e: e, full: jid.MustParse(full), features: features}
	if _, err := e.r.Bind(s, false, 0); err != nil {
		e.t.Fatal(err)
	}
	ver, err := caps.Ver(discoInfo(features), "sha-1")
	if err != nil {
		e.t.Fatal(err)
	}
	p := xmlel.New("", stanza.Presence).Append(xmlel.New(caps.NS, "c", "hash", "sha-1", "node", "https://example.org/client", "ver", ver))
	e.core.Outbound(e.t.Context(), s, e.stanza(p, s.full))
	return s
}

// iq sends a request from a session and returns the response.
func (e *env) iq(s *session, typ, to, payload string) *xmlel.Element {
	e.t.Helper()
	el := xmlel.New("", stanza.IQ, "type", typ, "id", "q", "to", to).Append(parse(e.t, payload))
	s.mu.Lock()
	n := len(s.got)
	s.mu.Unlock()
	e.core.Outbound(e.t.Context(), s, e.stanza(el, s.full))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.got[n:] {
		if g.Local == stanza.IQ && g.Attr("id") == "q" {
			return g
		}
	}
	e.t.Fatalf("no answer to %s", payload)
	return nil
}

func parse(t *testing.T, s string) *xmlel.Element {
	t.Helper()
	el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{MaxStanzaBytes: 1 << 20})
	if err != nil {
		t.Fatalf("Parse(%q) = %v", s, err)
	}
	return el
}

// condition returns "" for a result, else the error condition and the
// pubsub-specific one.
func condition(res *xmlel.Element) string {
	if res.Attr("type") == "result" {
		return ""
	}
	c := ""
	for _, x := range res.Child("", "error").Elements() {
		if x.Local != "text" {
			c += x.Local + " "
		}
	}
	return c[:max(0, len(c)-1)]
}

func publishXML(node, id, payload, opts string) string {
	x := `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='` + node + `'><item id='` + id + `'>` + payload + `</item></publish>`
	if opts != "" {
		x += `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>` + opts + `</x></publish-options>`
	}
	return x + `</pubsub>`
}

func opt(name, value string) string {
	return `<field var='pubsub#` + name + `'><value>` + value + `</value></field>`
}

const alice, bob, carol = "alice@example.org", "bob@example.org", "carol@example.org"

func TestPublishOptions(t *testing.T) {
	e := newEnv(t, pep.Config{MaxItems: 10}, alice)
	a := e.login(alice + "/a")
	tests := []struct {
		name, node, opts, want string
	}{
		{"creates with options", "n1", opt("access_model", "open") + opt("max_items", "max"), ""},
		{"same options", "n1", opt("access_model", "open") + opt("max_items", "max"), ""},
		{"max is the limit", "n1", opt("max_items", "10"), ""},
		{"conflicting access", "n1", opt("access_model", "whitelist"), "conflict precondition-not-met"},
		{"conflicting max", "n1", opt("max_items", "3"), "conflict precondition-not-met"},
		{"unknown field", "n1", opt("frobnicate", "1"), "conflict precondition-not-met"},
		{"boolean spelled 1", "n2", opt("persist_items", "1"), ""},
		{"boolean spelled true", "n2", opt("persist_items", "true"), ""},
		{"no options on an existing node", "n1", "", ""},
		{"bad value on a new node", "n3", opt("access_model", "authorize"), "not-acceptable"},
		{"max above the limit on a new node", "n3", opt("max_items", "11"), "not-acceptable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := e.iq(a, "set", "", publishXML(tc.node, "i", "<x xmlns='urn:x'/>", tc.opts))
			if got := condition(res); got != tc.want {
				t.Errorf("publish = %q, want %q", got, tc.want)
			}
		})
	}
	// The node created by publish-options has them as its configuration.
	res := e.iq(a, "get", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='n1'/></pubsub>`)
	fields := map[string]string{}
	for _, f := range res.Child(pep.NSOwner, "pubsub").Child(pep.NSOwner, "configure").Child("jabber:x:data", "x").Elements() {
		fields[f.Attr("var")] = f.ChildText("jabber:x:data", "value")
	}
	if fields["pubsub#access_model"] != "open" || fields["pubsub#max_items"] != "max" {
		t.Errorf("configuration of the created node = %v, want access open, max_items max", fields)
	}
}

func TestRequestErrors(t *testing.T) {
	e := newEnv(t, pep.Config{MaxNodes: 2, MaxItemBytes: 100}, alice, bob)
	a := e.login(alice + "/a")
	b := e.login(bob + "/b")
	e.requests(t, []request{
		{"publish", a, "set", "", publishXML("n", "1", "<x xmlns='urn:x'/>", ""), ""},
		{"no node", a, "set", "", publishXML("", "1", "<x xmlns='urn:x'/>", ""), "bad-request nodeid-required"},
		{"no payload", a, "set", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item id='1'/></publish></pubsub>`, "bad-request payload-required"},
		{"two payloads", a, "set", "", publishXML("n", "1", "<x xmlns='urn:x'/><y xmlns='urn:x'/>", ""), "bad-request invalid-payload"},
		{"too big", a, "set", "", publishXML("n", "1", "<x xmlns='urn:x'>"+strings.Repeat("a", 100)+"</x>", ""), "not-acceptable payload-too-big"},
		{"someone else publishes", b, "set", alice, publishXML("n", "1", "<x xmlns='urn:x'/>", ""), "forbidden"},
		{"second node", a, "set", "", publishXML("n2", "1", "<x xmlns='urn:x'/>", ""), ""},
		{"node limit", a, "set", "", publishXML("n3", "1", "<x xmlns='urn:x'/>", ""), "policy-violation"},
		{"create existing", a, "set", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><create node='n'/></pubsub>`, "conflict"},
		{"retract missing item", a, "set", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='n'><item id='zz'/></retract></pubsub>`, "item-not-found"},
		{"items of missing node", b, "get", alice, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='zz'/></pubsub>`, "item-not-found"},
		{"presence node, no subscription", b, "get", alice, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='n'/></pubsub>`, "not-authorized presence-subscription-required"},
		{"configure someone else's", b, "get", alice, `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='n'/></pubsub>`, "forbidden"},
		{"purge", a, "set", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><purge node='n'/></pubsub>`, ""},
		{"delete", a, "set", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='n'/></pubsub>`, ""},
		{"delete again", a, "set", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='n'/></pubsub>`, "item-not-found"},
	})
}

// request is an iq a session sends, and the condition() of the answer
// it should get.
type request struct {
	name    string
	s       *session
	typ, to string
	payload string
	want    string
}

// requests sends each request in turn, in a subtest of its own.
func (e *env) requests(t *testing.T, tests []request) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := condition(e.iq(tc.s, tc.typ, tc.to, tc.payload)); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

// TestNamespacedAttributesReadBack checks that an item is retrievable
// whose payload carries as many namespaced attributes as a stream lets
// in, their prefixes declared on an ancestor: stored on its own, the
// payload declares each namespace itself and so has more attributes
// than the stream's limit, which reading it back must not apply.
func TestNamespacedAttributesReadBack(t *testing.T) {
	e := newEnv(t, pep.Config{}, alice)
	a := e.login(alice + "/a")
	var decls, attrs string
	for i := range 32 {
		n := strconv.Itoa(i)
		decls += " xmlns:p" + n + "='urn:p" + n + "'"
		attrs += " p" + n + ":a='" + n + "'"
	}
	pub := `<pubsub xmlns='http://jabber.org/protocol/pubsub'` + decls + `><publish node='urn:x'><item id='1'><x xmlns='urn:x'` + attrs + `/></item></publish></pubsub>`
	if got := condition(e.iq(a, "set", "", pub)); got != "" {
		t.Fatalf("publish = %q", got)
	}
	res := e.iq(a, "get", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:x'/></pubsub>`)
	x := res.Child(pep.NS, "pubsub").Child(pep.NS, "items").Child(pep.NS, "item").Child("urn:x", "x")
	if x == nil || len(x.Attrs) != 32 {
		t.Fatalf("items = %s, want the item with its 32 attributes", res)
	}
}

// accessNodes makes alice's nodes of each access model, named after it
// (the roster node admits the groups Friends and Family), with bob and
// carol logged in: bob may see alice's presence and is in her Friends
// group; carol is in her roster without a subscription, in Work.
func accessNodes(t *testing.T) (e *env, a, b, c *session) {
	e = newEnv(t, pep.Config{}, alice, bob, carol)
	ctx := t.Context()
	e.store.Roster().Put(ctx, alice, storage.RosterItem{Contact: bob, Subscription: storage.SubFrom, Groups: []string{"Friends"}}, 0)
	e.store.Roster().Put(ctx, alice, storage.RosterItem{Contact: carol, Subscription: storage.SubNone, Groups: []string{"Work"}}, 0)
	a = e.login(alice + "/a")
	b = e.login(bob + "/b")
	c = e.login(carol + "/c")
	models := map[string]string{
		"open":      opt("access_model", "open"),
		"presence":  "",
		"roster":    opt("access_model", "roster") + `<field var='pubsub#roster_groups_allowed'><value>Friends</value><value>Family</value></field>`,
		"whitelist": opt("access_model", "whitelist"),
	}
	for node, o := range models {
		if got := condition(e.iq(a, "set", "", publishXML(node, "1", "<x xmlns='urn:x'/>", o))); got != "" {
			t.Fatalf("publish to %s = %q", node, got)
		}
	}
	return e, a, b, c
}

func TestAccessModels(t *testing.T) {
	e, a, b, c := accessNodes(t)
	tests := []struct {
		node string
		who  *session
		want string
	}{
		{"open", b, ""}, {"open", c, ""}, {"open", a, ""},
		{"presence", b, ""}, {"presence", c, "not-authorized presence-subscription-required"},
		{"roster", b, ""}, {"roster", c, "not-authorized not-in-roster-group"},
		{"whitelist", a, ""}, {"whitelist", b, "not-allowed closed-node"}, {"whitelist", c, "not-allowed closed-node"},
	}
	for _, tc := range tests {
		t.Run(tc.node+" "+tc.who.full.Local(), func(t *testing.T) {
			res := e.iq(tc.who, "get", alice, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='`+tc.node+`'/></pubsub>`)
			if got := condition(res); got != tc.want {
				t.Errorf("items = %q, want %q", got, tc.want)
			}
		})
	}
}

// waitFor polls until f is true.
func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	for range 200 {
		if f() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestNotifications checks auto-subscription through caps: the owner's
// and a contact's resources that announce node+notify get notifications
// and, when they come online, the last item; others get nothing.
func TestNotifications(t *testing.T) {
	e := newEnv(t, pep.Config{}, alice, bob, carol)
	ctx := t.Context()
	e.store.Roster().Put(ctx, alice, storage.RosterItem{Contact: bob, Subscription: storage.SubBoth}, 0)
	e.store.Roster().Put(ctx, bob, storage.RosterItem{Contact: alice, Subscription: storage.SubBoth}, 0)
	e.store.Roster().Put(ctx, carol, storage.RosterItem{Contact: alice, Subscription: storage.SubTo}, 0)
	e.store.Roster().Put(ctx, alice, storage.RosterItem{Contact: carol, Subscription: storage.SubFrom}, 0)
	a := e.login(alice+"/a", "urn:tune+notify")
	a2 := e.login(alice + "/quiet") // no interest
	b := e.login(bob+"/b", "urn:tune+notify", "urn:mood+notify")
	c := e.login(carol+"/c", "urn:tune+notify") // alice has no subscription to carol: her presence never reaches alice
	time.Sleep(100 * time.Millisecond)          // the caps queries
	e.iq(a, "set", "", publishXML("urn:tune", "t1", "<tune xmlns='urn:tune'/>", ""))
	e.iq(a, "set", "", publishXML("urn:other", "o1", "<x xmlns='urn:other'/>", ""))
	waitFor(t, "bob's notification", func() bool { return len(b.events("urn:tune")) == 1 })
	if got := a.events("urn:tune"); !slices.Equal(got, []string{"t1"}) {
		t.Errorf("owner's interested resource got %v, want [t1]", got)
	}
	if got := a2.events("urn:tune"); len(got) != 0 {
		t.Errorf("owner's resource without interest got %v", got)
	}
	if got := b.events("urn:other"); len(got) != 0 {
		t.Errorf("bob got %v of a node he is not interested in", got)
	}
	if got := c.events("urn:tune"); len(got) != 0 {
		t.Errorf("carol, whose presence alice does not get, got %v", got)
	}
	// Retraction with notify.
	e.iq(a, "set", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='urn:tune' notify='true'><item id='t1'/></retract></pubsub>`)
	waitFor(t, "the retraction", func() bool { return len(b.events("urn:tune")) == 2 })
	if got := b.events("urn:tune"); !slices.Equal(got, []string{"t1", "-t1"}) {
		t.Errorf("bob got %v, want [t1 -t1]", got)
	}
	// The last item goes to a resource coming online, once.
	e.iq(a, "set", "", publishXML("urn:mood", "m1", "<mood xmlns='urn:mood'/>", ""))
	e.iq(a, "set", "", publishXML("urn:mood", "m2", "<mood xmlns='urn:mood'/>", ""))
	b2 := e.login(bob+"/b2", "urn:tune+notify", "urn:mood+notify")
	waitFor(t, "the last item", func() bool { return len(b2.events("urn:mood")) > 0 })
	e.core.Outbound(ctx, b2, e.stanza(xmlel.New("", stanza.Presence).Append(b2presence(t, b2)), b2.full))
	time.Sleep(50 * time.Millisecond)
	if got := b2.events("urn:mood"); !slices.Equal(got, []string{"m2"}) {
		t.Errorf("bob's new resource got %v, want the last item [m2] once", got)
	}
	if got := b2.events("urn:tune"); len(got) != 0 {
		t.Errorf("bob's new resource got %v from an empty node", got)
	}
}

// b2presence returns the caps element of a session, for a presence
// update with the same interest.
func b2presence(t *testing.T, s *session) *xmlel.Element {
	ver, err := caps.Ver(discoInfo(s.features), "sha-1")
	if err != nil {
		t.Fatal(err)
	}
	return xmlel.New(caps.NS, "c", "hash", "sha-1", "node", "https://example.org/client", "ver", ver)
}

// TestBookmarksMigrateAtFirstResource checks XEP-0411 §3's migration at
// login: bookmarks that only private storage holds (written there behind
// the server's back, as an import does) are copied to the XEP-0402 node
// when the first of the user's resources becomes available, not when a
// second one does; a client of the second that asks for its bookmarks
// gets them migrated, and the next first login migrates too.
func TestBookmarksMigrateAtFirstResource(t *testing.T) {
	e := newEnv(t, pep.Config{}, alice)
	ctx := t.Context()
	migrated := func() bool {
		_, err := e.store.Pubsub().Node(ctx, alice, pep.NSBookmarks2)
		return err == nil
	}
	putPrivate := func(room string) {
		t.Helper()
		xml := "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='" +
			room + "' autojoin='true' name='R'/></storage></query>"
		if err := e.store.Private().Put(ctx, alice, pep.NSBookmarks, xml); err != nil {
			t.Fatal(err)
		}
	}
	unavailable := func(s *session) {
		p := xmlel.New("", stanza.Presence, "type", "unavailable")
		e.core.Outbound(ctx, s, e.stanza(p, s.full))
		e.r.Unbind(s)
	}

	// Nothing to migrate at the first login; then bookmarks appear in
	// private storage while it is online.
	one := e.login(alice + "/one")
	if migrated() {
		t.Fatal("a XEP-0402 node made with nothing to migrate")
	}
	putPrivate("room@conference.example.org")

	// A second resource does not look again.
	two := e.login(alice + "/two")
	if migrated() {
		t.Fatal("the second resource's login migrated: every resource looks again")
	}
	// Its client asking for the bookmarks gets them.
	res := e.iq(two, "get", alice, "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='"+pep.NSBookmarks2+"'/></pubsub>")
	if res.Attr("type") != "result" || !strings.Contains(res.String(), "room@conference.example.org") {
		t.Fatalf("bookmarks request = %s, want the migrated room", res)
	}

	// Offline, and new bookmarks behind the server's back: the next
	// first login migrates them.
	unavailable(one)
	unavailable(two)
	if err := e.store.Pubsub().DeleteNode(ctx, alice, pep.NSBookmarks2); err != nil {
		t.Fatal(err)
	}
	putPrivate("other@conference.example.org")
	e.login(alice + "/three")
	items, err := e.store.Pubsub().Items(ctx, alice, pep.NSBookmarks2, 0)
	if err != nil || len(items) != 1 || items[0].ID != "other@conference.example.org" {
		t.Fatalf("after the next first login: items %v, %v; want other@conference.example.org", items, err)
	}
}
