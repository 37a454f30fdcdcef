package pep_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/im"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/pep"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

const (
	psNS    = "<pubsub xmlns='http://jabber.org/protocol/pubsub'>"
	ownerNS = "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>"
	psEnd   = "</pubsub>"
)

func subscribeXML(node, j string) string {
	return psNS + "<subscribe node='" + node + "' jid='" + j + "'/>" + psEnd
}

func unsubscribeXML(node, j string) string {
	return psNS + "<unsubscribe node='" + node + "' jid='" + j + "'/>" + psEnd
}

// notices returns what a session was told of node other than items: the
// name of each event's child ("purge", "delete"), and
// "subscription=STATE" for a change of subscription.
func (s *session) notices(node string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, el := range s.got {
		ev := el.Child(pep.NSEvent, "event").FirstElement()
		if el.Local != stanza.Message || ev == nil || ev.Attr("node") != node || ev.Local == "items" {
			continue
		}
		if ev.Local == "subscription" {
			out = append(out, "subscription="+ev.Attr("subscription"))
			continue
		}
		out = append(out, ev.Local)
	}
	return out
}

// subscriptions returns the <subscription/> elements of a response as
// "node jid state".
func subscriptions(res *xmlel.Element) []string {
	var out []string
	for _, sub := range res.FirstElement().FirstElement().Elements() {
		out = append(out, sub.Attr("node")+" "+sub.Attr("jid")+" "+sub.Attr("subscription"))
	}
	return out
}

// mustOK fails unless res is a result.
func mustOK(t *testing.T, what string, res *xmlel.Element) *xmlel.Element {
	t.Helper()
	if got := condition(res); got != "" {
		t.Fatalf("%s = %q, want a result", what, got)
	}
	return res
}

// contacts makes alice and bob contacts with presence subscriptions
// both ways, in alice's group Friends.
func contacts(t *testing.T, e *env) {
	ctx := t.Context()
	e.store.Roster().Put(ctx, alice, storage.RosterItem{Contact: bob, Subscription: storage.SubBoth, Groups: []string{"Friends"}}, 0)
	e.store.Roster().Put(ctx, bob, storage.RosterItem{Contact: alice, Subscription: storage.SubBoth}, 0)
}

