package push

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"samtal.org/samtal/internal/im"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

// appServer is a push service double: it records what is published to
// it and answers with a result, or with an error when refuse is set.
type appServer struct {
	core   *im.Service
	mu     sync.Mutex
	got    []*xmlel.Element
	refuse bool
}

func (a *appServer) Handle(ctx context.Context, st *stanza.Stanza) {
	a.mu.Lock()
	a.got = append(a.got, st.El)
	refuse := a.refuse
	a.mu.Unlock()
	resp := st.Result()
	if refuse {
		resp = stanza.ErrorReply(st.El, stanza.E(stanza.ItemNotFound))
	}
	a.core.Handle(ctx, &stanza.Stanza{El: resp, From: st.To, To: st.From})
}

func (a *appServer) take() []*xmlel.Element {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.got
	a.got = nil
	return out
}

type env struct {
	t      *testing.T
	store  *sqlite.Store
	router *router.Router
	core   *im.Service
	push   *Service
	app    *appServer
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "samtal.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	xmpptest.CreateAccounts(t, store.Accounts(), "alice@example.org", "bob@example.org")
	r := router.New([]string{"example.org"})
	log := slog.New(slog.DiscardHandler)
	mux := iq.NewMux(log)
	core := im.New(im.Config{}, r, store, mux, log)
	r.SetLocal(core)
	p := New(cfg, store.Push(), store.Offline(), r, mux, log)
	core.AddHooks(im.Hooks{MessageDelivered: p.MessageDelivered, IQResponse: p.IQResponse})
	app := &appServer{core: core}
	r.AddDomain("push.example.net", app)
	return &env{t: t, store: store, router: r, core: core, push: p, app: app}
}

func (e *env) bind(full string) *xmpptest.Session {
	e.t.Helper()
	return xmpptest.Bind(e.t, e.router, full)
}

func (e *env) send(s *xmpptest.Session, x string) {
	e.t.Helper()
	xmpptest.Send(e.t, e.core, s, x)
}

func (e *env) iq(s *xmpptest.Session, x string) *xmlel.Element {
	e.t.Helper()
	return xmpptest.Ask(e.t, e.core, s, x)
}

const enableSecret = `<iq type='set' id='e'><enable xmlns='urn:xmpp:push:0' jid='push.example.net' node='yxs32uqsflafdk3iuqo'>` +
	`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>` +
	`<field var='secret'><value>eruio234vzxc2kla-91</value></field></x></enable></iq>`

// enableBob enables push for bob from a session that then goes away.
func (e *env) enableBob() {
	e.t.Helper()
	b := e.bind("bob@example.org/phone")
	if resp := e.iq(b, enableSecret); resp.Attr("type") != "result" {
		e.t.Fatalf("enable = %s", resp)
	}
	last, _ := e.router.Unbind(b)
	e.core.Ended(e.t.Context(), b, last)
}

