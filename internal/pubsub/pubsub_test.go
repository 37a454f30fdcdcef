package pubsub_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/pubsub"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

const service = "pubsub.example.org"

// env is a pubsub service on a real store, whose stanzas to users land
// in a mailbox per address.
type env struct {
	t   testing.TB
	svc *pubsub.Service
	mu  sync.Mutex
	box map[string][]*xmlel.Element
}

func newEnv(t testing.TB, cfg pubsub.Config) *env {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &env{t: t, box: map[string][]*xmlel.Element{}}
	r := router.New([]string{"example.org"})
	deliver := router.HandlerFunc(func(_ context.Context, st *stanza.Stanza) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.box[st.To.String()] = append(e.box[st.To.String()], st.El)
	})
	r.SetLocal(deliver)
	r.SetRemote(deliver)
	cfg.Domain = service
	if cfg.MayCreate == nil {
		cfg.MayCreate = func(u jid.JID) bool { return u.Domain() == "example.org" }
	}
	e.svc, err = pubsub.New(cfg, r, store.PubsubServices(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// take returns and forgets what reached an address.
func (e *env) take(to string) []*xmlel.Element {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.box[to]
	delete(e.box, to)
	return out
}

// ask sends an iq of type typ with the payload in XML text from a full
// JID to the service, and returns the answer.
func (e *env) ask(from, typ, payload string) *xmlel.Element {
	e.t.Helper()
	st := xmpptest.IQ(typ, from, service, xmpptest.Parse(e.t, payload))
	e.svc.Handle(e.t.Context(), st)
	var answer *xmlel.Element
	var rest []*xmlel.Element
	for _, el := range e.take(from) {
		if el.Local == stanza.IQ && answer == nil {
			answer = el
		} else {
			rest = append(rest, el)
		}
	}
	if answer == nil {
		e.t.Fatalf("no answer to %s", payload)
	}
	// What followed the answer stays for events.
	e.mu.Lock()
	e.box[from] = append(rest, e.box[from]...)
	e.mu.Unlock()
	return answer
}

// ok sends a request and fails unless it succeeds; it returns the
// result's payload.
func (e *env) ok(from, typ, payload string) *xmlel.Element {
	e.t.Helper()
	res := e.ask(from, typ, payload)
	if res.Attr("type") != "result" {
		e.t.Fatalf("%s: %s", payload, res)
	}
	return res.FirstElement()
}

// fails sends a request and fails unless the error has the condition and,
// when app is not "", the pubsub#errors condition.
func (e *env) fails(from, typ, payload string, cond stanza.Condition, app string) {
	e.t.Helper()
	res := e.ask(from, typ, payload)
	se, ok := stanza.ParseError(res)
	if !ok || se.Condition != cond {
		e.t.Fatalf("%s: answer %s, want %s", payload, res, cond)
	}
	if app != "" && res.Child("", "error").Child(pubsub.NSErrors, app) == nil {
		e.t.Fatalf("%s: answer %s, want <%s/>", payload, res, app)
	}
}

// events returns what notifications reached an address: item IDs,
// "-id" for retractions, and "delete", "purge", "configuration".
func (e *env) events(to string) []string {
	var out []string
	for _, m := range e.take(to) {
		ev := m.Child(pubsub.NSEvent, "event")
		if m.Local != stanza.Message || ev == nil {
			continue
		}
		for _, c := range ev.Elements() {
			if c.Local != "items" {
				out = append(out, c.Local)
				continue
			}
			for _, it := range c.Elements() {
				if it.Local == "retract" {
					out = append(out, "-"+it.Attr("id"))
				} else {
					out = append(out, it.Attr("id"))
				}
			}
		}
	}
	return out
}

func ids(items *xmlel.Element) []string {
	var out []string
	for _, it := range items.Elements() {
		if it.Local == "item" {
			out = append(out, it.Attr("id"))
		}
	}
	return out
}

const (
	alice = "alice@example.org/phone"
	bob   = "bob@example.org/pc"
	carol = "carol@remote.example/x"
	ps    = "<pubsub xmlns='" + pubsub.NS + "'>"
	owner = "<pubsub xmlns='" + pubsub.NSOwner + "'>"
	end   = "</pubsub>"
)

func form(typ string, kv ...string) string {
	var b strings.Builder
	b.WriteString("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" + typ + "</value></field>")
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString("<field var='" + kv[i] + "'><value>" + kv[i+1] + "</value></field>")
	}
	b.WriteString("</x>")
	return b.String()
}

func entry(title string) string {
	return "<entry xmlns='http://www.w3.org/2005/Atom'><title>" + title + "</title></entry>"
}

func publish(node, id, payload string) string {
	return ps + "<publish node='" + node + "'><item id='" + id + "'>" + payload + "</item></publish>" + end
}

func TestServiceInfo(t *testing.T) {
	e := newEnv(t, pubsub.Config{})
	q := e.ok(bob, "get", "<query xmlns='"+stanza.NSDiscoInfo+"'/>")
	s := q.String()
	for _, want := range []string{"category='pubsub' type='service'", pubsub.NS + "#publish-options", pubsub.NS + "#access-whitelist", pubsub.NS + "#manage-subscriptions"} {
		if !strings.Contains(s, want) {
			t.Errorf("disco#info lacks %s: %s", want, s)
		}
	}
	if strings.Contains(s, "access-authorize") {
		t.Errorf("disco#info offers authorize: %s", s)
	}
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t, pubsub.Config{})
	const node = "community"
	e.ok(alice, "set", ps+"<create node='"+node+"'/><configure>"+
		form("http://jabber.org/protocol/pubsub#node_config", "pubsub#title", "Cats", "pubsub#access_model", "open")+"</configure>"+end)
	sub := e.ok(bob, "set", ps+"<subscribe node='"+node+"' jid='bob@example.org'/>"+end).FirstElement()
	if sub.Attr("subscription") != "subscribed" || sub.Attr("subid") == "" || sub.Attr("jid") != "bob@example.org" {
		t.Fatalf("subscription = %s", sub)
	}
	e.ok(alice, "set", publish(node, "1", entry("one")))
	e.ok(alice, "set", publish(node, "2", entry("two")))
	if got := e.events("bob@example.org"); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("bob's notifications = %v", got)
	}

	all := e.ok(bob, "get", ps+"<items node='"+node+"'/>"+end).FirstElement()
	if got := ids(all); !slices.Equal(got, []string{"2", "1"}) {
		t.Errorf("items = %v, want newest first", got)
	}
	if p := all.FirstElement().Attr("publisher"); p != "alice@example.org" {
		t.Errorf("publisher = %q", p)
	}
	if got := ids(e.ok(bob, "get", ps+"<items node='"+node+"'><item id='1'/></items>"+end).FirstElement()); !slices.Equal(got, []string{"1"}) {
		t.Errorf("item 1 = %v", got)
	}
	if got := ids(e.ok(bob, "get", ps+"<items node='"+node+"' max_items='1'/>"+end).FirstElement()); !slices.Equal(got, []string{"2"}) {
		t.Errorf("max_items 1 = %v", got)
	}
	page := e.ok(bob, "get", ps+"<items node='"+node+"'/><set xmlns='http://jabber.org/protocol/rsm'><max>1</max></set>"+end)
	if got := ids(page.FirstElement()); !slices.Equal(got, []string{"2"}) || !strings.Contains(page.String(), "<count>2</count>") {
		t.Errorf("first page = %s", page)
	}
	page = e.ok(bob, "get", ps+"<items node='"+node+"'/><set xmlns='http://jabber.org/protocol/rsm'><max>1</max><after>2</after></set>"+end)
	if got := ids(page.FirstElement()); !slices.Equal(got, []string{"1"}) {
		t.Errorf("second page = %s", page)
	}

	items := e.ok(carol, "get", "<query xmlns='"+stanza.NSDiscoItems+"'/>")
	if !strings.Contains(items.String(), `node='community' name='Cats'`) {
		t.Errorf("disco#items = %s", items)
	}
	info := e.ok(carol, "get", "<query xmlns='"+stanza.NSDiscoInfo+"' node='"+node+"'/>").String()
	for _, want := range []string{pubsub.NSMeta, `var='pubsub#num_subscribers' label='Number of subscribers to this node'><value>1</value>`, "<value>alice@example.org</value>", "pubsub#creation_date"} {
		if !strings.Contains(info, want) {
			t.Errorf("node disco#info lacks %s: %s", want, info)
		}
	}

	e.fails(bob, "set", publish(node, "3", entry("three")), stanza.Forbidden, "")
	e.ok(alice, "set", owner+"<affiliations node='"+node+"'><affiliation jid='bob@example.org' affiliation='publisher'/></affiliations>"+end)
	e.ok(bob, "set", publish(node, "3", entry("three")))
	affs := e.ok(bob, "get", ps+"<affiliations/>"+end).String()
	if !strings.Contains(affs, `affiliation node='community' affiliation='publisher'`) {
		t.Errorf("bob's affiliations = %s", affs)
	}
	subs := e.ok(bob, "get", ps+"<subscriptions/>"+end).String()
	if !strings.Contains(subs, `node='community' jid='bob@example.org'`) {
		t.Errorf("bob's subscriptions = %s", subs)
	}
	e.ok(alice, "set", ps+"<retract node='"+node+"' notify='1'><item id='1'/></retract>"+end)
	if got := e.events("bob@example.org"); !slices.Equal(got, []string{"3", "-1"}) {
		t.Fatalf("bob's notifications = %v", got)
	}

	e.ok(bob, "set", ps+"<unsubscribe node='"+node+"' jid='bob@example.org'/>"+end)
	e.fails(bob, "set", ps+"<unsubscribe node='"+node+"' jid='bob@example.org'/>"+end, stanza.UnexpectedRequest, "not-subscribed")
	e.ok(alice, "set", publish(node, "4", entry("four")))
	if got := e.events("bob@example.org"); len(got) != 0 {
		t.Fatalf("bob got %v after unsubscribing", got)
	}
	e.ok(bob, "set", ps+"<subscribe node='"+node+"' jid='"+bob+"'/>"+end)
	e.ok(alice, "set", owner+"<purge node='"+node+"'/>"+end)
	e.ok(alice, "set", owner+"<delete node='"+node+"'/>"+end)
	if got := e.events(bob); !slices.Equal(got, []string{"purge", "delete"}) {
		t.Fatalf("bob's notifications = %v", got)
	}
	e.fails(bob, "get", ps+"<items node='"+node+"'/>"+end, stanza.ItemNotFound, "")
}

