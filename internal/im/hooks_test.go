package im

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

type hookEnv struct {
	core   *Service
	router *router.Router
	store  storage.Store
}

func newHookEnv(t *testing.T, users ...string) *hookEnv {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "samtal.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, u := range users {
		if err := store.Accounts().Create(t.Context(), storage.Account{User: u}); err != nil {
			t.Fatal(err)
		}
	}
	r := router.New([]string{"example.org"})
	log := slog.New(slog.DiscardHandler)
	core := New(Config{}, r, store, iq.NewMux(log), log)
	r.SetLocal(core)
	return &hookEnv{core: core, router: r, store: store}
}

func (e *hookEnv) bind(t *testing.T, full string) *xmpptest.Session {
	t.Helper()
	s := xmpptest.NewSession(full)
	if _, err := e.router.Bind(s, true, 0); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessionEndedHook(t *testing.T) {
	e := newHookEnv(t, "alice@example.org")
	var ended []string
	e.core.AddHooks(Hooks{SessionEnded: func(_ context.Context, s router.Session) { ended = append(ended, s.JID().String()) }})
	s := e.bind(t, "alice@example.org/a")
	last, _ := e.router.Unbind(s)
	e.core.Ended(t.Context(), s, last)
	if len(ended) != 1 || ended[0] != "alice@example.org/a" {
		t.Errorf("SessionEnded saw %q, want the ended session", ended)
	}
}

func TestOfflineMessageHook(t *testing.T) {
	e := newHookEnv(t, "alice@example.org", "bob@example.org")
	ctx := t.Context()
	for _, body := range []string{"skip me", "keep me"} {
		e.core.Handle(ctx, xmpptest.Stanza(t, `<message from='bob@example.org/x' to='alice@example.org' type='chat'><body>`+body+`</body></message>`))
	}
	e.core.AddHooks(Hooks{OfflineMessage: func(_ context.Context, _ router.Session, el *xmlel.Element) bool {
		return el.ChildText("", "body") != "skip me"
	}})
	s := e.bind(t, "alice@example.org/a")
	e.core.Outbound(ctx, s, xmpptest.Stanza(t, `<presence from='alice@example.org/a'/>`))
	var bodies []string
	for _, el := range s.Take() {
		if el.Local == stanza.Message {
			bodies = append(bodies, el.ChildText("", "body"))
		}
	}
	if len(bodies) != 1 || bodies[0] != "keep me" {
		t.Errorf("delivered %q, want only the message the hook kept", bodies)
	}
	if n, err := e.store.Offline().Count(ctx, "alice@example.org"); err != nil || n != 0 {
		t.Errorf("offline count after delivery = %d, %v, want 0", n, err)
	}
}

func TestIQResponseHook(t *testing.T) {
	e := newHookEnv(t, "alice@example.org")
	var seen []string
	e.core.AddHooks(Hooks{IQResponse: func(_ context.Context, st *stanza.Stanza) bool {
		seen = append(seen, st.ID())
		return true
	}})
	ctx := t.Context()
	e.core.Handle(ctx, xmpptest.Stanza(t, `<iq type='result' id='to-host' from='push.example.net' to='example.org'/>`))
	e.core.Handle(ctx, xmpptest.Stanza(t, `<iq type='error' id='to-bare' from='push.example.net' to='alice@example.org'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`))
	e.core.Handle(ctx, xmpptest.Stanza(t, `<iq type='get' id='request' from='push.example.net' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`))
	if len(seen) != 2 || seen[0] != "to-host" || seen[1] != "to-bare" {
		t.Errorf("IQResponse saw %q, want the two responses", seen)
	}
}
