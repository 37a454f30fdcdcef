package muc

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

func TestCreateAndJoin(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")

	self := alice.join(coven, "firstwitch", "")
	// §10.1.1: the creator is owner and moderator, told 110 and 201.
	if it := item(self); it.Attr("affiliation") != "owner" || it.Attr("role") != "moderator" || !hasCodes(self, "110", "201") {
		t.Fatalf("creator's self-presence = %s", self)
	}
	// §7.2.11: a locked room does not exist for others.
	bob.send(`<presence to='%s/thirdwitch'><x xmlns='%s'/></presence>`, coven, NS)
	bob.expect("item-not-found", isError(stanza.ItemNotFound))
	// An instant room (§10.1.2).
	alice.send(`<iq type='set' id='inst' to='%s'><query xmlns='%s'><x xmlns='jabber:x:data' type='submit'/></query></iq>`, coven, NSOwner)
	alice.expect("instant room result", isResult("inst"))

	bob.send(`<presence id='j1' to='%s/thirdwitch'><x xmlns='%s'/><status>here</status></presence>`, coven, NS)
	// §7.1: the others first, then self-presence, then (no) history, then
	// the subject.
	first := bob.expect("alice's presence", isPresence(coven+"/firstwitch", ""))
	if it := item(first); it.Attr("affiliation") != "owner" || it.Attr("jid") != "" {
		t.Fatalf("alice's presence to bob = %s, want owner without jid (semi-anonymous)", first)
	}
	if first.Child(NSOccupant, "occupant-id") == nil {
		t.Fatalf("presence without occupant-id: %s", first)
	}
	self = bob.expect("self-presence", isPresence(coven+"/thirdwitch", ""))
	if !hasCodes(self, "110", "170") && !hasCodes(self, "110") {
		t.Fatalf("bob's self-presence codes = %v", codes(self))
	}
	if self.Attr("id") != "j1" || self.ChildText("", "status") != "here" {
		t.Fatalf("self-presence = %s, want the join id and status reflected", self)
	}
	bob.expect("subject", func(el *xmlel.Element) bool {
		return el.Local == "message" && el.Child("", "subject") != nil && el.ChildText("", "subject") == "" && el.Attr("from") == coven
	})
	// The moderator sees bob's real JID (§7.2.4).
	p := alice.until("bob's presence", isPresence(coven+"/thirdwitch", ""))
	if item(p).Attr("jid") != "bob@example.org/phone" || item(p).Attr("role") != "participant" {
		t.Fatalf("bob's presence to alice = %s", p)
	}
	// disco#info of the room.
	bob.send(`<iq type='get' id='info' to='%s'><query xmlns='%s'/></iq>`, coven, stanza.NSDiscoInfo)
	info := bob.expect("disco#info", isResult("info"))
	for _, f := range []string{NS, NSStableID, NSSelfPing, NSOccupant, NSModerate, "muc_temporary", "muc_semianonymous", "muc_open", "muc_public"} {
		if !strings.Contains(info.String(), "var='"+f+"'") {
			t.Errorf("disco#info lacks %s: %s", f, info)
		}
	}
}

