package userdata

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
)

func open(t testing.TB) storage.Store {
	t.Helper()
	return openIn(t, "")
}

// openIn opens a store in dir, a temporary directory when "".
func openIn(t testing.TB, dir string) storage.Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "samtal.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

const alice, bob = "alice@example.org", "bob@example.org"

// fill stores something of every kind for alice.
func fill(t *testing.T, st storage.Store) {
	t.Helper()
	ctx := t.Context()
	keys := map[storage.Hash]storage.SCRAMKeys{
		storage.SHA1:   {Salt: []byte("salt-1"), Iterations: 4096, StoredKey: []byte("stored-1"), ServerKey: []byte("server-1")},
		storage.SHA256: {Salt: []byte("salt-256"), Iterations: 10000, StoredKey: []byte("stored-256"), ServerKey: []byte("server-256")},
	}
	for _, u := range []string{alice, bob} {
		if err := st.Accounts().Create(ctx, storage.Account{User: u, Keys: keys}); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := st.Roster().Put(ctx, alice, storage.RosterItem{Contact: bob, Name: "Bob <the builder>", Subscription: storage.SubBoth, Groups: []string{"Friends", "Work"}}, 0)
	must(err)
	_, err = st.Roster().Put(ctx, alice, storage.RosterItem{Contact: "carol@example.net", Subscription: storage.SubNone, Ask: true, Approved: true}, 0)
	must(err)
	must(st.Roster().AddPending(ctx, alice, storage.PendingSubscription{From: "dave@example.net",
		Stanza: `<presence type='subscribe' from='dave@example.net' to='alice@example.org'><nick xmlns='http://jabber.org/protocol/nick'>Dave</nick></presence>`}))
	for i := range 3 {
		must(st.Offline().Push(ctx, alice, fmt.Sprintf(`<message from='bob@example.org/x' to='alice@example.org' type='chat'><body>offline %d &amp; more</body></message>`, i), 0))
	}
	must(st.Private().Put(ctx, alice, "exodus:prefs", `<query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'><defaultnick>Al</defaultnick></exodus></query>`))
	must(st.VCards().Put(ctx, alice, `<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN></vCard>`))
	must(st.Pubsub().CreateNode(ctx, alice, storage.PubsubNode{Name: "http://jabber.org/protocol/nick",
		Config: `{"access_model":"open","persist_items":true,"max_items":5,"send_last":"on_sub_and_presence","deliver_notifications":true,"deliver_payloads":true,"notify_retract":true,"notify_delete":true,"notification_type":"headline"}`}, 0))
	for _, id := range []string{"first", "second"} {
		must(st.Pubsub().Publish(ctx, alice, "http://jabber.org/protocol/nick",
			storage.PubsubItem{ID: id, Payload: `<nick xmlns='http://jabber.org/protocol/nick'>` + id + `</nick>`}, 0))
	}
	for _, j := range []string{bob, "carol@example.net/phone"} {
		must(st.Pubsub().Subscribe(ctx, alice, storage.PubsubSubscription{Node: "http://jabber.org/protocol/nick", JID: j}, 0, 0))
	}
	must(st.Blocklist().Add(ctx, alice, []string{"spam@example.com", "example.biz"}))
	must(st.Accounts().SetDisabled(ctx, alice, true))
	for _, m := range []storage.ArchivedMessage{
		{ID: "a-1", With: "bob@example.org/x", Stanza: `<message from='bob@example.org/x' to='alice@example.org' type='chat'><body>archived 0</body></message>`},
		{ID: "a-2", With: "bob@example.org", Stanza: `<message from='alice@example.org/y' to='bob@example.org' type='chat'><body>archived 1 &lt;3</body></message>`},
		{ID: "a-3", With: "carol@example.net/z", Stanza: `<message from='carol@example.net/z' to='alice@example.org/y' type='chat'><body>archived 2</body></message>`},
	} {
		_, err := st.Archive().Append(ctx, alice, m)
		must(err)
	}
}

// snapshot reads everything of a user back, without times and ids.
func snapshot(t *testing.T, st storage.Store, user string) map[string]any {
	t.Helper()
	ctx := t.Context()
	out := map[string]any{}
	a, err := st.Accounts().Get(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	out["keys"] = a.Keys
	out["disabled"] = a.Disabled
	items, _, err := st.Roster().Items(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	out["roster"] = items
	pending, _ := st.Roster().Pending(ctx, user)
	var from []string
	for _, p := range pending {
		from = append(from, p.From)
	}
	out["pending"] = from
	msgs, _ := st.Offline().List(ctx, user)
	var bodies []string
	for _, m := range msgs {
		bodies = append(bodies, m.Stanza[strings.Index(m.Stanza, "<body>"):strings.Index(m.Stanza, "</body>")])
	}
	out["offline"] = bodies
	spaces, _ := st.Private().Namespaces(ctx, user)
	out["private"] = spaces
	v, _ := st.VCards().Get(ctx, user)
	out["vcard"] = strings.Contains(v, "Alice Liddell")
	nodes, _ := st.Pubsub().Nodes(ctx, user)
	out["nodes"] = len(nodes)
	its, _ := st.Pubsub().Items(ctx, user, "http://jabber.org/protocol/nick", 0)
	var ids []string
	for _, it := range its {
		ids = append(ids, it.ID+"="+it.Payload)
	}
	out["items"] = ids
	subs, err := st.Pubsub().Subscriptions(ctx, user, "http://jabber.org/protocol/nick")
	if err != nil {
		t.Fatal(err)
	}
	var subscribers []string
	for _, s := range subs {
		subscribers = append(subscribers, s.JID+" "+s.State)
	}
	out["subscriptions"] = subscribers
	bl, _ := st.Blocklist().List(ctx, user)
	out["blocklist"] = bl
	page, _ := st.Archive().Query(ctx, user, storage.ArchiveQuery{Max: 100})
	var archived []string
	for _, m := range page.Messages {
		archived = append(archived, m.ID+" "+m.With+" "+m.Stanza[strings.Index(m.Stanza, "<body>"):strings.Index(m.Stanza, "</body>")])
	}
	out["archive"] = archived
	return out
}

func TestRoundTrip(t *testing.T) {
	ctx := t.Context()
	st := open(t)
	fill(t, st)
	before := snapshot(t, st, alice)
	doc, err := Export(ctx, st, jid.MustParse(alice), 1000)
	if err != nil {
		t.Fatal(err)
	}
	file := Marshal(doc)
	for _, want := range []string{
		"<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='alice'>",
		"<scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-256'><iter-count>10000</iter-count>",
		"<offline-messages><message xmlns='jabber:client'",
		"<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN></vCard>",
		"<presence xmlns='jabber:client' type='subscribe' from='dave@example.net'",
		"<configure node='http://jabber.org/protocol/nick'><x xmlns='jabber:x:data'",
		"<items node='http://jabber.org/protocol/nick'><item id='first'>",
		"<subscriptions node='http://jabber.org/protocol/nick'><subscription jid='bob@example.org' subscription='subscribed'/><subscription jid='carol@example.net/phone' subscription='subscribed'/></subscriptions>",
		"<blocklist xmlns='urn:xmpp:blocking'>",
		"<user name='alice'><disabled xmlns='https://samtal.org/ns/account'/>",
		"<archive xmlns='urn:xmpp:pie:0#mam'><result xmlns='urn:xmpp:mam:2' id='a-1'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp=",
	} {
		if !strings.Contains(string(file), want) {
			t.Errorf("export lacks %q:\n%s", want, file)
		}
	}
	if err := st.Accounts().Delete(ctx, alice); err != nil {
		t.Fatal(err)
	}

	for _, target := range []struct {
		name string
		st   storage.Store
	}{{"same store", st}, {"another store", open(t)}} {
		t.Run(target.name, func(t *testing.T) {
			parsed, err := Parse(file)
			if err != nil {
				t.Fatal(err)
			}
			var warnings []string
			im := Importer{Store: target.st, IsHost: func(d string) bool { return d == "example.org" },
				Warn: func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }}
			done, err := im.Import(ctx, parsed)
			if err != nil || !slices.Equal(done, []string{alice}) {
				t.Fatalf("Import = %v, %v", done, err)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %q", warnings)
			}
			after := snapshot(t, target.st, alice)
			if !reflect.DeepEqual(after, before) {
				for k := range before {
					if !reflect.DeepEqual(after[k], before[k]) {
						t.Errorf("%s after the round trip:\n%v\nwant\n%v", k, after[k], before[k])
					}
				}
			}
			// A second import does not overwrite the account.
			if _, err := im.Import(ctx, parsed); err == nil || !strings.Contains(err.Error(), "exists") {
				t.Errorf("import over an existing account: %v", err)
			}
		})
	}
}

func TestImportRefuses(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct{ name, doc, want string }{
		{"not pie", `<server-data xmlns='urn:example'/>`, "not XEP-0227"},
		{"other host", `<server-data xmlns='urn:xmpp:pie:0'><host jid='elsewhere.example'><user name='x'/></host></server-data>`, "not served here"},
		{"bad user", `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='a b@c'/></host></server-data>`, "a b@c"},
		{"bad iter-count", `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='x'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>0</iter-count></scram-credentials></user></host></server-data>`, "iter-count"},
		{"roster over the limit", `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='x'><query xmlns='jabber:iq:roster'><item jid='a@b'/><item jid='c@d'/></query></user></host></server-data>`, "quota"},
		{"subscribers over the limit", `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='x'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='n'/><subscriptions node='n'><subscription jid='a@b' subscription='subscribed'/><subscription jid='c@d' subscription='subscribed'/></subscriptions></pubsub></user></host></server-data>`, "quota"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t)
			doc, err := Parse([]byte(tc.doc))
			if err == nil {
				im := Importer{Store: st, IsHost: func(d string) bool { return d == "example.org" }, Limits: Limits{RosterItems: 1, PEPSubscribers: 1}}
				_, err = im.Import(ctx, doc)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("import: %v, want an error with %q", err, tc.want)
			}
			// Nothing is left of a failed user.
			if _, err := st.Accounts().Get(ctx, "x@example.org"); err == nil {
				t.Error("a user whose import failed has an account")
			}
		})
	}
}

