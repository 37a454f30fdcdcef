package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

type fakeSession struct {
	jid    jid.JID
	closed []stream.Error
}

func (f *fakeSession) JID() jid.JID                  { return f.jid }
func (f *fakeSession) Send(*xmlel.Element)           {}
func (f *fakeSession) CloseWithError(e stream.Error) { f.closed = append(f.closed, e) }

func sess(full string) *fakeSession { return &fakeSession{jid: jid.MustParse(full)} }

func TestBind(t *testing.T) {
	cases := []struct {
		name    string
		bound   []string // bound before, in order
		bind    string
		replace bool
		max     int
		wantErr error
		wantOld int // index into bound of the session replaced, -1 none
	}{
		{"first", nil, "a@x/r", false, 0, nil, -1},
		{"another resource", []string{"a@x/r"}, "a@x/s", false, 0, nil, -1},
		{"conflict refused", []string{"a@x/r"}, "a@x/r", false, 0, ErrConflict, -1},
		{"conflict replaces", []string{"a@x/r"}, "a@x/r", true, 0, nil, 0},
		{"limit", []string{"a@x/1", "a@x/2"}, "a@x/3", true, 2, ErrTooManySessions, -1},
		{"limit, replacing", []string{"a@x/1", "a@x/2"}, "a@x/2", true, 2, nil, 1},
		{"limit, refusing", []string{"a@x/1", "a@x/2"}, "a@x/2", false, 2, ErrConflict, -1},
		{"limit is per account", []string{"a@x/1", "a@x/2"}, "b@x/1", false, 2, nil, -1},
		{"under the limit", []string{"a@x/1"}, "a@x/2", false, 2, nil, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := New([]string{"x"})
			var before []*fakeSession
			for _, b := range tc.bound {
				s := sess(b)
				if _, err := r.Bind(s, false, 0); err != nil {
					t.Fatal(err)
				}
				before = append(before, s)
			}
			s := sess(tc.bind)
			old, err := r.Bind(s, tc.replace, tc.max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Bind(%s) = %v, want %v", tc.bind, err, tc.wantErr)
			}
			switch {
			case tc.wantOld < 0 && old != nil:
				t.Errorf("Bind returned old %v, want none", old.JID())
			case tc.wantOld >= 0 && old != Session(before[tc.wantOld]):
				t.Errorf("Bind returned old %v, want %s", old, tc.bound[tc.wantOld])
			}
			// A refused bind or a replacement adds no resource.
			want := len(tc.bound)
			if tc.wantErr == nil && tc.wantOld < 0 {
				want++
			}
			if r.Count() != want {
				t.Errorf("Count = %d, want %d", r.Count(), want)
			}
			bound := r.Session(s.jid)
			if tc.wantErr == nil && bound != Session(s) {
				t.Errorf("after Bind, %s is %v", tc.bind, bound)
			}
			if tc.wantErr != nil && bound == Session(s) {
				t.Errorf("a refused Bind took the resource")
			}
		})
	}
}

func TestUnbind(t *testing.T) {
	r := New([]string{"x"})
	a := sess("a@x/r")
	r.Bind(a, false, 0)
	r.SetInterested(a.jid)
	r.SetPresence(a.jid, xmlel.New("", "presence"), 5)
	b := sess("a@x/r")
	if old, _ := r.Bind(b, true, 0); old != Session(a) {
		t.Fatal("replace did not return the old session")
	}
	// The replaced session's unbind must not remove its successor.
	if _, ok := r.Unbind(a); ok {
		t.Error("Unbind of a replaced session reported true")
	}
	if r.Session(a.jid) != Session(b) {
		t.Error("Unbind of a replaced session removed its successor")
	}
	was, _ := r.SetPresence(b.jid, xmlel.New("", "presence"), 3)
	if was {
		t.Error("a new session inherited its predecessor's availability")
	}
	last, ok := r.Unbind(b)
	if !ok || !last.Available || last.Priority != 3 || last.Session != Session(b) {
		t.Errorf("Unbind = %+v, %v; want the last record, available at 3", last, ok)
	}
	if r.Count() != 0 || r.Resources(jid.MustParse("a@x")) != nil || r.IsBound(b.jid) {
		t.Error("the account is still in the table")
	}
	if _, ok := r.Unbind(b); ok {
		t.Error("second Unbind reported true")
	}
}

// recorder is a Handler that keeps what it gets.
type recorder struct {
	mu  sync.Mutex
	got []*stanza.Stanza
}

func (h *recorder) Handle(_ context.Context, st *stanza.Stanza) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, st)
}

func (h *recorder) take() []*stanza.Stanza {
	h.mu.Lock()
	defer h.mu.Unlock()
	got := h.got
	h.got = nil
	return got
}

func st(x *xmlel.Element) *stanza.Stanza {
	return &stanza.Stanza{El: x, From: jid.MustParse(x.Attr("from")), To: jid.MustParse(x.Attr("to"))}
}

func msg(from, to, typ string) *stanza.Stanza {
	return st(xmlel.New("", "message", "from", from, "to", to, "type", typ, "id", "m"))
}