func TestNicknames(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	alice2 := h.client("alice@example.org/phone")
	bob := h.client("bob@example.org/phone")
	alice.create(coven, "firstwitch", nil)
	bob.join(coven, "thirdwitch", "")
	alice.drain()

	// §7.2.9: conflict with another user's nick, also in another case.
	bob2 := h.client("bob@example.org/laptop")
	bob2.send(`<presence to='%s/FirstWitch'><x xmlns='%s'/></presence>`, coven, NS)
	bob2.expect("conflict", isError(stanza.Conflict))

	// §7.2.10: the same user enters again under the same nick.
	self := alice2.join(coven, "firstwitch", "")
	if item(self).Attr("role") != "moderator" {
		t.Fatalf("second session's self-presence = %s", self)
	}
	bob.quiet() // nothing new for the others: the occupant was there

	// §7.6: a nick change, with 303 and the new nick, then the new
	// presence; the occupant-id stays.
	bob.drain()
	oldID := ""
	bob.send(`<presence to='%s/thirdwitch'/>`, coven) // an update, to read the id
	p := alice.until("bob's update", isPresence(coven+"/thirdwitch", ""))
	oldID = p.Child(NSOccupant, "occupant-id").Attr("id")
	bob.drain()
	bob.send(`<presence id='n1' to='%s/oldhag'/>`, coven)
	gone := alice.until("303", isPresence(coven+"/thirdwitch", "unavailable"))
	if !hasCodes(gone, "303") || item(gone).Attr("nick") != "oldhag" {
		t.Fatalf("nick change presence = %s", gone)
	}
	back := alice.expect("new nick", isPresence(coven+"/oldhag", ""))
	if id := back.Child(NSOccupant, "occupant-id").Attr("id"); id != oldID || id == "" {
		t.Fatalf("occupant-id after nick change = %q, want %q", id, oldID)
	}
	selfGone := bob.expect("self 303", isPresence(coven+"/thirdwitch", "unavailable"))
	if !hasCodes(selfGone, "110", "303") {
		t.Fatalf("self 303 = %s", selfGone)
	}
	selfBack := bob.expect("self new nick", isPresence(coven+"/oldhag", ""))
	if !hasCodes(selfBack, "110") || selfBack.Attr("id") != "n1" {
		t.Fatalf("self new nick = %s", selfBack)
	}
	// A change to a taken nick conflicts.
	bob.send(`<presence to='%s/firstwitch'/>`, coven)
	bob.expect("conflict", isError(stanza.Conflict))

	// One of alice's sessions leaves: only it hears of it.
	alice2.drain()
	alice2.send(`<presence type='unavailable' to='%s/firstwitch'/>`, coven)
	left := alice2.expect("self unavailable", isPresence(coven+"/firstwitch", "unavailable"))
	if !hasCodes(left, "110") {
		t.Fatalf("leaving session = %s", left)
	}
	bob.quiet()
	// Invisible nicks are refused (§15.1).
	carol := h.client("carol@example.org/x")
	carol.send(`<presence to='%s/%s'><x xmlns='%s'/></presence>`, coven, "\u00a0 ", NS)
	carol.expect("jid-malformed", isError(stanza.JIDMalformed))
}

