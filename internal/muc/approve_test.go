package muc

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// isApprovalForm matches the approval form of a registration request
// ("Approving Registration Requests").
func isApprovalForm(el *xmlel.Element) bool {
	if el.Local != "message" {
		return false
	}
	f, err := dataform.Parse(el.Child(dataform.NS, "x"))
	return err == nil && f.Type == dataform.TypeForm && f.FormType() == formRegister
}

// answerRegistration sends the room an admin's answer to the request of
// user for nick.
func (c *client) answerRegistration(roomJID, user, nick, allow string) {
	c.t.Helper()
	c.send(`<message to='%s' id='ans'><x xmlns='jabber:x:data' type='submit'>`+
		`<field var='FORM_TYPE'><value>%s</value></field><field var='%s'><value>%s</value></field>`+
		`<field var='muc#register_roomnick'><value>%s</value></field><field var='muc#register_allow'><value>%s</value></field></x></message>`,
		roomJID, formRegister, fieldRegisterJID, user, nick, allow)
}

// membersOnlyCoven makes coven members-only, owned by alice (in the
// room), with bob an admin who is not.
func membersOnlyCoven(t *testing.T, h *harness) (alice, bob *client) {
	t.Helper()
	alice = h.client("alice@example.org/desk")
	bob = h.client("bob@example.org/phone")
	alice.create(coven, "firstwitch", map[string]string{"muc#roomconfig_membersonly": "1", "muc#roomconfig_persistentroom": "1"})
	alice.send(`<iq type='set' id='adm' to='%s'><query xmlns='%s'><item affiliation='admin' jid='bob@example.org'/></query></iq>`, coven, NSAdmin)
	alice.until("result", isResult("adm"))
	alice.drain()
	return alice, bob
}

func TestRegisterApproval(t *testing.T) {
	h := newHarness(t)
	alice, bob := membersOnlyCoven(t, h)
	carol := h.client("carol@example.org/pda")

	// §7.10: the request was received: an empty result; carol is no
	// member yet.
	if a := carol.registerNick(coven, "reg", "thirdwitch"); a.Attr("type") != "result" || len(a.Elements()) != 0 {
		t.Fatalf("registration awaiting approval = %s", a)
	}
	if got := carol.reservedNick(coven); got != "" {
		t.Fatalf("reserved nick before approval = %q", got)
	}
	// Every admin and owner gets the form: alice in the session she is in
	// the room with, bob, who is not in it, at his bare JID.
	for _, c := range []*client{alice, bob} {
		msg := c.until("approval form", isApprovalForm)
		f, _ := dataform.Parse(msg.Child(dataform.NS, "x"))
		if msg.Attr("from") != coven || f.Value(fieldRegisterJID) != "carol@example.org" || f.Value(fieldRoomNick) != "thirdwitch" || f.Value(fieldRegisterAllow) != "0" {
			t.Fatalf("approval form = %s", msg)
		}
		if fld, _ := f.Field(fieldRegisterAllow); fld.Type != dataform.Boolean {
			t.Fatalf("muc#register_allow is %q, want boolean", fld.Type)
		}
	}
	// The same request again sends no more forms; another nick waits.
	if a := carol.registerNick(coven, "again", "thirdwitch"); a.Attr("type") != "result" {
		t.Fatalf("the same request again = %s", a)
	}
	if a := carol.registerNick(coven, "other", "hecate"); !isError(stanza.PolicyViolation)(a) {
		t.Fatalf("another request while one waits = %s", a)
	}
	bob.quiet()

	// A skipped form (cancel) and a member's answer change nothing.
	bob.send(`<message to='%s'><x xmlns='jabber:x:data' type='cancel'/></message>`, coven)
	bob.quiet()
	dave := h.client("dave@example.org/x")
	alice.send(`<iq type='set' id='mem' to='%s'><query xmlns='%s'><item affiliation='member' jid='dave@example.org'/></query></iq>`, coven, NSAdmin)
	alice.until("result", isResult("mem"))
	dave.drain()
	dave.answerRegistration(coven, "carol@example.org", "thirdwitch", "1")
	dave.expect("forbidden", isError(stanza.Forbidden))
	// An answer for another nick is for no request.
	bob.answerRegistration(coven, "carol@example.org", "hecate", "1")
	bob.expect("item-not-found", isError(stanza.ItemNotFound))
	if got := carol.reservedNick(coven); got != "" {
		t.Fatalf("reserved nick after answers that approve nothing = %q", got)
	}

	// Bob approves: carol is a member with the nick, and invited (§9.5).
	bob.answerRegistration(coven, "carol@example.org", "thirdwitch", "true")
	inv := carol.until("invitation", func(el *xmlel.Element) bool { return el.Local == "message" })
	if x := inv.Child(NSUser, "x"); x == nil || x.Child(NSUser, "invite").Attr("from") != "bob@example.org" {
		t.Fatalf("invitation after approval = %s", inv)
	}
	if got := carol.reservedNick(coven); got != "thirdwitch" {
		t.Fatalf("reserved nick after approval = %q, want thirdwitch", got)
	}
	if list := alice.memberList(coven); !strings.Contains(list, "jid='carol@example.org'") || !strings.Contains(list, "nick='thirdwitch'") {
		t.Fatalf("member list after approval = %s", list)
	}
	carol.join(coven, "thirdwitch", "")
	// The request is gone: a second answer finds nothing.
	alice.drain()
	alice.answerRegistration(coven, "carol@example.org", "thirdwitch", "1")
	alice.expect("item-not-found", isError(stanza.ItemNotFound))
}

