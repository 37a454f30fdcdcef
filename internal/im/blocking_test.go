package im

import (
	"context"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/storage"
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