func TestMessages(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	carol := h.client("carol@example.org/pda")
	alice.create(coven, "firstwitch", map[string]string{"muc#roomconfig_persistentroom": "1"})
	bob.join(coven, "thirdwitch", "")
	alice.drain()

	// §7.4 and XEP-0359: reflected with the sender's id, a stanza-id by
	// the room (a forged one removed) and the occupant-id.
	bob.send(`<message type='groupchat' id='m1' to='%s'><body>Thrice</body><stanza-id xmlns='%s' id='forged' by='%s'/><occupant-id xmlns='%s' id='forged'/></message>`,
		coven, NSStanzaID, coven, NSOccupant)
	for _, c := range []*client{alice, bob} {
		m := c.until("message", isMessage(coven+"/thirdwitch", "Thrice"))
		sids := 0
		for _, e := range m.Elements() {
			if e.Is(NSStanzaID, "stanza-id") {
				sids++
				if e.Attr("id") == "forged" || e.Attr("by") != coven {
					t.Fatalf("stanza-id = %s", e)
				}
			}
		}
		if m.Attr("id") != "m1" || sids != 1 || m.Child(NSOccupant, "occupant-id").Attr("id") == "forged" {
			t.Fatalf("%s got %s", c.jid, m)
		}
	}
	// §7.4: a non-occupant may not.
	carol.send(`<message type='groupchat' id='m2' to='%s'><body>hi</body></message>`, coven)
	carol.expect("not-acceptable", isError(stanza.NotAcceptable))

	// §8.1: subjects are for moderators unless the room says otherwise.
	bob.send(`<message type='groupchat' id='s1' to='%s'><subject>Mine</subject></message>`, coven)
	bob.expect("forbidden", isError(stanza.Forbidden))
	alice.send(`<message type='groupchat' id='s2' to='%s'><subject>Spells</subject></message>`, coven)
	s := bob.until("subject", func(el *xmlel.Element) bool { return el.ChildText("", "subject") == "Spells" })
	if s.Attr("from") != coven+"/firstwitch" {
		t.Fatalf("subject change = %s", s)
	}

	// §7.5: private messages, with <x/> added, to the occupant's sessions.
	bob.send(`<message type='chat' id='pm1' to='%s/firstwitch'><body>psst</body></message>`, coven)
	pm := alice.until("private message", isMessage(coven+"/thirdwitch", "psst"))
	if pm.Child(NSUser, "x") == nil || pm.Attr("type") != "chat" || pm.Child(NSOccupant, "occupant-id") == nil {
		t.Fatalf("private message = %s", pm)
	}
	bob.send(`<message type='groupchat' id='pm2' to='%s/firstwitch'><body>x</body></message>`, coven)
	bob.expect("bad-request", isError(stanza.BadRequest))
	bob.send(`<message type='chat' id='pm3' to='%s/nobody'><body>x</body></message>`, coven)
	bob.expect("item-not-found", isError(stanza.ItemNotFound))
	carol.send(`<message type='chat' id='pm4' to='%s/firstwitch'><body>x</body></message>`, coven)
	carol.expect("not-acceptable", isError(stanza.NotAcceptable))

	// History on join (§7.2.15) and then the subject, with delays.
	for i := range 5 {
		alice.say(coven, fmt.Sprintf("h%d", i), fmt.Sprintf("line %d", i))
	}
	alice.drain()
	bob.drain()
	carol.send(`<presence to='%s/carol'><x xmlns='%s'><history maxstanzas='2'/></x></presence>`, coven, NS)
	carol.until("self", isPresence(coven+"/carol", ""))
	h3 := carol.expect("line 3", isMessage(coven+"/firstwitch", "line 3"))
	if d := h3.Child(stanza.NSDelay, "delay"); d == nil || d.Attr("from") != coven {
		t.Fatalf("history without delay from the room: %s", h3)
	}
	carol.expect("line 4", isMessage(coven+"/firstwitch", "line 4"))
	subj := carol.expect("subject", func(el *xmlel.Element) bool { return el.ChildText("", "subject") == "Spells" })
	if subj.Child(stanza.NSDelay, "delay") == nil {
		t.Fatalf("subject without delay: %s", subj)
	}
	// maxchars='0' asks for none.
	dave := h.client("dave@example.org/x")
	dave.send(`<presence to='%s/dave'><x xmlns='%s'><history maxchars='0'/></x></presence>`, coven, NS)
	dave.until("self", isPresence(coven+"/dave", ""))
	dave.expect("subject only", func(el *xmlel.Element) bool { return el.Child("", "subject") != nil })
	// maxchars of about one stanza gives the last one only.
	one := h.client("eve@example.org/x")
	one.send(`<presence to='%s/eve'><x xmlns='%s'><history maxchars='600'/></x></presence>`, coven, NS)
	one.until("self", isPresence(coven+"/eve", ""))
	one.expect("line 4", isMessage(coven+"/firstwitch", "line 4"))
	one.expect("subject", func(el *xmlel.Element) bool { return el.Child("", "subject") != nil })
	// since in the future gives none.
	fut := h.client("fred@example.org/x")
	fut.send(`<presence to='%s/fred'><x xmlns='%s'><history since='2999-01-01T00:00:00Z'/></x></presence>`, coven, NS)
	fut.until("self", isPresence(coven+"/fred", ""))
	fut.expect("subject only", func(el *xmlel.Element) bool { return el.Child("", "subject") != nil })
}