func TestRoute(t *testing.T) {
	r := New([]string{"example.org", "example.net"})
	local, comp, remote := &recorder{}, &recorder{}, &recorder{}
	r.SetLocal(local)
	r.AddDomain("bot.example.org", comp)
	r.SetRemote(remote)

	cases := []struct {
		to   string
		want *recorder
	}{
		{"a@example.org", local},
		{"example.org", local},
		{"a@example.net/r", local},
		{"bot.example.org", comp},
		{"x@bot.example.org/r", comp},
		{"a@sub.example.org", remote},
		{"a@elsewhere.example", remote},
	}
	for _, tc := range cases {
		r.Route(context.Background(), msg("a@example.org/r", tc.to, "chat"))
		for _, h := range []*recorder{local, comp, remote} {
			n := len(h.take())
			if want := map[bool]int{true: 1, false: 0}[h == tc.want]; n != want {
				t.Errorf("Route to %s: a handler got %d stanzas, want %d", tc.to, n, want)
			}
		}
	}
	if !r.HasDomain("bot.example.org") || r.HasDomain("example.org") || !r.IsLocal("example.net") || r.IsLocal("bot.example.org") {
		t.Error("HasDomain/IsLocal disagree with the table")
	}

	// RemoveDomain removes only the handler that is there.
	r.RemoveDomain("bot.example.org", &recorder{})
	if !r.HasDomain("bot.example.org") {
		t.Error("RemoveDomain with another handler removed the domain")
	}
	r.RemoveDomain("bot.example.org", comp)
	r.Route(context.Background(), msg("a@example.org/r", "bot.example.org", "chat"))
	if len(comp.take()) != 0 || len(remote.take()) != 1 {
		t.Error("after RemoveDomain, stanzas must go to the remote handler")
	}
}

// Without a remote handler, a stanza for an unknown domain bounces with
// remote-server-not-found to its sender.
func TestRouteNoRemote(t *testing.T) {
	r := New([]string{"example.org"})
	local := &recorder{}
	r.SetLocal(local)
	r.Route(context.Background(), msg("a@example.org/r", "b@elsewhere.example", "chat"))
	got := local.take()
	if len(got) != 1 {
		t.Fatalf("bounce reached the sender %d times, want once", len(got))
	}
	if e, ok := stanza.ParseError(got[0].El); !ok || e.Condition != stanza.RemoteServerNotFound || got[0].To.String() != "a@example.org/r" ||
		got[0].From.String() != "b@elsewhere.example" || got[0].El.Attr("id") != "m" {
		t.Errorf("bounce %v", got[0].El)
	}
}

// Bounce answers what may be answered (RFC 6120 §8.3.1, §8.2.3).
func TestBounce(t *testing.T) {
	r := New([]string{"example.org"})
	local := &recorder{}
	r.SetLocal(local)
	el := func(kind, typ string) *stanza.Stanza {
		return st(xmlel.New("", kind, "from", "a@example.org/r", "to", "b@example.org", "type", typ, "id", "x"))
	}
	cases := []struct {
		st   *stanza.Stanza
		want bool
	}{
		{el("message", "chat"), true},
		{el("message", ""), true},
		{el("message", "error"), false},
		{el("iq", "get"), true},
		{el("iq", "set"), true},
		{el("iq", "result"), false},
		{el("iq", "error"), false},
		{el("presence", ""), false},
		{el("presence", "unavailable"), false},
		{el("presence", "probe"), false},
		{el("presence", "subscribed"), false},
		{el("presence", "subscribe"), true},
		{el("presence", "error"), false},
		{&stanza.Stanza{El: xmlel.New("", "message", "to", "b@example.org"), To: jid.MustParse("b@example.org")}, false},
	}
	for _, tc := range cases {
		r.Bounce(context.Background(), tc.st, stanza.E(stanza.ServiceUnavailable))
		got := local.take()
		if (len(got) == 1) != tc.want || len(got) > 1 {
			t.Errorf("Bounce(%s) sent %d, want an answer = %v", tc.st.El, len(got), tc.want)
			continue
		}
		if tc.want && got[0].El.Attr("type") != "error" {
			t.Errorf("Bounce(%s) = %s", tc.st.El, got[0].El)
		}
	}
}

func TestResources(t *testing.T) {
	r := New([]string{"x"})
	a, b := sess("a@x/1"), sess("a@x/2")
	r.Bind(a, false, 0)
	r.Bind(b, false, 0)
	r.SetPresence(a.jid, xmlel.New("", "presence"), -1)
	r.SetInterested(b.jid)
	r.SetBlocklistInterested(b.jid)
	res := r.Resources(jid.MustParse("a@x"))
	if len(res) != 2 {
		t.Fatalf("Resources = %d, want 2", len(res))
	}
	for _, x := range res {
		switch x.Session {
		case Session(a):
			if !x.Available || x.Priority != -1 || x.Interested || x.Presence == nil {
				t.Errorf("a: %+v", x)
			}
		case Session(b):
			if x.Available || !x.Interested || !x.Blocklist {
				t.Errorf("b: %+v", x)
			}
		}
	}
	// A snapshot: changing it changes nothing.
	res[0].Available = !res[0].Available
	if again := r.Resources(jid.MustParse("a@x")); len(again) != 2 {
		t.Fatal("Resources changed")
	}
	if was, prio := r.SetPresence(a.jid, nil, 0); !was || prio != -1 {
		t.Errorf("SetPresence = %v, %d; want the previous availability and priority", was, prio)
	}
	if was, _ := r.SetPresence(jid.MustParse("a@x/none"), xmlel.New("", "presence"), 0); was {
		t.Error("SetPresence of an unbound resource reported it available")
	}
	n := 0
	r.Each(func(Session) { n++ })
	if n != 2 || r.Count() != 2 {
		t.Errorf("Each saw %d, Count %d; want 2", n, r.Count())
	}
}

