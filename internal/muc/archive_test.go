package muc

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"samtal.org/samtal/internal/rsm"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// mamPage queries the room archive and returns the bodies of the results
// and the <fin/>.
func mamPage(t *testing.T, c *client, qid, set string) ([]*xmlel.Element, *xmlel.Element) {
	t.Helper()
	c.send(`<iq type='set' id='%s' to='%s'><query xmlns='%s' queryid='%s'>%s</query></iq>`, qid, coven, NSMAM, qid, set)
	var results []*xmlel.Element
	for {
		el := c.next()
		if el.Local == "iq" && el.Attr("id") == qid {
			if el.Attr("type") != "result" {
				t.Fatalf("MAM query %s = %s", qid, el)
			}
			return results, el.Child(NSMAM, "fin")
		}
		if r := el.Child(NSMAM, "result"); r != nil && r.Attr("queryid") == qid {
			if el.Attr("from") != coven {
				t.Fatalf("MAM result from %q", el.Attr("from"))
			}
			results = append(results, r)
		}
	}
}

func forwarded(r *xmlel.Element) *xmlel.Element {
	return r.Child("urn:xmpp:forward:0", "forwarded").Child("", "message")
}

func bodies(results []*xmlel.Element) string {
	var out []string
	for _, r := range results {
		out = append(out, forwarded(r).ChildText("", "body"))
	}
	return strings.Join(out, ",")
}

