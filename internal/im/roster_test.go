package im

import (
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/xmlel"
)

func rosterResult(t *testing.T, s *session) *xmlel.Element {
	t.Helper()
	got := filter(s.take(), "iq", "")
	if len(got) != 1 || got[0].Attr("type") != "result" {
		t.Fatalf("roster answer %q, want one result", strs(got))
	}
	return got[0].Child(NSRoster, "query")
}

// Roster versioning (RFC 6121 §2.6): a get with the current version is
// answered with an empty result; a change is pushed with a new version.
func TestRosterVersioning(t *testing.T) {
	e := newEnv(t, Config{})
	e.user("juliet")
	s := e.bind("juliet@" + host + "/balcony")
	e.send(s, `<iq type='get' id='r1'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
	q := rosterResult(t, s)
	ver := q.Attr("ver")
	if q == nil || ver == "" || len(q.Elements()) != 0 {
		t.Fatalf("first get: %v, want an empty roster with a version", q)
	}
	e.send(s, `<iq type='get' id='r2'><query xmlns='jabber:iq:roster' ver='`+ver+`'/></iq>`)
	if q := rosterResult(t, s); q != nil {
		t.Errorf("get with the current version: %v, want an empty result", q)
	}
	e.send(s, `<iq type='set' id='r3'><query xmlns='jabber:iq:roster'><item jid='romeo@`+remote+`' name='Romeo'><group>Friends</group></item></query></iq>`)
	got := s.take()
	pushes := filter(got, "iq", "set")
	if len(pushes) != 1 || len(filter(got, "iq", "result")) != 1 {
		t.Fatalf("roster set: %q, want a push and a result", strs(got))
	}
	pq := pushes[0].Child(NSRoster, "query")
	newVer := pq.Attr("ver")
	if newVer == "" || newVer == ver {
		t.Errorf("push version %q, want a new one (was %q)", newVer, ver)
	}
	if it := pq.Child(NSRoster, "item"); it.Attr("jid") != "romeo@"+remote || it.Attr("subscription") != "none" || it.ChildText(NSRoster, "group") != "Friends" {
		t.Errorf("pushed item %v", it)
	}
	// The old version now gets the whole roster, the new one nothing.
	e.send(s, `<iq type='get' id='r4'><query xmlns='jabber:iq:roster' ver='`+ver+`'/></iq>`)
	if q := rosterResult(t, s); q == nil || q.Attr("ver") != newVer || len(q.Elements()) != 1 {
		t.Errorf("get with an old version: %v", q)
	}
	e.send(s, `<iq type='get' id='r5'><query xmlns='jabber:iq:roster' ver='`+newVer+`'/></iq>`)
	if q := rosterResult(t, s); q != nil {
		t.Errorf("get with the new version: %v, want an empty result", q)
	}
	// A client without versioning gets the roster each time.
	e.send(s, `<iq type='get' id='r6'><query xmlns='jabber:iq:roster'/></iq>`)
	if q := rosterResult(t, s); q == nil || len(q.Elements()) != 1 {
		t.Errorf("get without a version: %v", q)
	}
}

// Roster sets that RFC 6121 §2.3.3 refuses, and pushes only to the
// resources that asked for the roster (§2.1.6).
func TestRosterSet(t *testing.T) {
	e := newEnv(t, Config{RosterItems: 1})
	e.user("juliet")
	s := e.online("juliet@"+host+"/balcony", "")
	quiet := e.bind("juliet@" + host + "/quiet")
	item := func(inner string) string {
		return `<iq type='set' id='s'><query xmlns='jabber:iq:roster'>` + inner + `</query></iq>`
	}
	long := make([]byte, maxRosterText+1)
	for i := range long {
		long[i] = 'a'
	}
	cases := []struct {
		name, x, want string
	}{
		{"two items", item(`<item jid='a@` + remote + `'/><item jid='b@` + remote + `'/>`), "bad-request"},
		{"no item", item(``), "bad-request"},
		{"duplicate group", item(`<item jid='a@` + remote + `'><group>x</group><group>x</group></item>`), "bad-request"},
		{"empty group", item(`<item jid='a@` + remote + `'><group/></item>`), "not-acceptable"},
		{"long name", item(`<item jid='a@` + remote + `' name='` + string(long) + `'/>`), "not-acceptable"},
		{"malformed JID", item(`<item jid='a@b@c'/>`), "jid-malformed"},
		{"remove unknown", item(`<item jid='x@` + remote + `' subscription='remove'/>`), "item-not-found"},
		{"someone else's roster", `<iq type='get' id='s' to='romeo@` + host + `'><query xmlns='jabber:iq:roster'/></iq>`, "service-unavailable"},
		{"ok", item(`<item jid='a@` + remote + `' subscription='both' ask='subscribe'/>`), ""},
		{"full roster", item(`<item jid='b@` + remote + `'/>`), "not-allowed"},
	}
	for _, tc := range cases {
		e.send(s, tc.x)
		got := filter(s.take(), "iq", "")
		var answer *xmlel.Element
		for _, el := range got {
			if el.Attr("id") == "s" {
				answer = el
			}
		}
		if answer == nil {
			t.Errorf("%s: no answer in %q", tc.name, strs(got))
			continue
		}
		if c := condition(answer); c != tc.want {
			t.Errorf("%s: answer %s, want %q", tc.name, answer, tc.want)
		}
	}
	// The subscription and ask that a client sends are ignored (§2.1.2.5).
	it, err := e.store.Roster().Item(e.ctx, "juliet@"+host, "a@"+remote)
	if err != nil || it.Subscription != "none" || it.Ask {
		t.Errorf("stored item %+v (%v), want subscription none without ask", it, err)
	}
	if got := quiet.take(); len(got) != 0 {
		t.Errorf("a resource that never asked for the roster got %q", strs(got))
	}
}

// Removing a contact cancels the subscriptions both ways and refuses a
// pending request (RFC 6121 §2.5.2, §3.2.2).
func TestRosterRemove(t *testing.T) {
	cases := []struct {
		state string
		want  []string // presence types routed to the contact, in order
	}{
		{"none", nil},
		{"none+out", []string{"unsubscribe"}},
		{"none+in", []string{"unsubscribed"}},
		{"to", []string{"unsubscribe"}},
		{"from", []string{"unsubscribed", "unavailable"}},
		{"both", []string{"unsubscribe", "unsubscribed", "unavailable"}},
		{"to+in", []string{"unsubscribe", "unsubscribed"}},
	}
	for _, tc := range cases {
		t.Run(tc.state, func(t *testing.T) {
			e := newEnv(t, Config{})
			user := e.user("juliet")
			contact := jid.MustParse("romeo@" + remote)
			e.setState(user, contact, tc.state)
			if tc.state == "none" || tc.state == "none+in" {
				// There must be an item to remove.
				if _, err := e.store.Roster().Put(e.ctx, user.String(), rosterItem(contact), 0); err != nil {
					t.Fatal(err)
				}
			}
			s := e.online("juliet@"+host+"/balcony", "")
			e.takeRemote()
			e.send(s, `<iq type='set' id='rm'><query xmlns='jabber:iq:roster'><item jid='romeo@`+remote+`' subscription='remove'/></query></iq>`)
			var types []string
			for _, el := range e.takeRemote() {
				types = append(types, el.Attr("type"))
			}
			if len(types) != len(tc.want) {
				t.Fatalf("routed %q, want %q", types, tc.want)
			}
			for i := range types {
				if types[i] != tc.want[i] {
					t.Fatalf("routed %q, want %q", types, tc.want)
				}
			}
			if got := e.state(user, contact); got != "none" {
				t.Errorf("state after removal %s, want none", got)
			}
			pushes := filter(s.take(), "iq", "set")
			if len(pushes) != 1 || pushes[0].Child(NSRoster, "query").Child(NSRoster, "item").Attr("subscription") != "remove" {
				t.Errorf("pushes %q, want one with subscription='remove'", strs(pushes))
			}
		})
	}
}
