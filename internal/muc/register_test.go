package muc

import (
	"fmt"
	"strings"
	"testing"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// registerNick sends a registration form with a nickname (none when nick
// is "-") and returns the answer.
func (c *client) registerNick(roomJID, id, nick string) *xmlel.Element {
	c.t.Helper()
	field := ""
	if nick != "-" {
		field = fmt.Sprintf("<field var='muc#register_roomnick'><value>%s</value></field>", nick)
	}
	return c.registerRaw(roomJID, id, fmt.Sprintf(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>%s</value></field>%s</x>`, formRegister, field))
}

// registerRaw sends a jabber:iq:register set with the given content and
// returns the answer.
func (c *client) registerRaw(roomJID, id, content string) *xmlel.Element {
	c.t.Helper()
	c.send(`<iq type='set' id='%s' to='%s'><query xmlns='%s'>%s</query></iq>`, id, roomJID, NSRegister, content)
	return c.until("answer "+id, func(el *xmlel.Element) bool { return el.Local == "iq" && el.Attr("id") == id })
}

// reservedNick asks the room for the client's reserved nickname (§7.12).
func (c *client) reservedNick(roomJID string) string {
	c.t.Helper()
	c.send(`<iq type='get' id='rn' to='%s'><query xmlns='%s' node='x-roomuser-item'/></iq>`, roomJID, stanza.NSDiscoInfo)
	rn := c.until("reserved nick", isResult("rn"))
	id := rn.Child(stanza.NSDiscoInfo, "query").Child(stanza.NSDiscoInfo, "identity")
	if id == nil {
		return ""
	}
	return id.Attr("name")
}

// memberList returns the owner's view of the member list (§9.5).
func (c *client) memberList(roomJID string) string {
	c.t.Helper()
	return c.affList(roomJID, "member")
}

func TestRegister(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	carol := h.client("carol@example.org/pda")
	alice.create(coven, "firstwitch", nil)

	// The room says it takes registrations.
	bob.send(`<iq type='get' id='info' to='%s'><query xmlns='%s'/></iq>`, coven, stanza.NSDiscoInfo)
	if info := bob.until("disco#info", isResult("info")).String(); !strings.Contains(info, "var='"+NSRegister+"'") {
		t.Fatalf("disco#info = %s", info)
	}
	// §7.10: the form, with the muc#register FORM_TYPE and one required
	// field, the nickname.
	bob.send(`<iq type='get' id='form' to='%s'><query xmlns='%s'/></iq>`, coven, NSRegister)
	res := bob.until("form", isResult("form"))
	f, err := dataform.Parse(res.Child(NSRegister, "query").Child(dataform.NS, "x"))
	if err != nil || f.Type != dataform.TypeForm || f.FormType() != formRegister || len(f.Fields) != 2 {
		t.Fatalf("registration form = %s (%v)", res, err)
	}
	if !strings.Contains(res.String(), "var='muc#register_roomnick'") || !strings.Contains(res.String(), "<required/>") {
		t.Fatalf("registration form has no required nick field: %s", res)
	}

	// Registering makes bob a member with the nick reserved.
	if a := bob.registerNick(coven, "reg", "thirdwitch"); a.Attr("type") != "result" {
		t.Fatalf("registration = %s", a)
	}
	if got := bob.reservedNick(coven); got != "thirdwitch" {
		t.Fatalf("reserved nick = %q, want thirdwitch", got)
	}
	if list := alice.memberList(coven); !strings.Contains(list, "jid='bob@example.org'") || !strings.Contains(list, "nick='thirdwitch'") {
		t.Fatalf("member list = %s", list)
	}
	// XEP-0077 §3.1: already registered, with the nick.
	bob.send(`<iq type='get' id='again' to='%s'><query xmlns='%s'/></iq>`, coven, NSRegister)
	again := bob.until("registered", isResult("again")).Child(NSRegister, "query")
	if again.Child(NSRegister, "registered") == nil || again.ChildText(NSRegister, "username") != "thirdwitch" {
		t.Fatalf("registered answer = %s", again)
	}
	// §7.12: others conflict, on entering and on registering, in any
	// case.
	carol.send(`<presence to='%s/thirdwitch'><x xmlns='%s'/></presence>`, coven, NS)
	carol.expect("conflict", isError(stanza.Conflict))
	if a := carol.registerNick(coven, "steal", "ThirdWitch"); !isError(stanza.Conflict)(a) {
		t.Fatalf("registering a reserved nick = %s", a)
	}
	// Bob may change his reserved nick; the old one is free again.
	if a := bob.registerNick(coven, "rereg", "hag"); a.Attr("type") != "result" {
		t.Fatalf("registering again = %s", a)
	}
	if got := bob.reservedNick(coven); got != "hag" {
		t.Fatalf("reserved nick = %q, want hag", got)
	}
	carol.join(coven, "thirdwitch", "")

	// XEP-0077 §3.2: <remove/> cancels it: no membership, no nick.
	if a := bob.registerRaw(coven, "unreg", "<remove/>"); a.Attr("type") != "result" {
		t.Fatalf("unregistering = %s", a)
	}
	if got := bob.reservedNick(coven); got != "" {
		t.Fatalf("reserved nick after unregistering = %q", got)
	}
	if list := alice.memberList(coven); strings.Contains(list, "bob@example.org") {
		t.Fatalf("member list after unregistering = %s", list)
	}
	if a := bob.registerRaw(coven, "unreg2", "<remove/>"); !isError(stanza.RegistrationRequired)(a) {
		t.Fatalf("unregistering twice = %s", a)
	}
}

func TestRegisterInformsOccupants(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	alice.create(coven, "firstwitch", nil)
	bob.join(coven, "bob", "")
	alice.drain()
	bob.drain()
	// §7.10: an occupant who becomes a member is announced with the new
	// affiliation; its nick in the room stays what it is.
	bob.send(`<iq type='set' id='reg' to='%s'><query xmlns='%s'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>%s</value></field><field var='muc#register_roomnick'><value>thirdwitch</value></field></x></query></iq>`, coven, NSRegister, formRegister)
	bob.expect("result", isResult("reg"))
	self := bob.expect("self-presence", isPresence(coven+"/bob", ""))
	if item(self).Attr("affiliation") != "member" || !contains(codes(self), "110") {
		t.Fatalf("self-presence after registering = %s", self)
	}
	p := alice.expect("presence", isPresence(coven+"/bob", ""))
	if item(p).Attr("affiliation") != "member" || item(p).Attr("role") != "participant" {
		t.Fatalf("presence after registering = %s", p)
	}
	// The form names the nick an occupant has.
	bob.send(`<iq type='get' id='form' to='%s'><query xmlns='%s'/></iq>`, coven, NSRegister)
	if res := bob.expect("registered", isResult("form")); !strings.Contains(res.String(), "<registered/>") {
		t.Fatalf("get after registering = %s", res)
	}
	// Unregistering takes the membership away, and that is announced.
	bob.send(`<iq type='set' id='unreg' to='%s'><query xmlns='%s'><remove/></query></iq>`, coven, NSRegister)
	bob.expect("result", isResult("unreg"))
	if p := alice.expect("presence", isPresence(coven+"/bob", "")); item(p).Attr("affiliation") != "none" {
		t.Fatalf("presence after unregistering = %s", p)
	}
}

func TestRegisterRefused(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	carol := h.client("carol@example.org/pda")
	dave := h.client("dave@example.org/x")
	server := h.client("remote.example")
	alice.create(coven, "firstwitch", nil)
	carol.join(coven, "carol", "")
	alice.send(`<iq type='set' id='ban' to='%s'><query xmlns='%s'><item affiliation='outcast' jid='dave@example.org'/></query></iq>`, coven, NSAdmin)
	alice.until("result", isResult("ban"))
	const nick = "<field var='FORM_TYPE'><value>" + formRegister + "</value></field><field var='muc#register_roomnick'><value>x</value></field>"
	for _, tc := range []struct {
		name    string
		c       *client
		content string
		want    stanza.Condition
	}{
		{"outcast gets the form", dave, "", stanza.Forbidden},
		{"outcast registers", dave, "<x xmlns='jabber:x:data' type='submit'>" + nick + "</x>", stanza.Forbidden},
		// Its affiliation would cover every user of its domain.
		{"a server registers", server, "<x xmlns='jabber:x:data' type='submit'>" + nick + "</x>", stanza.NotAllowed},
		{"a server unregisters", server, "<remove/>", stanza.NotAllowed},
		{"no form", bob, "<username>x</username>", stanza.BadRequest},
		{"broken form", bob, "<x xmlns='jabber:x:data' type='bogus'/>", stanza.BadRequest},
		{"other form type", bob, "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>jabber:iq:register</value></field></x>", stanza.BadRequest},
		{"form of type form", bob, "<x xmlns='jabber:x:data' type='form'>" + nick + "</x>", stanza.BadRequest},
		{"two nicks", bob, "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" + formRegister + "</value></field><field var='muc#register_roomnick'><value>a</value><value>b</value></field></x>", stanza.BadRequest},
		{"no nick", bob, "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" + formRegister + "</value></field></x>", stanza.NotAcceptable},
		{"invisible nick", bob, "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" + formRegister + "</value></field><field var='muc#register_roomnick'><value>\u200b \u00a0</value></field></x>", stanza.NotAcceptable},
		{"nick of an occupant", bob, "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" + formRegister + "</value></field><field var='muc#register_roomnick'><value>Carol</value></field></x>", stanza.Conflict},
		{"remove with more", bob, "<remove/><username>x</username>", stanza.BadRequest},
		{"remove unregistered", bob, "<remove/>", stanza.RegistrationRequired},
		{"remove by an outcast", dave, "<remove/>", stanza.RegistrationRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ := "set"
			if tc.content == "" {
				typ = "get"
			}
			tc.c.send(`<iq type='%s' id='r' to='%s'><query xmlns='%s'>%s</query></iq>`, typ, coven, NSRegister, tc.content)
			if a := tc.c.until("answer", func(el *xmlel.Element) bool { return el.Local == "iq" }); !isError(tc.want)(a) {
				t.Fatalf("answer = %s, want %s", a, tc.want)
			}
		})
	}
	// XEP-0004 §3.1: a cancelled form changes nothing.
	if a := bob.registerRaw(coven, "cancel", "<x xmlns='jabber:x:data' type='cancel'/>"); a.Attr("type") != "result" {
		t.Fatalf("cancelled form = %s", a)
	}
	if got := bob.reservedNick(coven); got != "" {
		t.Fatalf("reserved nick after a cancelled form = %q", got)
	}
	// §7.10: no room, item-not-found.
	bob.send(`<iq type='get' id='nr' to='blasted@conference.example.org'><query xmlns='%s'/></iq>`, NSRegister)
	bob.expect("item-not-found", isError(stanza.ItemNotFound))
}

func TestRegisterRestrictedRooms(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	carol := h.client("carol@example.org/pda")
	// §7.10: in a members-only room, a non-member's registration waits
	// for an admin's approval (§9.9, see approve_test.go), and does not
	// make a member at once; members register a nick.
	alice.create(coven, "firstwitch", map[string]string{"muc#roomconfig_membersonly": "1"})
	bob.send(`<iq type='get' id='form' to='%s'><query xmlns='%s'/></iq>`, coven, NSRegister)
	bob.expect("form", isResult("form"))
	if a := bob.registerNick(coven, "reg", "thirdwitch"); a.Attr("type") != "result" {
		t.Fatalf("non-member registering with a members-only room = %s", a)
	}
	if got := bob.reservedNick(coven); got != "" {
		t.Fatalf("reserved nick of a request awaiting approval = %q", got)
	}
	alice.send(`<iq type='set' id='mem' to='%s'><query xmlns='%s'><item affiliation='member' jid='carol@example.org'/></query></iq>`, coven, NSAdmin)
	alice.until("result", isResult("mem"))
	if a := carol.registerNick(coven, "reg", "hecate"); a.Attr("type") != "result" {
		t.Fatalf("member registering = %s", a)
	}
	if got := carol.reservedNick(coven); got != "hecate" {
		t.Fatalf("reserved nick = %q, want hecate", got)
	}

	// A moderated room: visitors and outsiders may not get voice by
	// registering; participants may register.
	const heath = "heath@conference.example.org"
	alice.create(heath, "firstwitch", map[string]string{"muc#roomconfig_moderatedroom": "1"})
	bob.join(heath, "bob", "")
	if a := bob.registerNick(heath, "reg", "bob"); !isError(stanza.NotAllowed)(a) {
		t.Fatalf("visitor registering = %s", a)
	}
	if a := carol.registerNick(heath, "reg", "carol"); !isError(stanza.NotAllowed)(a) {
		t.Fatalf("outsider registering with a moderated room = %s", a)
	}
	alice.send(`<iq type='set' id='voice' to='%s'><query xmlns='%s'><item nick='bob' role='participant'/></query></iq>`, heath, NSAdmin)
	alice.until("result", isResult("voice"))
	bob.drain()
	if a := bob.registerNick(heath, "reg", "bob"); a.Attr("type") != "result" {
		t.Fatalf("participant registering = %s", a)
	}

	// A password-protected room: only from inside.
	const blasted = "blasted@conference.example.org"
	alice.create(blasted, "firstwitch", map[string]string{"muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "cauldron"})
	if a := carol.registerNick(blasted, "reg", "carol"); !isError(stanza.NotAllowed)(a) {
		t.Fatalf("outsider registering with a password-protected room = %s", a)
	}
	carol.join(blasted, "carol", "<password>cauldron</password>")
	if a := carol.registerNick(blasted, "reg", "carol"); a.Attr("type") != "result" {
		t.Fatalf("occupant registering = %s", a)
	}
}

func TestRegisterOwnerKeepsAffiliation(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	alice.create(coven, "firstwitch", map[string]string{"muc#roomconfig_persistentroom": "1"})
	alice.drain()
	// An owner who registers reserves a nick and stays owner; nothing
	// visible changed, so nothing is announced.
	if a := alice.registerNick(coven, "reg", "firstwitch"); a.Attr("type") != "result" {
		t.Fatalf("owner registering = %s", a)
	}
	alice.quiet()
	if got := alice.reservedNick(coven); got != "firstwitch" {
		t.Fatalf("reserved nick = %q, want firstwitch", got)
	}
	// The reservation survives a restart, as admin-made ones do.
	bob := h.client("bob@example.org/phone")
	bob.registerNick(coven, "reg", "thirdwitch")
	h.restart()
	alice = h.client("alice@example.org/desk")
	bob = h.client("bob@example.org/phone")
	if got := bob.reservedNick(coven); got != "thirdwitch" {
		t.Fatalf("reserved nick after a restart = %q, want thirdwitch", got)
	}
	// Unregistering frees an owner's nick and keeps the ownership.
	if a := alice.registerRaw(coven, "unreg", "<remove/>"); a.Attr("type") != "result" {
		t.Fatalf("owner unregistering = %s", a)
	}
	if got := alice.reservedNick(coven); got != "" {
		t.Fatalf("owner's reserved nick after unregistering = %q", got)
	}
	alice.send(`<iq type='get' id='owners' to='%s'><query xmlns='%s'><item affiliation='owner'/></query></iq>`, coven, NSAdmin)
	if res := alice.until("owner list", isResult("owners")).String(); !strings.Contains(res, "jid='alice@example.org'") {
		t.Fatalf("owners after unregistering = %s", res)
	}
	if a := alice.registerRaw(coven, "unreg2", "<remove/>"); !isError(stanza.RegistrationRequired)(a) {
		t.Fatalf("owner unregistering without a nick = %s", a)
	}
}
