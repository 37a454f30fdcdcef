package im

import (
	"context"
	"slices"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// XEP-0191 §5 (JID Matching).
func TestBlockMatches(t *testing.T) {
	cases := []struct {
		block, other string
		want         bool
	}{
		{"romeo@montague.lit/garden", "romeo@montague.lit/garden", true},
		{"romeo@montague.lit/garden", "romeo@montague.lit/orchard", false},
		{"romeo@montague.lit/garden", "romeo@montague.lit", false},
		{"romeo@montague.lit", "romeo@montague.lit", true},
		{"romeo@montague.lit", "romeo@montague.lit/garden", true},
		{"romeo@montague.lit", "tybalt@montague.lit", false},
		{"romeo@montague.lit", "montague.lit", false},
		{"montague.lit/chat", "montague.lit/chat", true},
		{"montague.lit/chat", "montague.lit/other", false},
		{"montague.lit/chat", "romeo@montague.lit/chat", false},
		{"montague.lit/chat", "montague.lit", false},
		{"montague.lit", "montague.lit", true},
		{"montague.lit", "montague.lit/chat", true},
		{"montague.lit", "romeo@montague.lit", true},
		{"montague.lit", "romeo@montague.lit/garden", true},
		{"montague.lit", "conference.montague.lit", false},
		{"montague.lit", "romeo@capulet.lit", false},
	}
	for _, tc := range cases {
		if got := blockMatches(jid.MustParse(tc.block), jid.MustParse(tc.other)); got != tc.want {
			t.Errorf("blockMatches(%s, %s) = %v, want %v", tc.block, tc.other, got, tc.want)
		}
	}
}

// What a block does to stanzas from the blocked entity (XEP-0191 §3.3):
// presence is dropped silently, messages and iq requests are refused,
// iq responses dropped.
func TestBlockedInbound(t *testing.T) {
	e := newEnv(t, Config{})
	user := e.user("juliet")
	e.setState(user, jid.MustParse("romeo@"+remote), "both")
	s := e.online("juliet@"+host+"/balcony", "")
	e.send(s, `<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='romeo@`+remote+`'/></block></iq>`)
	s.take()
	e.takeRemote()

	cases := []struct {
		stanza string
		bounce bool
	}{
		{`<message type='chat' id='x'><body>hi</body></message>`, true},
		{`<message type='error' id='x'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`, false},
		{`<presence/>`, false},
		{`<presence type='probe'/>`, false},
		{`<presence type='subscribe'/>`, false},
		{`<presence type='unsubscribe'/>`, false},
		{`<iq type='get' id='x'><query xmlns='jabber:iq:version'/></iq>`, true},
		{`<iq type='set' id='x'><query xmlns='jabber:iq:version'/></iq>`, true},
		{`<iq type='result' id='x'/>`, false},
		{`<iq type='error' id='x'/>`, false},
	}
	for _, tc := range cases {
		for _, to := range []string{"juliet@" + host, "juliet@" + host + "/balcony"} {
			el := parse(t, tc.stanza)
			el.SetAttr("from", "romeo@"+remote+"/garden")
			el.SetAttr("to", to)
			e.deliver(el.String())
			if got := s.take(); len(got) != 0 {
				t.Errorf("%s to %s reached the user: %q", tc.stanza, to, strs(got))
			}
			back := e.takeRemote()
			if tc.bounce {
				if len(back) != 1 || condition(back[0]) != "service-unavailable" {
					t.Errorf("%s to %s: blocked sender got %q, want service-unavailable", tc.stanza, to, strs(back))
				}
			} else if len(back) != 0 {
				t.Errorf("%s to %s: blocked sender got %q, want nothing", tc.stanza, to, strs(back))
			}
		}
	}
	// Others still reach the user.
	e.deliver(`<message type='chat' from='tybalt@` + remote + `/x' to='juliet@` + host + `'><body>hi</body></message>`)
	if got := s.take(); len(got) != 1 {
		t.Errorf("a message from someone else: %q", strs(got))
	}
}

// What the user sends to a blocked entity is not routed and is answered
// with not-acceptable and <blocked/> (XEP-0191 §3.3); the user's own
// resources are never blocked.
func TestBlockedOutbound(t *testing.T) {
	e := newEnv(t, Config{})
	e.user("juliet")
	s := e.online("juliet@"+host+"/balcony", "")
	other := e.online("juliet@"+host+"/phone", "")
	e.send(s, `<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='`+remote+`'/><item jid='juliet@`+host+`'/></block></iq>`)
	s.take()
	other.take()
	e.takeRemote()

	for _, x := range []string{
		`<message type='chat' id='o1' to='romeo@` + remote + `'><body>hi</body></message>`,
		`<presence type='subscribe' id='o1' to='romeo@` + remote + `'/>`,
		`<presence id='o1' to='romeo@` + remote + `/garden'/>`,
		`<iq type='get' id='o1' to='` + remote + `'><ping xmlns='urn:xmpp:ping'/></iq>`,
	} {
		e.send(s, x)
		if out := e.takeRemote(); len(out) != 0 {
			t.Errorf("%s was routed to the blocked domain: %q", x, strs(out))
		}
		got := s.take()
		if len(got) != 1 || condition(got[0]) != "not-acceptable" || got[0].Child("", "error").Child(NSBlockingErrors, "blocked") == nil {
			t.Errorf("%s: user got %q, want not-acceptable with <blocked/>", x, strs(got))
		}
	}
	for _, x := range []string{
		`<iq type='result' id='o2' to='romeo@` + remote + `/garden'/>`,
		`<message type='error' id='o2' to='romeo@` + remote + `/garden'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`,
	} {
		e.send(s, x)
		if out, got := e.takeRemote(), s.take(); len(out) != 0 || len(got) != 0 {
			t.Errorf("%s: routed %q, answered %q; want it dropped", x, strs(out), strs(got))
		}
	}
	// Blocking one's own JID does not cut one's resources apart.
	e.send(s, `<message type='chat' to='juliet@`+host+`/phone'><body>to myself</body></message>`)
	if got := filter(other.take(), "message", "chat"); len(got) != 1 {
		t.Errorf("the user's other resource got %q", strs(got))
	}
}

// Blocking and unblocking tell only those allowed to see the user's
// presence (XEP-0191 §3.3, §3.4): a block reveals nothing to a stranger.
func TestBlockPresence(t *testing.T) {
	e := newEnv(t, Config{})
	user := contacts(e)
	e.setState(user, jid.MustParse("other@"+remote), "from")
	s := e.online("juliet@"+host+"/balcony", "")
	e.send(s, `<presence to='stranger@`+remote+`/x'/>`)
	e.takeRemote()

	block := func(items ...string) {
		x := `<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'>`
		for _, it := range items {
			x += `<item jid='` + it + `'/>`
		}
		e.send(s, x+`</block></iq>`)
	}
	block("none@"+remote, "to@"+remote, "nobody@"+remote)
	if out := e.takeRemote(); len(out) != 0 {
		t.Errorf("blocking entities without a subscription told them %q", strs(out))
	}
	block("from@" + remote)
	out := e.takeRemote()
	if len(out) != 1 || out[0].Attr("type") != "unavailable" || out[0].Attr("to") != "from@"+remote {
		t.Errorf("blocking a subscriber sent %q, want unavailable to from@", strs(out))
	}
	// A domain block reaches the subscribers at the domain that are not
	// blocked yet, and the one that got directed presence.
	block(remote)
	out = e.takeRemote()
	if len(out) != 3 || len(addressed(out, "both@"+remote)) != 1 || len(addressed(out, "other@"+remote)) != 1 ||
		len(addressed(out, "stranger@"+remote+"/x")) != 1 || len(filter(out, "presence", "unavailable")) != 3 {
		t.Errorf("blocking the domain sent %q, want unavailable to both@, other@ and stranger@", strs(out))
	}
	// Unblocking the domain: subscribers not blocked otherwise see the
	// presence again.
	e.send(s, `<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'><item jid='`+remote+`'/></unblock></iq>`)
	out = e.takeRemote()
	if len(out) != 2 || len(addressed(out, "both@"+remote)) != 1 || len(addressed(out, "other@"+remote)) != 1 ||
		len(filter(out, "presence", "none")) != 2 {
		t.Errorf("unblocking the domain sent %q, want presence to both@ and other@", strs(out))
	}
	// Unblocking everyone: from@ comes back; strangers learn nothing.
	e.send(s, `<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'/></iq>`)
	out = e.takeRemote()
	if len(out) != 1 || out[0].Attr("to") != "from@"+remote || out[0].Attr("type") != "" {
		t.Errorf("unblocking everyone sent %q, want presence to from@ only", strs(out))
	}
}

// Block pushes go to the resources that asked for the blocklist
// (XEP-0191 §3.3).
func TestBlockPush(t *testing.T) {
	e := newEnv(t, Config{})
	e.user("juliet")
	asked := e.online("juliet@"+host+"/asked", "")
	quiet := e.online("juliet@"+host+"/quiet", "")
	e.send(asked, `<iq type='get' id='l1'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
	if got := filter(asked.take(), "iq", "result"); len(got) != 1 || got[0].Child(NSBlocking, "blocklist") == nil {
		t.Fatalf("blocklist get: %q", strs(got))
	}
	e.send(quiet, `<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='romeo@`+remote+`'/></block></iq>`)
	if got := filter(asked.take(), "iq", "set"); len(got) != 1 || got[0].Child(NSBlocking, "block") == nil {
		t.Errorf("the resource that asked got %q, want a block push", strs(got))
	}
	got := quiet.take()
	if len(filter(got, "iq", "set")) != 0 || len(filter(got, "iq", "result")) != 1 {
		t.Errorf("the resource that never asked got %q, want only its result", strs(got))
	}
	e.send(asked, `<iq type='get' id='l2'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
	if got := filter(asked.take(), "iq", "result"); len(got) != 1 || len(got[0].Child(NSBlocking, "blocklist").Elements()) != 1 {
		t.Errorf("blocklist: %q", strs(got))
	}
	e.send(asked, `<iq type='set' id='b2'><block xmlns='urn:xmpp:blocking'/></iq>`)
	if got := asked.take(); len(got) != 1 || condition(got[0]) != "bad-request" {
		t.Errorf("an empty block: %q, want bad-request", strs(got))
	}
}

// pausingStore holds one blocklist read after it read the store, so that
// a test can change the blocklist while the read is under way.
type pausingStore struct {
	storage.Store
	bl pausingBlocklist
}

func (p *pausingStore) Blocklist() storage.Blocklist { return &p.bl }

type pausingBlocklist struct {
	storage.Blocklist
	pause   chan chan struct{} // a read takes one and waits for it
	reading chan struct{}      // told when a read has read
}

func (b *pausingBlocklist) List(ctx context.Context, user string) ([]string, error) {
	list, err := b.Blocklist.List(ctx, user)
	select {
	case release := <-b.pause:
		b.reading <- struct{}{}
		<-release
	default:
	}
	return list, err
}

// A blocklist read before a block must not be cached after it: the block
// would not hold until the user's sessions all ended.
func TestBlocklistCacheRace(t *testing.T) {
	e := newEnv(t, Config{})
	ps := &pausingStore{Store: e.store, bl: pausingBlocklist{Blocklist: e.store.Blocklist(), pause: make(chan chan struct{}, 1), reading: make(chan struct{})}}
	e.im.store = ps
	e.user("juliet")
	s := e.online("juliet@"+host+"/balcony", "")

	release := make(chan struct{})
	ps.bl.pause <- release
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Reads the (empty) blocklist, then waits.
		e.deliver(`<message type='chat' from='romeo@` + remote + `/x' to='juliet@` + host + `'><body>before</body></message>`)
	}()
	<-ps.bl.reading
	e.send(s, `<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='romeo@`+remote+`'/></block></iq>`)
	close(release)
	<-done
	s.take()
	e.takeRemote()

	e.deliver(`<message type='chat' from='romeo@` + remote + `/x' to='juliet@` + host + `'><body>after</body></message>`)
	if got := filter(s.take(), "message", ""); len(got) != 0 {
		t.Errorf("a message from a blocked contact arrived: %q", strs(got))
	}
}

// The Blocked hook sees the items of a block that carry more than a JID
// (reports, XEP-0377), once the block is stored and answered, whatever
// the items carry: the block is the same with a report or without, and
// with a malformed one.
func TestBlockedHook(t *testing.T) {
	e := newEnv(t, Config{})
	user := e.user("juliet")
	s := e.online("juliet@"+host+"/balcony", "")
	type call struct {
		user     string
		items    []string
		answered bool // the user had the iq result when the hook ran
		stored   []string
	}
	var calls []call
	e.im.AddHooks(Hooks{Blocked: func(ctx context.Context, u jid.JID, items []*xmlel.Element) {
		c := call{user: u.String()}
		for _, it := range items {
			c.items = append(c.items, it.Attr("jid"))
		}
		for _, el := range s.take() {
			c.answered = c.answered || (el.Local == stanza.IQ && el.Attr("type") == "result" && el.Attr("id") == "b1")
		}
		c.stored, _ = e.store.Blocklist().List(ctx, u.String())
		calls = append(calls, c)
	}})

	e.send(s, `<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'>`+
		`<item jid='romeo@`+remote+`'><report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'><text>x</text></report></item>`+
		`<item jid='tybalt@`+remote+`'/>`+
		`<item jid='mercutio@`+remote+`'><report xmlns='urn:xmpp:reporting:1'/></item>`+
		`<item jid='paris@`+remote+`'><report xmlns='urn:xmpp:reporting:0'><spam/></report></item>`+
		`</block></iq>`)
	want := []string{"romeo@" + remote, "mercutio@" + remote, "paris@" + remote}
	if len(calls) != 1 || calls[0].user != user.String() || !slices.Equal(calls[0].items, want) {
		t.Fatalf("Blocked saw %+v, want one call for %s with %v", calls, user, want)
	}
	if !calls[0].answered {
		t.Error("Blocked ran before the user had the block's result")
	}
	if got := calls[0].stored; len(got) != 4 {
		t.Errorf("when Blocked ran, the blocklist held %v, want all 4", got)
	}
	for _, j := range append(want, "tybalt@"+remote) {
		if !e.im.isBlocked(e.ctx, user, jid.MustParse(j)) {
			t.Errorf("%s is not blocked", j)
		}
	}

	// No hook for a block without reports, an unblock, or a block that
	// failed.
	calls = nil
	for _, x := range []string{
		`<iq type='set' id='b2'><block xmlns='urn:xmpp:blocking'><item jid='benvolio@` + remote + `'/></block></iq>`,
		`<iq type='set' id='b3'><unblock xmlns='urn:xmpp:blocking'><item jid='romeo@` + remote + `'><report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/></item></unblock></iq>`,
		`<iq type='set' id='b4'><block xmlns='urn:xmpp:blocking'><item jid='@@'><report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/></item></block></iq>`,
	} {
		e.send(s, x)
	}
	if len(calls) != 0 {
		t.Errorf("Blocked saw %+v, want no calls", calls)
	}
}

// The ServerMessage hook sees messages to a host, which the core
// otherwise drops; iq requests to the host are still answered.
func TestServerMessageHook(t *testing.T) {
	e := newEnv(t, Config{})
	var seen []string
	e.im.AddHooks(Hooks{ServerMessage: func(_ context.Context, st *stanza.Stanza) bool {
		seen = append(seen, st.From.String()+" "+st.ID())
		return true
	}})
	e.deliver(`<message from='` + remote + `' to='` + host + `' id='m1'><body>report</body></message>`)
	e.deliver(`<message from='romeo@` + remote + `/x' to='` + host + `' id='m2'><body>hi</body></message>`)
	e.deliver(`<iq from='` + remote + `' to='` + host + `' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if want := []string{remote + " m1", "romeo@" + remote + "/x m2"}; !slices.Equal(seen, want) {
		t.Errorf("ServerMessage saw %q, want %q", seen, want)
	}
	if got := e.takeRemote(); len(got) != 1 || got[0].Attr("id") != "p1" {
		t.Errorf("sent back %q, want the ping's answer only", strs(got))
	}
}