// TestSubscribe follows an explicit subscription of a contact whose
// client does not announce NODE+notify (XEP-0163 §5): the result, the
// last item on subscription, notifications at the subscribed bare JID,
// the subscriber's list (XEP-0060 §5.6) and the owner's (§8.8.1), then
// nothing after unsubscribing (§6.2).
func TestSubscribe(t *testing.T) {
	e := newEnv(t, pep.Config{}, alice, bob, carol)
	contacts(t, e)
	a := e.login(alice + "/a")
	b := e.login(bob + "/b")
	time.Sleep(50 * time.Millisecond) // the caps queries
	mustOK(t, "publish", e.iq(a, "set", "", publishXML("n", "1", "<x xmlns='urn:x'/>", "")))

	res := mustOK(t, "subscribe", e.iq(b, "set", alice, subscribeXML("n", bob)))
	sub := res.Child(pep.NS, "pubsub").Child(pep.NS, "subscription")
	if sub.Attr("node") != "n" || sub.Attr("jid") != bob || sub.Attr("subscription") != "subscribed" {
		t.Fatalf("subscribe result = %s", res)
	}
	// send_last_published_item is on_sub_and_presence by default.
	waitFor(t, "the last item", func() bool { return len(b.events("n")) == 1 })
	mustOK(t, "subscribe again", e.iq(b, "set", alice, subscribeXML("n", bob)))
	mustOK(t, "publish", e.iq(a, "set", "", publishXML("n", "2", "<x xmlns='urn:x'/>", "")))
	mustOK(t, "retract", e.iq(a, "set", "", psNS+"<retract node='n' notify='1'><item id='2'/></retract>"+psEnd))
	waitFor(t, "the notifications", func() bool { return len(b.events("n")) >= 4 })
	if got, want := b.events("n"), []string{"1", "1", "2", "-2"}; !slices.Equal(got, want) {
		t.Errorf("bob got %v, want %v (the last item on each subscription)", got, want)
	}
	if got := a.events("n"); len(got) != 0 {
		t.Errorf("alice's resource without interest got %v", got)
	}

	mustOK(t, "publish m", e.iq(a, "set", "", publishXML("m", "1", "<x xmlns='urn:x'/>", opt("send_last_published_item", "never"))))
	mustOK(t, "subscribe m", e.iq(b, "set", alice, subscribeXML("m", bob+"/b")))
	own := []string{"m " + bob + "/b subscribed", "n " + bob + " subscribed"}
	if got := subscriptions(e.iq(b, "get", alice, psNS+"<subscriptions/>"+psEnd)); !slices.Equal(got, own) {
		t.Errorf("bob's subscriptions = %v, want %v", got, own)
	}
	if got := subscriptions(e.iq(b, "get", alice, psNS+"<subscriptions node='m'/>"+psEnd)); !slices.Equal(got, own[:1]) {
		t.Errorf("bob's subscriptions to m = %v, want %v", got, own[:1])
	}
	if got := subscriptions(e.iq(a, "get", "", ownerNS+"<subscriptions node='n'/>"+psEnd)); !slices.Equal(got, []string{" " + bob + " subscribed"}) {
		t.Errorf("the owner's list of n = %v", got)
	}
	c := e.login(carol + "/c")
	if got := subscriptions(e.iq(c, "get", alice, psNS+"<subscriptions/>"+psEnd)); len(got) != 0 {
		t.Errorf("carol's subscriptions = %v, want none", got)
	}

	mustOK(t, "unsubscribe", e.iq(b, "set", alice, unsubscribeXML("n", bob)))
	mustOK(t, "publish", e.iq(a, "set", "", publishXML("n", "3", "<x xmlns='urn:x'/>", "")))
	time.Sleep(50 * time.Millisecond)
	if got := b.events("n"); slices.Contains(got, "3") {
		t.Errorf("bob got %v after unsubscribing", got)
	}
	if got := subscriptions(e.iq(b, "get", alice, psNS+"<subscriptions/>"+psEnd)); !slices.Equal(got, own[:1]) {
		t.Errorf("bob's subscriptions after unsubscribing = %v, want %v", got, own[:1])
	}
}

// TestSubscribeErrors checks the refusals of XEP-0060 §6.1.3, §6.2.3 and
// §8.8.1.3.
func TestSubscribeErrors(t *testing.T) {
	e, a, b, c := accessNodes(t)
	e.requests(t, []request{
		{"other JID", b, "set", alice, subscribeXML("presence", carol), "bad-request invalid-jid"},
		{"no JID", b, "set", alice, psNS + "<subscribe node='presence'/>" + psEnd, "bad-request invalid-jid"},
		{"no node", b, "set", alice, psNS + "<subscribe jid='" + bob + "'/>" + psEnd, "bad-request nodeid-required"},
		{"missing node", b, "set", alice, subscribeXML("zz", bob), "item-not-found"},
		{"presence", c, "set", alice, subscribeXML("presence", carol), "not-authorized presence-subscription-required"},
		{"roster", c, "set", alice, subscribeXML("roster", carol+"/c"), "not-authorized not-in-roster-group"},
		{"whitelist", b, "set", alice, subscribeXML("whitelist", bob), "not-allowed closed-node"},
		{"options", b, "set", alice, psNS + "<subscribe node='presence' jid='" + bob + "'/><options/>" + psEnd, "feature-not-implemented unsupported"},
		{"roster ok", b, "set", alice, subscribeXML("roster", bob), ""},
		{"owner ok", a, "set", "", subscribeXML("whitelist", alice+"/a"), ""},
		{"unsubscribe other JID", c, "set", alice, unsubscribeXML("roster", bob), "forbidden"},
		{"unsubscribe bad JID", b, "set", alice, psNS + "<unsubscribe node='roster' jid='@'/>" + psEnd, "bad-request invalid-jid"},
		{"unsubscribe missing node", b, "set", alice, unsubscribeXML("zz", bob), "item-not-found"},
		{"unsubscribe not subscribed", b, "set", alice, unsubscribeXML("roster", bob+"/b"), "unexpected-request not-subscribed"},
		{"owner's list by another", b, "get", alice, ownerNS + "<subscriptions node='roster'/>" + psEnd, "forbidden"},
		{"owner's list of a missing node", a, "get", "", ownerNS + "<subscriptions node='zz'/>" + psEnd, "item-not-found"},
		{"owner's list without node", a, "get", "", ownerNS + "<subscriptions/>" + psEnd, "bad-request nodeid-required"},
		{"owner subscribes one the node would not notify", a, "set", "", ownerNS + "<subscriptions node='roster'><subscription jid='" + carol + "' subscription='subscribed'/></subscriptions>" + psEnd, "not-acceptable"},
		{"owner changes subscriptions without node", a, "set", "", ownerNS + "<subscriptions><subscription jid='" + bob + "' subscription='subscribed'/></subscriptions>" + psEnd, "bad-request nodeid-required"},
		{"owner changes subscriptions of a missing node", a, "set", "", ownerNS + "<subscriptions node='zz'><subscription jid='" + bob + "' subscription='subscribed'/></subscriptions>" + psEnd, "item-not-found"},
		{"another changes subscriptions", b, "set", alice, ownerNS + "<subscriptions node='roster'><subscription jid='" + bob + "' subscription='subscribed'/></subscriptions>" + psEnd, "forbidden"},
		{"owner manages affiliations", a, "set", "", ownerNS + "<affiliations node='roster'><affiliation jid='" + bob + "' affiliation='publisher'/></affiliations>" + psEnd, "feature-not-implemented unsupported"},
	})
}