func TestRegisterApprovalDenied(t *testing.T) {
	h := newHarness(t)
	alice, bob := membersOnlyCoven(t, h)
	carol := h.client("carol@example.org/pda")
	carol.registerNick(coven, "reg", "thirdwitch")
	bob.until("approval form", isApprovalForm)
	alice.drain()
	bob.answerRegistration(coven, "carol@example.org", "thirdwitch", "0")
	// The spec tells the user nothing of a denial; nothing changed.
	bob.quiet()
	carol.quiet()
	if got := carol.reservedNick(coven); got != "" {
		t.Fatalf("reserved nick after a denial = %q", got)
	}
	if list := alice.memberList(coven); strings.Contains(list, "carol@example.org") {
		t.Fatalf("member list after a denial = %s", list)
	}
	carol.send(`<presence to='%s/thirdwitch'><x xmlns='%s'/></presence>`, coven, NS)
	carol.expect("registration-required", isError(stanza.RegistrationRequired))
	// The denial ended the request: alice's approval comes too late.
	alice.answerRegistration(coven, "carol@example.org", "thirdwitch", "1")
	alice.expect("item-not-found", isError(stanza.ItemNotFound))
	// The user may ask again.
	if a := carol.registerNick(coven, "reg2", "hecate"); a.Attr("type") != "result" {
		t.Fatalf("asking again after a denial = %s", a)
	}
	bob.until("approval form", isApprovalForm)
}

func TestRegisterApprovalWithdrawn(t *testing.T) {
	h := newHarness(t)
	alice, bob := membersOnlyCoven(t, h)
	carol := h.client("carol@example.org/pda")
	carol.registerNick(coven, "reg", "thirdwitch")
	bob.until("approval form", isApprovalForm)
	alice.drain()
	// XEP-0077 §3.2's <remove/> withdraws the waiting request.
	carol.send(`<iq type='set' id='rm' to='%s'><query xmlns='jabber:iq:register'><remove/></query></iq>`, coven)
	carol.until("result", isResult("rm"))
	bob.answerRegistration(coven, "carol@example.org", "thirdwitch", "1")
	bob.expect("item-not-found", isError(stanza.ItemNotFound))
	if got := carol.reservedNick(coven); got != "" {
		t.Fatalf("reserved nick after a withdrawn request = %q", got)
	}
	// Nothing waits any more: another <remove/> is for no registration.
	carol.send(`<iq type='set' id='rm2' to='%s'><query xmlns='jabber:iq:register'><remove/></query></iq>`, coven)
	carol.expect("registration-required", isError(stanza.RegistrationRequired))
	// A new request with another nickname is not refused as a second one.
	if a := carol.registerNick(coven, "reg2", "hecate"); a.Attr("type") != "result" {
		t.Fatalf("asking again after withdrawing = %s", a)
	}
	bob.until("approval form", isApprovalForm)
}

