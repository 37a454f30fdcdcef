package carbons

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"samtal.org/samtal/internal/im"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/mam"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

type env struct {
	t       *testing.T
	router  *router.Router
	core    *im.Service
	carbons *Service
}

// newEnv wires the IM core, the archive and carbons as internal/server
// does.
func newEnv(t *testing.T) *env {
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
	archive := mam.New(mam.Config{Default: storage.ArchiveAlways, DefaultPage: 10, MaxPage: 10, Retention: time.Hour},
		store.Archive(), store.Roster(), r, mux, log)
	c := New(r, mux)
	core.AddHooks(im.Hooks{MessageSent: archive.MessageSent, MessageArrived: archive.MessageArrived})
	core.AddHooks(im.Hooks{MessageSent: c.MessageSent, MessageDelivered: c.MessageDelivered, SessionEnded: c.SessionEnded})
	core.AddHooks(im.Hooks{MessageSent: archive.AfterSent})
	return &env{t: t, router: r, core: core, carbons: c}
}

// online binds a session with a priority and sends initial presence;
// with carbons, it enables them.
func (e *env) online(full string, prio string, carbons bool) *xmpptest.Session {
	e.t.Helper()
	s := xmpptest.Bind(e.t, e.router, full)
	e.send(s, `<presence><priority>`+prio+`</priority></presence>`)
	if carbons {
		if resp := e.iq(s, `<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>`); resp.Attr("type") != "result" {
			e.t.Fatalf("enable = %s", resp)
		}
	}
	return s
}

func (e *env) send(s *xmpptest.Session, x string) {
	e.t.Helper()
	xmpptest.Send(e.t, e.core, s, x)
}

// iq sends an iq and returns the response, dropping what came before.
func (e *env) iq(s *xmpptest.Session, x string) *xmlel.Element {
	e.t.Helper()
	return xmpptest.Ask(e.t, e.core, s, x)
}

// deliver has a stanza arrive from someone for a local user.
func (e *env) deliver(x string) {
	e.t.Helper()
	e.core.Handle(e.t.Context(), xmpptest.Stanza(e.t, x))
}

// carbon returns the carbon in what s got, its wrapper name and the
// forwarded message, failing unless there is exactly one stanza.
func carbon(t *testing.T, s *xmpptest.Session) (*xmlel.Element, string, *xmlel.Element) {
	t.Helper()
	got := s.Take()
	if len(got) != 1 {
		t.Fatalf("%s got %d stanzas %v, want one carbon", s.JID(), len(got), got)
	}
	c := got[0]
	for _, w := range []string{"sent", "received"} {
		if x := c.Child(NS, w); x != nil {
			return c, w, x.Child(nsForward, "forwarded").Child("", "message")
		}
	}
	t.Fatalf("%s got %s, want a carbon", s.JID(), c)
	return nil, "", nil
}

func nothing(t *testing.T, ss ...*xmpptest.Session) {
	t.Helper()
	for _, s := range ss {
		if got := s.Take(); len(got) != 0 {
			t.Errorf("%s got %v, want nothing", s.JID(), got)
		}
	}
}

func stanzaID(el *xmlel.Element, by string) string {
	for _, c := range el.Elements() {
		if c.Is("urn:xmpp:sid:0", "stanza-id") && c.Attr("by") == by {
			return c.Attr("id")
		}
	}
	return ""
}

// three returns alice's sessions a (priority 5, carbons), b (carbons)
// and c (no carbons), and bob's, with nothing pending.
func (e *env) three() (a, b, c, bob *xmpptest.Session) {
	a = e.online("alice@example.org/a", "5", true)
	b = e.online("alice@example.org/b", "0", true)
	c = e.online("alice@example.org/c", "0", false)
	bob = e.online("bob@example.org/x", "0", false)
	for _, s := range []*xmpptest.Session{a, b, c, bob} {
		s.Take()
	}
	return a, b, c, bob
}

