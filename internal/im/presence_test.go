package im

import (
	"testing"

	"samtal.org/samtal/internal/jid"
)

// contacts gives juliet a roster with one remote contact per
// subscription state.
func contacts(e *env) jid.JID {
	user := e.user("juliet")
	for _, st := range []string{"none", "to", "from", "both"} {
		e.setState(user, jid.MustParse(st+"@"+remote), st)
	}
	return user
}

func TestInitialPresence(t *testing.T) {
	e := newEnv(t, Config{})
	contacts(e)
	other := e.online("juliet@"+host+"/phone", "")
	s := e.bind("juliet@" + host + "/balcony")
	e.takeRemote()

	e.send(s, `<presence><show>chat</show></presence>`)

	out := e.takeRemote()
	// RFC 6121 §4.2.2: broadcast to the contacts subscribed to the user.
	avail := filter(out, "presence", "none")
	if got := len(avail); got != 2 || len(addressed(avail, "from@"+remote)) != 1 || len(addressed(avail, "both@"+remote)) != 1 {
		t.Errorf("initial presence went to %q, want from@ and both@ only", strs(avail))
	}
	for _, el := range avail {
		if el.Attr("from") != "juliet@"+host+"/balcony" {
			t.Errorf("broadcast from %s, want the full JID", el.Attr("from"))
		}
	}
	// §4.2.2, §4.3: probes, from the bare JID, to the contacts the user
	// is subscribed to.
	probes := filter(out, "presence", "probe")
	if len(probes) != 2 || len(addressed(probes, "to@"+remote)) != 1 || len(addressed(probes, "both@"+remote)) != 1 {
		t.Errorf("probes %q, want to to@ and both@", strs(probes))
	}
	for _, el := range probes {
		if el.Attr("from") != "juliet@"+host {
			t.Errorf("probe from %s, want the bare JID", el.Attr("from"))
		}
	}
	// The user's other available resource sees it, and the new one
	// learns of the other.
	if got := filter(other.take(), "presence", "none"); len(got) != 1 || got[0].Attr("from") != "juliet@"+host+"/balcony" {
		t.Errorf("other resource got %q", strs(got))
	}
	mine := filter(s.take(), "presence", "none")
	if len(addressed(mine, "juliet@"+host+"/balcony")) != 2 {
		t.Errorf("new resource got %q, want its own presence and the other's", strs(mine))
	}

	// Subsequent presence: broadcast again, no more probes (§4.4.2).
	e.send(s, `<presence><show>away</show></presence>`)
	out = e.takeRemote()
	if got := filter(out, "presence", "none"); len(got) != 2 {
		t.Errorf("subsequent presence went to %q, want the two subscribers", strs(got))
	}
	if got := filter(out, "presence", "probe"); len(got) != 0 {
		t.Errorf("subsequent presence probed %q", strs(got))
	}
}

func TestUnavailablePresence(t *testing.T) {
	e := newEnv(t, Config{})
	contacts(e)
	other := e.online("juliet@"+host+"/phone", "")
	s := e.online("juliet@"+host+"/balcony", "")
	other.take()
	// Directed presence to a stranger (§4.6).
	e.send(s, `<presence to='stranger@`+remote+`/x'/>`)
	e.takeRemote()

	e.send(s, `<presence type='unavailable'/>`)
	out := filter(e.takeRemote(), "presence", "unavailable")
	for _, to := range []string{"from@" + remote, "both@" + remote, "stranger@" + remote + "/x"} {
		if len(addressed(out, to)) != 1 {
			t.Errorf("unavailable presence went to %q, want one to %s", strs(out), to)
		}
	}
	if len(out) != 3 {
		t.Errorf("unavailable presence went to %q, want 3", strs(out))
	}
	if got := filter(other.take(), "presence", "unavailable"); len(got) != 1 {
		t.Errorf("other resource got %q", strs(got))
	}
}

