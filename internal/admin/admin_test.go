package admin

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"samtal.org/samtal/internal/adhoc"
	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/disco"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

// fakeAccounts keeps accounts as a set of bare JIDs with passwords.
type fakeAccounts map[string]string

func (f fakeAccounts) CreateAccount(_ context.Context, u jid.JID, pw string) error {
	if _, ok := f[u.String()]; ok {
		return stanza.E(stanza.Conflict)
	}
	f[u.String()] = pw
	return nil
}

func (f fakeAccounts) SetPassword(_ context.Context, u jid.JID, pw string) error {
	if _, ok := f[u.String()]; !ok {
		return stanza.E(stanza.ItemNotFound)
	}
	f[u.String()] = pw
	return nil
}

func (f fakeAccounts) RemoveAccount(_ context.Context, u jid.JID) error {
	if _, ok := f[u.String()]; !ok {
		return stanza.E(stanza.ItemNotFound)
	}
	delete(f, u.String())
	return nil
}

// SetDisabled marks a disabled account with a "!" before its password.
func (f fakeAccounts) SetDisabled(_ context.Context, u jid.JID, disabled bool) error {
	pw, ok := f[u.String()]
	if !ok {
		return stanza.E(stanza.ItemNotFound)
	}
	pw = strings.TrimPrefix(pw, "!")
	if disabled {
		pw = "!" + pw
	}
	f[u.String()] = pw
	return nil
}