func TestArchive(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	carol := h.client("carol@example.org/pda")
	alice.create(coven, "firstwitch", map[string]string{"muc#roomconfig_persistentroom": "1"})
	bob.join(coven, "thirdwitch", "")
	for i := range 7 {
		c, nick := alice, "firstwitch"
		if i%2 == 1 {
			c, nick = bob, "thirdwitch"
		}
		c.say(coven, fmt.Sprintf("a%d", i), fmt.Sprintf("m%d", i))
		alice.until("reflection", isMessage(coven+"/"+nick, fmt.Sprintf("m%d", i)))
	}
	bob.drain()
	// Paging forward with RSM (XEP-0059).
	res, fin := mamPage(t, bob, "q1", "<set xmlns='http://jabber.org/protocol/rsm'><max>3</max></set>")
	if bodies(res) != "m0,m1,m2" || fin.Attr("complete") == "true" {
		t.Fatalf("first page = %s, fin %s", bodies(res), fin)
	}
	page, err := rsm.ParsePage(fin.Child(rsm.NS, "set"))
	if err != nil || page.Count != 7 || page.FirstIndex != 0 {
		t.Fatalf("first page set = %+v, %v", page, err)
	}
	// The archive ID is the stanza-id the occupants got.
	if id := res[0].Attr("id"); forwarded(res[0]).Child(NSStanzaID, "stanza-id").Attr("id") != id {
		t.Fatalf("archive id %q is not the stanza-id of %s", id, forwarded(res[0]))
	}
	// The sender's occupant-id is kept; bob is no moderator of a
	// semi-anonymous room: no real JIDs.
	if forwarded(res[0]).Child(NSOccupant, "occupant-id") == nil || forwarded(res[0]).Child(NSUser, "x") != nil {
		t.Fatalf("archived message = %s", forwarded(res[0]))
	}
	res, fin = mamPage(t, bob, "q2", "<set xmlns='http://jabber.org/protocol/rsm'><max>3</max><after>"+page.Last+"</after></set>")
	if bodies(res) != "m3,m4,m5" {
		t.Fatalf("second page = %s", bodies(res))
	}
	page, _ = rsm.ParsePage(fin.Child(rsm.NS, "set"))
	res, fin = mamPage(t, bob, "q3", "<set xmlns='http://jabber.org/protocol/rsm'><max>3</max><after>"+page.Last+"</after></set>")
	if bodies(res) != "m6" || fin.Attr("complete") != "true" {
		t.Fatalf("last page = %s, %s", bodies(res), fin)
	}
	// Backwards: the last page first.
	res, _ = mamPage(t, bob, "q4", "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set>")
	if bodies(res) != "m5,m6" {
		t.Fatalf("last page backwards = %s", bodies(res))
	}
	// with: the occupant JID of the publisher.
	res, _ = mamPage(t, bob, "q5", "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>"+
		"<field var='with'><value>"+coven+"/thirdwitch</value></field></x>")
	if bodies(res) != "m1,m3,m5" {
		t.Fatalf("with an occupant = %s", bodies(res))
	}
	// A moderator sees real JIDs, and may filter by them.
	res, _ = mamPage(t, alice, "q6", "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>"+
		"<field var='with'><value>bob@example.org</value></field></x>")
	if bodies(res) != "m1,m3,m5" || forwarded(res[0]).Child(NSUser, "x").Child(NSUser, "item").Attr("jid") != "bob@example.org" {
		t.Fatalf("with a real JID, by a moderator = %s", bodies(res))
	}
	bob.send(`<iq type='set' id='q7' to='%s'><query xmlns='%s'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='with'><value>alice@example.org</value></field></x></query></iq>`, coven, NSMAM)
	bob.until("forbidden", isError(stanza.Forbidden))
	// Anyone who may enter an open room may read its archive, not the
	// banned.
	res, _ = mamPage(t, carol, "q8", "")
	if len(res) != 7 {
		t.Fatalf("a stranger read %d messages of an open room, want 7", len(res))
	}

	// XEP-0425: a moderator retracts bob's m3; everyone is told, the
	// archive keeps a tombstone and the retraction.
	target := res[3].Attr("id")
	bob.send(`<iq type='set' id='mod0' to='%s'><moderate xmlns='%s' id='%s'><retract xmlns='%s'/></moderate></iq>`, coven, NSModerate, res[1].Attr("id"), NSRetract)
	bob.until("forbidden", isError(stanza.Forbidden))
	alice.drain()
	alice.send(`<iq type='set' id='mod1' to='%s'><moderate xmlns='%s' id='%s'><retract xmlns='%s'/><reason>spam</reason></moderate></iq>`, coven, NSModerate, target, NSRetract)
	ann := bob.until("retraction", func(el *xmlel.Element) bool { return el.Child(NSRetract, "retract") != nil })
	rt := ann.Child(NSRetract, "retract")
	if ann.Attr("from") != coven || ann.Attr("type") != "groupchat" || rt.Attr("id") != target ||
		rt.Child(NSModerate, "moderated").Attr("by") != coven+"/firstwitch" || rt.ChildText(NSRetract, "reason") != "spam" ||
		ann.Child(NSStanzaID, "stanza-id") == nil {
		t.Fatalf("retraction = %s", ann)
	}
	alice.until("result", isResult("mod1"))
	res, _ = mamPage(t, carol, "q9", "")
	if len(res) != 8 {
		t.Fatalf("archive after retraction has %d messages, want 8 (with the retraction)", len(res))
	}
	tomb := forwarded(res[3])
	if tomb.Child("", "body") != nil || tomb.Child(NSRetract, "retracted").Child(NSModerate, "moderated") == nil ||
		tomb.Child(NSOccupant, "occupant-id") == nil {
		t.Fatalf("tombstone = %s", tomb)
	}
	// XEP-0424: bob retracts his own m5; the archive keeps a tombstone.
	own := res[5].Attr("id")
	bob.send(`<message type='groupchat' id='r1' to='%s'><retract xmlns='%s' id='%s'/><body>/me retracted</body></message>`, coven, NSRetract, own)
	bob.until("reflection", func(el *xmlel.Element) bool { return el.Child(NSRetract, "retract") != nil && el.Attr("id") == "r1" })
	res, _ = mamPage(t, carol, "q10", "")
	if r := forwarded(res[5]).Child(NSRetract, "retracted"); r == nil || r.Attr("id") != "r1" || forwarded(res[5]).Child("", "body") != nil {
		t.Fatalf("self-retracted message = %s", forwarded(res[5]))
	}
	// Nobody retracts another's message by XEP-0424.
	bob.send(`<message type='groupchat' id='r2' to='%s'><retract xmlns='%s' id='%s'/></message>`, coven, NSRetract, res[0].Attr("id"))
	bob.until("reflection", func(el *xmlel.Element) bool { return el.Attr("id") == "r2" })
	res, _ = mamPage(t, carol, "q11", "<set xmlns='http://jabber.org/protocol/rsm'><max>1</max></set>")
	if bodies(res) != "m0" {
		t.Fatalf("someone else's retraction changed m0: %s", forwarded(res[0]))
	}
	// History on join leaves retracted messages out, tombstones in.
	dave := h.client("dave@example.org/x")
	dave.send(`<presence to='%s/dave'><x xmlns='%s'/></presence>`, coven, NS)
	dave.until("self", isPresence(coven+"/dave", ""))
	var hist []string
	for {
		el := dave.next()
		if el.Child("", "subject") != nil {
			break
		}
		hist = append(hist, el.ChildText("", "body"))
	}
	if strings.Contains(strings.Join(hist, ","), "m3") || strings.Contains(strings.Join(hist, ","), "m5") {
		t.Fatalf("history on join = %q, has retracted messages", hist)
	}
}