func TestModeration(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	carol := h.client("carol@example.org/pda")
	alice.create(coven, "firstwitch", map[string]string{"muc#roomconfig_moderatedroom": "1"})
	// §5.1.2: in a moderated room a newcomer is a visitor.
	self := bob.join(coven, "thirdwitch", "")
	if item(self).Attr("role") != "visitor" {
		t.Fatalf("newcomer in a moderated room = %s", self)
	}
	bob.say(coven, "v1", "can I speak")
	bob.expect("forbidden", isError(stanza.Forbidden))
	// §8.3: voice.
	alice.send(`<iq type='set' id='voice' to='%s'><query xmlns='%s'><item nick='thirdwitch' role='participant'><reason>worthy</reason></item></query></iq>`, coven, NSAdmin)
	alice.until("result", isResult("voice"))
	p := bob.until("voice", isPresence(coven+"/thirdwitch", ""))
	if item(p).Attr("role") != "participant" || item(p).ChildText(NSUser, "reason") != "worthy" {
		t.Fatalf("voice presence = %s", p)
	}
	bob.say(coven, "v2", "thank you")
	bob.until("own message", isMessage(coven+"/thirdwitch", "thank you"))

	carol.join(coven, "carol", "")
	// §8.2: a kick, 307 with actor and reason to the kicked, 307 to the
	// others.
	bob.drain()
	alice.send(`<iq type='set' id='kick' to='%s'><query xmlns='%s'><item nick='carol' role='none'><reason>Avaunt</reason></item></query></iq>`, coven, NSAdmin)
	alice.until("kick result", isResult("kick"))
	k := carol.until("kicked", isPresence(coven+"/carol", "unavailable"))
	if !hasCodes(k, "110", "307") || item(k).Attr("role") != "none" || item(k).Child(NSUser, "actor").Attr("nick") != "firstwitch" ||
		item(k).ChildText(NSUser, "reason") != "Avaunt" {
		t.Fatalf("kicked presence = %s", k)
	}
	k = bob.until("carol kicked", isPresence(coven+"/carol", "unavailable"))
	if !hasCodes(k, "307") {
		t.Fatalf("kick seen by others = %s", k)
	}
	// A participant cannot kick.
	bob.send(`<iq type='set' id='k2' to='%s'><query xmlns='%s'><item nick='firstwitch' role='none'/></query></iq>`, coven, NSAdmin)
	bob.until("forbidden", isError(stanza.Forbidden))

	// §9.1: a ban, 301, and no way back.
	carol.join(coven, "carol", "")
	alice.send(`<iq type='set' id='ban' to='%s'><query xmlns='%s'><item affiliation='outcast' jid='carol@example.org'><reason>Treason</reason></item></query></iq>`, coven, NSAdmin)
	alice.until("ban result", isResult("ban"))
	b := carol.until("banned", isPresence(coven+"/carol", "unavailable"))
	if !hasCodes(b, "110", "301") || item(b).Attr("affiliation") != "outcast" {
		t.Fatalf("banned presence = %s", b)
	}
	carol.send(`<presence to='%s/carol'><x xmlns='%s'/></presence>`, coven, NS)
	carol.expect("forbidden", isError(stanza.Forbidden))
	// The ban list.
	alice.send(`<iq type='get' id='bl' to='%s'><query xmlns='%s'><item affiliation='outcast'/></query></iq>`, coven, NSAdmin)
	bl := alice.until("ban list", isResult("bl"))
	it := bl.Child(NSAdmin, "query").Child(NSAdmin, "item")
	if it.Attr("jid") != "carol@example.org" || it.ChildText(NSAdmin, "reason") != "Treason" {
		t.Fatalf("ban list = %s", bl)
	}
	// §9.1: no banning oneself; §10.5: the last owner stays.
	alice.send(`<iq type='set' id='self' to='%s'><query xmlns='%s'><item affiliation='outcast' jid='alice@example.org'/></query></iq>`, coven, NSAdmin)
	alice.until("conflict", isError(stanza.Conflict))
	alice.send(`<iq type='set' id='down' to='%s'><query xmlns='%s'><item affiliation='member' jid='alice@example.org'/></query></iq>`, coven, NSAdmin)
	alice.until("conflict", isError(stanza.Conflict))
	// §17.4 rule 4: role and affiliation together are a bad request.
	alice.send(`<iq type='set' id='both' to='%s'><query xmlns='%s'><item affiliation='member' role='participant' nick='thirdwitch' jid='bob@example.org'/></query></iq>`, coven, NSAdmin)
	alice.until("bad-request", isError(stanza.BadRequest))
}