func TestWhitelist(t *testing.T) {
	e := newEnv(t, pubsub.Config{})
	e.ok(alice, "set", ps+"<create node='secret'/><configure>"+
		form("http://jabber.org/protocol/pubsub#node_config", "pubsub#access_model", "whitelist")+"</configure>"+end)
	e.ok(alice, "set", publish("secret", "1", entry("hush")))
	if items := e.ok(bob, "get", "<query xmlns='"+stanza.NSDiscoItems+"'/>"); len(items.Elements()) != 0 {
		t.Errorf("bob sees %s", items)
	}
	e.fails(bob, "get", "<query xmlns='"+stanza.NSDiscoInfo+"' node='secret'/>", stanza.ItemNotFound, "")
	e.fails(bob, "get", ps+"<items node='secret'/>"+end, stanza.NotAllowed, "closed-node")
	e.fails(bob, "set", ps+"<subscribe node='secret' jid='bob@example.org'/>"+end, stanza.NotAllowed, "closed-node")
	e.ok(alice, "set", owner+"<affiliations node='secret'><affiliation jid='bob@example.org' affiliation='member'/></affiliations>"+end)
	if got := ids(e.ok(bob, "get", ps+"<items node='secret'/>"+end).FirstElement()); !slices.Equal(got, []string{"1"}) {
		t.Errorf("member's items = %v", got)
	}
	e.ok(alice, "set", owner+"<affiliations node='secret'><affiliation jid='bob@example.org' affiliation='outcast'/></affiliations>"+end)
	e.fails(bob, "set", ps+"<subscribe node='secret' jid='bob@example.org'/>"+end, stanza.Forbidden, "")
}