// A session that ends without unavailable presence is announced gone to
// everyone who saw it (RFC 6121 §4.5.2).
func TestSessionEndBroadcastsUnavailable(t *testing.T) {
	e := newEnv(t, Config{})
	contacts(e)
	other := e.online("juliet@"+host+"/phone", "")
	s := e.online("juliet@"+host+"/balcony", "")
	other.take()
	e.send(s, `<presence to='stranger@`+remote+`/x'/>`)
	e.takeRemote()

	e.end(s)

	out := filter(e.takeRemote(), "presence", "unavailable")
	for _, to := range []string{"from@" + remote, "both@" + remote, "stranger@" + remote + "/x"} {
		if len(addressed(out, to)) != 1 {
			t.Errorf("after the session ended, unavailable went to %q, want one to %s", strs(out), to)
		}
	}
	if got := filter(other.take(), "presence", "unavailable"); len(got) != 1 || got[0].Attr("from") != "juliet@"+host+"/balcony" {
		t.Errorf("other resource got %q", strs(got))
	}

	// A session that never was available tells only those it sent
	// directed presence to.
	quiet := e.bind("juliet@" + host + "/quiet")
	e.send(quiet, `<presence to='stranger@`+remote+`/y'/>`)
	e.takeRemote()
	e.end(quiet)
	if out := e.takeRemote(); len(out) != 1 || out[0].Attr("to") != "stranger@"+remote+"/y" {
		t.Errorf("unavailable of a session that was never available went to %q", strs(out))
	}
}

// Probes: only a subscribed contact learns anything (RFC 6121 §4.3.2);
// for a user that does not exist the answer is unsubscribed (§8.5.1).
func TestProbe(t *testing.T) {
	e := newEnv(t, Config{})
	contacts(e)
	e.user("absent")
	e.online("juliet@"+host+"/balcony", "5")
	e.online("juliet@"+host+"/phone", "-1")
	e.takeRemote()

	cases := []struct {
		from, to string
		want     []string // types of presence in the answer, in any order
	}{
		{"both@" + remote, "juliet@" + host, []string{"", ""}},
		{"from@" + remote + "/r", "juliet@" + host + "/whatever", []string{"", ""}},
		{"to@" + remote, "juliet@" + host, []string{"unsubscribed"}},
		{"none@" + remote, "juliet@" + host, []string{"unsubscribed"}},
		{"stranger@" + remote, "juliet@" + host, []string{"unsubscribed"}},
		{"stranger@" + remote, "nobody@" + host, []string{"unsubscribed"}},
	}
	for _, tc := range cases {
		e.deliver(`<presence type='probe' from='` + tc.from + `' to='` + tc.to + `'/>`)
		got := e.takeRemote()
		var types []string
		for _, el := range got {
			types = append(types, el.Attr("type"))
			if el.Attr("to") != tc.from {
				t.Errorf("probe from %s: answer to %s", tc.from, el.Attr("to"))
			}
			if el.Attr("type") == "" && el.ChildText("", "priority") == "" {
				t.Errorf("probe from %s: answer %s is not the stored presence", tc.from, el)
			}
		}
		if len(types) != len(tc.want) {
			t.Errorf("probe from %s to %s: got %q, want types %q", tc.from, tc.to, strs(got), tc.want)
			continue
		}
		for i := range types {
			if types[i] != tc.want[i] {
				t.Errorf("probe from %s to %s: got %q, want types %q", tc.from, tc.to, strs(got), tc.want)
			}
		}
	}

	// A subscribed contact's probe while the user is offline: unavailable.
	e2 := newEnv(t, Config{})
	contacts(e2)
	e2.deliver(`<presence type='probe' from='both@` + remote + `' to='juliet@` + host + `'/>`)
	if got := e2.takeRemote(); len(got) != 1 || got[0].Attr("type") != "unavailable" {
		t.Errorf("probe of an offline user: %q, want unavailable", strs(got))
	}
	// A user who exists with no roster entry: unsubscribed, even though
	// the user is online.
	e2.online("juliet@"+host+"/x", "")
	e2.takeRemote()
	e2.deliver(`<presence type='probe' from='nobody@` + remote + `' to='juliet@` + host + `'/>`)
	if got := e2.takeRemote(); len(got) != 1 || got[0].Attr("type") != "unsubscribed" {
		t.Errorf("probe from a stranger: %q, want unsubscribed", strs(got))
	}
}