func TestMembersOnly(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	carol := h.client("carol@example.org/pda")
	alice.create(coven, "firstwitch", map[string]string{"muc#roomconfig_membersonly": "1", "muc#roomconfig_whois": "anyone"})
	// §7.2.7: not on the member list.
	bob.send(`<presence to='%s/thirdwitch'><x xmlns='%s'/></presence>`, coven, NS)
	bob.expect("registration-required", isError(stanza.RegistrationRequired))
	// §9.3: membership, with a reserved nick; the new member is invited
	// (§9.5).
	alice.send(`<iq type='set' id='mem' to='%s'><query xmlns='%s'><item affiliation='member' jid='bob@example.org' nick='thirdwitch'/></query></iq>`, coven, NSAdmin)
	alice.until("result", isResult("mem"))
	inv := bob.expect("invitation", func(el *xmlel.Element) bool { return el.Child(NSUser, "x").Child(NSUser, "invite") != nil })
	if inv.Child(NSUser, "x").Child(NSUser, "invite").Attr("from") != "alice@example.org" {
		t.Fatalf("invitation = %s", inv)
	}
	self := bob.join(coven, "thirdwitch", "")
	// §7.2.4: non-anonymous, 100.
	if !contains(codes(self), "100") || item(self).Attr("jid") != "bob@example.org/phone" {
		t.Fatalf("self-presence in a non-anonymous room = %s", self)
	}
	// The reserved nick is bob's: §7.12 tells him, and others conflict.
	bob.send(`<iq type='get' id='rn' to='%s'><query xmlns='%s' node='x-roomuser-item'/></iq>`, coven, stanza.NSDiscoInfo)
	rn := bob.until("reserved nick", isResult("rn"))
	if rn.Child(stanza.NSDiscoInfo, "query").Child(stanza.NSDiscoInfo, "identity").Attr("name") != "thirdwitch" {
		t.Fatalf("reserved nick = %s", rn)
	}
	// §9.4: revoked membership in a members-only room: out, 321.
	alice.drain()
	alice.send(`<iq type='set' id='rev' to='%s'><query xmlns='%s'><item affiliation='none' jid='bob@example.org'/></query></iq>`, coven, NSAdmin)
	alice.until("result", isResult("rev"))
	out := bob.until("removed", isPresence(coven+"/thirdwitch", "unavailable"))
	if !hasCodes(out, "110", "321") {
		t.Fatalf("removed member = %s", out)
	}
	if p := alice.until("bob removed", isPresence(coven+"/thirdwitch", "unavailable")); !hasCodes(p, "321") {
		t.Fatalf("removal seen by the owner = %s", p)
	}
	// §7.8.2: a mediated invitation in a members-only room makes the
	// invitee a member.
	alice.send(`<message id='inv' to='%s'><x xmlns='%s'><invite to='carol@example.org'><reason>come</reason></invite></x></message>`, coven, NSUser)
	ci := carol.expect("invitation", func(el *xmlel.Element) bool { return el.Child(NSUser, "x").Child(NSUser, "invite") != nil })
	if ci.Child(NSUser, "x").Child(NSUser, "invite").ChildText(NSUser, "reason") != "come" || ci.Attr("from") != coven {
		t.Fatalf("mediated invitation = %s", ci)
	}
	carol.join(coven, "carol", "")
	// A decline goes back to the inviter.
	dave := h.client("dave@example.org/x")
	alice.send(`<message id='inv2' to='%s'><x xmlns='%s'><invite to='dave@example.org'/></x></message>`, coven, NSUser)
	dave.next()
	dave.send(`<message id='dec' to='%s'><x xmlns='%s'><decline to='alice@example.org'><reason>busy</reason></decline></x></message>`, coven, NSUser)
	d := alice.until("decline", func(el *xmlel.Element) bool {
		return el.Local == "message" && el.Child(NSUser, "x").Child(NSUser, "decline") != nil
	})
	if d.Child(NSUser, "x").Child(NSUser, "decline").Attr("from") != "dave@example.org" {
		t.Fatalf("decline = %s", d)
	}
	// A member may not invite unless the room allows it (§9.5).
	carol.send(`<message id='inv3' to='%s'><x xmlns='%s'><invite to='eve@example.org'/></x></message>`, coven, NSUser)
	carol.until("forbidden", isError(stanza.Forbidden))
}

func TestBecomeMembersOnly(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	alice.create(coven, "firstwitch", nil)
	bob.join(coven, "thirdwitch", "")
	alice.configure(coven, map[string]string{"muc#roomconfig_membersonly": "1"})
	// §10.2: non-members leave with 322, and the change is announced.
	out := bob.until("removed", isPresence(coven+"/thirdwitch", "unavailable"))
	if !hasCodes(out, "110", "322") {
		t.Fatalf("non-member removed = %s", out)
	}
	msg := alice.until("104", func(el *xmlel.Element) bool { return el.Local == "message" && el.Child(NSUser, "x") != nil })
	if !hasCodes(msg, "104") {
		t.Fatalf("configuration change notice = %s", msg)
	}
}

func TestDestroy(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	alice.create(coven, "firstwitch", map[string]string{"muc#roomconfig_persistentroom": "1"})
	bob.join(coven, "thirdwitch", "")
	bob.send(`<iq type='set' id='d0' to='%s'><query xmlns='%s'><destroy/></query></iq>`, coven, NSOwner)
	bob.until("forbidden", isError(stanza.Forbidden))
	alice.send(`<iq type='set' id='d1' to='%s'><query xmlns='%s'><destroy jid='heath@conference.example.org'><reason>Macbeth doth come.</reason></destroy></query></iq>`, coven, NSOwner)
	p := bob.until("destroyed", isPresence(coven+"/thirdwitch", "unavailable"))
	d := p.Child(NSUser, "x").Child(NSUser, "destroy")
	if d == nil || d.Attr("jid") != "heath@conference.example.org" || d.ChildText(NSUser, "reason") != "Macbeth doth come." {
		t.Fatalf("destroy presence = %s", p)
	}
	alice.until("result", isResult("d1"))
	if _, err := h.store.Rooms().Get(t.Context(), coven); err == nil {
		t.Fatal("a destroyed room is still stored")
	}
	// Gone: a new join creates a new room.
	self := bob.join(coven, "thirdwitch", "")
	if !contains(codes(self), "201") {
		t.Fatalf("joining after destruction = %s, want a new room", self)
	}
}