// TestArchiveRightAfter checks that what follows messages in a room finds
// them in its archive, though the room does not wait for the writes: a
// query right behind them, and a retraction right after the reflection.
func TestArchiveRightAfter(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	alice.create(coven, "firstwitch", map[string]string{"muc#roomconfig_persistentroom": "1"})
	var want []string
	for i := range 10 { // a page: MaxPage
		alice.say(coven, fmt.Sprintf("a%d", i), fmt.Sprintf("m%d", i))
		want = append(want, fmt.Sprintf("m%d", i))
	}
	if res, _ := mamPage(t, alice, "q1", ""); bodies(res) != strings.Join(want, ",") {
		t.Fatalf("archive right after the messages = %s, want %s", bodies(res), strings.Join(want, ","))
	}
	alice.say(coven, "a10", "m10")
	refl := alice.until("reflection", isMessage(coven+"/firstwitch", "m10"))
	sid := refl.Child(NSStanzaID, "stanza-id").Attr("id")
	alice.send(`<message type='groupchat' id='r1' to='%s'><retract xmlns='%s' id='%s'/></message>`, coven, NSRetract, sid)
	res, _ := mamPage(t, alice, "q2", "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set>")
	if len(res) != 2 || res[0].Attr("id") != sid || forwarded(res[0]).Child(NSRetract, "retracted") == nil || forwarded(res[0]).Child("", "body") != nil {
		t.Fatalf("archive right after a retraction = %v, want the tombstone of m10, then the retraction", res)
	}
}

func TestPersistence(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	h.client("bob@example.org/phone")
	alice.create(coven, "firstwitch", map[string]string{
		"muc#roomconfig_persistentroom": "1", "muc#roomconfig_membersonly": "1", "muc#roomconfig_moderatedroom": "1",
		"muc#roomconfig_roomname": "A Dark Cave",
	})
	alice.send(`<iq type='set' id='mem' to='%s'><query xmlns='%s'><item affiliation='member' jid='bob@example.org' nick='thirdwitch'/></query></iq>`, coven, NSAdmin)
	alice.until("result", isResult("mem"))
	alice.send(`<message type='groupchat' id='s' to='%s'><subject>Spells</subject></message>`, coven)
	alice.say(coven, "b1", "before the restart")
	alice.until("own message", isMessage(coven+"/firstwitch", "before the restart"))

	h.restart()
	h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	carol := h.client("carol@example.org/pda")
	// The configuration, affiliations, subject and archive survived.
	carol.send(`<presence to='%s/carol'><x xmlns='%s'/></presence>`, coven, NS)
	carol.expect("registration-required", isError(stanza.RegistrationRequired))
	self := bob.join(coven, "thirdwitch", "")
	if item(self).Attr("affiliation") != "member" || item(self).Attr("role") != "participant" {
		t.Fatalf("member after restart = %s", self)
	}
	bob.send(`<presence to='%s/thirdwitch'><x xmlns='%s'/></presence>`, coven, NS)
	var sawHistory bool
	for {
		el := bob.next()
		if el.ChildText("", "body") == "before the restart" {
			sawHistory = true
		}
		if el.Child("", "subject") != nil {
			if el.ChildText("", "subject") != "Spells" {
				t.Fatalf("subject after restart = %s", el)
			}
			break
		}
	}
	if !sawHistory {
		t.Fatal("no history from before the restart")
	}
	bob.send(`<iq type='get' id='info' to='%s'><query xmlns='%s'/></iq>`, coven, stanza.NSDiscoInfo)
	info := bob.until("disco#info", isResult("info"))
	if !strings.Contains(info.String(), "A Dark Cave") || !strings.Contains(info.String(), "muc_persistent") {
		t.Fatalf("disco#info after restart = %s", info)
	}
	// The directory lists it from storage.
	carol.send(`<iq type='get' id='dir' to='conference.example.org'><query xmlns='%s'/></iq>`, stanza.NSDiscoItems)
	dir := carol.until("directory", isResult("dir"))
	if !strings.Contains(dir.String(), coven) {
		t.Fatalf("directory = %s", dir)
	}
	// RemoveAccount takes bob's membership away.
	h.svc.RemoveAccount(t.Context(), mustJID(t, "bob@example.org"))
	bob.until("removed", isPresence(coven+"/thirdwitch", "unavailable"))
	affs, err := h.store.Rooms().Affiliations(t.Context(), coven)
	if err != nil || len(affs) != 1 || affs[0].JID != "alice@example.org" {
		t.Fatalf("affiliations after RemoveAccount = %+v, %v", affs, err)
	}
}