// TestManageSubscriptions checks that the owner of a node changes its
// subscriptions (XEP-0060 §8.8.2): adds one for a JID the access model
// lets in, removes one, leaves alone an element without a subscription
// attribute, tells each subscriber of the change (§8.8.4), and gets back
// the changes that could not be made with the subscription each JID
// still has, the others made.
func TestManageSubscriptions(t *testing.T) {
	e, a, b, c := accessNodes(t)
	manage := func(node string, subs ...string) *xmlel.Element {
		x := ownerNS + "<subscriptions node='" + node + "'>"
		for i := 0; i+1 < len(subs); i += 2 {
			x += "<subscription jid='" + subs[i] + "'"
			if subs[i+1] != "" {
				x += " subscription='" + subs[i+1] + "'"
			}
			x += "/>"
		}
		return e.iq(a, "set", "", x+"</subscriptions>"+psEnd)
	}
	list := func(node string) []string {
		return subscriptions(e.iq(a, "get", "", ownerNS+"<subscriptions node='"+node+"'/>"+psEnd))
	}
	mustOK(t, "subscribe bob", manage("roster", bob+"/b", "subscribed"))
	if got, want := list("roster"), []string{" " + bob + "/b subscribed"}; !slices.Equal(got, want) {
		t.Fatalf("after subscribing bob: %v, want %v", got, want)
	}
	waitFor(t, "bob told", func() bool { return len(b.notices("roster")) == 1 })
	if got := b.notices("roster"); got[0] != "subscription=subscribed" {
		t.Errorf("bob was told %v", got)
	}
	mustOK(t, "publish", e.iq(a, "set", "", publishXML("roster", "1", "<x xmlns='urn:x'/>", "")))
	waitFor(t, "bob notified", func() bool { return slices.Contains(b.events("roster"), "1") })

	// Carol is not in a group the node allows; bob's element without a
	// subscription attribute changes nothing; a missing subscription's
	// removal is no change either.
	res := manage("roster", carol, "subscribed", bob+"/b", "", carol+"/c", "none")
	if condition(res) != "not-acceptable" {
		t.Fatalf("mixed request = %q, want not-acceptable", condition(res))
	}
	if got, want := subscriptions(res), []string{" " + carol + " none"}; !slices.Equal(got, want) {
		t.Errorf("failed changes = %v, want %v", got, want)
	}
	if got, want := list("roster"), []string{" " + bob + "/b subscribed"}; !slices.Equal(got, want) {
		t.Errorf("after the mixed request: %v, want %v", got, want)
	}
	if got := c.notices("roster"); len(got) != 0 {
		t.Errorf("carol was told %v", got)
	}

	mustOK(t, "remove bob", manage("roster", bob+"/b", "none"))
	if got := list("roster"); len(got) != 0 {
		t.Errorf("after removing bob: %v", got)
	}
	waitFor(t, "bob told of the removal", func() bool { return len(b.notices("roster")) == 2 })
	if got := b.notices("roster"); got[1] != "subscription=none" {
		t.Errorf("bob was told %v", got)
	}
	mustOK(t, "publish", e.iq(a, "set", "", publishXML("roster", "2", "<x xmlns='urn:x'/>", "")))
	time.Sleep(50 * time.Millisecond)
	if slices.Contains(b.events("roster"), "2") {
		t.Errorf("bob notified after his subscription was removed: %v", b.events("roster"))
	}
}