func TestSelfPingAndOccupantIQ(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	alice.create(coven, "firstwitch", nil)
	bob.join(coven, "thirdwitch", "")
	// XEP-0410: answered by the room for an occupant, not-acceptable for
	// anyone else.
	bob.send(`<iq type='get' id='sp' to='%s/thirdwitch'><ping xmlns='%s'/></iq>`, coven, NSPing)
	r := bob.until("self-ping", isResult("sp"))
	if r.Attr("from") != coven+"/thirdwitch" {
		t.Fatalf("self-ping answer = %s", r)
	}
	carol := h.client("carol@example.org/pda")
	carol.send(`<iq type='get' id='sp2' to='%s/thirdwitch'><ping xmlns='%s'/></iq>`, coven, NSPing)
	carol.expect("not-acceptable", isError(stanza.NotAcceptable))
	// §17.4 rule 3: a request to another occupant goes to its session,
	// from the sender's occupant JID, and the answer comes back.
	alice.drain()
	bob.send(`<iq type='get' id='ver' to='%s/firstwitch'><query xmlns='jabber:iq:version'/></iq>`, coven)
	fwd := alice.expect("forwarded request", func(el *xmlel.Element) bool { return el.Local == "iq" })
	if fwd.Attr("from") != coven+"/thirdwitch" || fwd.Attr("id") == "ver" {
		t.Fatalf("forwarded request = %s", fwd)
	}
	alice.send(`<iq type='result' id='%s' to='%s/thirdwitch'><query xmlns='jabber:iq:version'><name>x</name></query></iq>`, fwd.Attr("id"), coven)
	ans := bob.until("answer", isResult("ver"))
	if ans.Attr("from") != coven+"/firstwitch" {
		t.Fatalf("answer = %s", ans)
	}
}

func TestGroupchat10Join(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	alice.create(coven, "firstwitch", nil)
	bob := h.client("bob@example.org/phone")
	// §7.2.22: presence without <x/> from a non-occupant: 110, 307, 333.
	bob.send(`<presence to='%s/thirdwitch'/>`, coven)
	p := bob.expect("kick", isPresence(coven+"/thirdwitch", "unavailable"))
	if !hasCodes(p, "110", "307", "333") {
		t.Fatalf("groupchat 1.0 join = %s", p)
	}
}

func TestPasswordAndLimit(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	alice.create(coven, "firstwitch", map[string]string{
		"muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "cauldronburn", "muc#roomconfig_maxusers": "2",
	})
	bob := h.client("bob@example.org/phone")
	bob.send(`<presence to='%s/thirdwitch'><x xmlns='%s'/></presence>`, coven, NS)
	bob.expect("not-authorized", isError(stanza.NotAuthorized))
	bob.join(coven, "thirdwitch", "<password>cauldronburn</password>")
	carol := h.client("carol@example.org/pda")
	carol.send(`<presence to='%s/carol'><x xmlns='%s'><password>cauldronburn</password></x></presence>`, coven, NS)
	e := carol.expect("service-unavailable", isError(stanza.ServiceUnavailable))
	if e.Child("", "error").Attr("type") != "wait" {
		t.Fatalf("full room = %s, want type wait", e)
	}
	// A blank password is not acceptable (§10.1.3).
	alice.send(`<iq type='set' id='pw' to='%s'><query xmlns='%s'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_roomsecret'><value></value></field></x></query></iq>`, coven, NSOwner)
	alice.until("not-acceptable", isError(stanza.NotAcceptable))
}

func TestCreationLimits(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxRoomsPerUser = 1 })
	alice := h.client("alice@example.org/desk")
	alice.create(coven, "a", nil)
	alice.send(`<presence to='heath@conference.example.org/a'><x xmlns='%s'/></presence>`, NS)
	alice.until("not-allowed", isError(stanza.NotAllowed))
	mallory := h.client("mallory@evil.example/x")
	mallory.send(`<presence to='heath@conference.example.org/m'><x xmlns='%s'/></presence>`, NS)
	mallory.expect("not-allowed", isError(stanza.NotAllowed))
}