func TestErrors(t *testing.T) {
	e := newEnv(t, pubsub.Config{MaxItemBytes: 200, Admins: []jid.JID{jid.MustParse("root@example.org")}})
	e.ok(alice, "set", ps+"<create node='n'/>"+end)
	const nodeConfig = "http://jabber.org/protocol/pubsub#node_config"
	const publishOptions = "http://jabber.org/protocol/pubsub#publish-options"
	for _, tc := range []struct {
		name, from, typ, payload string
		cond                     stanza.Condition
		app                      string
	}{
		{"create exists", alice, "set", ps + "<create node='n'/>" + end, stanza.Conflict, ""},
		{"create remote", carol, "set", ps + "<create node='m'/>" + end, stanza.Forbidden, ""},
		{"publish no node", alice, "set", ps + "<publish/>" + end, stanza.BadRequest, "nodeid-required"},
		{"publish missing node", alice, "set", publish("nope", "1", entry("x")), stanza.ItemNotFound, ""},
		{"publish no item", alice, "set", ps + "<publish node='n'/>" + end, stanza.BadRequest, "item-required"},
		{"publish no payload", alice, "set", ps + "<publish node='n'><item/></publish>" + end, stanza.BadRequest, "payload-required"},
		{"publish too big", alice, "set", publish("n", "1", entry(strings.Repeat("x", 300))), stanza.NotAcceptable, "payload-too-big"},
		{"precondition", alice, "set", ps + "<publish node='n'><item>" + entry("x") + "</item></publish><publish-options>" + form(publishOptions, "pubsub#access_model", "whitelist") + "</publish-options>" + end, stanza.Conflict, "precondition-not-met"},
		{"precondition unknown", alice, "set", ps + "<publish node='n'><item>" + entry("x") + "</item></publish><publish-options>" + form(publishOptions, "pubsub#frobnicate", "1") + "</publish-options>" + end, stanza.Conflict, "precondition-not-met"},
		{"subscribe other jid", bob, "set", ps + "<subscribe node='n' jid='alice@example.org'/>" + end, stanza.BadRequest, "invalid-jid"},
		{"subscribe no jid", bob, "set", ps + "<subscribe node='n'/>" + end, stanza.BadRequest, "invalid-jid"},
		{"unsubscribe other jid", bob, "set", ps + "<unsubscribe node='n' jid='alice@example.org'/>" + end, stanza.Forbidden, ""},
		{"subscription options", bob, "set", ps + "<subscribe node='n' jid='bob@example.org'/><options/>" + end, stanza.FeatureNotImplemented, "unsupported"},
		{"configure not owner", bob, "get", owner + "<configure node='n'/>" + end, stanza.Forbidden, ""},
		{"configure bad option", alice, "set", owner + "<configure node='n'>" + form(nodeConfig, "pubsub#access_model", "authorize") + "</configure>" + end, stanza.NotAcceptable, ""},
		{"delete not owner", bob, "set", owner + "<delete node='n'/>" + end, stanza.Forbidden, ""},
		{"last owner resigns", alice, "set", owner + "<affiliations node='n'><affiliation jid='alice@example.org' affiliation='none'/></affiliations>" + end, stanza.NotAcceptable, ""},
		{"retract not publisher", bob, "set", ps + "<retract node='n'><item id='x'/></retract>" + end, stanza.ItemNotFound, ""},
		{"retract no item", alice, "set", ps + "<retract node='n'/>" + end, stanza.BadRequest, "item-required"},
		{"items bad max", bob, "get", ps + "<items node='n' max_items='-1'/>" + end, stanza.BadRequest, ""},
		{"unknown child", bob, "get", "<query xmlns='urn:example'/>", stanza.ServiceUnavailable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.fails(tc.from, tc.typ, tc.payload, tc.cond, tc.app)
		})
	}
	e.t = t

	// An instant node gets its name from the service (§8.1.2).
	res := e.ok(alice, "set", ps+"<create/>"+end)
	if name := res.FirstElement().Attr("node"); len(name) < 16 {
		t.Errorf("instant node = %s", res)
	}
	// The host's administrators act as owners.
	e.ok("root@example.org/admin", "get", owner+"<configure node='n'/>"+end)
	// Only the publisher's own items, for a publish-only entity.
	e.ok(alice, "set", owner+"<affiliations node='n'><affiliation jid='bob@example.org' affiliation='publish-only'/></affiliations>"+end)
	e.ok(alice, "set", publish("n", "a", entry("alice's")))
	e.ok(bob, "set", publish("n", "b", entry("bob's")))
	e.fails(bob, "set", ps+"<retract node='n'><item id='a'/></retract>"+end, stanza.Forbidden, "")
	e.ok(bob, "set", ps+"<retract node='n'><item id='b'/></retract>"+end)
	e.fails(bob, "get", ps+"<items node='n'/>"+end, stanza.Forbidden, "")
	// Preconditions that hold let the item through.
	e.ok(alice, "set", ps+"<publish node='n'><item>"+entry("x")+"</item></publish><publish-options>"+form(publishOptions, "pubsub#access_model", "open", "pubsub#max_items", "max")+"</publish-options>"+end)
}

