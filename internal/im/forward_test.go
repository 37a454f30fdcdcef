package im

import (
	"context"
	"slices"
	"strings"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// rawSession is a session that also takes messages as bytes, as a client
// stream does (router.RawSender); it records them parsed.
type rawSession struct {
	*session
	raw int // messages that came as bytes
}

func (s *rawSession) SendRaw(_ context.Context, b []byte) {
	el, err := xmlstream.Parse(b, xmlstream.Limits{MaxStanzaBytes: 1 << 20, MaxDepth: 32})
	if err != nil {
		panic("bytes that do not parse: " + string(b))
	}
	s.mu.Lock()
	s.raw++
	s.mu.Unlock()
	s.Send(el)
}

// forward hands a message to the core as c2s does: as bytes when the core
// takes it so, as a tree otherwise. It reports whether it went as bytes.
func (e *env) forward(s router.Session, x string) bool {
	e.t.Helper()
	el := parse(e.t, x)
	m := stanza.Outline{From: s.JID(), To: jid.MustParse(el.Attr("to")), Type: messageType(el), ID: []byte(el.Attr("id")), Kids: stanza.NamesOf(el)}
	if e.im.Forward(e.ctx, s, &m, []byte(x)) {
		return true
	}
	e.send(s, x)
	return false
}

// canon is a stanza with its attributes in order: where 'from' stands
// does not matter.
func canon(els []*xmlel.Element) []string {
	out := make([]string, len(els))
	for i, el := range els {
		c := el.ShallowCopy()
		c.Attrs = slices.Clone(c.Attrs)
		slices.SortFunc(c.Attrs, func(a, b xmlel.Attr) int { return strings.Compare(a.Local, b.Local) })
		out[i] = c.String()
	}
	return out
}

// A message that travels as bytes reaches exactly whom, and exactly as,
// the same message as a tree does, and every message Forward leaves alone
// still gets its due on the tree path: each case runs twice, once with
// sessions that take bytes and once with sessions that do not.
func TestForwardMatchesOutbound(t *testing.T) {
	type res struct{ name, prio string } // prio "": bound, not available
	two := []res{{"a", "5"}, {"b", "1"}}
	cases := []struct {
		name  string
		res   []res
		block string // who blocks whom: "juliet" or "romeo"
		msg   string // to and type; the body is added
		extra string
		took  bool // went as bytes
	}{
		{"chat to bare", two, "", `to='juliet@example.org' type='chat'`, "", true},
		{"tie", []res{{"a", "5"}, {"b", "5"}}, "", `to='juliet@example.org' type='chat'`, "", true},
		{"no type is normal", two, "", `to='juliet@example.org'`, "", true},
		{"full JID", two, "", `to='juliet@example.org/b' type='chat'`, "", true},
		{"full JID, not available", []res{{"a", "5"}, {"b", ""}}, "", `to='juliet@example.org/b'`, "", true},
		{"gone resource, chat: as bare", two, "", `to='juliet@example.org/gone' type='chat'`, "", true},
		{"gone resource, normal: refused", two, "", `to='juliet@example.org/gone' type='normal'`, "", false},
		{"only negative: offline", []res{{"a", "-1"}}, "", `to='juliet@example.org' type='chat'`, "", false},
		{"no session: offline", nil, "", `to='juliet@example.org' type='chat'`, "", false},
		{"headline", two, "", `to='juliet@example.org' type='headline'`, "", false},
		{"groupchat to full JID", two, "", `to='juliet@example.org/a' type='groupchat'`, "", false},
		{"call signal", two, "", `to='juliet@example.org' type='chat'`, `<propose xmlns='urn:xmpp:jingle-message:0' id='c1'/>`, false},
		{"recipient blocks sender", two, "juliet", `to='juliet@example.org' type='chat'`, "", false},
		{"sender blocks recipient", two, "romeo", `to='juliet@example.org' type='chat'`, "", false},
		{"other server", two, "", `to='mercutio@remote.example' type='chat'`, "", false},
		{"the host", two, "", `to='example.org' type='chat'`, "", false},
		{"unknown user", two, "", `to='nobody@example.org' type='chat'`, "", false},
		{"own other resource", two, "", `to='romeo@example.org/orchard' type='chat'`, "", true},
		{"children", two, "", `to='juliet@example.org' type='chat'`, `<active xmlns='http://jabber.org/protocol/chatstates'/><x xmlns='jabber:x:oob'><url>https://example.org/a?b=1&amp;c=2</url></x>`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := func(raw bool) (map[string][]string, int, []string, bool) {
				e := newEnv(t, Config{})
				user := e.user("juliet")
				e.user("romeo")
				sessions := map[string]router.Session{}
				bind := func(name, full, prio string) {
					s := e.bind(full)
					var rs router.Session = s
					if raw {
						// The same session, taking bytes too.
						e.r.Unbind(s)
						rs = &rawSession{session: s}
						if _, err := e.r.Bind(rs, true, 0); err != nil {
							t.Fatal(err)
						}
					}
					if prio != "" {
						e.send(rs, `<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
						e.send(rs, `<presence><priority>`+prio+`</priority></presence>`)
					}
					sessions[name] = rs
				}
				for _, r := range tc.res {
					bind(r.name, "juliet@"+host+"/"+r.name, r.prio)
				}
				bind("garden", "romeo@"+host+"/garden", "0")
				bind("orchard", "romeo@"+host+"/orchard", "-1")
				switch tc.block {
				case "juliet":
					e.send(sessions["a"], `<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='romeo@`+host+`'/></block></iq>`)
				case "romeo":
					e.send(sessions["garden"], `<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='juliet@`+host+`'/></block></iq>`)
				}
				for _, s := range sessions {
					s.(interface{ take() []*xmlel.Element }).take()
				}
				took := e.forward(sessions["garden"], `<message `+tc.msg+` id='m1'><body>hi &amp; &lt;bye&gt; &#x1F600;</body>`+tc.extra+`</message>`)
				got := map[string][]string{}
				for name, s := range sessions {
					got[name] = canon(s.(interface{ take() []*xmlel.Element }).take())
				}
				n, err := e.store.Offline().Count(e.ctx, user.String())
				if err != nil {
					t.Fatal(err)
				}
				return got, n, canon(e.takeRemote()), took
			}
			treeGot, treeOff, treeRemote, _ := run(false)
			rawGot, rawOff, rawRemote, took := run(true)
			if took != tc.took {
				t.Errorf("went as bytes: %v, want %v", took, tc.took)
			}
			for name, want := range treeGot {
				if !slices.Equal(rawGot[name], want) {
					t.Errorf("%s got %q as bytes, %q as a tree", name, rawGot[name], want)
				}
			}
			if rawOff != treeOff || !slices.Equal(rawRemote, treeRemote) {
				t.Errorf("as bytes: %d offline, %q to other servers; as a tree: %d, %q", rawOff, rawRemote, treeOff, treeRemote)
			}
			delivered := 0
			for _, g := range treeGot {
				delivered += len(g)
			}
			if tc.took && delivered == 0 {
				t.Error("nothing delivered")
			}
		})
	}
}

// The hooks decide whether a message may travel as bytes: one that sees
// messages and cannot tell keeps them on the tree path, one that says no
// gets it there, and one that says yes learns where it goes.
func TestForwardAsksHooks(t *testing.T) {
	setup := func(h Hooks) (*env, *rawSession, *rawSession, *int) {
		e := newEnv(t, Config{})
		e.user("juliet")
		e.user("romeo")
		sent := 0
		if h.MessageSent == nil {
			h.MessageSent = func(context.Context, router.Session, *stanza.Stanza) bool { sent++; return true }
		}
		e.im.AddHooks(h)
		bind := func(full string) *rawSession {
			s := &rawSession{session: &session{jid: jid.MustParse(full)}}
			if _, err := e.r.Bind(s, true, 0); err != nil {
				t.Fatal(err)
			}
			e.send(s, `<presence/>`)
			s.take()
			return s
		}
		return e, bind("juliet@" + host + "/balcony"), bind("romeo@" + host + "/garden"), &sent
	}
	msg := `<message to='juliet@example.org' type='chat' id='m1'><body>hi</body></message>`

	e, j, r, sent := setup(Hooks{})
	if e.forward(r, msg) || *sent != 1 || len(j.take()) != 1 || j.raw != 0 {
		t.Errorf("a hook without RawMessage: the message went as bytes or was not seen (sent hook ran %d times)", *sent)
	}

	e, j, r, sent = setup(Hooks{RawMessage: func(context.Context, *stanza.Outline, router.Session, []router.Session) bool { return false }})
	if e.forward(r, msg) || *sent != 1 || len(j.take()) != 1 {
		t.Errorf("RawMessage said no: the message went as bytes or the tree path did not see it")
	}

	var outline stanza.Outline
	var id string
	var sender router.Session
	var to []router.Session
	e, j, r, sent = setup(Hooks{RawMessage: func(_ context.Context, m *stanza.Outline, s router.Session, t []router.Session) bool {
		outline, id, sender, to = *m, string(m.ID), s, slices.Clone(t)
		return true
	}})
	if !e.forward(r, msg) || *sent != 0 || j.raw != 1 {
		t.Fatalf("RawMessage said yes: went as bytes to juliet %d times, tree hooks ran %d times", j.raw, *sent)
	}
	if sender != router.Session(r) || len(to) != 1 || to[0] != router.Session(j) {
		t.Errorf("RawMessage saw sender %v and recipients %v", sender, to)
	}
	if outline.From != r.JID() || outline.To.String() != "juliet@example.org" || outline.Type != "chat" || id != "m1" || !outline.Has("", "body") {
		t.Errorf("RawMessage saw %+v", outline)
	}
	if got := j.take(); len(got) != 1 || got[0].Attr("from") != r.JID().String() || got[0].ChildText("", "body") != "hi" {
		t.Errorf("juliet got %q", strs(got))
	}
}