func TestRegisterApprovalConflict(t *testing.T) {
	h := newHarness(t)
	alice, bob := membersOnlyCoven(t, h)
	carol := h.client("carol@example.org/pda")
	dave := h.client("dave@example.org/x")
	carol.registerNick(coven, "reg", "thirdwitch")
	bob.until("approval form", isApprovalForm)
	// While the request waits, the admin gives the nick to dave.
	alice.send(`<iq type='set' id='mem' to='%s'><query xmlns='%s'><item affiliation='member' jid='dave@example.org' nick='ThirdWitch'/></query></iq>`, coven, NSAdmin)
	alice.until("result", isResult("mem"))
	dave.drain()
	bob.answerRegistration(coven, "carol@example.org", "thirdwitch", "1")
	if e := bob.expect("conflict", isError(stanza.Conflict)); !strings.Contains(e.String(), "dropped") {
		t.Fatalf("conflict at approval = %s", e)
	}
	if got := carol.reservedNick(coven); got != "" {
		t.Fatalf("reserved nick after a conflicting approval = %q", got)
	}
	carol.quiet()
	bob.answerRegistration(coven, "carol@example.org", "thirdwitch", "1")
	bob.expect("item-not-found", isError(stanza.ItemNotFound))

	// A user banned while the request waited is not made a member.
	carol.registerNick(coven, "reg2", "hecate")
	bob.until("approval form", isApprovalForm)
	alice.send(`<iq type='set' id='ban' to='%s'><query xmlns='%s'><item affiliation='outcast' jid='carol@example.org'/></query></iq>`, coven, NSAdmin)
	alice.until("result", isResult("ban"))
	bob.answerRegistration(coven, "carol@example.org", "hecate", "1")
	bob.expect("forbidden", isError(stanza.Forbidden))
	alice.send(`<iq type='get' id='out' to='%s'><query xmlns='%s'><item affiliation='outcast'/></query></iq>`, coven, NSAdmin)
	if res := alice.until("outcast list", isResult("out")).String(); !strings.Contains(res, "carol@example.org") {
		t.Fatalf("outcast list after approving a banned user = %s", res)
	}
}

func TestRegisterApprovalBound(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	h := newHarness(t, func(c *Config) { c.Clock = func() time.Time { return time.Unix(0, now.Load()) } })
	_, bob := membersOnlyCoven(t, h)
	for i := range maxRegRequests {
		u := h.client(fmt.Sprintf("u%d@example.org/x", i))
		if a := u.registerNick(coven, "reg", fmt.Sprintf("u%d", i)); a.Attr("type") != "result" {
			t.Fatalf("request %d = %s", i, a)
		}
	}
	late := h.client("late@example.org/x")
	if a := late.registerNick(coven, "reg", "late"); !isError(stanza.ResourceConstraint)(a) {
		t.Fatalf("request beyond the bound = %s", a)
	}
	// Requests expire, and make room for others; an answer to an expired
	// one changes nothing.
	now.Add(int64(regRequestTimeout + time.Minute))
	done := make(chan struct{})
	h.svc.post(mustJID(t, coven), event{fn: func(r *room) { r.tick(); close(done) }})
	<-done
	if a := late.registerNick(coven, "reg2", "late"); a.Attr("type") != "result" {
		t.Fatalf("request after the others expired = %s", a)
	}
	bob.drain()
	bob.answerRegistration(coven, "u0@example.org", "u0", "1")
	bob.expect("item-not-found", isError(stanza.ItemNotFound))
}
