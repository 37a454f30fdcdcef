package im

import (
	"testing"

	"samtal.org/samtal/internal/jid"
)

// The subscription state machine of RFC 6121 Appendix A, state by state:
// what the user's server does with each subscription stanza the user
// sends (A.2) and each one the contact sends (A.3). The contact is on
// another server, so that only the user's side is at work.

type subCase struct {
	state string // before, as env.setState reads it
	typ   string // subscription stanza type
	pass  bool   // routed to the contact (outbound) or delivered to the user (inbound)
	after string // the state after
}

// outboundCases is RFC 6121 §A.2 with pre-approval (§3.4) and its
// cancellation.
var outboundCases = []subCase{
	// A.2.1 subscribe: always routed.
	{"none", "subscribe", true, "none+out"},
	{"none+out", "subscribe", true, "none+out"},
	{"none+in", "subscribe", true, "none+out+in"},
	{"none+out+in", "subscribe", true, "none+out+in"},
	{"to", "subscribe", true, "to"},
	{"to+in", "subscribe", true, "to+in"},
	{"from", "subscribe", true, "from+out"},
	{"from+out", "subscribe", true, "from+out"},
	{"both", "subscribe", true, "both"},
	// A.2.2 unsubscribe.
	{"none", "unsubscribe", true, "none"},
	{"none+out", "unsubscribe", true, "none"},
	{"none+in", "unsubscribe", true, "none+in"},
	{"none+out+in", "unsubscribe", true, "none+in"},
	{"to", "unsubscribe", true, "none"},
	{"to+in", "unsubscribe", true, "none+in"},
	{"from", "unsubscribe", true, "from"},
	{"from+out", "unsubscribe", true, "from"},
	{"both", "unsubscribe", true, "from"},
	// A.2.3 subscribed: approves a pending request, pre-approves (§3.4)
	// where there is none, and is ignored where the contact is already
	// subscribed.
	{"none", "subscribed", false, "none+approved"},
	{"none+out", "subscribed", false, "none+out+approved"},
	{"none+in", "subscribed", true, "from"},
	{"none+out+in", "subscribed", true, "from+out"},
	{"to", "subscribed", false, "to+approved"},
	{"to+in", "subscribed", true, "both"},
	{"from", "subscribed", false, "from"},
	{"from+out", "subscribed", false, "from+out"},
	{"both", "subscribed", false, "both"},
	// A.2.4 unsubscribed: refuses a request or cancels a subscription,
	// otherwise goes nowhere; it cancels a pre-approval (§3.4).
	{"none", "unsubscribed", false, "none"},
	{"none+out", "unsubscribed", false, "none+out"},
	{"none+in", "unsubscribed", true, "none"},
	{"none+out+in", "unsubscribed", true, "none+out"},
	{"to", "unsubscribed", false, "to"},
	{"to+in", "unsubscribed", true, "to"},
	{"from", "unsubscribed", true, "none"},
	{"from+out", "unsubscribed", true, "none+out"},
	{"both", "unsubscribed", true, "to"},
	{"none+approved", "unsubscribed", false, "none"},
	{"to+approved", "unsubscribed", false, "to"},
}

func TestOutboundSubscription(t *testing.T) {
	for _, tc := range outboundCases {
		t.Run(tc.state+"/"+tc.typ, func(t *testing.T) {
			e := newEnv(t, Config{})
			user := e.user("juliet")
			contact := jid.MustParse("romeo@" + remote)
			e.setState(user, contact, tc.state)
			s := e.online("juliet@"+host+"/balcony", "")
			e.takeRemote()

			// A full 'to' is the contact's bare JID (RFC 6121 §3.1.2).
			e.send(s, `<presence type='`+tc.typ+`' to='romeo@`+remote+`/garden'/>`)

			if got := e.state(user, contact); got != tc.after {
				t.Errorf("state = %s, want %s", got, tc.after)
			}
			routed := filter(e.takeRemote(), "presence", tc.typ)
			if got := len(routed) == 1; got != tc.pass {
				t.Fatalf("routed %q, want routed = %v", strs(routed), tc.pass)
			}
			if tc.pass {
				if from, to := routed[0].Attr("from"), routed[0].Attr("to"); from != user.String() || to != contact.String() {
					t.Errorf("routed from %s to %s, want between bare JIDs %s and %s", from, to, user, contact)
				}
			}
			// A roster push iff the item changed (RFC 6121 §3.1.2 etc.);
			// a pending request alone is not in the roster.
			pushes := filter(s.take(), "iq", "set")
			changed := stripIn(tc.state) != stripIn(tc.after)
			if got := len(pushes) > 0; got != changed {
				t.Errorf("roster pushes %q, want a push = %v", strs(pushes), changed)
			}
		})
	}
}