func TestReceived(t *testing.T) {
	e := newEnv(t)
	a, b, c, bob := e.three()
	e.send(bob, `<message to='alice@example.org' type='chat' id='m1'><body>hi</body></message>`)
	if got := a.Take(); len(got) != 1 || got[0].ChildText("", "body") != "hi" {
		t.Fatalf("the highest priority session got %v, want the message", got)
	}
	cb, wrapper, fwd := carbon(t, b)
	if wrapper != "received" || cb.Attr("from") != "alice@example.org" || cb.Attr("to") != "alice@example.org/b" || cb.Attr("type") != "chat" {
		t.Errorf("carbon = %s", cb)
	}
	if fwd.Attr("from") != "bob@example.org/x" || fwd.ChildText("", "body") != "hi" || stanzaID(fwd, "alice@example.org") == "" {
		t.Errorf("forwarded message = %s, want bob's message with alice's stanza-id", fwd)
	}
	nothing(t, c)
	// To a full JID: the other enabled sessions get carbons.
	e.send(bob, `<message to='alice@example.org/c' type='chat' id='m2'><body>to c</body></message>`)
	c.Take()
	for _, s := range []*xmpptest.Session{a, b} {
		if _, w, fwd := carbon(t, s); w != "received" || fwd.ChildText("", "body") != "to c" {
			t.Errorf("%s: %s carbon of %s", s.JID(), w, fwd)
		}
	}
}

func TestSent(t *testing.T) {
	e := newEnv(t)
	a, b, c, bob := e.three()
	e.send(c, `<message to='bob@example.org' type='chat' id='m1'><body>from c</body></message>`)
	got := bob.Take()
	if len(got) != 1 || stanzaID(got[0], "alice@example.org") != "" {
		t.Fatalf("bob got %v, want the message without alice's stanza-id", got)
	}
	for _, s := range []*xmpptest.Session{a, b} {
		cb, w, fwd := carbon(t, s)
		if w != "sent" || cb.Attr("from") != "alice@example.org" || fwd.Attr("to") != "bob@example.org" || fwd.Attr("from") != "alice@example.org/c" {
			t.Errorf("%s: carbon %s", s.JID(), cb)
		}
		if stanzaID(fwd, "alice@example.org") == "" {
			t.Errorf("%s: sent carbon without the archive's stanza-id: %s", s.JID(), fwd)
		}
	}
	nothing(t, c)
	// The sender gets no copy of its own message.
	e.send(a, `<message to='bob@example.org' type='chat' id='m2'><body>from a</body></message>`)
	bob.Take()
	if _, w, _ := carbon(t, b); w != "sent" {
		t.Errorf("b: %s carbon", w)
	}
	nothing(t, a, c)
}

func TestNotCopied(t *testing.T) {
	e := newEnv(t)
	a, b, c, bob := e.three()
	for _, x := range []string{
		`<message to='alice@example.org/a' type='chat'><body>p</body><private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>`,
		`<message to='alice@example.org/a' type='chat'><body>p</body><no-copy xmlns='urn:xmpp:hints'/></message>`,
		`<message to='alice@example.org/a' type='groupchat'><body>g</body></message>`,
		`<message to='alice@example.org/a' type='headline'><body>h</body></message>`,
		`<message to='alice@example.org/a'><event xmlns='http://jabber.org/protocol/pubsub#event'/></message>`,
		`<message to='alice@example.org/a' type='error' id='unknown'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`,
	} {
		e.send(bob, x)
		a.Take()
		nothing(t, b, c)
	}
	e.send(a, `<message to='bob@example.org' type='chat'><body>private</body><private xmlns='urn:xmpp:carbons:2'/></message>`)
	bob.Take()
	nothing(t, b, c)
}