func TestHistoryLimits(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.HistoryDefault, c.HistoryMax = 3, 5 })
	alice := h.client("alice@example.org/desk")
	alice.create(coven, "firstwitch", nil)
	for i := range 8 {
		alice.say(coven, fmt.Sprintf("h%d", i), fmt.Sprintf("line %d", i))
	}
	alice.drain()
	count := func(c *client, nick, history string) int {
		c.send(`<presence to='%s/%s'><x xmlns='%s'>%s</x></presence>`, coven, nick, NS, history)
		c.until("self", isPresence(coven+"/"+nick, ""))
		n := 0
		for {
			el := c.next()
			if el.Child("", "subject") != nil {
				return n
			}
			n++
		}
	}
	// No <history/>: the default; asking for more: up to the maximum.
	if n := count(h.client("bob@example.org/x"), "bob", ""); n != 3 {
		t.Errorf("history without <history/> = %d messages, want 3", n)
	}
	if n := count(h.client("carol@example.org/x"), "carol", "<history maxstanzas='50'/>"); n != 5 {
		t.Errorf("history with maxstanzas 50 = %d messages, want 5", n)
	}
	if n := count(h.client("dave@example.org/x"), "dave", "<history seconds='3600'/>"); n != 5 {
		t.Errorf("history with seconds = %d messages, want 5", n)
	}
}

func TestConfigLists(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	alice.create(coven, "firstwitch", nil)
	bob.join(coven, "thirdwitch", "")
	// §10.2: the admin list of the form is the full list; a new admin in
	// the room becomes a moderator.
	alice.configure(coven, map[string]string{"muc#roomconfig_roomadmins": "bob@example.org", "muc#roomconfig_roomowners": ""})
	p := bob.until("promotion", isPresence(coven+"/thirdwitch", ""))
	if item(p).Attr("affiliation") != "admin" || item(p).Attr("role") != "moderator" {
		t.Fatalf("new admin = %s", p)
	}
	// An empty owner list leaves the owners; the form shows the lists.
	alice.send(`<iq type='get' id='f' to='%s'><query xmlns='%s'/></iq>`, coven, NSOwner)
	f := alice.until("form", isResult("f")).String()
	if !strings.Contains(f, "<value>alice@example.org</value>") || !strings.Contains(f, "<value>bob@example.org</value>") {
		t.Fatalf("configuration form = %s", f)
	}
	// Admins may not configure.
	bob.send(`<iq type='get' id='f2' to='%s'><query xmlns='%s'/></iq>`, coven, NSOwner)
	bob.until("forbidden", isError(stanza.Forbidden))
	// Removed from the list, the admin goes back to participant.
	alice.configure(coven, map[string]string{"muc#roomconfig_roomadmins": ""})
	p = bob.until("demotion", isPresence(coven+"/thirdwitch", ""))
	if item(p).Attr("affiliation") != "none" || item(p).Attr("role") != "participant" {
		t.Fatalf("former admin = %s", p)
	}
}

func TestInviteToTheService(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	var ownService []string
	h.router.tap = func(st *stanza.Stanza) {
		if st.To.Domain() == h.cfg.Domain {
			mu.Lock()
			ownService = append(ownService, st.El.String())
			mu.Unlock()
		}
	}
	alice := h.client("alice@example.org/desk")
	alice.create(coven, "firstwitch", map[string]string{"muc#roomconfig_membersonly": "1"})
	// §7.8.2: invitations are for users. The service, its rooms and
	// their occupants are none, and an invitation sent there would come
	// back to the service as an error.
	for i, to := range []string{"conference.example.org", coven, "heath@conference.example.org/x"} {
		alice.send(`<message id='inv%d' to='%s'><x xmlns='%s'><invite to='%s'/></x></message>`, i, coven, NSUser, to)
		alice.expect("item-not-found", isError(stanza.ItemNotFound))
	}
	// Nor does a room of the service become a member of a members-only
	// room, and so invited (§9.5).
	alice.send(`<iq type='set' id='mem' to='%s'><query xmlns='%s'><item affiliation='member' jid='heath@conference.example.org'/></query></iq>`, coven, NSAdmin)
	alice.expect("result", isResult("mem"))
	alice.drain()
	mu.Lock()
	defer mu.Unlock()
	if len(ownService) > 0 {
		t.Fatalf("the room sent to its own service: %q", ownService)
	}
}

