package im

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Delivery of messages to a local user by priority (RFC 6121 §8.5.2,
// §8.5.3): who gets a message sent to the bare or a full JID, for each
// mix of resources.
func TestMessageRouting(t *testing.T) {
	type res struct {
		name string
		prio string // "" bound but not available
	}
	cases := []struct {
		name    string
		res     []res
		to      string // resource, "" for the bare JID
		typ     string
		want    []string // resources that get the message
		offline bool     // stored offline
		bounce  string   // error condition returned to the sender
	}{
		{"highest priority", []res{{"a", "1"}, {"b", "5"}, {"c", "3"}}, "", "chat", []string{"b"}, false, ""},
		{"tie at the top", []res{{"a", "5"}, {"b", "5"}, {"c", "3"}}, "", "chat", []string{"a", "b"}, false, ""},
		{"normal tie", []res{{"a", "0"}, {"b", "0"}}, "", "", []string{"a", "b"}, false, ""},
		{"unknown type is normal", []res{{"a", "2"}, {"b", "1"}}, "", "bogus", []string{"a"}, false, ""},
		{"zero beats negative", []res{{"a", "-1"}, {"b", "0"}}, "", "chat", []string{"b"}, false, ""},
		{"only negative: offline", []res{{"a", "-1"}, {"b", "-128"}}, "", "chat", nil, true, ""},
		{"only negative normal: offline", []res{{"a", "-1"}}, "", "normal", nil, true, ""},
		{"bound, not available: offline", []res{{"a", ""}}, "", "chat", nil, true, ""},
		{"no session: offline", nil, "", "chat", nil, true, ""},
		{"headline to all non-negative", []res{{"a", "5"}, {"b", "0"}, {"c", "-1"}}, "", "headline", []string{"a", "b"}, false, ""},
		{"headline, only negative: dropped", []res{{"a", "-1"}}, "", "headline", nil, false, ""},
		{"headline, no session: dropped", nil, "", "headline", nil, false, ""},
		{"groupchat to bare: refused", []res{{"a", "5"}}, "", "groupchat", nil, false, "service-unavailable"},
		{"groupchat, no session: refused", nil, "", "groupchat", nil, false, "service-unavailable"},
		{"error to bare: dropped", []res{{"a", "5"}}, "", "error", nil, false, ""},
		{"error, no session: dropped", nil, "", "error", nil, false, ""},
		{"full JID", []res{{"a", "5"}, {"b", "1"}}, "b", "chat", []string{"b"}, false, ""},
		{"full JID, negative priority", []res{{"a", "5"}, {"b", "-1"}}, "b", "chat", []string{"b"}, false, ""},
		{"full JID, not available", []res{{"a", "5"}, {"b", ""}}, "b", "normal", []string{"b"}, false, ""},
		{"full JID groupchat", []res{{"a", "5"}}, "a", "groupchat", []string{"a"}, false, ""},
		{"gone resource, chat: as bare", []res{{"a", "5"}, {"b", "7"}}, "gone", "chat", []string{"b"}, false, ""},
		{"gone resource, chat, nobody: offline", nil, "gone", "chat", nil, true, ""},
		{"gone resource, normal: refused", []res{{"a", "5"}}, "gone", "normal", nil, false, "service-unavailable"},
		{"gone resource, groupchat: refused", []res{{"a", "5"}}, "gone", "groupchat", nil, false, "service-unavailable"},
		{"gone resource, headline: dropped", []res{{"a", "5"}}, "gone", "headline", nil, false, ""},
		{"gone resource, error: dropped", []res{{"a", "5"}}, "gone", "error", nil, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			user := e.user("juliet")
			sessions := map[string]*session{}
			for _, r := range tc.res {
				full := "juliet@" + host + "/" + r.name
				if r.prio == "" {
					sessions[r.name] = e.bind(full)
				} else {
					sessions[r.name] = e.online(full, r.prio)
				}
			}
			to := user.String()
			if tc.to != "" {
				to += "/" + tc.to
			}
			typ := ""
			if tc.typ != "" {
				typ = " type='" + tc.typ + "'"
			}
			e.deliver(`<message id='m1' from='romeo@` + remote + `/garden' to='` + to + `'` + typ + `><body>hi</body></message>`)

			var got []string
			for name, s := range sessions {
				if len(filter(s.take(), "message", "")) > 0 {
					got = append(got, name)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("delivered to %v, want %v", got, tc.want)
			}
			n, err := e.store.Offline().Count(e.ctx, user.String())
			if err != nil {
				t.Fatal(err)
			}
			if (n == 1) != tc.offline {
				t.Errorf("%d messages stored offline, want stored = %v", n, tc.offline)
			}
			back := e.takeRemote()
			if tc.bounce == "" {
				if len(back) != 0 {
					t.Errorf("sender got %q, want nothing", strs(back))
				}
				return
			}
			if len(back) != 1 || condition(back[0]) != tc.bounce || back[0].Attr("id") != "m1" {
				t.Errorf("sender got %q, want a %s error", strs(back), tc.bounce)
			}
		})
	}
}

// Messages to a user who does not exist are refused (RFC 6121 §8.5.1),
// whatever the address form; errors and headlines are dropped.
func TestMessageToNonexistentUser(t *testing.T) {
	e := newEnv(t, Config{})
	for _, to := range []string{"nobody@" + host, "nobody@" + host + "/res"} {
		for _, typ := range []string{"chat", "normal", "groupchat", "headline", "error"} {
			e.deliver(`<message type='` + typ + `' from='romeo@` + remote + `/x' to='` + to + `'><body>x</body></message>`)
			back := e.takeRemote()
			want := typ != "headline" && typ != "error"
			if got := len(back) == 1 && condition(back[0]) == "service-unavailable"; got != want || len(back) > 1 {
				t.Errorf("%s to %s: sender got %q, want an error = %v", typ, to, strs(back), want)
			}
		}
	}
}

func TestOfflineStorage(t *testing.T) {
	e := newEnv(t, Config{OfflineMessages: 2})
	user := e.user("juliet")
	for i := range 3 {
		e.deliver(fmt.Sprintf(`<message type='chat' id='m%d' from='romeo@%s/x' to='%s'><body>%d</body></message>`, i, remote, user, i))
	}
	// The third is over the limit and refused.
	back := e.takeRemote()
	if len(back) != 1 || back[0].Attr("id") != "m2" || condition(back[0]) != "service-unavailable" {
		t.Errorf("over the limit, sender got %q, want service-unavailable for m2", strs(back))
	}
	// Negative priority: nothing yet (XEP-0160 §3).
	s := e.bind("juliet@" + host + "/balcony")
	e.send(s, `<presence><priority>-1</priority></presence>`)
	if got := filter(s.take(), "message", ""); len(got) != 0 {
		t.Fatalf("offline messages delivered to a negative priority: %q", strs(got))
	}
	// Then non-negative: delivered in order with a delay stamp.
	e.send(s, `<presence><priority>1</priority></presence>`)
	got := filter(s.take(), "message", "")
	if len(got) != 2 || got[0].ChildText("", "body") != "0" || got[1].ChildText("", "body") != "1" {
		t.Fatalf("offline messages %q, want 0 and 1", strs(got))
	}
	for _, m := range got {
		if d := m.Child("urn:xmpp:delay", "delay"); d == nil || d.Attr("stamp") == "" || d.Attr("from") != host {
			t.Errorf("offline message without a delay stamp: %s", m)
		}
	}
	// Delivered once.
	if n, _ := e.store.Offline().Count(e.ctx, user.String()); n != 0 {
		t.Errorf("%d messages still stored after delivery", n)
	}
	e.send(s, `<presence><priority>2</priority></presence>`)
	if got := filter(s.take(), "message", ""); len(got) != 0 {
		t.Errorf("offline messages delivered twice: %q", strs(got))
	}
}

func TestWorthStoring(t *testing.T) {
	cases := []struct {
		msg  string
		want bool
	}{
		{`<message type='chat'><body>hi</body></message>`, true},
		{`<message><body>hi</body></message>`, true},
		{`<message type='normal'><body>hi</body></message>`, true},
		{`<message type='bogus'><body>hi</body></message>`, true},
		{`<message type='headline'><body>hi</body></message>`, false},
		{`<message type='groupchat'><body>hi</body></message>`, false},
		{`<message type='error'><body>hi</body></message>`, false},
		{`<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
		{`<message type='chat'><thread>t</thread><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
		{`<message type='chat'><body>hi</body><no-store xmlns='urn:xmpp:hints'/></message>`, false},
		{`<message type='chat'><body>hi</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>`, true},
		{`<message type='chat'><no-permanent-store xmlns='urn:xmpp:hints'/></message>`, false},
		{`<message type='chat'><store xmlns='urn:xmpp:hints'/><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, true},
		{`<message type='chat'><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>`, true},
		{`<message type='chat'><received xmlns='urn:xmpp:receipts' id='x'/></message>`, true},
		{`<message type='chat'/>`, false},
	}
	for _, tc := range cases {
		if got := worthStoring(parse(t, tc.msg)); got != tc.want {
			t.Errorf("worthStoring(%s) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}

// A message without 'to' goes to the sender's own bare JID (RFC 6120
// §8.1.1.1); a message between local users takes the same path as one
// from elsewhere.
func TestLocalMessage(t *testing.T) {
	e := newEnv(t, Config{})
	e.user("juliet")
	e.user("romeo")
	j := e.online("juliet@"+host+"/balcony", "")
	r := e.online("romeo@"+host+"/garden", "")
	e.send(r, `<message type='chat' to='juliet@`+host+`'><body>hello</body></message>`)
	got := filter(j.take(), "message", "chat")
	if len(got) != 1 || got[0].Attr("from") != "romeo@"+host+"/garden" {
		t.Errorf("juliet got %q", strs(got))
	}
	e.send(r, `<message type='chat'><body>note to self</body></message>`)
	if got := filter(r.take(), "message", "chat"); len(got) != 1 || !strings.Contains(got[0].String(), "note to self") {
		t.Errorf("a message without 'to' reached %q, want the sender's own resource", strs(got))
	}
}