// TestSubscriptionLimits checks the bounds per node and per subscriber:
// past them, policy-violation with too-many-subscriptions, of type wait
// (XEP-0060 §6.1.3.9).
func TestSubscriptionLimits(t *testing.T) {
	e := newEnv(t, pep.Config{MaxSubscribers: 2, MaxSubscriptions: 3}, alice, bob, carol)
	a := e.login(alice + "/a")
	b := e.login(bob + "/b")
	c := e.login(carol + "/c")
	for _, n := range []string{"n", "m1", "m2", "m3"} {
		mustOK(t, "publish", e.iq(a, "set", "", publishXML(n, "1", "<x xmlns='urn:x'/>", opt("access_model", "open"))))
	}
	tooMany := func(what string, res *xmlel.Element) {
		t.Helper()
		se, ok := stanza.ParseError(res)
		if !ok || se.Condition != stanza.PolicyViolation || se.Type != stanza.Wait ||
			res.Child("", "error").Child(pep.NSErrors, "too-many-subscriptions") == nil {
			t.Errorf("%s = %s, want a policy-violation of type wait with too-many-subscriptions", what, res)
		}
	}
	mustOK(t, "bob", e.iq(b, "set", alice, subscribeXML("n", bob)))
	mustOK(t, "bob's resource", e.iq(b, "set", alice, subscribeXML("n", bob+"/b")))
	tooMany("a third subscriber to n", e.iq(c, "set", alice, subscribeXML("n", carol)))
	for _, n := range []string{"m1", "m2"} {
		mustOK(t, "carol to "+n, e.iq(c, "set", alice, subscribeXML(n, carol)))
	}
	mustOK(t, "carol's resource to m1", e.iq(c, "set", alice, subscribeXML("m1", carol+"/c")))
	tooMany("carol's fourth subscription", e.iq(c, "set", alice, subscribeXML("m3", carol)))
	mustOK(t, "carol again at her limit", e.iq(c, "set", alice, subscribeXML("m2", carol)))
	// The owner is held to the same limits, and learns which change they
	// refused.
	res := e.iq(a, "set", "", ownerNS+"<subscriptions node='n'><subscription jid='"+carol+"/x' subscription='subscribed'/></subscriptions>"+psEnd)
	tooMany("the owner subscribing a third", res)
	if got, want := subscriptions(res), []string{" " + carol + "/x none"}; !slices.Equal(got, want) {
		t.Errorf("refused = %v, want %v", got, want)
	}
}