// Inbound available presence goes to every available resource when sent
// to the bare JID, to one resource when sent to a full JID; presence to a
// user who does not exist or is offline is dropped (RFC 6121 §8.5).
func TestInboundPresence(t *testing.T) {
	e := newEnv(t, Config{})
	e.user("juliet")
	a := e.online("juliet@"+host+"/a", "1")
	b := e.online("juliet@"+host+"/b", "-5")
	c := e.bind("juliet@" + host + "/c") // bound, not available
	a.take()

	e.deliver(`<presence from='both@` + remote + `/x' to='juliet@` + host + `'/>`)
	if len(a.take()) != 1 || len(b.take()) != 1 || len(c.take()) != 0 {
		t.Errorf("presence to the bare JID must reach the available resources only")
	}
	e.deliver(`<presence from='both@` + remote + `/x' to='juliet@` + host + `/c'/>`)
	if len(a.take()) != 0 || len(b.take()) != 0 || len(c.take()) != 1 {
		t.Errorf("presence to a full JID must reach that resource only")
	}
	e.deliver(`<presence from='both@` + remote + `/x' to='nobody@` + host + `'/>`)
	e.deliver(`<presence from='both@` + remote + `/x' to='juliet@` + host + `/gone'/>`)
	if out := e.takeRemote(); len(out) != 0 {
		t.Errorf("presence to nobody answered with %q", strs(out))
	}
}

// Subscription stanzas to a user who does not exist (RFC 6121 §8.5.1):
// subscribe is answered with unsubscribed, the others are ignored.
func TestSubscriptionToNonexistentUser(t *testing.T) {
	e := newEnv(t, Config{})
	for _, typ := range []string{"subscribe", "subscribed", "unsubscribe", "unsubscribed"} {
		e.deliver(`<presence type='` + typ + `' from='romeo@` + remote + `' to='nobody@` + host + `'/>`)
		out := e.takeRemote()
		if typ == "subscribe" {
			if len(out) != 1 || out[0].Attr("type") != "unsubscribed" || out[0].Attr("from") != "nobody@"+host {
				t.Errorf("subscribe to nobody: %q, want unsubscribed", strs(out))
			}
			continue
		}
		if len(out) != 0 {
			t.Errorf("%s to nobody answered with %q", typ, strs(out))
		}
	}
}

// A subscription request that arrives while the user is offline is
// shown at every login until it is answered (RFC 6121 §3.1.3).
func TestPendingRequestAtLogin(t *testing.T) {
	e := newEnv(t, Config{})
	e.user("juliet")
	e.deliver(`<presence type='subscribe' from='romeo@` + remote + `' to='juliet@` + host + `'><status>hi</status></presence>`)
	for i := 0; i < 2; i++ {
		s := e.bind("juliet@" + host + "/balcony")
		e.send(s, `<presence/>`)
		got := filter(s.take(), "presence", "subscribe")
		if len(got) != 1 || got[0].ChildText("", "status") != "hi" {
			t.Fatalf("login %d: pending requests %q, want the stored request", i, strs(got))
		}
		e.end(s)
	}
	s := e.online("juliet@"+host+"/balcony", "")
	e.send(s, `<presence type='subscribed' to='romeo@`+remote+`'/>`)
	e.end(s)
	s = e.bind("juliet@" + host + "/balcony")
	e.send(s, `<presence/>`)
	if got := filter(s.take(), "presence", "subscribe"); len(got) != 0 {
		t.Errorf("an answered request is shown again: %q", strs(got))
	}
}

// Approving a request sends the contact the current presence; cancelling
// a subscription sends unavailable presence (RFC 6121 §3.1.5, §3.2.2).
func TestPresenceOnApprovalAndCancellation(t *testing.T) {
	e := newEnv(t, Config{})
	user := e.user("juliet")
	contact := jid.MustParse("romeo@" + remote)
	e.setState(user, contact, "none+in")
	s := e.online("juliet@"+host+"/balcony", "")
	e.takeRemote()

	e.send(s, `<presence type='subscribed' to='romeo@`+remote+`'/>`)
	out := e.takeRemote()
	if len(filter(out, "presence", "subscribed")) != 1 || len(filter(out, "presence", "none")) != 1 {
		t.Errorf("approval sent %q, want subscribed and the current presence", strs(out))
	}
	e.send(s, `<presence type='unsubscribed' to='romeo@`+remote+`'/>`)
	out = e.takeRemote()
	if len(filter(out, "presence", "unsubscribed")) != 1 || len(filter(out, "presence", "unavailable")) != 1 {
		t.Errorf("cancellation sent %q, want unsubscribed and unavailable", strs(out))
	}
	// Refusing a request reveals nothing else.
	e.deliver(`<presence type='subscribe' from='romeo@` + remote + `' to='juliet@` + host + `'/>`)
	e.send(s, `<presence type='unsubscribed' to='romeo@`+remote+`'/>`)
	out = e.takeRemote()
	if len(out) != 1 || out[0].Attr("type") != "unsubscribed" {
		t.Errorf("refusal sent %q, want unsubscribed only", strs(out))
	}
}