func TestRoomAvatar(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	alice.create(coven, "firstwitch", map[string]string{"muc#roomconfig_persistentroom": "1"})
	bob.join(coven, "thirdwitch", "")
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG fake image"))
	bob.send(`<iq type='set' id='v0' to='%s'><vCard xmlns='vcard-temp'/></iq>`, coven)
	bob.until("forbidden", isError(stanza.Forbidden))
	alice.send(`<iq type='set' id='v1' to='%s'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO></vCard></iq>`, coven, png)
	upd := bob.until("avatar presence", func(el *xmlel.Element) bool { return el.Local == "presence" && el.Attr("from") == coven })
	hash := upd.Child(NSVCardUpd, "x").ChildText(NSVCardUpd, "photo")
	if len(hash) != 40 {
		t.Fatalf("avatar presence = %s", upd)
	}
	bob.send(`<iq type='get' id='v2' to='%s'><vCard xmlns='vcard-temp'/></iq>`, coven)
	v := bob.until("vCard", isResult("v2"))
	if v.Child(NSVCard, "vCard").Child(NSVCard, "PHOTO").ChildText(NSVCard, "BINVAL") != png {
		t.Fatalf("room vCard = %s", v)
	}
	bob.send(`<iq type='get' id='info' to='%s'><query xmlns='%s'/></iq>`, coven, stanza.NSDiscoInfo)
	info := bob.until("disco#info", isResult("info"))
	if !strings.Contains(info.String(), hash) {
		t.Fatalf("disco#info has no avatar hash: %s", info)
	}
	h.restart()
	bob = h.client("bob@example.org/phone")
	bob.send(`<iq type='get' id='v3' to='%s'><vCard xmlns='vcard-temp'/></iq>`, coven)
	if v := bob.until("vCard", isResult("v3")); !strings.Contains(v.String(), png) {
		t.Fatalf("room vCard after restart = %s", v)
	}
}

func TestVoiceRequest(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	alice.create(coven, "firstwitch", map[string]string{"muc#roomconfig_moderatedroom": "1"})
	bob.join(coven, "thirdwitch", "")
	alice.drain()
	// §7.13: the request goes to the moderators as a form (§8.6).
	bob.send(`<message to='%s'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>%s</value></field><field var='muc#role'><value>participant</value></field></x></message>`, coven, formRequest)
	f := alice.expect("approval form", func(el *xmlel.Element) bool { return el.Child("jabber:x:data", "x") != nil })
	if !strings.Contains(f.String(), "thirdwitch") {
		t.Fatalf("approval form = %s", f)
	}
	alice.send(`<message to='%s'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>%s</value></field><field var='muc#role'><value>participant</value></field><field var='muc#roomnick'><value>thirdwitch</value></field><field var='muc#request_allow'><value>true</value></field></x></message>`, coven, formRequest)
	p := bob.until("voice", isPresence(coven+"/thirdwitch", ""))
	if item(p).Attr("role") != "participant" {
		t.Fatalf("after approval = %s", p)
	}
}

func TestPersistentConfiguration(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	alice.create(coven, "firstwitch", map[string]string{
		"muc#roomconfig_persistentroom": "1", "muc#roomconfig_publicroom": "0", "muc#roomconfig_enablelogging": "0",
		"muc#roomconfig_presencebroadcast": "moderator",
	})
	alice.send(`<presence type='unavailable' to='%s/firstwitch'/>`, coven)
	alice.until("left", isPresence(coven+"/firstwitch", "unavailable"))

	// What is false or left out of the stored configuration stays so
	// after a restart, though new rooms start public, logged and
	// broadcasting every role's presence.
	h.restart()
	alice = h.client("alice@example.org/desk")
	bob := h.client("bob@example.org/phone")
	bob.send(`<iq type='get' id='dir' to='conference.example.org'><query xmlns='%s'/></iq>`, stanza.NSDiscoItems)
	if dir := bob.expect("directory", isResult("dir")); strings.Contains(dir.String(), coven) {
		t.Fatalf("a hidden room is listed after a restart: %s", dir)
	}
	bob.send(`<iq type='get' id='info' to='%s'><query xmlns='%s'/></iq>`, coven, stanza.NSDiscoInfo)
	info := bob.expect("disco#info", isResult("info")).String()
	if !strings.Contains(info, "muc_hidden") || strings.Contains(info, NSMAM) {
		t.Fatalf("disco#info after a restart = %s, want a hidden room without an archive", info)
	}
	alice.join(coven, "firstwitch", "")
	// A participant's presence is not broadcast: alice, a moderator,
	// does not see bob come.
	bob.join(coven, "thirdwitch", "")
	alice.quiet()
}