func TestRules(t *testing.T) {
	e := newEnv(t)
	a, b, _, bob := e.three()
	copied := func(x string) bool {
		t.Helper()
		e.deliver(x)
		a.Take()
		got := b.Take()
		return len(got) == 1
	}
	tests := []struct {
		name string
		xml  string
		want bool
	}{
		{"chat state", `<message from='bob@example.org/x' to='alice@example.org/a' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, true},
		{"normal with body", `<message from='bob@example.org/x' to='alice@example.org/a'><body>n</body></message>`, true},
		{"normal receipt", `<message from='bob@example.org/x' to='alice@example.org/a'><received xmlns='urn:xmpp:receipts' id='r'/></message>`, true},
		{"normal marker", `<message from='bob@example.org/x' to='alice@example.org/a'><displayed xmlns='urn:xmpp:chat-markers:0' id='r'/></message>`, true},
		{"muc pm", `<message from='room@muc.example.org/nick' to='alice@example.org/a' type='chat'><body>pm</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`, false},
		{"mediated invite", `<message from='room@muc.example.org' to='alice@example.org/a'><x xmlns='http://jabber.org/protocol/muc#user'><invite from='bob@example.org'/></x></message>`, true},
		{"direct invite", `<message from='bob@example.org/x' to='alice@example.org/a'><x xmlns='jabber:x:conference' jid='room@muc.example.org'/></message>`, true},
	}
	for _, tc := range tests {
		if got := copied(tc.xml); got != tc.want {
			t.Errorf("%s: copied %v, want %v", tc.name, got, tc.want)
		}
	}
	// An error answering a copied message is copied; one answering
	// nothing is not.
	e.send(a, `<message to='carol@remote.example' type='chat' id='ask'><body>?</body></message>`)
	b.Take()
	if !copied(`<message from='carol@remote.example' to='alice@example.org/a' type='error' id='ask'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`) {
		t.Errorf("error answering a copied message was not copied")
	}
	if copied(`<message from='carol@remote.example' to='alice@example.org/a' type='error' id='other'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`) {
		t.Errorf("unrelated error was copied")
	}
	nothing(t, bob)
}

func TestEnableDisable(t *testing.T) {
	e := newEnv(t)
	a := e.online("alice@example.org/a", "0", true)
	if resp := e.iq(a, `<iq type='set' id='c2'><enable xmlns='urn:xmpp:carbons:2'/></iq>`); resp.Attr("type") != "result" {
		t.Errorf("second enable = %s, want a result (§9.1)", resp)
	}
	if !e.carbons.Enabled(a) {
		t.Fatal("not enabled")
	}
	for range 2 {
		if resp := e.iq(a, `<iq type='set' id='d'><disable xmlns='urn:xmpp:carbons:2'/></iq>`); resp.Attr("type") != "result" {
			t.Errorf("disable = %s", resp)
		}
	}
	if e.carbons.Enabled(a) {
		t.Error("enabled after disable")
	}
	if resp := e.iq(a, `<iq type='set' id='s' to='example.org'><enable xmlns='urn:xmpp:carbons:2'/></iq>`); resp.Attr("type") != "result" || !e.carbons.Enabled(a) {
		t.Errorf("enable at the server = %s", resp)
	}
	if resp := e.iq(a, `<iq type='get' id='g'><enable xmlns='urn:xmpp:carbons:2'/></iq>`); resp.Attr("type") != "error" {
		t.Errorf("get = %s, want an error", resp)
	}
	// Not from a local session: refused.
	st := xmpptest.Stanza(t, `<iq type='set' id='r' from='mallory@remote.example/x' to='alice@example.org'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)
	if _, err := e.carbons.handle(t.Context(), st); err == nil {
		t.Error("enable from a remote entity succeeded")
	}
	e.carbons.mu.Lock()
	n := len(e.carbons.enabled)
	e.carbons.mu.Unlock()
	if n != 1 {
		t.Errorf("%d sessions enabled, want only alice's", n)
	}
}

func TestSessionEndForgets(t *testing.T) {
	e := newEnv(t)
	a := e.online("alice@example.org/a", "0", true)
	last, _ := e.router.Unbind(a)
	e.core.Ended(t.Context(), a, last)
	// A new session under the same JID starts without carbons.
	a2 := e.online("alice@example.org/a", "0", false)
	if e.carbons.Enabled(a2) {
		t.Error("a new session inherited carbons")
	}
	e.carbons.mu.Lock()
	n, users := len(e.carbons.enabled), e.carbons.countUsers()
	e.carbons.mu.Unlock()
	if n != 0 || users != 0 {
		t.Errorf("%d sessions and %d users remembered after the session ended", n, users)
	}
	// Replaced without ending: the new session does not inherit either.
	a3 := xmpptest.NewSession("alice@example.org/a")
	if e.iq(a2, `<iq type='set' id='c'><enable xmlns='urn:xmpp:carbons:2'/></iq>`).Attr("type") != "result" {
		t.Fatal("enable failed")
	}
	if _, err := e.router.Bind(a3, true, 0); err != nil {
		t.Fatal(err)
	}
	if e.carbons.Enabled(a3) {
		t.Error("a replacing session inherited carbons")
	}
}

// The count of a user's carbons-enabled sessions, which lets a user
// without carbons skip the lookup of resources, follows enables,
// disables and ends: a session that still has carbons keeps getting
// them when another goes.
func TestEnabledCount(t *testing.T) {
	e := newEnv(t)
	a := e.online("alice@example.org/a", "0", true)
	b := e.online("alice@example.org/b", "0", true)
	c := e.online("alice@example.org/c", "0", true)
	e.iq(a, `<iq type='set' id='d'><disable xmlns='urn:xmpp:carbons:2'/></iq>`)
	e.iq(a, `<iq type='set' id='d2'><disable xmlns='urn:xmpp:carbons:2'/></iq>`)
	last, _ := e.router.Unbind(c)
	e.core.Ended(t.Context(), c, last)
	a.Take()
	b.Take()
	e.send(a, `<message type='chat' to='bob@example.org' id='m1'><body>hi</body></message>`)
	if _, w, _ := carbon(t, b); w != "sent" {
		t.Errorf("b got a %s carbon, want sent", w)
	}
	last, _ = e.router.Unbind(b)
	e.core.Ended(t.Context(), b, last)
	e.carbons.mu.Lock()
	users := e.carbons.countUsers()
	e.carbons.mu.Unlock()
	if users != 0 {
		t.Errorf("%d users counted with carbons, want none", users)
	}
}

// countUsers counts the users with carbons enabled somewhere.
func (s *Service) countUsers() int {
	n := 0
	s.users.Range(func(any, any) bool { n++; return true })
	return n
}

// A message may travel as bytes (im.Hooks.RawMessage) only when no
// carbons-enabled session would get a copy: none of the sender's but the
// sending one, none of the recipient's that the message does not reach.
// Such a message is still noted, so that an error answering it is copied
// to a session that enables carbons later.
func TestRawMessage(t *testing.T) {
	e := newEnv(t)
	raw := func(from *xmpptest.Session, to string, x string, targets ...*xmpptest.Session) bool {
		t.Helper()
		el := xmpptest.Parse(t, x)
		m := stanza.Outline{From: from.JID(), To: jid.MustParse(to), Type: "chat", ID: []byte(el.Attr("id")), Kids: stanza.NamesOf(el)}
		var ts []router.Session
		for _, s := range targets {
			ts = append(ts, s)
		}
		return e.carbons.RawMessage(t.Context(), &m, from, ts)
	}
	msg := `<message id='m1'><body>hi</body></message>`
	bob := e.online("bob@example.org/x", "0", false)
	a := e.online("alice@example.org/a", "5", false)
	bob.Take()
	if !raw(bob, "alice@example.org", msg, a) {
		t.Error("nobody enabled carbons, yet the message may not travel as bytes")
	}
	e.iq(a, `<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)
	if !raw(bob, "alice@example.org", msg, a) || !raw(a, "bob@example.org", msg, bob) {
		t.Error("the only carbons-enabled session sends or gets the message, yet it may not travel as bytes")
	}
	if raw(a, "bob@example.org", `<message id='m2'><x xmlns='jabber:x:conference' jid='room@muc.example.org'/></message>`, bob) {
		t.Error("an invitation may travel as bytes, which only the tree tells to copy")
	}
	b := e.online("alice@example.org/b", "0", true)
	a.Take()
	if raw(a, "bob@example.org", msg, bob) {
		t.Error("b would get a sent carbon, yet the message may travel as bytes")
	}
	if raw(bob, "alice@example.org/a", msg, a) {
		t.Error("b would get a received carbon, yet the message may travel as bytes")
	}
	if !raw(bob, "alice@example.org", msg, a, b) {
		t.Error("both of alice's enabled sessions get the message, yet it may not travel as bytes")
	}
	// The message a sent as bytes before b came (m1, to bob) was noted:
	// an error answering it is copied to b.
	e.deliver(`<message from='bob@example.org' to='alice@example.org/a' type='error' id='m1'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	a.Take()
	if _, w, fwd := carbon(t, b); w != "received" || fwd.Attr("type") != "error" {
		t.Errorf("b got a %s carbon of %s, want the error", w, fwd)
	}
	nothing(t, bob)
}