func (f fakeAccounts) List(_ context.Context, domain string) ([]string, error) {
	var out []string
	for u := range f {
		if strings.HasSuffix(u, "@"+domain) {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (f fakeAccounts) ListDisabled(ctx context.Context, domain string) ([]string, error) {
	all, err := f.List(ctx, domain)
	return slices.DeleteFunc(all, func(u string) bool { return !strings.HasPrefix(f[u], "!") }), err
}

type env struct {
	t        *testing.T
	mux      *iq.Mux
	r        *router.Router
	accounts fakeAccounts
	sessions map[string]*xmpptest.Session
}

// newEnv serves example.org and other.example; alice administers
// example.org, and alice, bob (on two devices) and carol of
// other.example are online.
func newEnv(t *testing.T) *env {
	e := &env{t: t, r: router.New([]string{"example.org", "other.example"}), sessions: make(map[string]*xmpptest.Session),
		accounts: fakeAccounts{"alice@example.org": "a", "bob@example.org": "b", "carol@other.example": "c"}}
	for _, full := range []string{"alice@example.org/a", "bob@example.org/phone", "bob@example.org/pc", "carol@other.example/c"} {
		s := xmpptest.NewSession(full)
		e.sessions[full] = s
		if _, err := e.r.Bind(s, true, 0); err != nil {
			t.Fatal(err)
		}
		e.r.SetPresence(s.JID(), xmlel.New("", stanza.Presence), 0)
	}
	e.mux = iq.NewMux(slog.New(slog.DiscardHandler))
	d := disco.New(disco.Config{}, e.mux, nil)
	Register(adhoc.New(e.r, e.mux, d), []jid.JID{jid.MustParse("alice@example.org")}, e.accounts, e.accounts, e.r)
	return e
}

func (e *env) command(from, payload string) *xmlel.Element {
	e.t.Helper()
	st := xmpptest.Stanza(e.t, `<iq type='set' id='c' from='`+from+`' to='`+jid.MustParse(from).Domain()+`'>`+payload+`</iq>`)
	return e.mux.Serve(e.t.Context(), iq.Server, st)
}

// run executes a command as from and, when it shows a form, submits the
// fields. It returns the last response.
func (e *env) run(from, name string, fields map[string][]string) *xmlel.Element {
	e.t.Helper()
	node := FormType + "#" + name
	resp := e.command(from, `<command xmlns='`+adhoc.NS+`' node='`+node+`' action='execute'/>`)
	cmd := resp.Child(adhoc.NS, "command")
	if cmd == nil || cmd.Attr("status") != "executing" {
		return resp
	}
	x := xmlel.New(dataform.NS, "x", "type", "submit")
	for v, vals := range fields {
		f := xmlel.New(dataform.NS, "field", "var", v)
		for _, val := range vals {
			f.Append(xmlel.TextElement(dataform.NS, "value", val))
		}
		x.Append(f)
	}
	c := xmlel.New(adhoc.NS, "command", "node", node, "sessionid", cmd.Attr("sessionid"), "action", "complete").Append(x)
	return e.command(from, c.String())
}

func condition(resp *xmlel.Element) stanza.Condition {
	se, _ := stanza.ParseError(resp)
	return se.Condition
}

func note(resp *xmlel.Element) string {
	return resp.Child(adhoc.NS, "command").ChildText(adhoc.NS, "note")
}

func result(t *testing.T, resp *xmlel.Element) dataform.Form {
	t.Helper()
	cmd := resp.Child(adhoc.NS, "command")
	if cmd == nil || cmd.Attr("status") != "completed" {
		t.Fatalf("response %s, want a completed command", resp)
	}
	f, err := dataform.Parse(cmd.Child(dataform.NS, "x"))
	if err != nil || f.Type != dataform.TypeResult || f.FormType() != FormType {
		t.Fatalf("result %s: %v", resp, err)
	}
	return f
}

func TestOnlyAdministrators(t *testing.T) {
	e := newEnv(t)
	for _, from := range []string{"bob@example.org/phone", "carol@other.example/c"} {
		if c := condition(e.run(from, "get-online-users-num", nil)); c != stanza.Forbidden {
			t.Errorf("%s runs a command: %s, want forbidden", from, c)
		}
	}
	st := xmpptest.Stanza(t, `<iq type='get' id='d' from='bob@example.org/phone' to='example.org'><query xmlns='`+disco.NSItems+`' node='`+adhoc.NS+`'/></iq>`)
	if q := e.mux.Serve(t.Context(), iq.Server, st).Child(disco.NSItems, "query"); len(q.Elements()) != 0 {
		t.Errorf("bob sees commands: %s", q)
	}
	st = xmpptest.Stanza(t, `<iq type='get' id='d' from='alice@example.org/a' to='example.org'><query xmlns='`+disco.NSItems+`' node='`+adhoc.NS+`'/></iq>`)
	if q := e.mux.Serve(t.Context(), iq.Server, st).Child(disco.NSItems, "query"); len(q.Elements()) != 12 {
		t.Errorf("alice sees %d commands, want 12: %s", len(q.Elements()), q)
	}
}

func TestAccounts(t *testing.T) {
	e := newEnv(t)
	const alice = "alice@example.org/a"
	add := func(user, pw, verify string) *xmlel.Element {
		return e.run(alice, "add-user", map[string][]string{"FORM_TYPE": {FormType}, "accountjid": {user}, "password": {pw}, "password-verify": {verify}})
	}
	if c := condition(add("dave@other.example", "x", "x")); c != stanza.NotAllowed {
		t.Errorf("adding an account of another host: %s, want not-allowed", c)
	}
	if c := condition(add("dave@example.org/res", "x", "x")); c != stanza.BadRequest {
		t.Errorf("adding a full JID: %s, want bad-request", c)
	}
	if c := condition(add("dave@example.org", "x", "y")); c != stanza.NotAcceptable {
		t.Errorf("passwords that differ: %s, want not-acceptable", c)
	}
	if n := note(add("dave@example.org", "pw", "pw")); !strings.Contains(n, "dave@example.org") || e.accounts["dave@example.org"] != "pw" {
		t.Errorf("add-user: note %q, accounts %v", n, e.accounts)
	}
	if c := condition(add("dave@example.org", "pw", "pw")); c != stanza.Conflict {
		t.Errorf("adding it again: %s, want conflict", c)
	}
	e.run(alice, "change-user-password", map[string][]string{"accountjid": {"dave@example.org"}, "password": {"new"}})
	if e.accounts["dave@example.org"] != "new" {
		t.Errorf("change-user-password: %v", e.accounts)
	}
	n := note(e.run(alice, "delete-user", map[string][]string{"accountjids": {"dave@example.org", "nobody@example.org"}}))
	if n != "Deleted: dave@example.org. No such account: nobody@example.org. " {
		t.Errorf("delete-user note %q", n)
	}
	if _, ok := e.accounts["dave@example.org"]; ok {
		t.Error("dave is still there")
	}
	if c := condition(e.run(alice, "delete-user", map[string][]string{"accountjids": {"carol@other.example"}})); c != stanza.NotAllowed {
		t.Errorf("deleting an account of another host: %s, want not-allowed", c)
	}
	if f := result(t, e.run(alice, "get-registered-users-num", nil)); f.Value("registeredusersnum") != "2" {
		t.Errorf("registered users of example.org = %q, want 2", f.Value("registeredusersnum"))
	}
}

func TestDisable(t *testing.T) {
	e := newEnv(t)
	const alice = "alice@example.org/a"
	disable := func(users ...string) *xmlel.Element {
		return e.run(alice, "disable-user", map[string][]string{"accountjids": users})
	}
	if n := note(disable("bob@example.org", "nobody@example.org")); n != "Disabled: bob@example.org. No such account: nobody@example.org. " {
		t.Errorf("disable-user note %q", n)
	}
	if e.accounts["bob@example.org"] != "!b" {
		t.Errorf("bob after disable-user: %q", e.accounts["bob@example.org"])
	}
	e.accounts["dave@example.org"], e.accounts["erin@other.example"] = "!d", "!e"
	if f := result(t, e.run(alice, "get-disabled-users-num", nil)); f.Value("disabledusersnum") != "2" {
		t.Errorf("disabled users of example.org = %q, want 2 (bob, dave)", f.Value("disabledusersnum"))
	}
	f := result(t, e.run(alice, "get-disabled-users-list", map[string][]string{"max_items": {"1"}}))
	if l, _ := f.Field("disableduserjids"); !slices.Equal(l.Values, []string{"bob@example.org"}) {
		t.Errorf("disabled users, at most 1 = %v", l.Values)
	}
	f = result(t, e.run(alice, "get-disabled-users-list", map[string][]string{"max_items": {"none"}}))
	if l, _ := f.Field("disableduserjids"); !slices.Equal(l.Values, []string{"bob@example.org", "dave@example.org"}) {
		t.Errorf("disabled users = %v", l.Values)
	}
	if c := condition(e.run(alice, "get-disabled-users-list", map[string][]string{"max_items": {"many"}})); c != stanza.BadRequest {
		t.Errorf("max_items many: %s, want bad-request", c)
	}
	if c := condition(disable("alice@example.org")); c != stanza.NotAllowed || e.accounts["alice@example.org"] != "a" {
		t.Errorf("disabling one's own account: %s, account %q; want not-allowed, unchanged", c, e.accounts["alice@example.org"])
	}
	if c := condition(disable("carol@other.example")); c != stanza.NotAllowed || e.accounts["carol@other.example"] != "c" {
		t.Errorf("disabling an account of another host: %s", c)
	}
	if c := condition(disable("bob@example.org/phone")); c != stanza.BadRequest {
		t.Errorf("disabling a full JID: %s, want bad-request", c)
	}
	n := note(e.run(alice, "reenable-user", map[string][]string{"accountjids": {"bob@example.org"}}))
	if n != "Enabled: bob@example.org. " || e.accounts["bob@example.org"] != "b" {
		t.Errorf("reenable-user: note %q, bob %q", n, e.accounts["bob@example.org"])
	}
	if c := condition(e.run("bob@example.org/phone", "reenable-user", map[string][]string{"accountjids": {"bob@example.org"}})); c != stanza.Forbidden {
		t.Errorf("a user re-enables: %s, want forbidden", c)
	}
}

func TestSessions(t *testing.T) {
	e := newEnv(t)
	const alice = "alice@example.org/a"
	if f := result(t, e.run(alice, "get-online-users-num", nil)); f.Value("onlineusersnum") != "2" {
		t.Errorf("online users of example.org = %q, want 2 (alice, bob)", f.Value("onlineusersnum"))
	}
	f := result(t, e.run(alice, "get-online-users-list", map[string][]string{"max_items": {"1"}}))
	if l, _ := f.Field("onlineuserjids"); !slices.Equal(l.Values, []string{"alice@example.org"}) {
		t.Errorf("online users, at most 1 = %v", l.Values)
	}
	f = result(t, e.run(alice, "get-online-users-list", map[string][]string{"max_items": {"none"}}))
	if l, _ := f.Field("onlineuserjids"); !slices.Equal(l.Values, []string{"alice@example.org", "bob@example.org"}) {
		t.Errorf("online users = %v", l.Values)
	}

	// An unavailable resource gets no announcement.
	e.r.SetPresence(jid.MustParse("bob@example.org/pc"), nil, 0)
	if n := note(e.run(alice, "announce", map[string][]string{"announcement": {"Restart at noon.", "Back soon."}})); n != "Sent to 2 online resources." {
		t.Errorf("announce note %q", n)
	}
	got := e.sessions["bob@example.org/phone"].Take()
	if len(got) != 1 || got[0].ChildText("", "body") != "Restart at noon.\nBack soon." || got[0].Attr("from") != "example.org" {
		t.Errorf("bob's phone got %v", got)
	}
	if got := e.sessions["bob@example.org/pc"].Take(); len(got) != 0 {
		t.Errorf("bob's unavailable pc got %v", got)
	}
	if got := e.sessions["carol@other.example/c"].Take(); len(got) != 0 {
		t.Errorf("carol of another host got %v", got)
	}

	n := note(e.run(alice, "end-user-session", map[string][]string{"accountjids": {"bob@example.org/pc"}}))
	if n != "1 sessions ended." || e.sessions["bob@example.org/pc"].Closed() == nil || e.sessions["bob@example.org/phone"].Closed() != nil {
		t.Errorf("ending bob's pc: %q", n)
	}
	e.run(alice, "end-user-session", map[string][]string{"accountjids": {"bob@example.org"}})
	if c := e.sessions["bob@example.org/phone"].Closed(); c == nil || c.Condition != stream.Reset {
		t.Errorf("bob's phone closed with %v, want reset", c)
	}
	if c := condition(e.run(alice, "end-user-session", map[string][]string{"accountjids": {"carol@other.example/c"}})); c != stanza.NotAllowed {
		t.Errorf("ending a session of another host: %s, want not-allowed", c)
	}
}