// TestNotifiedOnce checks the number of notifications of XEP-0163
// §4.3.2: a full JID gets one however it asked for it (+notify, its own
// subscription), and a bare JID subscribed gets them at the resources
// that want them, or at the bare JID when none does.
func TestNotifiedOnce(t *testing.T) {
	e := newEnv(t, pep.Config{}, alice, bob)
	contacts(t, e)
	a := e.login(alice+"/a", "n+notify")
	b := e.login(bob+"/b", "n+notify")
	quiet := e.login(bob + "/quiet") // no interest
	time.Sleep(100 * time.Millisecond)
	mustOK(t, "publish", e.iq(a, "set", "", publishXML("n", "1", "<x xmlns='urn:x'/>", opt("send_last_published_item", "never"))))
	for _, j := range []string{bob, bob + "/b"} {
		mustOK(t, "subscribe "+j, e.iq(b, "set", alice, subscribeXML("n", j)))
	}
	mustOK(t, "the owner subscribes", e.iq(a, "set", "", subscribeXML("n", alice+"/a")))
	mustOK(t, "publish", e.iq(a, "set", "", publishXML("n", "2", "<x xmlns='urn:x'/>", "")))
	waitFor(t, "the notification", func() bool { return len(b.events("n")) > 1 })
	time.Sleep(50 * time.Millisecond)
	if got := b.events("n"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("bob's interested resource got %v, want [1 2]: each once", got)
	}
	if got := quiet.events("n"); len(got) != 0 {
		t.Errorf("bob's resource without interest got %v: his bare JID is served by the other", got)
	}
	if got := a.events("n"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("alice's resource got %v, want [1 2]", got)
	}
}

// TestSubscriptionEndsWithAccess checks XEP-0163 §7.1: a subscriber the
// access model no longer admits gets no more notifications, loses its
// subscription and is told (XEP-0060 §8.8.4).
func TestSubscriptionEndsWithAccess(t *testing.T) {
	e := newEnv(t, pep.Config{}, alice, bob)
	contacts(t, e)
	a := e.login(alice + "/a")
	b := e.login(bob + "/b")
	mustOK(t, "publish", e.iq(a, "set", "", publishXML("n", "1", "<x xmlns='urn:x'/>", opt("send_last_published_item", "never"))))
	mustOK(t, "subscribe", e.iq(b, "set", alice, subscribeXML("n", bob)))
	if _, err := e.store.Roster().Put(t.Context(), alice, storage.RosterItem{Contact: bob, Subscription: storage.SubTo}, 0); err != nil {
		t.Fatal(err)
	}
	mustOK(t, "publish", e.iq(a, "set", "", publishXML("n", "2", "<x xmlns='urn:x'/>", "")))
	waitFor(t, "the cancellation", func() bool { return len(b.notices("n")) > 0 })
	if got := b.notices("n"); !slices.Equal(got, []string{"subscription=none"}) {
		t.Errorf("bob was told %v, want [subscription=none]", got)
	}
	if got := b.events("n"); len(got) != 0 {
		t.Errorf("bob got %v after he lost access", got)
	}
	if got := subscriptions(e.iq(a, "get", "", ownerNS+"<subscriptions node='n'/>"+psEnd)); len(got) != 0 {
		t.Errorf("the owner's list = %v, want none", got)
	}
}

// TestSubscribersToldOfPurgeAndDelete checks that explicit subscribers
// hear of a purge (one <purge/>, XEP-0060 §8.5.2) and of the node's
// deletion (§8.4.2), and that the subscriptions go with the node.
func TestSubscribersToldOfPurgeAndDelete(t *testing.T) {
	e := newEnv(t, pep.Config{}, alice, bob)
	a := e.login(alice + "/a")
	b := e.login(bob + "/b")
	mustOK(t, "publish", e.iq(a, "set", "", publishXML("n", "1", "<x xmlns='urn:x'/>", opt("access_model", "open")+opt("send_last_published_item", "never"))))
	mustOK(t, "subscribe", e.iq(b, "set", alice, subscribeXML("n", bob+"/b")))
	mustOK(t, "purge", e.iq(a, "set", "", ownerNS+"<purge node='n'/>"+psEnd))
	mustOK(t, "delete", e.iq(a, "set", "", ownerNS+"<delete node='n'/>"+psEnd))
	waitFor(t, "the notices", func() bool { return len(b.notices("n")) == 2 })
	if got := b.notices("n"); !slices.Equal(got, []string{"purge", "delete"}) {
		t.Errorf("bob was told %v, want [purge delete]", got)
	}
	if subs, err := e.store.Pubsub().SubscriptionsOf(t.Context(), alice, bob); err != nil || len(subs) != 0 {
		t.Errorf("subscriptions after the deletion = %v, %v, want none", subs, err)
	}
}