// TestInviteDomainIntoMembersOnly checks that an invitation, which makes
// its invitee a member of a members-only room (§9.5), cannot make a
// whole domain one (§9.2), while a user of it can be invited.
func TestInviteDomainIntoMembersOnly(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	alice.create(coven, "firstwitch", map[string]string{"muc#roomconfig_membersonly": "1"})
	alice.send(`<message id='dom' to='%s'><x xmlns='%s'><invite to='remote.example'/></x></message>`, coven, NSUser)
	alice.expect("not-acceptable", isError(stanza.NotAcceptable))
	alice.send(`<message id='usr' to='%s'><x xmlns='%s'><invite to='dave@remote.example'/></x></message>`, coven, NSUser)
	alice.send(`<iq type='get' id='mem' to='%s'><query xmlns='%s'><item affiliation='member'/></query></iq>`, coven, NSAdmin)
	res := alice.until("member list", isResult("mem"))
	if s := res.String(); strings.Contains(s, "jid='remote.example'") || !strings.Contains(s, "jid='dave@remote.example'") {
		t.Errorf("member list = %s, want dave@remote.example and not remote.example", s)
	}
}

func TestAdminItemsCheckedTogether(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	alice.create(coven, "firstwitch", nil)
	// §10: a room has an owner. Bob's ownership, given and taken away
	// again in the same request, does not stand in for alice's, and
	// nothing of the request is applied (§9.2).
	alice.send(`<iq type='set' id='own' to='%s'><query xmlns='%s'><item affiliation='owner' jid='bob@example.org'/><item affiliation='none' jid='alice@example.org'/><item affiliation='none' jid='bob@example.org'/></query></iq>`, coven, NSAdmin)
	alice.expect("conflict", isError(stanza.Conflict))
	alice.send(`<iq type='get' id='owners' to='%s'><query xmlns='%s'><item affiliation='owner'/></query></iq>`, coven, NSAdmin)
	if res := alice.expect("owner list", isResult("owners")).String(); !strings.Contains(res, "jid='alice@example.org'") || strings.Contains(res, "jid='bob@example.org'") {
		t.Fatalf("owners after a refused request = %s", res)
	}
	// One nickname is reserved for one user, also within one request.
	alice.send(`<iq type='set' id='nick' to='%s'><query xmlns='%s'><item affiliation='member' jid='bob@example.org' nick='thirdwitch'/><item affiliation='member' jid='carol@example.org' nick='ThirdWitch'/></query></iq>`, coven, NSAdmin)
	alice.expect("conflict", isError(stanza.Conflict))
	// Items that follow one another in one request are fine: bob becomes
	// owner and alice steps down.
	alice.send(`<iq type='set' id='pass' to='%s'><query xmlns='%s'><item affiliation='owner' jid='bob@example.org'/><item affiliation='admin' jid='alice@example.org'/></query></iq>`, coven, NSAdmin)
	alice.expect("result", isResult("pass"))
}

func TestConfigListsKeepAnOwner(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	alice.create(coven, "firstwitch", nil)
	// A JID on both lists of the form is an owner: the lists say what
	// each JID is, and a room keeps its owner (§10).
	lists := func() (owners, admins string) {
		alice.drain()
		alice.send(`<iq type='get' id='owners' to='%s'><query xmlns='%s'><item affiliation='owner'/></query></iq>`, coven, NSAdmin)
		owners = alice.expect("owner list", isResult("owners")).String()
		alice.send(`<iq type='get' id='admins' to='%s'><query xmlns='%s'><item affiliation='admin'/></query></iq>`, coven, NSAdmin)
		return owners, alice.expect("admin list", isResult("admins")).String()
	}
	alice.configure(coven, map[string]string{"muc#roomconfig_roomowners": "alice@example.org", "muc#roomconfig_roomadmins": "alice@example.org"})
	if owners, admins := lists(); !strings.Contains(owners, "jid='alice@example.org'") || strings.Contains(admins, "jid='alice@example.org'") {
		t.Fatalf("owners = %s, admins = %s", owners, admins)
	}
	// Without an owner list, the admin list does not take an owner's
	// place either.
	alice.configure(coven, map[string]string{"muc#roomconfig_roomadmins": "alice@example.org\nbob@example.org"})
	if owners, admins := lists(); !strings.Contains(owners, "jid='alice@example.org'") || strings.Contains(admins, "jid='alice@example.org'") || !strings.Contains(admins, "jid='bob@example.org'") {
		t.Fatalf("owners = %s, admins = %s", owners, admins)
	}
}
