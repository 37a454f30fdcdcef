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
	for _, want := range []string{"category='pubsub' type='service'", pubsub.NS + "#publish-options", pubsub.NS + "#access-whitelist", pubsub.NS + "#access-authorize", pubsub.NS + "#manage-subscriptions"} {
		if !strings.Contains(s, want) {
			t.Errorf("disco#info lacks %s: %s", want, s)
		}
	}
	if strings.Contains(s, "access-presence") || strings.Contains(s, "access-roster") {
		t.Errorf("disco#info offers an access model there is not: %s", s)
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
		{"configure bad option", alice, "set", owner + "<configure node='n'>" + form(nodeConfig, "pubsub#access_model", "presence") + "</configure>" + end, stanza.NotAcceptable, ""},
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
	if got := subscriptionEvent(t, e.take("bob@example.org")); got != "subscribed" {
		t.Errorf("bob told of his subscription: %q", got) // §8.8.4
	}
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

// TestSubscriptionLimit checks that a node takes no more subscriptions
// than the bound, whoever asks (a remote server could otherwise
// subscribe any number of its JIDs), that subscribing again is not
// counted twice, and that an unsubscription frees a place.
func TestSubscriptionLimit(t *testing.T) {
	e := newEnv(t, pubsub.Config{MaxSubscriptions: 2})
	e.ok(alice, "set", ps+"<create node='n'/>"+end)
	e.ok(carol, "set", ps+"<subscribe node='n' jid='carol@remote.example/a'/>"+end)
	e.ok(carol, "set", ps+"<subscribe node='n' jid='carol@remote.example/b'/>"+end)
	e.ok(carol, "set", ps+"<subscribe node='n' jid='carol@remote.example/b'/>"+end)
	res := e.ask(carol, "set", ps+"<subscribe node='n' jid='carol@remote.example/c'/>"+end)
	if se, ok := stanza.ParseError(res); !ok || se.Condition != stanza.PolicyViolation || se.Type != stanza.Wait ||
		res.Child("", "error").Child(pubsub.NSErrors, "too-many-subscriptions") == nil {
		t.Fatalf("third subscription: %s", res)
	}
	e.fails(alice, "set", owner+"<subscriptions node='n'><subscription jid='bob@example.org' subscription='subscribed'/></subscriptions>"+end, stanza.PolicyViolation, "too-many-subscriptions")
	// With other changes in the request, those are made and the ones
	// refused come back with the subscription each JID still has
	// (XEP-0060 §8.8.2.4); an element without a subscription attribute
	// changes nothing.
	res = e.ask(alice, "set", owner+"<subscriptions node='n'>"+
		"<subscription jid='carol@remote.example/a' subscription='none'/>"+
		"<subscription jid='bob@example.org' subscription='pending'/>"+
		"<subscription jid='carol@remote.example/b'/>"+
		"<subscription jid='dave@example.org' subscription='subscribed'/>"+
		"<subscription jid='erin@example.org' subscription='subscribed'/>"+
		"</subscriptions>"+end)
	if se, ok := stanza.ParseError(res); !ok || se.Condition != stanza.NotAcceptable {
		t.Fatalf("mixed changes: %s", res)
	}
	var refused []string
	for _, sub := range res.Child(pubsub.NSOwner, "pubsub").Child(pubsub.NSOwner, "subscriptions").Elements() {
		refused = append(refused, sub.Attr("jid")+" "+sub.Attr("subscription"))
	}
	if want := []string{"bob@example.org none", "erin@example.org none"}; !slices.Equal(refused, want) {
		t.Errorf("refused changes = %v, want %v", refused, want)
	}
	subs := e.ok(alice, "get", owner+"<subscriptions node='n'/>"+end).String()
	for _, want := range []string{"carol@remote.example/b", "dave@example.org"} {
		if !strings.Contains(subs, "jid='"+want+"'") {
			t.Errorf("subscriptions after the mixed changes lack %s: %s", want, subs)
		}
	}
	if strings.Contains(subs, "carol@remote.example/a") || strings.Contains(subs, "erin@") {
		t.Errorf("subscriptions after the mixed changes: %s", subs)
	}
	e.ok(alice, "set", owner+"<subscriptions node='n'><subscription jid='dave@example.org' subscription='none'/><subscription jid='carol@remote.example/a' subscription='subscribed'/></subscriptions>"+end)
	e.ok(alice, "set", ps+"<create node='m'/>"+end) // a bound for each node
	e.ok(carol, "set", ps+"<subscribe node='m' jid='carol@remote.example/c'/>"+end)
	e.ok(carol, "set", ps+"<unsubscribe node='n' jid='carol@remote.example/a'/>"+end)
	e.ok(carol, "set", ps+"<subscribe node='n' jid='carol@remote.example/c'/>"+end)
}

// answer is an owner's answer to an authorization request (XEP-0060
// §8.6) as a message stanza to the service.
func answer(from, node, subscriber, allow string) string {
	return "<message from='" + from + "' to='" + service + "' id='approve1'>" +
		form(pubsub.FormSubscribeAuthorization, "pubsub#node", node, "pubsub#subscriber_jid", subscriber, "pubsub#allow", allow) +
		"</message>"
}

// authorization returns the authorization form among messages, failing
// unless there is exactly one.
func authorization(t *testing.T, msgs []*xmlel.Element) *xmlel.Element {
	t.Helper()
	var forms []*xmlel.Element
	for _, m := range msgs {
		if x := m.Child(stanza.NSDataForm, "x"); m.Local == stanza.Message && x != nil {
			forms = append(forms, x)
		}
	}
	if len(forms) != 1 {
		t.Fatalf("authorization requests = %v", msgs)
	}
	return forms[0]
}

// subscriptionEvent returns the state of the single subscription
// notification (§13.14) among messages, "" if there is none.
func subscriptionEvent(t *testing.T, msgs []*xmlel.Element) string {
	t.Helper()
	var states []string
	for _, m := range msgs {
		if sub := m.Child(pubsub.NSEvent, "event").Child(pubsub.NSEvent, "subscription"); sub != nil {
			states = append(states, sub.Attr("subscription"))
		}
	}
	if len(states) > 1 {
		t.Fatalf("subscription notifications = %v", msgs)
	}
	if len(states) == 0 {
		return ""
	}
	return states[0]
}

// TestAuthorize checks the authorize access model (XEP-0060 §4.5,
// §6.1.4, §8.6): a subscription waits for an owner, who is asked by a
// form and approves or denies it by submitting the form; the subscriber
// is told either way; only subscribers retrieve items.
func TestAuthorize(t *testing.T) {
	e := newEnv(t, pubsub.Config{})
	e.ok(alice, "set", ps+"<create node='club'/><configure>"+
		form("http://jabber.org/protocol/pubsub#node_config", "pubsub#access_model", "authorize", "pubsub#send_last_published_item", "on_sub")+"</configure>"+end)
	e.ok(alice, "set", publish("club", "1", entry("first")))
	cfg := e.ok(alice, "get", owner+"<configure node='club'/>"+end).String()
	if !strings.Contains(cfg, "<option><value>authorize</value></option>") {
		t.Errorf("configuration form lacks authorize: %s", cfg)
	}
	// The node is seen, so that one may ask to subscribe.
	if items := e.ok(carol, "get", "<query xmlns='"+stanza.NSDiscoItems+"'/>"); !strings.Contains(items.String(), "node='club'") {
		t.Errorf("disco#items = %s", items)
	}
	e.fails(carol, "get", ps+"<items node='club'/>"+end, stanza.NotAuthorized, "not-subscribed")

	sub := e.ok(carol, "set", ps+"<subscribe node='club' jid='carol@remote.example'/>"+end).FirstElement()
	if sub.Attr("subscription") != "pending" {
		t.Fatalf("subscription = %s", sub)
	}
	x := authorization(t, e.take("alice@example.org"))
	for _, want := range []string{pubsub.FormSubscribeAuthorization, "<value>club</value>", "<value>carol@remote.example</value>", "var='pubsub#allow'", "<value>" + sub.Attr("subid") + "</value>"} {
		if !strings.Contains(x.String(), want) {
			t.Errorf("authorization form lacks %s: %s", want, x)
		}
	}
	if got := e.take("carol@remote.example"); len(got) != 0 {
		t.Errorf("a pending subscriber got %v", got)
	}
	// Asking again, from any resource, is refused without asking the
	// owner again (§6.1.3.7).
	e.fails(carol, "set", ps+"<subscribe node='club' jid='"+carol+"'/>"+end, stanza.NotAuthorized, "pending-subscription")
	if got := e.take("alice@example.org"); len(got) != 0 {
		t.Errorf("the owner was asked again: %v", got)
	}
	e.fails(carol, "get", ps+"<items node='club'/>"+end, stanza.NotAuthorized, "not-subscribed")
	e.ok(alice, "set", publish("club", "2", entry("second")))
	if got := e.take("carol@remote.example"); len(got) != 0 {
		t.Errorf("a pending subscriber was notified: %v", got)
	}

	// Only an owner decides; a cancelled form decides nothing.
	e.svc.Handle(t.Context(), xmpptest.Stanza(t, answer(bob, "club", "carol@remote.example", "1")))
	if got := e.take(bob); len(got) != 1 || got[0].Attr("type") != "error" || !strings.Contains(got[0].String(), "forbidden") {
		t.Errorf("a stranger's answer: %v", got)
	}
	e.svc.Handle(t.Context(), xmpptest.Stanza(t, "<message from='"+alice+"' to='"+service+"'><x xmlns='jabber:x:data' type='cancel'>"+
		"<field var='FORM_TYPE'><value>"+pubsub.FormSubscribeAuthorization+"</value></field></x></message>"))
	if st := e.ok(carol, "get", ps+"<subscriptions node='club'/>"+end).String(); !strings.Contains(st, "subscription='pending'") {
		t.Errorf("after a cancel: %s", st)
	}
	e.svc.Handle(t.Context(), xmpptest.Stanza(t, answer(alice, "club", "carol@remote.example", "true")))
	msgs := e.take("carol@remote.example")
	if got := subscriptionEvent(t, msgs); got != "subscribed" {
		t.Errorf("approval notification = %q in %v", got, msgs)
	}
	if got := e.events("carol@remote.example"); len(got) != 0 {
		t.Errorf("more events: %v", got)
	}
	if len(msgs) != 2 { // the notification, then the last item (on_sub)
		t.Errorf("after approval: %v", msgs)
	}
	if got := ids(e.ok(carol, "get", ps+"<items node='club'/>"+end).FirstElement()); !slices.Equal(got, []string{"2", "1"}) {
		t.Errorf("a subscriber's items = %v", got)
	}
	e.ok(alice, "set", publish("club", "3", entry("third")))
	if got := e.events("carol@remote.example"); !slices.Equal(got, []string{"3"}) {
		t.Errorf("a subscriber's notifications = %v", got)
	}
	// An answer for a subscription decided already changes nothing.
	e.svc.Handle(t.Context(), xmpptest.Stanza(t, answer(alice, "club", "carol@remote.example", "false")))
	if got := e.take("carol@remote.example"); len(got) != 0 {
		t.Errorf("a late answer: %v", got)
	}

	// A denial removes the request and tells the subscriber.
	e.ok(bob, "set", ps+"<subscribe node='club' jid='"+bob+"'/>"+end)
	authorization(t, e.take("alice@example.org"))
	e.svc.Handle(t.Context(), xmpptest.Stanza(t, answer(alice, "club", bob, "0")))
	if got := subscriptionEvent(t, e.take(bob)); got != "none" {
		t.Errorf("denial notification = %q", got)
	}
	if st := e.ok(bob, "get", ps+"<subscriptions/>"+end).String(); strings.Contains(st, "club") {
		t.Errorf("a denied subscription stays: %s", st)
	}
	// Making the subscriber a member approves its request (§8.7).
	e.ok(bob, "set", ps+"<subscribe node='club' jid='bob@example.org'/>"+end)
	authorization(t, e.take("alice@example.org"))
	e.ok(alice, "set", owner+"<affiliations node='club'><affiliation jid='bob@example.org' affiliation='member'/></affiliations>"+end)
	if got := subscriptionEvent(t, e.take("bob@example.org")); got != "subscribed" {
		t.Errorf("approval by affiliation = %q", got)
	}
	// Members need no approval.
	sub = e.ok(bob, "set", ps+"<subscribe node='club' jid='"+bob+"'/>"+end).FirstElement()
	if sub.Attr("subscription") != "subscribed" {
		t.Errorf("a member's subscription = %s", sub)
	}
	// Answers with a broken form, or for a node there is not, are
	// refused.
	e.svc.Handle(t.Context(), xmpptest.Stanza(t, answer(alice, "club", "not a jid@", "1")))
	if got := e.take(alice); len(got) != 1 || !strings.Contains(got[0].String(), "bad-request") {
		t.Errorf("a broken answer: %v", got)
	}
	e.svc.Handle(t.Context(), xmpptest.Stanza(t, answer(alice, "gone", "carol@remote.example", "1")))
	if got := e.take(alice); len(got) != 1 || !strings.Contains(got[0].String(), "item-not-found") {
		t.Errorf("an answer for a missing node: %v", got)
	}
}