// stripIn removes the pending inbound request from a state: it is kept
// apart from the roster item.
func stripIn(state string) string {
	out := ""
	for _, p := range splitState(state) {
		if p != "in" {
			if out != "" {
				out += "+"
			}
			out += p
		}
	}
	if out == "none" {
		return "" // no item at all and an item "none" look alike here
	}
	return out
}

func splitState(s string) []string {
	var parts []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '+' {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return parts
}

// inboundCases is RFC 6121 §A.3, with pre-approval (§3.4).
var inboundCases = []subCase{
	// A.3.1 subscribe: delivered unless already pending or granted;
	// granted or pre-approved requests are answered by the server.
	{"none", "subscribe", true, "none+in"},
	{"none+out", "subscribe", true, "none+out+in"},
	{"none+in", "subscribe", false, "none+in"},
	{"none+out+in", "subscribe", false, "none+out+in"},
	{"to", "subscribe", true, "to+in"},
	{"to+in", "subscribe", false, "to+in"},
	{"from", "subscribe", false, "from"},
	{"from+out", "subscribe", false, "from+out"},
	{"both", "subscribe", false, "both"},
	{"none+approved", "subscribe", false, "from"},
	{"to+approved", "subscribe", false, "both"},
	// A.3.2 unsubscribe.
	{"none", "unsubscribe", false, "none"},
	{"none+out", "unsubscribe", false, "none+out"},
	{"none+in", "unsubscribe", true, "none"},
	{"none+out+in", "unsubscribe", true, "none+out"},
	{"to", "unsubscribe", false, "to"},
	{"to+in", "unsubscribe", true, "to"},
	{"from", "unsubscribe", true, "none"},
	{"from+out", "unsubscribe", true, "none+out"},
	{"both", "unsubscribe", true, "to"},
	// A.3.3 subscribed: only an answer to the user's own request.
	{"none", "subscribed", false, "none"},
	{"none+out", "subscribed", true, "to"},
	{"none+in", "subscribed", false, "none+in"},
	{"none+out+in", "subscribed", true, "to+in"},
	{"to", "subscribed", false, "to"},
	{"to+in", "subscribed", false, "to+in"},
	{"from", "subscribed", false, "from"},
	{"from+out", "subscribed", true, "both"},
	{"both", "subscribed", false, "both"},
	// A.3.4 unsubscribed.
	{"none", "unsubscribed", false, "none"},
	{"none+out", "unsubscribed", true, "none"},
	{"none+in", "unsubscribed", false, "none+in"},
	{"none+out+in", "unsubscribed", true, "none+in"},
	{"to", "unsubscribed", true, "none"},
	{"to+in", "unsubscribed", true, "none+in"},
	{"from", "unsubscribed", false, "from"},
	{"from+out", "unsubscribed", true, "from"},
	{"both", "unsubscribed", true, "from"},
}

func TestInboundSubscription(t *testing.T) {
	for _, tc := range inboundCases {
		t.Run(tc.state+"/"+tc.typ, func(t *testing.T) {
			e := newEnv(t, Config{})
			user := e.user("juliet")
			contact := jid.MustParse("romeo@" + remote)
			e.setState(user, contact, tc.state)
			s := e.online("juliet@"+host+"/balcony", "")
			e.takeRemote()

			// From a full JID to a full JID: both count as bare (§3.1.3).
			e.deliver(`<presence type='` + tc.typ + `' from='romeo@` + remote + `/garden' to='juliet@` + host + `/balcony'/>`)

			if got := e.state(user, contact); got != tc.after {
				t.Errorf("state = %s, want %s", got, tc.after)
			}
			got := s.take()
			delivered := filter(got, "presence", tc.typ)
			if ok := len(delivered) == 1; ok != tc.pass {
				t.Fatalf("delivered %q, want delivered = %v", strs(delivered), tc.pass)
			}
			if tc.pass && delivered[0].Attr("from") != contact.String() {
				t.Errorf("delivered from %s, want the contact's bare JID", delivered[0].Attr("from"))
			}
			pushes := filter(got, "iq", "set")
			changed := stripIn(tc.state) != stripIn(tc.after)
			if ok := len(pushes) > 0; ok != changed {
				t.Errorf("roster pushes %q, want a push = %v", strs(pushes), changed)
			}
			// §3.1.3: a request that is already granted, or pre-approved,
			// is answered by the server.
			replies := filter(e.takeRemote(), "presence", "subscribed")
			wantReply := tc.typ == "subscribe" && (tc.after == "from" || tc.after == "from+out" || tc.after == "both")
			if ok := len(replies) == 1; ok != wantReply {
				t.Errorf("auto-replies %q, want one = %v", strs(replies), wantReply)
			}
		})
	}
}
