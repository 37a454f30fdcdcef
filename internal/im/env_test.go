package im

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// The tests run the IM core on a real router and a real SQLite store in a
// temporary directory. Sessions are fakes that record what they are sent;
// routing is synchronous, so what a session got is known when the call
// that caused it returns. Stanzas for other domains land in env.remote,
// as a federation link would take them.

const (
	host   = "example.org"
	remote = "remote.example"
)

// session is a bound client resource that records what it is sent.
type session struct {
	jid jid.JID

	mu     sync.Mutex
	got    []*xmlel.Element
	closed *stream.Error
}

func (s *session) JID() jid.JID { return s.jid }

func (s *session) Send(el *xmlel.Element) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, el.Copy())
}

func (s *session) CloseWithError(e stream.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = &e
}

// take returns what the session got since the last take.
func (s *session) take() []*xmlel.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.got
	s.got = nil
	return got
}

// env is one IM core with its router and store.
type env struct {
	t     testing.TB
	ctx   context.Context
	store storage.Store
	r     *router.Router
	im    *Service

	mu     sync.Mutex
	remote []*xmlel.Element // stanzas routed to other servers
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "samtal.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &env{t: t, ctx: ctx, store: store, r: router.New([]string{host})}
	e.im = New(cfg, e.r, store, iq.NewMux(log), log)
	e.r.SetLocal(e.im)
	e.r.SetRemote(router.HandlerFunc(func(_ context.Context, st *stanza.Stanza) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.remote = append(e.remote, st.El.Copy())
	}))
	return e
}

// takeRemote returns what went to other servers since the last call.
func (e *env) takeRemote() []*xmlel.Element {
	e.mu.Lock()
	defer e.mu.Unlock()
	got := e.remote
	e.remote = nil
	return got
}

// user creates an account and returns its bare JID.
func (e *env) user(local string) jid.JID {
	e.t.Helper()
	u := jid.MustParse(local + "@" + host)
	if err := e.store.Accounts().Create(e.ctx, storage.Account{User: u.String()}); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// bind binds a session for a full JID, as c2s does after resource binding.
func (e *env) bind(full string) *session {
	e.t.Helper()
	s := &session{jid: jid.MustParse(full)}
	if _, err := e.r.Bind(s, true, 0); err != nil {
		e.t.Fatalf("bind %s: %v", full, err)
	}
	return s
}

// online binds a session, fetches the roster (an interested resource) and
// sends initial presence with a priority, then forgets what the session
// got so far.
func (e *env) online(full, prio string) *session {
	e.t.Helper()
	s := e.bind(full)
	e.send(s, `<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
	if prio == "" {
		e.send(s, `<presence/>`)
	} else {
		e.send(s, `<presence><priority>`+prio+`</priority></presence>`)
	}
	s.take()
	return s
}

// end ends a session the way c2s does when its connection goes away.
func (e *env) end(s router.Session) {
	e.t.Helper()
	if last, ok := e.r.Unbind(s); ok {
		e.im.Ended(e.ctx, s, last)
	}
}

func parse(t testing.TB, x string) *xmlel.Element {
	t.Helper()
	el, err := xmlstream.Parse([]byte(x), xmlstream.Limits{MaxStanzaBytes: 1 << 20, MaxDepth: 32})
	if err != nil {
		t.Fatalf("parse %q: %v", x, err)
	}
	return el
}

// send hands a stanza to the core as c2s does: 'from' stamped with the
// session's JID, 'to' prepared.
func (e *env) send(s router.Session, x string) {
	e.t.Helper()
	el := parse(e.t, x)
	el.SetAttr("from", s.JID().String())
	st := &stanza.Stanza{El: el, From: s.JID()}
	if to := el.Attr("to"); to != "" {
		st.To = jid.MustParse(to)
	}
	e.im.Outbound(e.ctx, s, st)
}

// deliver routes a stanza from elsewhere (another server, a component, a
// local user without a session); 'from' and 'to' must be set.
func (e *env) deliver(x string) {
	e.t.Helper()
	el := parse(e.t, x)
	e.r.Route(e.ctx, &stanza.Stanza{El: el, From: jid.MustParse(el.Attr("from")), To: jid.MustParse(el.Attr("to"))})
}

// setState puts a roster item and pending request in place for a state of
// RFC 6121 Appendix A: "none", "to", "from", "both", each optionally with
// "+out" (a request of the user pending), "+in" (a request of the contact
// pending) and "+approved" (a pre-approval).
func (e *env) setState(user, contact jid.JID, state string) {
	e.t.Helper()
	parts := strings.Split(state, "+")
	it := storage.RosterItem{Contact: contact.String(), Subscription: storage.Subscription(parts[0])}
	in := false
	for _, p := range parts[1:] {
		switch p {
		case "out":
			it.Ask = true
		case "in":
			in = true
		case "approved":
			it.Approved = true
		default:
			e.t.Fatalf("bad state %q", state)
		}
	}
	if state != "none" && state != "none+in" {
		if _, err := e.store.Roster().Put(e.ctx, user.String(), it, 0); err != nil {
			e.t.Fatal(err)
		}
	}
	if in {
		x := `<presence type='subscribe' from='` + contact.String() + `' to='` + user.String() + `'/>`
		if err := e.store.Roster().AddPending(e.ctx, user.String(), storage.PendingSubscription{From: contact.String(), Stanza: x}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// state reads back the state that setState writes.
func (e *env) state(user, contact jid.JID) string {
	e.t.Helper()
	st := "none"
	it, err := e.store.Roster().Item(e.ctx, user.String(), contact.String())
	switch {
	case err == nil:
		st = string(it.Subscription)
	case !errors.Is(err, storage.ErrNotFound):
		e.t.Fatal(err)
	}
	if it.Ask {
		st += "+out"
	}
	pending, err := e.store.Roster().Pending(e.ctx, user.String())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range pending {
		if p.From == contact.String() {
			st += "+in"
		}
	}
	if it.Approved {
		st += "+approved"
	}
	return st
}

// filter returns the elements of a kind (and type, "" for any; "none"
// for no type attribute).
func filter(els []*xmlel.Element, kind, typ string) []*xmlel.Element {
	var out []*xmlel.Element
	for _, el := range els {
		if el.Local != kind {
			continue
		}
		switch {
		case typ == "", typ == "none" && el.Attr("type") == "", el.Attr("type") == typ:
			out = append(out, el)
		}
	}
	return out
}

// addressed returns the elements addressed to a JID.
func addressed(els []*xmlel.Element, to string) []*xmlel.Element {
	var out []*xmlel.Element
	for _, el := range els {
		if el.Attr("to") == to {
			out = append(out, el)
		}
	}
	return out
}

// condition returns the stanza error condition of an error stanza.
func condition(el *xmlel.Element) string {
	if e, ok := stanza.ParseError(el); ok {
		return string(e.Condition)
	}
	return ""
}

func strs(els []*xmlel.Element) []string {
	out := make([]string, len(els))
	for i, el := range els {
		out[i] = el.String()
	}
	return out
}

func rosterItem(contact jid.JID) storage.RosterItem {
	return storage.RosterItem{Contact: contact.String(), Subscription: storage.SubNone}
}
