package register

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// ownRequest builds an iq from a bound session as the IM core hands it
// to the mux: a request without 'to' goes to the account, with To set
// to the sender's bare JID.
func ownRequest(typ, from, to string, payload *xmlel.Element) (iq.Target, *stanza.Stanza) {
	st := iqStanza(typ, from, to, payload)
	switch {
	case to == "":
		st.To = st.From.Bare()
		return iq.Account, st
	case st.To.IsDomain():
		return iq.Server, st
	}
	return iq.Account, st
}

func TestRegistered(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		cond     stanza.Condition
	}{
		{name: "own account", from: "bill@open.lit/globe"},
		{name: "own account by bare JID", from: "bill@open.lit/globe", to: "bill@open.lit"},
		{name: "own host", from: "bill@open.lit/globe", to: "open.lit"},
		{name: "closed host", from: "ann@closed.lit/home", to: "closed.lit"},
		{name: "another account", from: "bill@open.lit/globe", to: "ann@open.lit", cond: stanza.Forbidden},
		{name: "another host", from: "bill@elsewhere.lit/globe", to: "open.lit", cond: stanza.Forbidden},
		{name: "a server", from: "elsewhere.lit", to: "open.lit", cond: stanza.Forbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			target, st := ownRequest("get", tc.from, tc.to, xmlel.New(NS, "query"))
			resp := f.mux.Serve(context.Background(), target, st)
			if tc.cond != "" {
				wantError(t, resp, tc.cond)
				return
			}
			q := wantResult(t, resp)
			if q.Child(NS, "registered") == nil || q.ChildText(NS, "username") != st.From.Local() {
				t.Errorf("result = %v, want <registered/> and username %s", q, st.From.Local())
			}
		})
	}
}

func TestChangePassword(t *testing.T) {
	tests := []struct {
		name     string
		to       string
		payload  *xmlel.Element
		cond     stanza.Condition
		password string // the password afterwards
	}{
		{name: "legacy", to: "open.lit", payload: legacy("bill", "newpass"), password: "newpass"},
		{name: "legacy to own account", payload: legacy("bill", "newpass"), password: "newpass"},
		{name: "username as bare JID", payload: legacy("bill@open.lit", "newpass"), password: "newpass"},
		{name: "username not prepared", payload: legacy("Bill", "newpass"), password: "newpass"},
		{name: "data form", to: "open.lit", payload: form(formChangePassword, "username", "bill@open.lit", "old_password", "theglobe", "password", "groundlings"), password: "groundlings"},
		{name: "to another host", to: "closed.lit", payload: legacy("bill", "newpass"), cond: stanza.Forbidden, password: "theglobe"},
		{name: "empty password", payload: legacy("bill", ""), cond: stanza.NotAcceptable, password: "theglobe"},
		{name: "no username", payload: xmlel.New(NS, "query").Append(xmlel.TextElement(NS, "password", "newpass")), cond: stanza.BadRequest, password: "theglobe"},
		{name: "someone else's", payload: legacy("ann", "newpass"), cond: stanza.Forbidden, password: "theglobe"},
		{name: "someone else's bare JID", payload: legacy("bill@elsewhere.lit", "newpass"), cond: stanza.Forbidden, password: "theglobe"},
		{name: "disallowed character", payload: legacy("bill", "new\u0000pass"), cond: stanza.NotAcceptable, password: "theglobe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.accounts.add(t, "bill@open.lit", "theglobe")
			target, st := ownRequest("set", "bill@open.lit/globe", tc.to, tc.payload)
			resp := f.mux.Serve(context.Background(), target, st)
			if tc.cond != "" {
				wantError(t, resp, tc.cond)
			} else {
				wantResult(t, resp)
			}
			f.accounts.checkPassword(t, "bill@open.lit", tc.password)
		})
	}
}

func TestRemove(t *testing.T) {
	remove := xmlel.New(NS, "query").Append(xmlel.New(NS, "remove"))
	tests := []struct {
		name    string
		to      string
		payload *xmlel.Element
		cond    stanza.Condition
		log     []string // what the sessions saw
	}{
		{name: "without to", payload: remove, log: []string{
			"bill@open.lit/globe got <iq type='result' id='r1' to='bill@open.lit/globe'/>",
			"bill@open.lit/globe closed: stream error: not-authorized: account removed",
			"bill@open.lit/home closed: stream error: not-authorized: account removed",
		}},
		{name: "to the host", to: "open.lit", payload: remove, log: []string{
			"bill@open.lit/globe got <iq type='result' id='r1' from='open.lit' to='bill@open.lit/globe'/>",
			"bill@open.lit/globe closed: stream error: not-authorized: account removed",
			"bill@open.lit/home closed: stream error: not-authorized: account removed",
		}},
		{name: "more than remove", payload: xmlel.New(NS, "query").Append(xmlel.New(NS, "remove"), xmlel.New(NS, "username")), cond: stanza.BadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.accounts.add(t, "bill@open.lit", "theglobe")
			f.accounts.add(t, "ann@open.lit", "annpass")
			f.bind("bill@open.lit/globe")
			f.bind("bill@open.lit/home")
			f.bind("ann@open.lit/x")
			target, st := ownRequest("set", "bill@open.lit/globe", tc.to, tc.payload)
			resp := f.mux.Serve(context.Background(), target, st)
			if tc.cond != "" {
				wantError(t, resp, tc.cond)
				f.accounts.checkPassword(t, "bill@open.lit", "theglobe")
				if len(f.log) != 0 || len(f.removed) != 0 {
					t.Errorf("sessions saw %q and OnRemove got %v, want nothing", f.log, f.removed)
				}
				return
			}
			wantResult(t, resp)
			// The result first; then the sessions end, in no order.
			if len(f.log) > 1 {
				slices.Sort(f.log[1:])
			}
			if !slices.Equal(f.log, tc.log) {
				t.Errorf("sessions saw\n%q\nwant\n%q", f.log, tc.log)
			}
			if _, ok := f.accounts.m["bill@open.lit"]; ok {
				t.Error("the account still exists")
			}
			f.accounts.checkPassword(t, "ann@open.lit", "annpass")
			if want := []jid.JID{mustJID("bill@open.lit")}; !slices.Equal(f.removed, want) {
				t.Errorf("OnRemove got %v, want %v", f.removed, want)
			}
		})
	}
}