func TestNotification(t *testing.T) {
	e := newEnv(t, Config{MaxServices: 5})
	e.enableBob()
	a := e.bind("alice@example.org/a")
	e.send(a, `<message to='bob@example.org' type='chat'><body>Wherefore art thou?</body></message>`)
	got := e.app.take()
	if len(got) != 1 {
		t.Fatalf("app server got %d stanzas, want one notification", len(got))
	}
	n := got[0]
	xml := n.String()
	if n.Attr("from") != "example.org" || n.Attr("to") != "push.example.net" || n.Attr("type") != "set" {
		t.Errorf("notification addressed %s", xml)
	}
	pub := n.Child(nsPubsub, "pubsub").Child(nsPubsub, "publish")
	if pub.Attr("node") != "yxs32uqsflafdk3iuqo" || pub.Child(nsPubsub, "item").Child(NS, "notification") == nil {
		t.Errorf("publish = %s", xml)
	}
	if !strings.Contains(xml, "eruio234vzxc2kla-91") || n.Child(nsPubsub, "pubsub").Child(nsPubsub, "publish-options") == nil {
		t.Errorf("notification lacks the publish options: %s", xml)
	}
	for _, secret := range []string{"Wherefore", "alice", "bob", "message-count"} {
		if strings.Contains(xml, secret) {
			t.Errorf("notification tells %q: %s", secret, xml)
		}
	}
	// The service answered: nothing waits.
	e.push.mu.Lock()
	waiting := len(e.push.pending)
	e.push.mu.Unlock()
	if waiting != 0 {
		t.Errorf("%d notifications wait for an answer after it came", waiting)
	}
	// Not for what is not worth waking a phone.
	e.send(a, `<message to='bob@example.org' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	e.send(a, `<message to='bob@example.org' type='chat'><received xmlns='urn:xmpp:receipts' id='x'/></message>`)
	if got := e.app.take(); len(got) != 0 {
		t.Errorf("app server got %v for a chat state and a receipt", got)
	}
	// Nor when a session takes the message.
	b := e.bind("bob@example.org/laptop")
	e.send(b, `<presence/>`)
	e.send(a, `<message to='bob@example.org' type='chat'><body>online</body></message>`)
	if got := e.app.take(); len(got) != 0 {
		t.Errorf("app server got %v for a delivered message", got)
	}
}

func TestNotificationCount(t *testing.T) {
	e := newEnv(t, Config{MaxServices: 5, Count: true})
	e.enableBob()
	a := e.bind("alice@example.org/a")
	e.send(a, `<message to='bob@example.org' type='chat'><body>one</body></message>`)
	e.send(a, `<message to='bob@example.org' type='chat'><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>`)
	got := e.app.take()
	if len(got) != 2 {
		t.Fatalf("app server got %d notifications, want 2", len(got))
	}
	xml := got[1].String()
	if !strings.Contains(xml, "<field var='message-count'><value>2</value></field>") || strings.Contains(xml, "alice") {
		t.Errorf("notification = %s, want a count of 2 and no sender", xml)
	}
}

func TestRefusedDisables(t *testing.T) {
	e := newEnv(t, Config{MaxServices: 5})
	e.enableBob()
	e.app.refuse = true
	a := e.bind("alice@example.org/a")
	e.send(a, `<message to='bob@example.org' type='chat'><body>one</body></message>`)
	if len(e.app.take()) != 1 {
		t.Fatal("no notification")
	}
	e.send(a, `<message to='bob@example.org' type='chat'><body>two</body></message>`)
	if got := e.app.take(); len(got) != 0 {
		t.Errorf("a service that refused got %d more notifications", len(got))
	}
	if l, _ := e.store.Push().List(t.Context(), "bob@example.org"); len(l) != 0 {
		t.Errorf("services after a refusal = %v", l)
	}
}

func TestSpoofedAnswer(t *testing.T) {
	e := newEnv(t, Config{MaxServices: 5})
	e.enableBob()
	e.push.track("push-x", pending{user: mustJID("bob@example.org"), service: mustJID("push.example.net"), node: "yxs32uqsflafdk3iuqo"})
	// An error from someone else with the id does not disable anything.
	st := xmpptest.Stanza(t, `<iq type='error' id='push-x' from='evil.example' to='example.org'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	if e.push.IQResponse(t.Context(), st) {
		t.Error("IQResponse took an answer from another JID")
	}
	if l, _ := e.store.Push().List(t.Context(), "bob@example.org"); len(l) != 1 {
		t.Errorf("services = %v, want bob's one", l)
	}
}

func TestEnableDisable(t *testing.T) {
	e := newEnv(t, Config{MaxServices: 2})
	b := e.bind("bob@example.org/phone")
	for _, tc := range []struct {
		name, xml string
		want      stanza.Condition
	}{
		{"no jid", `<iq type='set' id='x'><enable xmlns='urn:xmpp:push:0' node='n'/></iq>`, stanza.BadRequest},
		{"bad jid", `<iq type='set' id='x'><enable xmlns='urn:xmpp:push:0' jid='@' node='n'/></iq>`, stanza.BadRequest},
		{"wrong form", `<iq type='set' id='x'><enable xmlns='urn:xmpp:push:0' jid='p.example' node='n'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x></enable></iq>`, stanza.BadRequest},
		{"get", `<iq type='get' id='x'><enable xmlns='urn:xmpp:push:0' jid='p.example' node='n'/></iq>`, stanza.BadRequest},
		{"huge options", `<iq type='set' id='x'><enable xmlns='urn:xmpp:push:0' jid='p.example' node='n'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>` + strings.Repeat("s", maxOptions) + `</value></field></x></enable></iq>`, stanza.PolicyViolation},
	} {
		resp := e.iq(b, tc.xml)
		if c, _ := stanza.ParseError(resp); c.Condition != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, resp, tc.want)
		}
	}
	for _, node := range []string{"n1", "n2"} {
		if resp := e.iq(b, `<iq type='set' id='x'><enable xmlns='urn:xmpp:push:0' jid='p.example' node='`+node+`'/></iq>`); resp.Attr("type") != "result" {
			t.Fatalf("enable %s = %s", node, resp)
		}
	}
	resp := e.iq(b, `<iq type='set' id='x'><enable xmlns='urn:xmpp:push:0' jid='p.example' node='n3'/></iq>`)
	if c, _ := stanza.ParseError(resp); c.Condition != stanza.PolicyViolation {
		t.Errorf("a third service = %s, want policy-violation", resp)
	}
	if resp := e.iq(b, `<iq type='set' id='x'><disable xmlns='urn:xmpp:push:0' jid='p.example' node='n1'/></iq>`); resp.Attr("type") != "result" {
		t.Fatalf("disable = %s", resp)
	}
	if l, _ := e.store.Push().List(t.Context(), "bob@example.org"); len(l) != 1 || l[0].Node != "n2" {
		t.Errorf("after disabling n1: %v", l)
	}
	if resp := e.iq(b, `<iq type='set' id='x'><disable xmlns='urn:xmpp:push:0' jid='p.example'/></iq>`); resp.Attr("type") != "result" {
		t.Fatalf("disable all = %s", resp)
	}
	if l, _ := e.store.Push().List(t.Context(), "bob@example.org"); len(l) != 0 {
		t.Errorf("after disabling every node: %v", l)
	}
	// Only for oneself.
	a := e.bind("alice@example.org/a")
	resp = e.iq(a, `<iq type='set' id='x' to='bob@example.org'><enable xmlns='urn:xmpp:push:0' jid='p.example' node='n'/></iq>`)
	if c, _ := stanza.ParseError(resp); c.Condition != stanza.Forbidden {
		t.Errorf("enabling for someone else = %s, want forbidden", resp)
	}
}

func TestImportant(t *testing.T) {
	for xml, want := range map[string]bool{
		`<message type='chat'><body>x</body></message>`:                                              true,
		`<message><encrypted xmlns='urn:xmpp:omemo:2'/></message>`:                                   true,
		`<message type='chat'><propose xmlns='urn:xmpp:jingle-message:0' id='c'/></message>`:         true,
		`<message type='chat'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>`:            false,
		`<message type='chat'><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/></message>`:         false,
		`<message type='groupchat'><body>x</body></message>`:                                         false,
		`<message type='headline'><body>x</body></message>`:                                          false,
		`<message type='chat'><gone xmlns='http://jabber.org/protocol/chatstates'/></message>`:       false,
		`<message><x xmlns='http://jabber.org/protocol/muc#user'><invite from='a@b'/></x></message>`: true,
	} {
		if got := Important(xmpptest.Parse(t, xml)); got != want {
			t.Errorf("Important(%s) = %v, want %v", xml, got, want)
		}
	}
}

func mustJID(s string) jid.JID { return jid.MustParse(s) }
