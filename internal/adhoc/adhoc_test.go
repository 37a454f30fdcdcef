package adhoc

import (
	"context"
	"log/slog"
	"testing"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/disco"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

type env struct {
	t   *testing.T
	mux *iq.Mux
	svc *Service
	ran []string
}

func newEnv(t *testing.T) *env {
	e := &env{t: t}
	r := router.New([]string{"example.org"})
	for _, full := range []string{"alice@example.org/a", "bob@example.org/b"} {
		if _, err := r.Bind(xmpptest.NewSession(full), true, 0); err != nil {
			t.Fatal(err)
		}
	}
	e.mux = iq.NewMux(slog.New(slog.DiscardHandler))
	d := disco.New(disco.Config{}, e.mux, nil)
	s := New(r, e.mux, d)
	e.svc = s
	s.Add(Command{
		Node: "confirm", Name: "Do it",
		Form: func(context.Context, jid.JID) dataform.Form {
			return dataform.Form{Title: "Sure?", Fields: []dataform.Field{{Var: "ok", Type: dataform.Boolean}}}
		},
		Run: func(_ context.Context, from jid.JID, f dataform.Form) (Result, error) {
			if v, _ := dataform.ParseBool(f.Value("ok")); !v {
				return Result{}, stanza.E(stanza.NotAcceptable)
			}
			e.ran = append(e.ran, from.String())
			return Note("done"), nil
		},
	})
	s.Add(Command{Node: "now", Name: "At once", Run: func(context.Context, jid.JID, dataform.Form) (Result, error) { return Result{}, nil }})
	return e
}

func (e *env) serve(from, payload string) *xmlel.Element {
	e.t.Helper()
	st := xmpptest.Stanza(e.t, `<iq type='set' id='c' from='`+from+`' to='example.org'>`+payload+`</iq>`)
	return e.mux.Serve(e.t.Context(), iq.Server, st)
}

func cond(resp *xmlel.Element) (stanza.Condition, string) {
	e, _ := stanza.ParseError(resp)
	specific := ""
	if er := resp.Child("", "error"); er != nil {
		if c := er.Child(NS, ""); c != nil {
			specific = c.Local
		}
	}
	return e.Condition, specific
}

func TestTwoStages(t *testing.T) {
	e := newEnv(t)
	resp := e.serve("alice@example.org/a", `<command xmlns='`+NS+`' node='confirm' action='execute'/>`)
	cmd := resp.Child(NS, "command")
	if cmd == nil || cmd.Attr("status") != "executing" || cmd.Attr("sessionid") == "" || cmd.Child(dataform.NS, "x") == nil {
		t.Fatalf("execute = %s", resp)
	}
	if a := cmd.Child(NS, "actions"); a == nil || a.Attr("execute") != "complete" {
		t.Errorf("actions = %s", resp)
	}
	id := cmd.Attr("sessionid")
	// Another user cannot take the session over.
	if c, sp := cond(e.serve("bob@example.org/b", `<command xmlns='`+NS+`' node='confirm' sessionid='`+id+`'/>`)); c != stanza.NotAllowed || sp != "session-expired" {
		t.Errorf("someone else's session = %s %s", c, sp)
	}
	resp = e.serve("alice@example.org/a", `<command xmlns='`+NS+`' node='confirm' sessionid='`+id+`' action='complete'><x xmlns='jabber:x:data' type='submit'><field var='ok'><value>true</value></field></x></command>`)
	cmd = resp.Child(NS, "command")
	if cmd == nil || cmd.Attr("status") != "completed" || cmd.ChildText(NS, "note") != "done" || len(e.ran) != 1 {
		t.Fatalf("complete = %s, ran %v", resp, e.ran)
	}
	if c, sp := cond(e.serve("alice@example.org/a", `<command xmlns='`+NS+`' node='confirm' sessionid='`+id+`'><x xmlns='jabber:x:data' type='submit'/></command>`)); c != stanza.NotAllowed || sp != "session-expired" {
		t.Errorf("a finished session again = %s %s", c, sp)
	}
}

func TestCancelAndErrors(t *testing.T) {
	e := newEnv(t)
	id := e.serve("alice@example.org/a", `<command xmlns='`+NS+`' node='confirm'/>`).Child(NS, "command").Attr("sessionid")
	resp := e.serve("alice@example.org/a", `<command xmlns='`+NS+`' node='confirm' sessionid='`+id+`' action='cancel'/>`)
	if cmd := resp.Child(NS, "command"); cmd == nil || cmd.Attr("status") != "canceled" || len(e.ran) != 0 {
		t.Errorf("cancel = %s", resp)
	}
	id = e.serve("alice@example.org/a", `<command xmlns='`+NS+`' node='confirm'/>`).Child(NS, "command").Attr("sessionid")
	resp = e.serve("alice@example.org/a", `<command xmlns='`+NS+`' node='confirm' sessionid='`+id+`'><x xmlns='jabber:x:data' type='submit'><field var='ok'><value>false</value></field></x></command>`)
	if c, _ := cond(resp); c != stanza.NotAcceptable {
		t.Errorf("the command's own error = %s", c)
	}
	// §4.6: the error names the session, without the form.
	if echo := resp.Child(NS, "command"); echo == nil || echo.Attr("sessionid") != id || echo.Attr("node") != "confirm" || len(echo.Elements()) != 0 {
		t.Errorf("error reply %s, want the request's <command/> without its form", resp)
	}
	tests := []struct {
		name, from, payload string
		cond                stanza.Condition
		specific            string
	}{
		{"unknown node", "alice@example.org/a", `<command xmlns='` + NS + `' node='nope'/>`, stanza.ItemNotFound, ""},
		{"odd action", "alice@example.org/a", `<command xmlns='` + NS + `' node='confirm' action='jump'/>`, stanza.BadRequest, "malformed-action"},
		{"prev first", "alice@example.org/a", `<command xmlns='` + NS + `' node='confirm' action='prev'/>`, stanza.BadRequest, "bad-action"},
		{"made up session", "alice@example.org/a", `<command xmlns='` + NS + `' node='confirm' sessionid='x'/>`, stanza.NotAllowed, "session-expired"},
		{"remote", "mallory@remote.example/x", `<command xmlns='` + NS + `' node='confirm'/>`, stanza.Forbidden, ""},
		{"not bound", "carol@example.org/c", `<command xmlns='` + NS + `' node='confirm'/>`, stanza.Forbidden, ""},
	}
	for _, tc := range tests {
		if c, sp := cond(e.serve(tc.from, tc.payload)); c != tc.cond || sp != tc.specific {
			t.Errorf("%s: %s %s, want %s %s", tc.name, c, sp, tc.cond, tc.specific)
		}
	}
	resp = e.serve("alice@example.org/a", `<command xmlns='`+NS+`' node='now'/>`)
	if cmd := resp.Child(NS, "command"); cmd == nil || cmd.Attr("status") != "completed" {
		t.Errorf("one-stage command = %s", resp)
	}
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	get := func(from, payload string) *xmlel.Element {
		st := xmpptest.Stanza(t, `<iq type='get' id='d' from='`+from+`' to='example.org'>`+payload+`</iq>`)
		return e.mux.Serve(t.Context(), iq.Server, st)
	}
	resp := get("alice@example.org/a", `<query xmlns='http://jabber.org/protocol/disco#items' node='`+NS+`'/>`)
	q := resp.Child(disco.NSItems, "query")
	if q == nil || len(q.Elements()) != 2 || q.Elements()[0].Attr("node") != "confirm" || q.Elements()[0].Attr("jid") != "example.org" {
		t.Errorf("command list = %s", resp)
	}
	resp = get("mallory@remote.example/x", `<query xmlns='http://jabber.org/protocol/disco#items' node='`+NS+`'/>`)
	if q := resp.Child(disco.NSItems, "query"); q == nil || len(q.Elements()) != 0 {
		t.Errorf("command list for a stranger = %s", resp)
	}
	resp = get("alice@example.org/a", `<query xmlns='http://jabber.org/protocol/disco#info' node='confirm'/>`)
	if q := resp.Child(disco.NSInfo, "query"); q == nil || q.Child(disco.NSInfo, "identity").Attr("type") != "command-node" {
		t.Errorf("command info = %s", resp)
	}
	if f := e.mux.Features(iq.Server); !contains(f, NS) {
		t.Errorf("server features %v lack %s", f, NS)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestAllowedAndResults checks that a command for some users only is
// neither listed, described nor run for the others, and that a result
// form reaches the requester as a form of type result.
func TestAllowedAndResults(t *testing.T) {
	e := newEnv(t)
	e.svc.Add(Command{
		Node: "count", Name: "Count", Allowed: func(from jid.JID) bool { return from.Local() == "alice" },
		Run: func(context.Context, jid.JID, dataform.Form) (Result, error) {
			return Result{Note: "counted", Form: &dataform.Form{Fields: []dataform.Field{{Var: "n", Values: []string{"3"}}}}}, nil
		},
	})
	resp := e.serve("alice@example.org/a", `<command xmlns='`+NS+`' node='count'/>`)
	cmd := resp.Child(NS, "command")
	x := cmd.Child(dataform.NS, "x")
	if cmd.Attr("status") != "completed" || cmd.ChildText(NS, "note") != "counted" || x == nil || x.Attr("type") != "result" {
		t.Fatalf("count = %s", resp)
	}
	if f, err := dataform.Parse(x); err != nil || f.Value("n") != "3" {
		t.Errorf("result form = %s (%v)", x, err)
	}
	if c, _ := cond(e.serve("bob@example.org/b", `<command xmlns='`+NS+`' node='count'/>`)); c != stanza.Forbidden {
		t.Errorf("bob runs count: %s, want forbidden", c)
	}
	get := func(from, payload string) *xmlel.Element {
		st := xmpptest.Stanza(t, `<iq type='get' id='d' from='`+from+`' to='example.org'>`+payload+`</iq>`)
		return e.mux.Serve(t.Context(), iq.Server, st)
	}
	for from, want := range map[string]int{"alice@example.org/a": 1, "bob@example.org/b": 0} {
		q := get(from, `<query xmlns='http://jabber.org/protocol/disco#items' node='`+NS+`'/>`).Child(disco.NSItems, "query")
		n := 0
		for _, it := range q.Elements() {
			if it.Attr("node") == "count" {
				n++
			}
		}
		if n != want {
			t.Errorf("%s sees count listed %d times, want %d", from, n, want)
		}
	}
	if c, _ := cond(get("bob@example.org/b", `<query xmlns='http://jabber.org/protocol/disco#info' node='count'/>`)); c != stanza.Forbidden {
		t.Errorf("bob's disco#info of count: %s, want forbidden", c)
	}
}
