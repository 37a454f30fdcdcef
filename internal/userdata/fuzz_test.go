package userdata

import (
	"os"
	"testing"

	"samtal.org/samtal/internal/jid"
)

// FuzzImport feeds arbitrary documents to the importer with a real store:
// nothing may panic, and whatever it imported must export again and
// import from that export (a file from another server, once in samtal,
// can leave it).
func FuzzImport(f *testing.F) {
	for _, seed := range []string{
		`<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='juliet'><query xmlns='jabber:iq:roster'><item jid='romeo@montague.net' name='Romeo' subscription='both'><group>Friends</group></item></query></user></host></server-data>`,
		`<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='romeo'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='urn:xmpp:bookmarks:1'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></configure></pubsub><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'><item id='theplay@conference.shakespeare.lit'><conference xmlns='urn:xmpp:bookmarks:1' name='The Play' autojoin='true'><nick>Romeo</nick></conference></item></items></pubsub></user></host></server-data>`,
		`<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='romeo'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><subscriptions node='urn:xmpp:bookmarks:1'><subscription jid='mercutio@example.net' subscription='subscribed' subid='123-abc'/><subscription jid='romeo@example.org/orchard' subscription='subscribed'/><subscription jid='@x' subscription='pending'/></subscriptions><configure node='urn:xmpp:bookmarks:1'/><subscriptions node='other'><subscription jid='mercutio@example.net' subscription='subscribed'/></subscriptions></pubsub></user></host></server-data>`,
		`<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='juliet'><offline-messages><message xmlns='jabber:client' from='romeo@montague.net/orchard' to='juliet@capulet.com/balcony' type='chat'><body>Neither, fair saint</body></message></offline-messages><presence xmlns='jabber:client' type='subscribe' from='romeo@montague.net'/><vCard xmlns='vcard-temp'><FN>Juliet</FN></vCard><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus></query></user></host></server-data>`,
		`<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='juliet'><archive xmlns='urn:xmpp:pie:0#mam'><result xmlns='urn:xmpp:mam:2' id='28482-98726-73623'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/><message xmlns='jabber:client' to='juliet@example.org/balcony' from='romeo@montague.lit/orchard' type='chat'><body>Call me but love</body></message></forwarded></result></archive></user></host></server-data>`,
		`<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='juliet'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>4096</iter-count><salt>c2FsdA==</salt><server-key>a2V5</server-key><stored-key>a2V5</stored-key></scram-credentials><blocklist xmlns='urn:xmpp:blocking'><item jid='spam@example.com'/></blocklist></user></host></server-data>`,
	} {
		f.Add([]byte(seed))
	}
	// In memory-backed storage when there is some: every import syncs
	// to disk several times, which would leave the fuzzer little time.
	dir := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "samtal-fuzz-")
		if err == nil {
			dir = d
			f.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	st := openIn(f, dir)
	im := Importer{Store: st, IsHost: func(d string) bool { return d == "example.org" },
		Limits: Limits{RosterItems: 20, OfflineMessages: 20, PEPNodes: 10, PEPItems: 10, PEPSubscribers: 10, PEPSubscriptions: 10}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		doc, err := Parse(data)
		if err != nil {
			return
		}

		imported, _ := im.Import(t.Context(), doc)
		for _, u := range imported {
			out, err := Export(t.Context(), st, jid.MustParse(u), 10)
			if err != nil {
				t.Fatalf("%s was imported from %q but does not export: %v", u, data, err)
			}
			if err := st.Accounts().Delete(t.Context(), u); err != nil {
				t.Fatal(err)
			}
			again, err := Parse(Marshal(out))
			if err != nil {
				t.Fatalf("the export of %s does not parse: %v\n%s", u, err, Marshal(out))
			}
			if _, err := im.Import(t.Context(), again); err != nil {
				t.Fatalf("the export of %s does not import: %v\n%s", u, err, Marshal(out))
			}
			if err := st.Accounts().Delete(t.Context(), u); err != nil {
				t.Fatal(err)
			}
		}
	})
}