func TestOwnerManagement(t *testing.T) {
	e := newEnv(t, pubsub.Config{})
	e.ok(alice, "set", ps+"<create node='n'/><configure>"+form("http://jabber.org/protocol/pubsub#node_config",
		"pubsub#send_last_published_item", "on_sub", "pubsub#notify_config", "1", "pubsub#notification_type", "normal")+"</configure>"+end)
	e.ok(alice, "set", publish("n", "old", entry("old")))

	// A remote subscriber gets the last item after the result (§6.1.7),
	// through the router's remote handler as federation would.
	e.ok(carol, "set", ps+"<subscribe node='n' jid='"+carol+"'/>"+end)
	if got := e.events(carol); !slices.Equal(got, []string{"old"}) {
		t.Errorf("last item on subscription = %v", got)
	}
	// The owner subscribes bob and lists the subscriptions (§8.8).
	e.ok(alice, "set", owner+"<subscriptions node='n'><subscription jid='bob@example.org' subscription='subscribed'/></subscriptions>"+end)
	e.take("bob@example.org") // told of the subscription
	subs := e.ok(alice, "get", owner+"<subscriptions node='n'/>"+end).String()
	if !strings.Contains(subs, "jid='bob@example.org' subscription='subscribed'") || !strings.Contains(subs, "jid='"+carol+"'") {
		t.Errorf("subscriptions = %s", subs)
	}
	e.ok(alice, "set", publish("n", "new", entry("new")))
	msgs := e.take("bob@example.org")
	if len(msgs) != 1 || msgs[0].Attr("type") != "" {
		t.Errorf("notification of type normal = %v", msgs)
	}
	e.take(carol)
	// Configuration changes are notified with notify_config (§8.2.5.2).
	e.ok(alice, "set", owner+"<configure node='n'>"+form("http://jabber.org/protocol/pubsub#node_config", "pubsub#title", "T")+"</configure>"+end)
	if got := e.events(carol); !slices.Equal(got, []string{"configuration"}) {
		t.Errorf("configuration notification = %v", got)
	}
	// An outcast loses its subscription.
	e.ok(alice, "set", owner+"<affiliations node='n'><affiliation jid='carol@remote.example' affiliation='outcast'/></affiliations>"+end)
	subs = e.ok(alice, "get", owner+"<subscriptions node='n'/>"+end).String()
	if strings.Contains(subs, "carol") {
		t.Errorf("an outcast keeps its subscription: %s", subs)
	}
	affs := e.ok(alice, "get", owner+"<affiliations node='n'/>"+end).String()
	if !strings.Contains(affs, "jid='alice@example.org' affiliation='owner'") || !strings.Contains(affs, "jid='carol@remote.example' affiliation='outcast'") {
		t.Errorf("affiliations = %s", affs)
	}
	// The owner ends bob's subscription.
	e.ok(alice, "set", owner+"<subscriptions node='n'><subscription jid='bob@example.org' subscription='none'/></subscriptions>"+end)
	e.take("bob@example.org")
	e.ok(alice, "set", publish("n", "later", entry("later")))
	if got := e.events("bob@example.org"); len(got) != 0 {
		t.Errorf("bob got %v after the owner ended his subscription", got)
	}
	// Another owner lets the first resign.
	e.ok(alice, "set", owner+"<affiliations node='n'><affiliation jid='bob@example.org' affiliation='owner'/><affiliation jid='alice@example.org' affiliation='none'/></affiliations>"+end)
	e.fails(alice, "get", owner+"<configure node='n'/>"+end, stanza.Forbidden, "")
	e.ok(bob, "get", owner+"<configure node='n'/>"+end)
}

// TestUserNodeLimit checks that one user cannot own more nodes than the
// limit, that a node it no longer owns frees its place, and that the
// host's administrators are not counted.
func TestUserNodeLimit(t *testing.T) {
	e := newEnv(t, pubsub.Config{MaxUserNodes: 2, Admins: []jid.JID{jid.MustParse("root@example.org")}})
	e.ok(alice, "set", ps+"<create node='a1'/>"+end)
	e.ok(alice, "set", ps+"<create/>"+end)
	e.fails(alice, "set", ps+"<create node='a3'/>"+end, stanza.PolicyViolation, "")
	e.ok(bob, "set", ps+"<create node='b1'/>"+end) // a limit for each user
	e.ok(alice, "set", owner+"<delete node='a1'/>"+end)
	e.ok(alice, "set", ps+"<create node='a3'/>"+end)
	for _, n := range []string{"r1", "r2", "r3"} {
		e.ok("root@example.org/admin", "set", ps+"<create node='"+n+"'/>"+end)
	}
}
