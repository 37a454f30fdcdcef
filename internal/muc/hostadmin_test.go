package muc

import (
	"strings"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// withHostAdmin makes root@example.org an administrator of the host.
func withHostAdmin(t *testing.T) func(*Config) {
	return func(c *Config) { c.Admins = []jid.JID{mustJID(t, "root@example.org")} }
}

// TestHostAdminRepairsOwnerlessRoom checks that a persistent room whose
// only owner's account was removed loads without an owner, that a
// non-admin can do nothing about it, and that an administrator of the
// host enters it, configures it and names a new owner without being
// written on its lists.
func TestHostAdminRepairsOwnerlessRoom(t *testing.T) {
	h := newHarness(t, withHostAdmin(t))
	alice := h.client("alice@example.org/desk")
	alice.create(coven, "firstwitch", map[string]string{
		"muc#roomconfig_persistentroom": "1", "muc#roomconfig_membersonly": "1",
	})
	alice.send(`<iq type='set' id='mem' to='%s'><query xmlns='%s'><item affiliation='member' jid='bob@example.org' nick='thirdwitch'/></query></iq>`, coven, NSAdmin)
	alice.until("result", isResult("mem"))
	alice.send(`<presence type='unavailable' to='%s/firstwitch'/>`, coven)
	alice.until("left", isPresence(coven+"/firstwitch", "unavailable"))
	h.svc.RemoveAccount(t.Context(), mustJID(t, "alice@example.org"))

	// The room loads from storage with no owner.
	h.restart()
	bob := h.client("bob@example.org/phone")
	root := h.client("root@example.org/console")
	carol := h.client("carol@example.org/pda")
	bob.join(coven, "thirdwitch", "")
	for _, req := range []string{
		`<iq type='get' id='f' to='%s'><query xmlns='` + NSOwner + `'/></iq>`,
		`<iq type='set' id='o' to='%s'><query xmlns='` + NSAdmin + `'><item affiliation='owner' jid='bob@example.org'/></query></iq>`,
		`<iq type='set' id='d' to='%s'><query xmlns='` + NSOwner + `'><destroy/></query></iq>`,
	} {
		bob.send(req, coven)
		bob.until("forbidden", isError(stanza.Forbidden))
	}

	// The administrator enters the members-only room as owner and
	// moderator, and the others see them so.
	self := root.join(coven, "root", "")
	if it := item(self); it.Attr("affiliation") != "owner" || it.Attr("role") != "moderator" {
		t.Fatalf("administrator's self-presence = %s, want owner and moderator", self)
	}
	if p := bob.until("root's presence", isPresence(coven+"/root", "")); item(p).Attr("affiliation") != "owner" || item(p).Attr("role") != "moderator" {
		t.Fatalf("administrator's presence to bob = %s", p)
	}
	root.send(`<iq type='get' id='form' to='%s'><query xmlns='%s'/></iq>`, coven, NSOwner)
	if f := root.until("configuration form", isResult("form")).String(); strings.Contains(f, "<value>root@example.org</value>") {
		t.Fatalf("configuration form = %s, want no administrator on its lists", f)
	}
	root.configure(coven, map[string]string{"muc#roomconfig_roomname": "Repaired"})
	// A room without an owner still has its lists managed.
	root.send(`<iq type='set' id='mem2' to='%s'><query xmlns='%s'><item affiliation='member' jid='dave@example.org'/></query></iq>`, coven, NSAdmin)
	root.until("result", isResult("mem2"))
	root.send(`<iq type='set' id='own' to='%s'><query xmlns='%s'><item affiliation='owner' jid='carol@example.org'/></query></iq>`, coven, NSAdmin)
	root.until("result", isResult("own"))
	// Registering reserves a nickname and writes a member entry, not
	// the owner the administrator acts as.
	if res := root.registerNick(coven, "reg", "root"); res.Attr("type") != "result" {
		t.Fatalf("administrator's registration = %s", res)
	}
	if members := root.memberList(coven); !strings.Contains(members, "jid='root@example.org'") {
		t.Fatalf("members = %s, want the registered administrator", members)
	}
	if owners := root.affList(coven, "owner"); !strings.Contains(owners, "jid='carol@example.org'") || strings.Contains(owners, "jid='root@example.org'") {
		t.Fatalf("owners = %s, want carol alone", owners)
	}
	// Now that it has one, the room keeps an owner of its own, whoever
	// asks.
	root.send(`<iq type='set' id='none' to='%s'><query xmlns='%s'><item affiliation='none' jid='carol@example.org'/></query></iq>`, coven, NSAdmin)
	root.until("conflict", isError(stanza.Conflict))
	self = carol.join(coven, "carol", "")
	if it := item(self); it.Attr("affiliation") != "owner" {
		t.Fatalf("new owner's self-presence = %s", self)
	}
	affs, err := h.store.Rooms().Affiliations(t.Context(), coven)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range affs {
		if a.JID == "root@example.org" && a.Affiliation != "member" {
			t.Fatalf("stored affiliations = %+v, want the administrator a member only", affs)
		}
	}
}

// TestHostAdminNotBannedOrKicked checks that a room's owner cannot take
// from an administrator of the host what they hold as one: a kick, a
// ban (also of their domain) or a revoked role are refused or do not
// apply, and an edit of their entry on the lists leaves them owner.
func TestHostAdminNotBannedOrKicked(t *testing.T) {
	h := newHarness(t, withHostAdmin(t))
	alice := h.client("alice@example.org/desk")
	root := h.client("root@example.org/console")
	alice.create(coven, "firstwitch", nil)
	root.join(coven, "root", "")
	alice.drain()
	for _, tc := range []struct{ name, item string }{
		{"kick", `<item nick='root' role='none'/>`},
		{"revoke moderator", `<item nick='root' role='participant'/>`},
		{"revoke voice", `<item nick='root' role='visitor'/>`},
		{"ban", `<item affiliation='outcast' jid='root@example.org'/>`},
	} {
		alice.send(`<iq type='set' id='x' to='%s'><query xmlns='%s'>%s</query></iq>`, coven, NSAdmin, tc.item)
		if el := alice.next(); !isError(stanza.NotAllowed)(el) {
			t.Errorf("%s: got %s, want not-allowed", tc.name, el)
		}
	}
	// An entry on the member list is the room's to write; it does not
	// make the administrator a member.
	alice.send(`<iq type='set' id='m' to='%s'><query xmlns='%s'><item affiliation='member' jid='root@example.org'/></query></iq>`, coven, NSAdmin)
	alice.until("result", isResult("m"))
	p := root.until("own presence", func(el *xmlel.Element) bool { return isPresence(coven+"/root", "")(el) && contains(codes(el), "110") })
	if it := item(p); it.Attr("affiliation") != "owner" || it.Attr("role") != "moderator" {
		t.Fatalf("administrator after the member entry = %s, want owner and moderator", p)
	}
	// A ban of the whole domain does not cover the administrator.
	alice.send(`<iq type='set' id='dom' to='%s'><query xmlns='%s'><item affiliation='outcast' jid='example.org'/></query></iq>`, coven, NSAdmin)
	alice.until("result", isResult("dom"))
	root.send(`<presence type='unavailable' to='%s/root'/>`, coven)
	root.until("left", isPresence(coven+"/root", "unavailable"))
	root.join(coven, "root", "")
	root.send(`<iq type='get' id='form' to='%s'><query xmlns='%s'/></iq>`, coven, NSOwner)
	root.until("configuration form", isResult("form"))
	if owners := alice.affList(coven, "owner"); strings.Contains(owners, "jid='root@example.org'") {
		t.Fatalf("owners = %s, want no administrator", owners)
	}
}

// TestAdminsValidated checks that only users' bare JIDs are accepted as
// administrators: a domain would make all its users owners.
func TestAdminsValidated(t *testing.T) {
	for _, a := range []string{"example.org", "root@example.org/console"} {
		c := testConfig()
		c.Admins = []jid.JID{mustJID(t, a)}
		if err := c.Validate(); err == nil {
			t.Errorf("Validate with admin %q = nil, want an error", a)
		}
	}
	c := testConfig()
	c.Admins = []jid.JID{mustJID(t, "root@example.org")}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate with admin root@example.org = %v", err)
	}
}