// TestSubscriptionFeatures checks that the account advertises what
// works: subscribe, retrieve-subscriptions and manage-subscriptions
// (XEP-0060 §8.8.2), not modify-affiliations, which a node with one owner
// has nothing to offer.
func TestSubscriptionFeatures(t *testing.T) {
	e := newEnv(t, pep.Config{}, alice)
	mux := iq.NewMux(slog.New(slog.DiscardHandler))
	p := pep.New(pep.Config{}, e.r, e.store, mux, slog.New(slog.DiscardHandler))
	defer p.Close()
	features := mux.Features(iq.Account)
	for f, want := range map[string]bool{"subscribe": true, "retrieve-subscriptions": true, "manage-subscriptions": true, "modify-affiliations": false} {
		if got := slices.Contains(features, pep.NS+"#"+f); got != want {
			t.Errorf("disco#info has %s: %v, want %v", f, got, want)
		}
	}
}

// TestBlockedSubscriberGetsNothing checks that a user's notifications
// stop for a subscriber the user blocks (XEP-0163 §4.3.3), also on the
// way to another server, where the IM core's own check does not apply.
func TestBlockedSubscriberGetsNothing(t *testing.T) {
	var core *im.Service
	e := newEnv(t, pep.Config{Blocks: func(ctx context.Context, user, other jid.JID) bool {
		return core.Blocks(ctx, user, other)
	}}, alice)
	core = e.core
	var mu sync.Mutex
	var remote []*xmlel.Element
	e.r.SetRemote(router.HandlerFunc(func(_ context.Context, st *stanza.Stanza) {
		mu.Lock()
		defer mu.Unlock()
		remote = append(remote, st.El)
	}))
	notified := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var ids []string
		for _, el := range remote {
			items := el.Child(pep.NSEvent, "event").Child(pep.NSEvent, "items")
			if items == nil {
				continue
			}
			for _, it := range items.Elements() {
				ids = append(ids, it.Attr("id"))
			}
		}
		return ids
	}
	a := e.login(alice + "/a")
	mustOK(t, "publish", e.iq(a, "set", "", publishXML("n", "1", "<x xmlns='urn:x'/>",
		opt("access_model", "open")+opt("send_last_published_item", "never"))))
	const dave = "dave@remote.example"
	sub := xmlel.New("", stanza.IQ, "type", "set", "id", "s1", "from", dave+"/d", "to", alice).
		Append(parse(t, subscribeXML("n", dave)))
	e.r.Route(t.Context(), &stanza.Stanza{El: sub, From: jid.MustParse(dave + "/d"), To: jid.MustParse(alice)})
	waitFor(t, "the subscription's result", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(remote) == 1 && remote[0].Attr("type") == "result"
	})

	mustOK(t, "publish", e.iq(a, "set", "", publishXML("n", "2", "<x xmlns='urn:x'/>", "")))
	waitFor(t, "the notification", func() bool { return slices.Equal(notified(), []string{"2"}) })
	mustOK(t, "block", e.iq(a, "set", "", "<block xmlns='urn:xmpp:blocking'><item jid='"+dave+"'/></block>"))
	mustOK(t, "publish", e.iq(a, "set", "", publishXML("n", "3", "<x xmlns='urn:x'/>", "")))
	mustOK(t, "unblock", e.iq(a, "set", "", "<unblock xmlns='urn:xmpp:blocking'><item jid='"+dave+"'/></unblock>"))
	mustOK(t, "publish", e.iq(a, "set", "", publishXML("n", "4", "<x xmlns='urn:x'/>", "")))
	waitFor(t, "the notification after unblocking", func() bool { return len(notified()) == 2 })
	if got := notified(); !slices.Equal(got, []string{"2", "4"}) {
		t.Errorf("the blocked subscriber was notified of %v, want 2 and 4", got)
	}
}
