package pubsub_test

import (
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/pubsub"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
	"samtal.org/samtal/internal/xmpptest"
)

// FuzzService feeds arbitrary payloads of iq get and set requests, from
// an owner and from a stranger, through the service on a real store:
// it must never panic, and must answer each request with one result or
// error. A data form also goes in a message, as an answer to an
// authorization request, which gets at most an error.
func FuzzService(f *testing.F) {
	const nodeConfig = "http://jabber.org/protocol/pubsub#node_config"
	for _, seed := range []string{
		ps + "<create node='n'/>" + end,
		ps + "<create/><configure>" + form(nodeConfig, "pubsub#access_model", "whitelist", "pubsub#send_last_published_item", "on_sub", "pubsub#notify_config", "1") + "</configure>" + end,
		publish("n", "1", entry("one")),
		ps + "<publish node='n'><item>" + entry("x") + "</item></publish><publish-options>" + form("http://jabber.org/protocol/pubsub#publish-options", "pubsub#max_items", "max") + "</publish-options>" + end,
		ps + "<retract node='n' notify='true'><item id='1'/></retract>" + end,
		ps + "<items node='n' max_items='2'><item id='1'/></items>" + end,
		ps + "<items node='n'/><set xmlns='http://jabber.org/protocol/rsm'><max>1</max><after>1</after></set>" + end,
		ps + "<subscribe node='n' jid='bob@example.org/pc'/>" + end,
		ps + "<unsubscribe node='n' jid='bob@example.org' subid='x'/>" + end,
		ps + "<subscriptions/>" + end,
		ps + "<affiliations node='n'/>" + end,
		owner + "<configure node='n'>" + form(nodeConfig, "pubsub#publish_model", "open", "pubsub#max_items", "1") + "</configure>" + end,
		owner + "<subscriptions node='n'><subscription jid='carol@remote.example' subscription='subscribed'/></subscriptions>" + end,
		owner + "<affiliations node='n'><affiliation jid='bob@example.org' affiliation='outcast'/></affiliations>" + end,
		owner + "<purge node='n'/>" + end,
		owner + "<delete node='n'/>" + end,
		owner + "<default/>" + end,
		"<query xmlns='http://jabber.org/protocol/disco#info' node='n'/>",
		"<query xmlns='http://jabber.org/protocol/disco#items'/>",
		"<query xmlns='http://jabber.org/protocol/disco#items' node='n'/>",
		owner + "<configure node='n'>" + form(nodeConfig, "pubsub#access_model", "authorize") + "</configure>" + end,
		ps + "<subscribe node='n' jid='bob@example.org'/>" + end,
		owner + "<affiliations node='n'><affiliation jid='bob@example.org' affiliation='member'/></affiliations>" + end,
		form(pubsub.FormSubscribeAuthorization, "pubsub#node", "n", "pubsub#subscriber_jid", "bob@example.org", "pubsub#allow", "1"),
		"<x xmlns='jabber:x:data' type='cancel'><field var='FORM_TYPE'><value>" + pubsub.FormSubscribeAuthorization + "</value></field></x>",
	} {
		f.Add(true, false, seed)
		f.Add(false, true, seed)
	}
	e := newEnv(f, pubsub.Config{MaxNodes: 50, MaxItems: 20, MaxItemBytes: 4096})
	f.Fuzz(func(t *testing.T, set, stranger bool, payload string) {
		el, err := xmlstream.Parse([]byte(payload), xmlstream.Limits{MaxStanzaBytes: 1 << 16, MaxDepth: 32})
		if err != nil {
			return
		}
		from, typ := alice, "get"
		if stranger {
			from = bob
		}
		if set {
			typ = "set"
		}
		if el.Is(stanza.NSDataForm, "x") {
			// An owner's answer to an authorization request (XEP-0060
			// §8.6) comes in a message: at most an error comes back,
			// besides what tells the sender of its own subscription.
			m := xmlel.New("", stanza.Message, "from", from, "to", service, "id", "m1").Append(el)
			e.svc.Handle(t.Context(), &stanza.Stanza{El: m, From: jid.MustParse(from), To: jid.MustParse(service)})
			errs := 0
			for _, out := range e.take(from) {
				switch {
				case out.Local != stanza.Message:
					t.Fatalf("answer to the message %s: %s", payload, out)
				case out.Attr("type") == "error":
					errs++
				}
			}
			if errs > 1 {
				t.Fatalf("%d errors for the message %s", errs, payload)
			}
		}
		e.svc.Handle(t.Context(), xmpptest.IQ(typ, from, service, el))
		var answers int
		for _, out := range e.take(from) {
			if out.Local != stanza.IQ {
				continue
			}
			answers++
			if ty := out.Attr("type"); (ty != "result" && ty != "error") || out.Attr("id") != "iq1" {
				t.Fatalf("answer to %s: %s", payload, out)
			}
		}
		if answers != 1 {
			t.Fatalf("%d answers to %s", answers, payload)
		}
		// Notifications go to subscribers; forget them.
		for _, to := range []string{"alice@example.org", "bob@example.org", "bob@example.org/pc", "carol@remote.example"} {
			e.take(to)
		}
	})
}