func TestRebindKeepsPresence(t *testing.T) {
	r := New([]string{"example.org"})
	full := jid.MustParse("juliet@example.org/balcony")
	old, next := sess(full.String()), sess(full.String())
	if _, err := r.Bind(old, false, 0); err != nil {
		t.Fatal(err)
	}
	pres := xmlel.New("", "presence")
	r.SetPresence(full, pres, 5)
	r.SetInterested(full)
	if !r.Rebind(old, next) {
		t.Fatal("Rebind = false")
	}
	res := r.Resources(full.Bare())
	if len(res) != 1 || res[0].Session != next || !res[0].Available || res[0].Priority != 5 || res[0].Presence != pres || !res[0].Interested {
		t.Errorf("after Rebind: %+v", res)
	}
	if _, ok := r.Unbind(old); ok {
		t.Error("Unbind(old) = true after Rebind")
	}
	if r.Rebind(old, sess(full.String())) {
		t.Error("Rebind from a session no longer bound = true")
	}
	other := sess("juliet@example.org/garden")
	if r.Rebind(next, other) {
		t.Error("Rebind to another JID = true")
	}
	if _, ok := r.Unbind(next); !ok || r.Count() != 0 {
		t.Error("the resumed session does not unbind")
	}
}

// TestWatcher checks that every change to the table reaches the watcher,
// in order, and that nothing else does.
func TestWatcher(t *testing.T) {
	r := New([]string{"x"})
	var got []string
	r.SetWatcher(func(c Change) {
		switch {
		case c.Gone:
			got = append(got, "gone "+c.JID.String())
		case c.Resource.Available:
			got = append(got, "available "+c.JID.String())
		default:
			got = append(got, "bound "+c.JID.String())
		}
	})
	a, a2 := sess("a@x/r"), sess("a@x/r")
	if _, err := r.Bind(a, false, 0); err != nil {
		t.Fatal(err)
	}
	r.SetInterested(a.jid)
	r.SetInterested(a.jid) // no change
	r.SetPresence(a.jid, xmlel.New("", "presence"), 1)
	r.Rebind(a, a2)
	r.Unbind(a) // not bound any more: no change
	r.Unbind(a2)
	r.SetPresence(a.jid, nil, 0) // not bound: no change
	want := []string{"bound a@x/r", "bound a@x/r", "available a@x/r", "available a@x/r", "gone a@x/r"}
	if len(got) != len(want) {
		t.Fatalf("changes = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("change %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// TestTableManyAccounts binds resources of many accounts from several
// goroutines at once: every account lands in one part of the table and
// is found there, counted once, and gone when unbound.
func TestTableManyAccounts(t *testing.T) {
	r := New([]string{"localhost"})
	const accounts, resources = 300, 2
	var wg sync.WaitGroup
	sessions := make([][]*fakeSession, accounts)
	for i := range accounts {
		for k := range resources {
			sessions[i] = append(sessions[i], sess(fmt.Sprintf("u%d@localhost/r%d", i, k)))
		}
	}
	for i := range accounts {
		wg.Go(func() {
			for _, s := range sessions[i] {
				if _, err := r.Bind(s, false, resources); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := r.Count(); n != accounts*resources {
		t.Fatalf("Count = %d, want %d", n, accounts*resources)
	}
	seen := map[Session]bool{}
	r.Each(func(s Session) { seen[s] = true })
	for i := range accounts {
		if got := len(r.Resources(jid.MustParse(fmt.Sprintf("u%d@localhost", i)))); got != resources {
			t.Fatalf("account %d has %d resources, want %d", i, got, resources)
		}
		for _, s := range sessions[i] {
			if !seen[s] || r.Session(s.JID()) != s {
				t.Fatalf("%s not found", s.JID())
			}
		}
	}
	for i := range accounts {
		wg.Go(func() {
			for _, s := range sessions[i] {
				if _, ok := r.Unbind(s); !ok {
					t.Errorf("%s was not bound", s.JID())
				}
			}
		})
	}
	wg.Wait()
	if n := r.Count(); n != 0 {
		t.Fatalf("Count = %d after unbinding all, want 0", n)
	}
	if p := r.Peak(); p != accounts*resources {
		t.Errorf("Peak = %d after all were bound at once, want %d", p, accounts*resources)
	}
}
