package admin

import (
	"testing"

	"samtal.org/samtal/internal/adhoc"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// try serves a request that may not parse; nil when it does not, as the
// stream would have refused it.
func (e *env) try(from, payload string) *xmlel.Element {
	el, err := xmlstream.Parse([]byte(`<iq type='set' id='c' from='`+from+`' to='example.org'>`+payload+`</iq>`), xmlstream.Limits{})
	if err != nil {
		return nil
	}
	st := &stanza.Stanza{El: el, From: jid.MustParse(from), To: jid.MustParse("example.org")}
	return e.mux.Serve(e.t.Context(), iq.Server, st)
}

// FuzzCommands runs any command with any form, as the administrator of
// example.org and as a user who is not one. Nothing panics; the user
// changes nothing; nobody touches an account of another host.
func FuzzCommands(f *testing.F) {
	f.Add("add-user", "execute", `<x xmlns='jabber:x:data' type='submit'><field var='accountjid'><value>dave@example.org</value></field><field var='password'><value>pw</value></field><field var='password-verify'><value>pw</value></field></x>`)
	f.Add("delete-user", "complete", `<x xmlns='jabber:x:data' type='submit'><field var='accountjids'><value>carol@other.example</value><value>bob@example.org</value></field></x>`)
	f.Add("end-user-session", "complete", `<x xmlns='jabber:x:data' type='submit'><field var='accountjids'><value>bob@example.org/phone</value></field></x>`)
	f.Add("get-online-users-list", "complete", `<x xmlns='jabber:x:data' type='submit'><field var='max_items'><value>-3</value></field></x>`)
	f.Add("announce", "complete", `<x xmlns='jabber:x:data' type='submit'><field var='announcement'/></x>`)
	f.Add("change-user-password", "complete", `<x xmlns='jabber:x:data' type='form'><field var='accountjid'><value>@</value></field></x>`)
	f.Fuzz(func(t *testing.T, name, action, form string) {
		e := newEnv(t)
		node := xmlel.New(adhoc.NS, "command", "node", FormType+"#"+name, "action", "execute").String()
		for _, from := range []string{"bob@example.org/phone", "alice@example.org/a"} {
			resp := e.try(from, node)
			if resp == nil {
				return
			}
			if from == "bob@example.org/phone" {
				if _, isErr := stanza.ParseError(resp); !isErr {
					t.Fatalf("a user who is not an administrator got %s", resp)
				}
				continue
			}
			cmd := resp.Child(adhoc.NS, "command")
			if cmd == nil || cmd.Attr("sessionid") == "" {
				continue
			}
			next := xmlel.New(adhoc.NS, "command", "node", FormType+"#"+name, "sessionid", cmd.Attr("sessionid"), "action", action).String()
			e.try(from, next[:len(next)-2]+">"+form+"</command>")
		}
		if e.accounts["carol@other.example"] != "c" {
			t.Fatalf("the account of another host changed: %v", e.accounts)
		}
		if c := e.sessions["carol@other.example/c"]; c.Closed() != nil || len(c.Take()) != 0 {
			t.Fatal("the session of another host's user was touched")
		}
	})
}
