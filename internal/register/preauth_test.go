package register

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

func preauth(token string) *xmlel.Element {
	return xmlel.New(NSPreAuth, "preauth", "token", token)
}

// fieldVars returns the var of every field of the data form in q.
func fieldVars(q *xmlel.Element) []string {
	var out []string
	for _, f := range q.Child(stanza.NSDataForm, "x").Elements() {
		if f.Local == "field" {
			out = append(out, f.Attr("var"))
		}
	}
	return out
}

func TestPreAuth(t *testing.T) {
	// Tokens are made when a scenario starts; a step's payload reads them.
	type tokens map[string]string
	type step struct {
		host    string
		to      string // "" for none
		typ     string
		payload func(tokens) *xmlel.Element
		cond    stanza.Condition // "" for a result
		check   func(t *testing.T, f *fixture, payload *xmlel.Element)
	}
	fixed := func(el *xmlel.Element) func(tokens) *xmlel.Element {
		return func(tokens) *xmlel.Element { return el }
	}
	registered := func(user, password string) func(*testing.T, *fixture, *xmlel.Element) {
		return func(t *testing.T, f *fixture, _ *xmlel.Element) { f.accounts.checkPassword(t, user, password) }
	}
	notRegistered := func(user string) func(*testing.T, *fixture, *xmlel.Element) {
		return func(t *testing.T, f *fixture, _ *xmlel.Element) {
			if _, ok := f.accounts.m[user]; ok {
				t.Errorf("account %s exists, want none", user)
			}
		}
	}
	fullForm := func(t *testing.T, _ *fixture, q *xmlel.Element) {
		if q.Child(NS, "username") == nil || q.Child(NS, "password") == nil || q.ChildText(NS, "instructions") == "" {
			t.Errorf("form = %v, want instructions, <username/> and <password/>", q)
		}
		if got := strings.Join(fieldVars(q), " "); got != "FORM_TYPE username password" {
			t.Errorf("form fields = %s, want FORM_TYPE username password", got)
		}
	}
	tests := []struct {
		name   string
		setup  func(t *testing.T, f *fixture) tokens
		steps  []step
		accept func(t *testing.T, f *fixture)
	}{
		{name: "closed host", steps: []step{
			{host: "closed.lit", typ: "get", payload: fixed(xmlel.New(NS, "query")), cond: stanza.ServiceUnavailable},
			{host: "closed.lit", typ: "set", payload: fixed(legacy("bill", "Calliope")), cond: stanza.ServiceUnavailable,
				check: notRegistered("bill@closed.lit")},
			{host: "closed.lit", typ: "set", payload: fixed(preauth("x")), cond: stanza.ServiceUnavailable},
		}},
		{name: "unknown policy is closed", steps: []step{
			{host: "other.lit", typ: "get", payload: fixed(xmlel.New(NS, "query")), cond: stanza.ServiceUnavailable},
		}},
		{name: "open: form", steps: []step{
			{host: "open.lit", typ: "get", payload: fixed(xmlel.New(NS, "query")), check: fullForm},
			{host: "open.lit", to: "open.lit", typ: "get", payload: fixed(xmlel.New(NS, "query")), check: fullForm},
		}},
		{name: "open: legacy fields", steps: []step{
			{host: "open.lit", typ: "set", payload: fixed(legacy("bill", "Calliope")), check: registered("bill@open.lit", "Calliope")},
		}},
		{name: "open: data form", steps: []step{
			{host: "open.lit", to: "open.lit", typ: "set", payload: fixed(form(formRegister, "username", "juliet", "password", "R0m30")),
				check: registered("juliet@open.lit", "R0m30")},
		}},
		{name: "open: the username is prepared", steps: []step{
			{host: "open.lit", typ: "set", payload: fixed(legacy("Bill", "Calliope")), check: registered("bill@open.lit", "Calliope")},
		}},
		{name: "open: taken", setup: func(t *testing.T, f *fixture) tokens {
			f.accounts.add(t, "bill@open.lit", "first")
			return nil
		}, steps: []step{
			{host: "open.lit", typ: "set", payload: fixed(legacy("bill", "m1cro$oft")), cond: stanza.Conflict,
				check: registered("bill@open.lit", "first")},
			{host: "open.lit", typ: "set", payload: fixed(legacy("bard", "m1cro$oft")), check: registered("bard@open.lit", "m1cro$oft")},
		}},
		{name: "open: one account per stream", steps: []step{
			{host: "open.lit", typ: "set", payload: fixed(legacy("bill", "Calliope"))},
			{host: "open.lit", typ: "set", payload: fixed(legacy("bill2", "Calliope")), cond: stanza.NotAcceptable,
				check: notRegistered("bill2@open.lit")},
		}},
		{name: "open: bad submissions", steps: []step{
			{host: "open.lit", typ: "set", payload: fixed(legacy("bill", "")), cond: stanza.NotAcceptable, check: notRegistered("bill@open.lit")},
			{host: "open.lit", typ: "set", payload: fixed(legacy("", "Calliope")), cond: stanza.NotAcceptable},
			{host: "open.lit", typ: "set", payload: fixed(xmlel.New(NS, "query")), cond: stanza.NotAcceptable},
			{host: "open.lit", typ: "set", payload: fixed(legacy("bill@open.lit", "Calliope")), cond: stanza.JIDMalformed},
			{host: "open.lit", typ: "set", payload: fixed(legacy("bi ll", "Calliope")), cond: stanza.JIDMalformed},
			{host: "open.lit", typ: "set", payload: fixed(legacy(strings.Repeat("b", 1024), "Calliope")), cond: stanza.JIDMalformed},
			{host: "open.lit", typ: "set", payload: fixed(legacy("bill", "bell\u0007")), cond: stanza.NotAcceptable, check: notRegistered("bill@open.lit")},
			{host: "open.lit", typ: "set", payload: fixed(legacy("bill", strings.Repeat("p", maxPassword+1))), cond: stanza.NotAcceptable},
			{host: "open.lit", typ: "set", payload: fixed(xmlel.New(NS, "query").Append(xmlel.New(NS, "remove"))), cond: stanza.UnexpectedRequest},
			{host: "open.lit", typ: "get", payload: fixed(xmlel.New(NS, "register")), cond: stanza.BadRequest},
		}},
		{name: "not registration", steps: []step{
			{host: "open.lit", typ: "get", payload: fixed(xmlel.New(stanza.NSDiscoInfo, "query")), cond: stanza.ServiceUnavailable},
			{host: "open.lit", typ: "get", payload: fixed(xmlel.New("urn:xmpp:ping", "ping")), cond: stanza.ServiceUnavailable},
			{host: "open.lit", to: "other.lit", typ: "get", payload: fixed(xmlel.New(NS, "query")), cond: stanza.ServiceUnavailable},
			{host: "open.lit", to: "bill@open.lit", typ: "get", payload: fixed(xmlel.New(NS, "query")), cond: stanza.ServiceUnavailable},
			{host: "open.lit", typ: "get", payload: func(tokens) *xmlel.Element { return nil }, cond: stanza.BadRequest},
		}},
		{name: "invite: form without an invitation", steps: []step{
			{host: "invite.lit", typ: "get", payload: fixed(xmlel.New(NS, "query")), check: func(t *testing.T, _ *fixture, q *xmlel.Element) {
				if q.Child(NS, "username") != nil || q.Child(NS, "password") != nil || q.ChildText(NS, "instructions") == "" {
					t.Errorf("form = %v, want instructions and no legacy fields", q)
				}
				if got := strings.Join(fieldVars(q), " "); got != "FORM_TYPE username password token" {
					t.Errorf("form fields = %s, want FORM_TYPE username password token", got)
				}
			}},
		}},
		{name: "invite: no token", steps: []step{
			{host: "invite.lit", typ: "set", payload: fixed(legacy("bill", "Calliope")), cond: stanza.NotAllowed, check: notRegistered("bill@invite.lit")},
		}},
		{name: "invite: wrong token", steps: []step{
			{host: "invite.lit", typ: "set", payload: fixed(form(formRegister, "username", "bill", "password", "Calliope", "token", "guess")),
				cond: stanza.Forbidden, check: notRegistered("bill@invite.lit")},
			{host: "invite.lit", typ: "set", payload: fixed(preauth("guess")), cond: stanza.Forbidden},
			{host: "invite.lit", typ: "set", payload: fixed(preauth("")), cond: stanza.BadRequest},
			{host: "invite.lit", typ: "get", payload: fixed(preauth("guess")), cond: stanza.BadRequest},
		}},
		{name: "invite: XEP-0445 preauth, then register", setup: func(t *testing.T, f *fixture) tokens {
			return tokens{"a": f.invite(t, "invite.lit")}
		}, steps: []step{
			{host: "invite.lit", to: "invite.lit", typ: "set", payload: func(tk tokens) *xmlel.Element { return preauth(tk["a"]) }},
			{host: "invite.lit", typ: "get", payload: fixed(xmlel.New(NS, "query")), check: fullForm},
			{host: "invite.lit", typ: "set", payload: fixed(legacy("juliet", "R0m30")), check: registered("juliet@invite.lit", "R0m30")},
		}, accept: func(t *testing.T, f *fixture) {
			// The token is spent: another stream cannot use it.
			st := &State{}
			resp := f.r.PreAuth(context.Background(), "invite.lit", st, iqStanza("set", "", "", preauth(f.lastToken)))
			wantError(t, resp, stanza.Forbidden)
		}},
		{name: "invite: token in the form", setup: func(t *testing.T, f *fixture) tokens {
			return tokens{"a": f.invite(t, "invite.lit")}
		}, steps: []step{
			{host: "invite.lit", typ: "set", payload: func(tk tokens) *xmlel.Element {
				return form(formRegister, "username", "juliet", "password", "R0m30", "token", tk["a"])
			}, check: registered("juliet@invite.lit", "R0m30")},
		}},
		{name: "invite: preauth in the query", setup: func(t *testing.T, f *fixture) tokens {
			return tokens{"a": f.invite(t, "invite.lit")}
		}, steps: []step{
			{host: "invite.lit", typ: "set", payload: func(tk tokens) *xmlel.Element {
				return legacy("juliet", "R0m30", preauth(tk["a"]))
			}, check: registered("juliet@invite.lit", "R0m30")},
		}},
		{name: "invite: a taken username keeps the invitation", setup: func(t *testing.T, f *fixture) tokens {
			f.accounts.add(t, "romeo@invite.lit", "first")
			return tokens{"a": f.invite(t, "invite.lit")}
		}, steps: []step{
			{host: "invite.lit", typ: "set", payload: func(tk tokens) *xmlel.Element {
				return form(formRegister, "username", "romeo", "password", "R0m30", "token", tk["a"])
			}, cond: stanza.Conflict},
			{host: "invite.lit", typ: "set", payload: fixed(legacy("juliet", "R0m30")), check: registered("juliet@invite.lit", "R0m30")},
		}},
		{name: "invite: a bad password does not spend the invitation", setup: func(t *testing.T, f *fixture) tokens {
			return tokens{"a": f.invite(t, "invite.lit")}
		}, steps: []step{
			{host: "invite.lit", typ: "set", payload: func(tk tokens) *xmlel.Element {
				return form(formRegister, "username", "juliet", "password", "bell\u0007", "token", tk["a"])
			}, cond: stanza.NotAcceptable},
			{host: "invite.lit", typ: "set", payload: func(tk tokens) *xmlel.Element {
				return form(formRegister, "username", "juliet", "password", "R0m30", "token", tk["a"])
			}, check: registered("juliet@invite.lit", "R0m30")},
		}},
		{name: "invite: token of another host", setup: func(t *testing.T, f *fixture) tokens {
			return tokens{"a": f.invite(t, "elsewhere.lit")}
		}, steps: []step{
			{host: "invite.lit", typ: "set", payload: func(tk tokens) *xmlel.Element { return preauth(tk["a"]) }, cond: stanza.Forbidden},
		}},
		{name: "invite: expired token", setup: func(t *testing.T, f *fixture) tokens {
			tk := tokens{"a": f.invite(t, "invite.lit")}
			f.now = f.now.Add(time.Hour)
			return tk
		}, steps: []step{
			{host: "invite.lit", typ: "set", payload: func(tk tokens) *xmlel.Element { return preauth(tk["a"]) }, cond: stanza.Forbidden},
		}},
		{name: "open: preauth is accepted and not spent", setup: func(t *testing.T, f *fixture) tokens {
			return tokens{"a": f.invite(t, "open.lit")}
		}, steps: []step{
			{host: "open.lit", typ: "set", payload: func(tk tokens) *xmlel.Element { return preauth(tk["a"]) }},
			{host: "open.lit", typ: "set", payload: fixed(preauth("guess"))},
		}, accept: func(t *testing.T, f *fixture) {
			if ok, _ := f.invites.Use(context.Background(), f.lastToken, "open.lit"); !ok {
				t.Error("the token was spent")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			var tk tokens
			if tc.setup != nil {
				tk = tc.setup(t, f)
				f.lastToken = tk["a"]
			}
			state := &State{}
			for i, s := range tc.steps {
				st := iqStanza(s.typ, "", s.to, s.payload(tk))
				resp := f.r.PreAuth(context.Background(), s.host, state, st)
				if resp == nil {
					t.Fatalf("step %d: PreAuth = nil, want a response", i)
				}
				if resp.Attr("id") != "r1" {
					t.Errorf("step %d: PreAuth = %v, want id r1", i, resp)
				}
				var payload *xmlel.Element
				if s.cond != "" {
					wantError(t, resp, s.cond)
				} else {
					payload = wantResult(t, resp)
				}
				if s.check != nil {
					s.check(t, f, payload)
				}
			}
			if tc.accept != nil {
				tc.accept(t, f)
			}
		})
	}
}

func TestPreAuthIgnoresResponses(t *testing.T) {
	f := newFixture(t)
	for _, typ := range []string{"result", "error"} {
		if resp := f.r.PreAuth(context.Background(), "open.lit", &State{}, iqStanza(typ, "", "")); resp != nil {
			t.Errorf("PreAuth(%s) = %v, want nil", typ, resp)
		}
	}
}

func TestPreAuthStorageError(t *testing.T) {
	f := newFixture(t)
	f.accounts.err = errors.New("disk on fire")
	resp := f.r.PreAuth(context.Background(), "open.lit", &State{}, iqStanza("set", "", "", legacy("bill", "Calliope")))
	wantError(t, resp, stanza.InternalServerError)
}

func TestFeatures(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		host    string
		enabled bool
		want    string
	}{
		{"open.lit", true, "<register xmlns='http://jabber.org/features/iq-register'/>"},
		{"invite.lit", true, "<register xmlns='http://jabber.org/features/iq-register'/><register xmlns='urn:xmpp:ibr-token:0'/>"},
		{"closed.lit", false, ""},
		{"other.lit", false, ""},
	}
	for _, tc := range tests {
		if got := f.r.Enabled(tc.host); got != tc.enabled {
			t.Errorf("Enabled(%s) = %v, want %v", tc.host, got, tc.enabled)
		}
		var b strings.Builder
		for _, el := range f.r.Features(tc.host) {
			b.WriteString(el.String())
		}
		if b.String() != tc.want {
			t.Errorf("Features(%s) = %s, want %s", tc.host, b.String(), tc.want)
		}
	}
}