func TestImportPassword(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	doc, _ := Parse([]byte(`<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='pw' password='secret'/></host></server-data>`))
	var got string
	im := Importer{Store: st, Keys: func(pw string) (map[storage.Hash]storage.SCRAMKeys, error) {
		got = pw
		return map[storage.Hash]storage.SCRAMKeys{storage.SHA256: {Salt: []byte("s"), Iterations: 4096, StoredKey: []byte("k"), ServerKey: []byte("k")}}, nil
	}}
	if _, err := im.Import(ctx, doc); err != nil {
		t.Fatal(err)
	}
	a, err := st.Accounts().Get(ctx, "pw@example.org")
	if err != nil || got != "secret" || len(a.Keys) != 1 {
		t.Errorf("account %v, %v; password passed %q", a, err, got)
	}
}

// TestImportArchive checks what an imported archive keeps of the time of
// its messages, and that messages past the retention stay out.
func TestImportArchive(t *testing.T) {
	ctx := t.Context()
	st := open(t)
	old := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	recent := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	doc, err := Parse([]byte(`<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='alice'>
<archive xmlns='urn:xmpp:pie:0#mam'>
<result xmlns='urn:xmpp:mam:2' id='old'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='` + old + `'/>
<message xmlns='jabber:client' from='romeo@example.net/o' to='alice@example.org' type='chat'><body>too old</body></message></forwarded></result>
<result xmlns='urn:xmpp:mam:2' id='new'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='` + recent + `'/>
<message xmlns='jabber:client' from='romeo@example.net/o' to='alice@example.org' type='chat'><body>kept</body></message></forwarded></result>
<result xmlns='urn:xmpp:mam:2' id='nobody'><forwarded xmlns='urn:xmpp:forward:0'>
<message xmlns='jabber:client' type='chat'><body>no party</body></message></forwarded></result>
</archive></user></host></server-data>`))
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	im := Importer{Store: st, Limits: Limits{ArchiveRetention: 24 * time.Hour},
		Warn: func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }}
	if _, err := im.Import(ctx, doc); err != nil {
		t.Fatal(err)
	}
	page, err := st.Archive().Query(ctx, alice, storage.ArchiveQuery{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 1 || page.Messages[0].ID != "new" || page.Messages[0].With != "romeo@example.net/o" {
		t.Fatalf("archive after import: %+v, want only 'new' with romeo", page.Messages)
	}
	if s := page.Messages[0].Stanza; !strings.Contains(s, "<delay xmlns='urn:xmpp:delay' from='example.org' stamp='"+recent+"'") {
		t.Errorf("imported message without its time: %s", s)
	}
	w := strings.Join(warnings, "\n")
	if len(warnings) != 3 || !strings.Contains(w, `"nobody" without another party`) || !strings.Contains(w, "1 archived messages older") {
		t.Errorf("warnings %q, want one for the password, one for the message without a party and one for the old one", warnings)
	}
}

// TestImportPEPSubscriptions checks that the subscriptions of a file
// need not follow their node's configuration, and that malformed ones
// are left out with a warning, as malformed roster items are.
func TestImportPEPSubscriptions(t *testing.T) {
	ctx := t.Context()
	st := open(t)
	doc, err := Parse([]byte(`<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='alice'>
<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>
<subscriptions node='urn:example:n'>
<subscription jid='romeo@example.net' subscription='subscribed' subid='123-abc'/>
<subscription jid='juliet@example.net/balcony' subscription='subscribed'/>
<subscription jid='@example.net' subscription='subscribed'/>
<subscription jid='nurse@example.net' subscription='pending'/>
<subscription jid='tybalt@example.net'/>
</subscriptions>
<configure node='urn:example:n'/>
<subscriptions node='urn:example:unknown'><subscription jid='romeo@example.net' subscription='subscribed'/></subscriptions>
</pubsub></user></host></server-data>`))
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	im := Importer{Store: st, Warn: func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }}
	if _, err := im.Import(ctx, doc); err != nil {
		t.Fatal(err)
	}
	subs, err := st.Pubsub().Subscriptions(ctx, alice, "urn:example:n")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range subs {
		got = append(got, s.JID)
	}
	if want := []string{"juliet@example.net/balcony", "romeo@example.net"}; !slices.Equal(got, want) {
		t.Errorf("subscriptions after import: %q, want %q", got, want)
	}
	w := strings.Join(warnings, "\n")
	for _, want := range []string{`"@example.net": not a JID`, `nurse@example.net in state "pending"`,
		`tybalt@example.net in state ""`, `node "urn:example:unknown", which the file does not configure`} {
		if !strings.Contains(w, want) {
			t.Errorf("no warning with %q in:\n%s", want, w)
		}
	}
	if len(warnings) != 5 {
		t.Errorf("warnings %q, want one for the credentials and four for the subscriptions", warnings)
	}
}