func TestRemoveMissingAccount(t *testing.T) {
	f := newFixture(t)
	target, st := ownRequest("set", "bill@open.lit/globe", "", xmlel.New(NS, "query").Append(xmlel.New(NS, "remove")))
	wantError(t, f.mux.Serve(context.Background(), target, st), stanza.RegistrationRequired)
	if len(f.removed) != 0 {
		t.Errorf("OnRemove got %v, want nothing", f.removed)
	}
}

func TestAdvertised(t *testing.T) {
	f := newFixture(t)
	if !slices.Contains(f.mux.Features(iq.Server), NS) {
		t.Errorf("Features(Server) = %v, want %s", f.mux.Features(iq.Server), NS)
	}
}

func TestValidate(t *testing.T) {
	if err := (Config{Iterations: MinIterations - 1}).Validate(); err == nil {
		t.Errorf("Validate(Iterations: %d) = nil, want an error", MinIterations-1)
	}
	if err := (Config{Iterations: MinIterations}).Validate(); err != nil {
		t.Errorf("Validate(Iterations: %d) = %v, want nil", MinIterations, err)
	}
}

// TestAdministration checks the account operations of service
// administration (XEP-0133): creating, changing the password of and
// removing an account, with the same effects as the user's own.
func TestAdministration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dave := mustJID("dave@open.lit")
	if err := f.r.CreateAccount(ctx, dave, "first"); err != nil {
		t.Fatal(err)
	}
	f.accounts.checkPassword(t, "dave@open.lit", "first")
	for _, tc := range []struct {
		name string
		err  error
		want stanza.Condition
	}{
		{"create again", f.r.CreateAccount(ctx, dave, "x"), stanza.Conflict},
		{"empty password", f.r.CreateAccount(ctx, mustJID("erin@open.lit"), ""), stanza.NotAcceptable},
		{"password nobody", f.r.SetPassword(ctx, mustJID("nobody@open.lit"), "x"), stanza.ItemNotFound},
		{"empty new password", f.r.SetPassword(ctx, dave, ""), stanza.NotAcceptable},
		{"remove nobody", f.r.RemoveAccount(ctx, mustJID("nobody@open.lit")), stanza.ItemNotFound},
	} {
		var se stanza.Error
		if !errors.As(tc.err, &se) || se.Condition != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, tc.err, tc.want)
		}
	}
	if err := f.r.SetPassword(ctx, dave, "second"); err != nil {
		t.Fatal(err)
	}
	f.accounts.checkPassword(t, "dave@open.lit", "second")

	// Disabling ends the sessions and keeps the account as it was.
	f.bind("dave@open.lit/laptop")
	// A session that logged in with the state from before and binds
	// after the sessions were ended.
	loggingIn := f.begin("dave@open.lit/tablet")
	if err := f.r.SetDisabled(ctx, dave, true); err != nil {
		t.Fatal(err)
	}
	if a, err := f.accounts.Get(ctx, "dave@open.lit"); err != nil || !a.Disabled {
		t.Fatalf("dave after SetDisabled(true): %+v, %v", a, err)
	}
	f.accounts.checkPassword(t, "dave@open.lit", "second")
	if len(f.log) != 1 || !strings.Contains(f.log[0], "dave@open.lit/laptop closed: stream error: not-authorized") {
		t.Errorf("sessions: %q, want dave's laptop closed with not-authorized", f.log)
	}
	f.log = nil
	if _, err := f.sessions.Bind(loggingIn, false, 0); err == nil {
		t.Error("a session that logged in before dave was disabled bound after")
	}
	if err := f.r.SetDisabled(ctx, dave, false); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.accounts.Get(ctx, "dave@open.lit"); a.Disabled {
		t.Error("dave is still disabled")
	}
	if _, err := f.sessions.Bind(loggingIn, false, 0); err != nil {
		t.Errorf("a session of dave, enabled again, did not bind: %v", err)
	}
	f.sessions.Unbind(loggingIn)
	var se stanza.Error
	if err := f.r.SetDisabled(ctx, mustJID("nobody@open.lit"), true); !errors.As(err, &se) || se.Condition != stanza.ItemNotFound {
		t.Errorf("disabling nobody: %v, want item-not-found", err)
	}

	f.bind("dave@open.lit/phone")
	loggingIn = f.begin("dave@open.lit/tablet")
	if err := f.r.RemoveAccount(ctx, dave); err != nil {
		t.Fatal(err)
	}
	if _, err := f.accounts.Get(ctx, "dave@open.lit"); err == nil {
		t.Error("dave's account is still there")
	}
	if len(f.log) != 1 || !strings.Contains(f.log[0], "dave@open.lit/phone closed: stream error: not-authorized") {
		t.Errorf("sessions: %q, want dave's phone closed with not-authorized", f.log)
	}
	if len(f.removed) != 1 || !f.removed[0].Equal(dave) {
		t.Errorf("OnRemove ran for %v", f.removed)
	}
	if _, err := f.sessions.Bind(loggingIn, false, 0); err == nil {
		t.Error("a session that logged in before dave was removed bound after")
	}
}
