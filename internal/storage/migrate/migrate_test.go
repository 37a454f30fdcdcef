package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/postgres"
	"samtal.org/samtal/internal/storage/postgres/pgtest"
	"samtal.org/samtal/internal/storage/sqlite"
)

var pg pgtest.Server

func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }

// TestAreasCoverStore checks that Copy knows every area of the store: an
// area added to storage.Store needs an entry in Areas.
func TestAreasCoverStore(t *testing.T) {
	names := map[string]bool{}
	for _, a := range Areas {
		if names[a.Name()] {
			t.Errorf("area %s is in Areas twice", a.Name())
		}
		names[a.Name()] = true
	}
	st := reflect.TypeFor[storage.Store]()
	for i := range st.NumMethod() {
		m := st.Method(i).Name
		if m != "Close" && !names[m] {
			t.Errorf("storage.Store has %s, which Areas does not copy: add an entry for it", m)
		}
		delete(names, m)
	}
	for n := range names {
		t.Errorf("Areas has %s, which storage.Store does not have", n)
	}
	if Areas[0].Name() != "Accounts" {
		t.Errorf("Areas[0] = %s, want Accounts: the other areas belong to the account", Areas[0].Name())
	}
}

// clock gives a new time, a second later, at each call, so that stored
// times differ and show whether they were kept.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second + 1234*time.Nanosecond)
	return c.t
}

func openSQLite(t *testing.T, c *clock) *sqlite.Store {
	t.Helper()
	opt := sqlite.Options{}
	if c != nil {
		opt.Clock = c.now
	}
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "samtal.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("sqlite Close() = %v", err)
		}
	})
	return s
}

func openPostgres(t *testing.T) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), pg.Database(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("postgres Close() = %v", err)
		}
	})
	return s
}

// fixture is something in every area of a store, written through the
// storage interfaces and checked through them, independently of the
// read and write functions of Areas.
type fixture struct {
	users   []string // every account, sorted
	created map[string]time.Time
	keys    map[string]map[storage.Hash]storage.SCRAMKeys
	roster  map[string][]storage.RosterItem // sorted by contact
	version map[string]int64
	pending map[string][]storage.PendingSubscription
	offline map[string][]storage.OfflineMessage // IDs not compared
	vcards  map[string]string
	private map[string]map[string]string
	blocked map[string][]string // sorted
	nodes   map[string][]storage.PubsubNode
	items   map[string]map[string][]storage.PubsubItem // newest first
	subs    map[string]map[string][]storage.PubsubSubscription
	fast    map[string][]storage.FastToken       // sorted by client, new first
	invites []storage.Invite                     // sorted by hash
	archive map[string][]storage.ArchivedMessage // in archive order
	prefs   map[string]storage.ArchivePrefs
	push    map[string][]storage.PushService // sorted
	rooms   map[string][]storage.Room        // by service, sorted
	affs    map[string][]storage.RoomAffiliation
	roomMsg map[string][]storage.RoomMessage // in archive order
	// Pubsub services: nodes by service, the rest by service and node.
	svcNodes map[string][]storage.PubsubNode
	svcItems map[string]map[string][]storage.PubsubItem // newest first
	svcAffs  map[string]map[string][]storage.PubsubAffiliation
	svcSubs  map[string]map[string][]storage.PubsubSubscription
	svcCount int // nodes, items, affiliations and subscriptions
}

func keys(seed byte) map[storage.Hash]storage.SCRAMKeys {
	k := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	return map[storage.Hash]storage.SCRAMKeys{
		storage.SHA1:   {Salt: k(16, seed), Iterations: 4096, StoredKey: k(20, seed+1), ServerKey: k(20, seed+2)},
		storage.SHA256: {Salt: k(16, seed+3), Iterations: 10000, StoredKey: k(32, seed+4), ServerKey: k(32, seed+5)},
	}
}

// fill writes the fixture's data into s and records what s then holds.
func fill(t *testing.T, s storage.Store) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{
		created: map[string]time.Time{}, keys: map[string]map[storage.Hash]storage.SCRAMKeys{},
		roster: map[string][]storage.RosterItem{}, version: map[string]int64{},
		pending: map[string][]storage.PendingSubscription{}, offline: map[string][]storage.OfflineMessage{},
		vcards: map[string]string{}, private: map[string]map[string]string{}, blocked: map[string][]string{},
		nodes: map[string][]storage.PubsubNode{}, items: map[string]map[string][]storage.PubsubItem{},
		subs: map[string]map[string][]storage.PubsubSubscription{},
		fast: map[string][]storage.FastToken{}, archive: map[string][]storage.ArchivedMessage{},
		prefs: map[string]storage.ArchivePrefs{}, push: map[string][]storage.PushService{},
		rooms: map[string][]storage.Room{}, affs: map[string][]storage.RoomAffiliation{},
		roomMsg:  map[string][]storage.RoomMessage{},
		svcNodes: map[string][]storage.PubsubNode{}, svcItems: map[string]map[string][]storage.PubsubItem{},
		svcAffs: map[string]map[string][]storage.PubsubAffiliation{}, svcSubs: map[string]map[string][]storage.PubsubSubscription{},
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s = %v", what, err)
		}
	}
	// Byte order puts "zoe" before "émile"; "empty" has an account and
	// nothing else; five accounts span three pages of two in the tests.
	users := []string{"zoe@a.example", "émile@a.example", "bob@b.example", "alice@a.example", "empty@b.example"}
	for i, u := range users {
		acc := storage.Account{User: u, Keys: keys(byte(10 * i)), Created: time.Date(2020, 1, 2, 3, 4, 5, 678912000+i*1000, time.UTC)}
		if u == "empty@b.example" {
			acc.Keys = nil
		}
		must("Accounts.Create", s.Accounts().Create(ctx, acc))
		f.users = append(f.users, u)
		f.created[u] = acc.Created
		f.keys[u] = acc.Keys
	}
	slices.Sort(f.users)

	for i, u := range users[:4] {
		// Roster: items of every kind, a deleted one, so that the
		// version is not the number of items.
		items := []storage.RosterItem{
			{Contact: "friend@x.example", Name: "Friend " + u, Subscription: storage.SubBoth, Groups: []string{"Friends", "Ünïcode 😀", ""}},
			{Contact: "asked@x.example", Subscription: storage.SubNone, Ask: true},
			{Contact: "approved@x.example", Subscription: storage.SubTo, Approved: true, Name: `"quoted" <name>`},
			{Contact: "gone@x.example", Subscription: storage.SubFrom},
		}
		for _, it := range items {
			_, err := s.Roster().Put(ctx, u, it, 0)
			must("Roster.Put", err)
		}
		ver, err := s.Roster().Delete(ctx, u, "gone@x.example")
		must("Roster.Delete", err)
		items = items[:3]
		slices.SortFunc(items, func(a, b storage.RosterItem) int { return strings.Compare(a.Contact, b.Contact) })
		f.roster[u], f.version[u] = items, ver

		for _, from := range []string{"c@y.example", "a@y.example", "b@y.example"} {
			p := storage.PendingSubscription{From: from, Stanza: `<presence from="` + from + `" type="subscribe"/>`}
			must("Roster.AddPending", s.Roster().AddPending(ctx, u, p))
			f.pending[u] = append(f.pending[u], p)
		}

		for j := range 3 + i {
			must("Offline.Push", s.Offline().Push(ctx, u, fmt.Sprintf(`<message to="%s" id="m%d"><body>hello %d</body></message>`, u, j, j), 0))
		}
		msgs, err := s.Offline().List(ctx, u)
		must("Offline.List", err)
		f.offline[u] = msgs

		f.vcards[u] = `<vCard xmlns="vcard-temp"><FN>` + u + `</FN></vCard>`
		must("VCards.Put", s.VCards().Put(ctx, u, f.vcards[u]))

		f.private[u] = map[string]string{
			"storage:bookmarks": `<storage xmlns="storage:bookmarks"><conference jid="room@muc.example"/></storage>`,
			"exodus:prefs":      `<exodus xmlns="exodus:prefs"/>`,
		}
		for ns, x := range f.private[u] {
			must("Private.Put", s.Private().Put(ctx, u, ns, x))
		}

		f.blocked[u] = []string{"spam.example", "troll@x.example", "émile@x.example"}
		must("Blocklist.Add", s.Blocklist().Add(ctx, u, f.blocked[u]))
		slices.Sort(f.blocked[u])

		// Pubsub: an item published again becomes the newest; a node
		// with a maximum dropped its oldest; an empty node; an empty
		// payload; a time given in another zone.
		f.items[u] = map[string][]storage.PubsubItem{}
		for _, n := range []storage.PubsubNode{{Name: "urn:xmpp:avatar:data", Config: `{"max":3}`}, {Name: "eu.siacs.conversations.axolotl.devicelist", Config: "{}"}, {Name: "empty", Config: ""}} {
			must("Pubsub.CreateNode", s.Pubsub().CreateNode(ctx, u, n, 0))
		}
		published := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("x", 3600))
		for j, id := range []string{"a", "b", "c", "d", "b"} {
			it := storage.PubsubItem{ID: id, Payload: fmt.Sprintf("<data n='%d'/>", j)}
			if id == "c" {
				it.Published = published
			}
			must("Pubsub.Publish", s.Pubsub().Publish(ctx, u, "urn:xmpp:avatar:data", it, 3))
		}
		must("Pubsub.Publish", s.Pubsub().Publish(ctx, u, "eu.siacs.conversations.axolotl.devicelist", storage.PubsubItem{ID: "current"}, 1))
		// Explicit subscriptions: a full JID of an account copied
		// after this one ("émile" sorts last), a remote bare JID, the
		// owner.
		for _, j := range []string{"émile@a.example/phone", "friend@x.example", u} {
			sub := storage.PubsubSubscription{Node: "eu.siacs.conversations.axolotl.devicelist", JID: j}
			must("Pubsub.Subscribe", s.Pubsub().Subscribe(ctx, u, sub, 0, 0))
		}
		f.subs[u] = map[string][]storage.PubsubSubscription{}
		nodes, err := s.Pubsub().Nodes(ctx, u)
		must("Pubsub.Nodes", err)
		f.nodes[u] = nodes
		for _, n := range nodes {
			items, err := s.Pubsub().Items(ctx, u, n.Name, 0)
			must("Pubsub.Items", err)
			f.items[u][n.Name] = items
			subs, err := s.Pubsub().Subscriptions(ctx, u, n.Name)
			must("Pubsub.Subscriptions", err)
			f.subs[u][n.Name] = subs
		}
		if got := len(f.subs[u]["eu.siacs.conversations.axolotl.devicelist"]); got != 3 {
			t.Fatalf("device list node has %d subscriptions, want 3", got)
		}
		if got := len(f.items[u]["urn:xmpp:avatar:data"]); got != 3 {
			t.Fatalf("avatar node holds %d items, want 3", got)
		}

		for _, c := range []string{"phone", "laptop"} {
			for k, slot := range []string{storage.FastCurrent, storage.FastNew} {
				tok := storage.FastToken{
					Client: []byte(c + "-" + u), Slot: slot, Mechanism: "HT-SHA-256-NONE",
					Seed: []byte("seed " + c + slot), Expires: time.Date(2030, 1, 2, 3, 4, 5, 6000*(k+1), time.UTC),
					Count: int64(7 * k),
				}
				must("FastTokens.Put", s.FastTokens().Put(ctx, u, tok, 0))
			}
		}
		for _, c := range []string{"laptop", "phone"} {
			toks, err := s.FastTokens().List(ctx, u, []byte(c+"-"+u))
			must("FastTokens.List", err)
			f.fast[u] = append(f.fast[u], toks...)
		}
	}

	// Archives: of several pages for the tests, with full and bare
	// JIDs; preferences and push services for some users.
	for i, u := range users[:4] {
		for j := range 2 + 3*i {
			m, err := s.Archive().Append(ctx, u, storage.ArchivedMessage{
				ID: fmt.Sprintf("u%d-%02d", i, j), With: []string{"friend@x.example/phone", "room@muc.example", "émile@x.example"}[j%3],
				Stanza: fmt.Sprintf(`<message xmlns="jabber:client" id="a%d"><body>archived %d ü</body></message>`, j, j),
			})
			must("Archive.Append", err)
			f.archive[u] = append(f.archive[u], m)
		}
		if i%2 == 0 {
			p := storage.ArchivePrefs{Default: storage.ArchiveRoster, Always: []string{"friend@x.example"}, Never: []string{"spam@x.example", "troll@x.example"}}
			if i == 2 {
				p = storage.ArchivePrefs{Default: storage.ArchiveNever}
			}
			must("Archive.SetPrefs", s.Archive().SetPrefs(ctx, u, p))
			f.prefs[u] = p
		}
		for _, svc := range []storage.PushService{{JID: "push.x.example", Node: "n" + fmt.Sprint(i), Options: "<x/>"}, {JID: "app.y.example"}}[:1+i%2] {
			must("Push.Enable", s.Push().Enable(ctx, u, svc, 0))
		}
		push, err := s.Push().List(ctx, u)
		must("Push.List", err)
		f.push[u] = push
	}

	// Rooms of two services, with affiliations (some remote, a domain
	// ban), subjects, avatars, and archives, one with a tombstone.
	for i, jid := range []string{"lounge@muc.a.example", "dev@muc.a.example", "empty@muc.a.example", "café@rooms.b.example"} {
		r := storage.Room{JID: jid, Config: fmt.Sprintf(`{"persistent":true,"n":%d}`, i), Created: time.Date(2024, 1, 2, 3, 4, 5, 6000*(i+1), time.UTC)}
		if i%2 == 0 {
			r.Subject, r.SubjectNick, r.SubjectTime = "Welcome ☕", "zoe", time.Date(2024, 6, 7, 8, 9, 10, 11000, time.UTC)
			r.VCard = `<vCard xmlns="vcard-temp"><PHOTO><TYPE>image/png</TYPE><BINVAL>AAAA</BINVAL></PHOTO></vCard>`
		}
		must("Rooms.Put", s.Rooms().Put(ctx, r))
		for _, a := range []storage.RoomAffiliation{
			{JID: "zoe@a.example", Affiliation: storage.AffOwner},
			{JID: "bob@b.example", Affiliation: storage.AffMember, Nick: "bobby"},
			{JID: "spam.example", Affiliation: storage.AffOutcast, Reason: "spam"},
			{JID: "remote@else.example", Affiliation: storage.AffAdmin},
		}[:1+i] {
			must("Rooms.SetAffiliation", s.Rooms().SetAffiliation(ctx, jid, a))
		}
		if jid == "empty@muc.a.example" {
			continue
		}
		for j := range 1 + 3*i {
			m, err := s.RoomArchive().Append(ctx, jid, storage.RoomMessage{
				ID: fmt.Sprintf("r%d-%02d", i, j), Nick: []string{"zoe", "bobby"}[j%2], Sender: []string{"zoe@a.example", "bob@b.example"}[j%2],
				Stanza: fmt.Sprintf(`<message xmlns="jabber:client" type="groupchat" id="g%d"><body>room %d</body></message>`, j, j),
			})
			must("RoomArchive.Append", err)
			f.roomMsg[jid] = append(f.roomMsg[jid], m)
		}
	}
	tomb := `<message xmlns="jabber:client" type="groupchat"><retracted xmlns="urn:xmpp:message-retract:1"/></message>`
	must("RoomArchive.Replace", s.RoomArchive().Replace(ctx, "dev@muc.a.example", "r1-01", tomb))
	f.roomMsg["dev@muc.a.example"][1].Stanza = tomb
	for _, svc := range []string{"muc.a.example", "rooms.b.example"} {
		rooms, err := s.Rooms().List(ctx, svc)
		must("Rooms.List", err)
		f.rooms[svc] = rooms
		for _, r := range rooms {
			affs, err := s.Rooms().Affiliations(ctx, r.JID)
			must("Rooms.Affiliations", err)
			f.affs[r.JID] = affs
		}
	}

	// Pubsub services, which are nobody's account: items published by
	// several JIDs, one published again (it becomes the newest), one
	// with a time of its own, an empty node; affiliations and
	// subscriptions of bare, full and remote JIDs.
	for i, svc := range []string{"pubsub.a.example", "news.b.example", "pubsub.c.example"} {
		ps := s.PubsubServices()
		for _, n := range []storage.PubsubNode{{Name: "princely_musings", Config: `{"max":10}`}, {Name: "blog/ä", Config: "{}"}, {Name: "empty", Config: ""}}[:1+i] {
			must("PubsubServices.CreateNode", ps.CreateNode(ctx, svc, n, 0))
		}
		for j := range 2 + 2*i {
			it := storage.PubsubItem{
				ID: fmt.Sprintf("item%d", j), Payload: fmt.Sprintf("<entry n='%d'/>", j),
				Publisher: []string{"zoe@a.example", "bob@b.example"}[j%2],
			}
			if j == 1 {
				it.Published = time.Date(2020, 2, 3, 4, 5, 6, 7000, time.UTC)
			}
			must("PubsubServices.Publish", ps.Publish(ctx, svc, "princely_musings", it, 0))
		}
		must("PubsubServices.Publish", ps.Publish(ctx, svc, "princely_musings", storage.PubsubItem{ID: "item0", Payload: "<again/>", Publisher: "zoe@a.example"}, 0))
		if i > 0 {
			must("PubsubServices.Publish", ps.Publish(ctx, svc, "blog/ä", storage.PubsubItem{ID: "current"}, 1))
		}
		for _, a := range []storage.PubsubAffiliation{
			{Node: "princely_musings", JID: "zoe@a.example", Affiliation: storage.AffiliationOwner},
			{Node: "princely_musings", JID: "bob@b.example", Affiliation: storage.AffiliationPublisher},
			{Node: "princely_musings", JID: "spam@else.example", Affiliation: storage.AffiliationOutcast},
		}[:1+i] {
			must("PubsubServices.SetAffiliation", ps.SetAffiliation(ctx, svc, a))
		}
		for _, sub := range []storage.PubsubSubscription{
			{Node: "princely_musings", JID: "zoe@a.example", SubID: "s1", State: storage.SubscriptionSubscribed},
			{Node: "princely_musings", JID: "zoe@a.example/phone", SubID: "s2", State: storage.SubscriptionPending},
			{Node: "princely_musings", JID: "remote@else.example/x", SubID: "s3", State: storage.SubscriptionSubscribed},
		}[i:] {
			must("PubsubServices.Subscribe", ps.Subscribe(ctx, svc, sub))
		}
		nodes, err := ps.Nodes(ctx, svc)
		must("PubsubServices.Nodes", err)
		f.svcNodes[svc] = nodes
		f.svcItems[svc] = map[string][]storage.PubsubItem{}
		f.svcAffs[svc] = map[string][]storage.PubsubAffiliation{}
		f.svcSubs[svc] = map[string][]storage.PubsubSubscription{}
		for _, n := range nodes {
			items, err := ps.Items(ctx, svc, n.Name, 0)
			must("PubsubServices.Items", err)
			affs, err := ps.Affiliations(ctx, svc, n.Name)
			must("PubsubServices.Affiliations", err)
			subs, err := ps.Subscriptions(ctx, svc, n.Name)
			must("PubsubServices.Subscriptions", err)
			f.svcItems[svc][n.Name], f.svcAffs[svc][n.Name], f.svcSubs[svc][n.Name] = items, affs, subs
			f.svcCount += 1 + len(items) + len(affs) + len(subs)
		}
	}

	for i, exp := range []time.Time{time.Date(2031, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)} {
		inv := storage.Invite{Hash: bytes.Repeat([]byte{byte(i + 1)}, 32), Host: "a.example", Expires: exp}
		must("Invites.Add", s.Invites().Add(ctx, inv.Hash, inv.Host, inv.Expires))
		f.invites = append(f.invites, inv)
	}
	return f
}

// check compares s with the fixture through the storage interfaces.
func (f *fixture) check(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := t.Context()
	got, err := s.Accounts().(storage.AccountLister).Users(ctx, "", 100)
	if err != nil || !slices.Equal(got, f.users) {
		t.Fatalf("Users = %q, %v, want %q", got, err, f.users)
	}
	for _, d := range []string{"a.example", "b.example"} {
		var want []string
		for _, u := range f.users {
			if _, dom, _ := strings.Cut(u, "@"); dom == d {
				want = append(want, u)
			}
		}
		if got, err := s.Accounts().List(ctx, d); err != nil || !slices.Equal(got, want) {
			t.Errorf("List(%s) = %q, %v, want %q", d, got, err, want)
		}
	}
	for _, u := range f.users {
		a, err := s.Accounts().Get(ctx, u)
		if err != nil || !a.Created.Equal(f.created[u]) || a.Created.Location() != time.UTC || !equal(reflect.ValueOf(a.Keys), reflect.ValueOf(f.keys[u])) {
			t.Errorf("Get(%s) = %+v, %v, want created %v and the keys", u, a, err, f.created[u])
		}
		items, ver, err := s.Roster().Items(ctx, u)
		slices.SortFunc(items, func(a, b storage.RosterItem) int { return strings.Compare(a.Contact, b.Contact) })
		if err != nil || ver != f.version[u] || !equal(reflect.ValueOf(items), reflect.ValueOf(f.roster[u])) {
			t.Errorf("Items(%s) = %+v version %d, %v, want %+v version %d", u, items, ver, err, f.roster[u], f.version[u])
		}
		if p, err := s.Roster().Pending(ctx, u); err != nil || !equal(reflect.ValueOf(p), reflect.ValueOf(f.pending[u])) {
			t.Errorf("Pending(%s) = %v, %v, want %v", u, p, err, f.pending[u])
		}
		msgs, err := s.Offline().List(ctx, u)
		if err != nil || len(msgs) != len(f.offline[u]) {
			t.Errorf("Offline.List(%s) = %d messages, %v, want %d", u, len(msgs), err, len(f.offline[u]))
		} else {
			for i, m := range msgs {
				w := f.offline[u][i]
				if m.Stanza != w.Stanza || !m.Stored.Equal(w.Stored) || m.Stored.Location() != time.UTC || i > 0 && m.ID <= msgs[i-1].ID {
					t.Errorf("Offline.List(%s)[%d] = %+v, want %+v with increasing IDs", u, i, m, w)
				}
			}
		}
		if n, err := s.Offline().Count(ctx, u); err != nil || n != len(f.offline[u]) {
			t.Errorf("Offline.Count(%s) = %d, %v, want %d", u, n, err, len(f.offline[u]))
		}
		if v, err := s.VCards().Get(ctx, u); f.vcards[u] == "" && !errors.Is(err, storage.ErrNotFound) || f.vcards[u] != "" && (err != nil || v != f.vcards[u]) {
			t.Errorf("VCards.Get(%s) = %q, %v, want %q", u, v, err, f.vcards[u])
		}
		nss, err := s.Private().Namespaces(ctx, u)
		if err != nil || len(nss) != len(f.private[u]) {
			t.Errorf("Namespaces(%s) = %q, %v, want %d", u, nss, err, len(f.private[u]))
		}
		for ns, want := range f.private[u] {
			if x, err := s.Private().Get(ctx, u, ns); err != nil || x != want {
				t.Errorf("Private.Get(%s, %s) = %q, %v, want %q", u, ns, x, err, want)
			}
		}
		if b, err := s.Blocklist().List(ctx, u); err != nil || !slices.Equal(b, f.blocked[u]) {
			t.Errorf("Blocklist.List(%s) = %q, %v, want %q", u, b, err, f.blocked[u])
		}
		nodes, err := s.Pubsub().Nodes(ctx, u)
		if err != nil || !slices.Equal(nodes, f.nodes[u]) {
			t.Errorf("Pubsub.Nodes(%s) = %v, %v, want %v", u, nodes, err, f.nodes[u])
		}
		for _, n := range f.nodes[u] {
			items, err := s.Pubsub().Items(ctx, u, n.Name, 0)
			want := f.items[u][n.Name]
			ok := err == nil && len(items) == len(want)
			for i := range items {
				ok = ok && items[i].ID == want[i].ID && items[i].Payload == want[i].Payload &&
					items[i].Published.Equal(want[i].Published) && items[i].Published.Location() == time.UTC
			}
			if !ok {
				t.Errorf("Pubsub.Items(%s, %s) = %+v, %v, want %+v", u, n.Name, items, err, want)
			}
			if subs, err := s.Pubsub().Subscriptions(ctx, u, n.Name); err != nil || !slices.Equal(subs, f.subs[u][n.Name]) {
				t.Errorf("Pubsub.Subscriptions(%s, %s) = %v, %v, want %v", u, n.Name, subs, err, f.subs[u][n.Name])
			}
		}
		var toks []storage.FastToken
		for _, c := range []string{"laptop", "phone"} {
			l, err := s.FastTokens().List(ctx, u, []byte(c+"-"+u))
			if err != nil {
				t.Fatal(err)
			}
			toks = append(toks, l...)
		}
		if !equal(reflect.ValueOf(toks), reflect.ValueOf(f.fast[u])) {
			t.Errorf("FastTokens of %s = %+v, want %+v", u, toks, f.fast[u])
		}
	}
	for _, u := range f.users {
		p, err := s.Archive().Query(ctx, u, storage.ArchiveQuery{Max: 100})
		if err != nil || !p.Complete || p.Count != len(f.archive[u]) || !equal(reflect.ValueOf(p.Messages), reflect.ValueOf(f.archive[u])) {
			t.Errorf("Archive.Query(%s) = %+v, %v, want %+v", u, p, err, f.archive[u])
		}
		for i, m := range p.Messages {
			if m.Stored.Location() != time.UTC || i > 0 && m.Stored.Before(p.Messages[i-1].Stored) {
				t.Errorf("Archive.Query(%s): message %d stored at %v", u, i, m.Stored)
			}
		}
		if ms := f.archive[u]; len(ms) > 2 {
			// Times still map to positions: the middle of the archive.
			p, err := s.Archive().Query(ctx, u, storage.ArchiveQuery{Start: ms[1].Stored, End: ms[len(ms)-2].Stored, With: "friend@x.example", Max: 100})
			var want []storage.ArchivedMessage
			for _, m := range ms[1 : len(ms)-1] {
				if strings.HasPrefix(m.With, "friend@x.example/") {
					want = append(want, m)
				}
			}
			if err != nil || !equal(reflect.ValueOf(p.Messages), reflect.ValueOf(want)) {
				t.Errorf("Archive.Query(%s) by time and with = %+v, %v, want %+v", u, p.Messages, err, want)
			}
		}
		prefs, err := s.Archive().Prefs(ctx, u)
		if want, ok := f.prefs[u]; ok && (err != nil || !equal(reflect.ValueOf(prefs), reflect.ValueOf(want))) || !ok && !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Archive.Prefs(%s) = %+v, %v, want %+v", u, prefs, err, f.prefs[u])
		}
		if push, err := s.Push().List(ctx, u); err != nil || !equal(reflect.ValueOf(push), reflect.ValueOf(f.push[u])) {
			t.Errorf("Push.List(%s) = %+v, %v, want %+v", u, push, err, f.push[u])
		}
	}
	for svc, want := range f.rooms {
		rooms, err := s.Rooms().List(ctx, svc)
		if err != nil || !equal(reflect.ValueOf(rooms), reflect.ValueOf(want)) {
			t.Errorf("Rooms.List(%s) = %+v, %v, want %+v", svc, rooms, err, want)
		}
		for _, r := range want {
			if affs, err := s.Rooms().Affiliations(ctx, r.JID); err != nil || !equal(reflect.ValueOf(affs), reflect.ValueOf(f.affs[r.JID])) {
				t.Errorf("Rooms.Affiliations(%s) = %+v, %v, want %+v", r.JID, affs, err, f.affs[r.JID])
			}
			p, err := s.RoomArchive().Query(ctx, r.JID, storage.RoomArchiveQuery{Max: 100})
			if err != nil || p.Count != len(f.roomMsg[r.JID]) || !equal(reflect.ValueOf(p.Messages), reflect.ValueOf(f.roomMsg[r.JID])) {
				t.Errorf("RoomArchive.Query(%s) = %+v, %v, want %+v", r.JID, p, err, f.roomMsg[r.JID])
			}
		}
	}
	if n, err := s.Rooms().CountOwned(ctx, "zoe@a.example"); err != nil || n != 4 {
		t.Errorf("Rooms.CountOwned = %d, %v, want 4", n, err)
	}
	for svc, want := range f.svcNodes {
		ps := s.PubsubServices()
		if nodes, err := ps.Nodes(ctx, svc); err != nil || !slices.Equal(nodes, want) {
			t.Errorf("PubsubServices.Nodes(%s) = %v, %v, want %v", svc, nodes, err, want)
		}
		for _, n := range want {
			items, err := ps.Items(ctx, svc, n.Name, 0)
			if w := f.svcItems[svc][n.Name]; err != nil || !equal(reflect.ValueOf(items), reflect.ValueOf(w)) {
				t.Errorf("PubsubServices.Items(%s, %s) = %+v, %v, want %+v", svc, n.Name, items, err, w)
			}
			for _, it := range items {
				if it.Published.Location() != time.UTC {
					t.Errorf("PubsubServices.Items(%s, %s): item %s published at %v, not in UTC", svc, n.Name, it.ID, it.Published)
				}
			}
			if affs, err := ps.Affiliations(ctx, svc, n.Name); err != nil || !slices.Equal(affs, f.svcAffs[svc][n.Name]) {
				t.Errorf("PubsubServices.Affiliations(%s, %s) = %v, %v, want %v", svc, n.Name, affs, err, f.svcAffs[svc][n.Name])
			}
			if subs, err := ps.Subscriptions(ctx, svc, n.Name); err != nil || !slices.Equal(subs, f.svcSubs[svc][n.Name]) {
				t.Errorf("PubsubServices.Subscriptions(%s, %s) = %v, %v, want %v", svc, n.Name, subs, err, f.svcSubs[svc][n.Name])
			}
		}
	}
	// What the service area's queries across nodes find.
	want := []storage.PubsubSubscription{
		{Node: "princely_musings", JID: "zoe@a.example", SubID: "s1", State: storage.SubscriptionSubscribed},
		{Node: "princely_musings", JID: "zoe@a.example/phone", SubID: "s2", State: storage.SubscriptionPending},
	}
	if subs, err := s.PubsubServices().SubscriptionsOf(ctx, "pubsub.a.example", "zoe@a.example"); err != nil || !slices.Equal(subs, want) {
		t.Errorf("PubsubServices.SubscriptionsOf = %v, %v, want %v", subs, err, want)
	}
	invs, err := s.Invites().(storage.InviteLister).All(ctx)
	if err != nil || !equal(reflect.ValueOf(invs), reflect.ValueOf(f.invites)) {
		t.Errorf("Invites.All = %+v, %v, want %+v", invs, err, f.invites)
	}
	// The invitation that has not expired works once; the expired one
	// does not.
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, want := range []bool{true, false, false} {
		inv := f.invites[min(i, 1)]
		if i == 2 {
			inv = f.invites[0]
		}
		if ok, err := s.Invites().Use(ctx, inv.Hash, inv.Host, now); err != nil || ok != want {
			t.Errorf("Invites.Use #%d = %v, %v, want %v", i, ok, err, want)
		}
	}
}

// TestCopySQLiteToPostgres fills an SQLite store, copies it into
// PostgreSQL and checks every area there; a second Copy refuses.
func TestCopySQLiteToPostgres(t *testing.T) {
	ctx := t.Context()
	defer func(n, a, r int) { usersPage, archivePage, roomsPage = n, a, r }(usersPage, archivePage, roomsPage)
	usersPage, archivePage, roomsPage = 2, 3, 2 // several pages of accounts, messages and rooms
	defer func(n int) { servicesPage = n }(servicesPage)
	servicesPage = 2 // and of pubsub services

	src := openSQLite(t, &clock{t: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)})
	f := fill(t, src)
	dst := openPostgres(t)
	var progress []int
	rep, err := Copy(ctx, src, dst, Options{Progress: func(n int) { progress = append(progress, n) }})
	if err != nil {
		t.Fatalf("Copy = %v", err)
	}
	if rep.Accounts != len(f.users) || !slices.Equal(progress, []int{1, 2, 3, 4, 5}) {
		t.Errorf("Copy reported %d accounts, progress %v, want %d", rep.Accounts, progress, len(f.users))
	}
	if rep.Records["Offline"] != 3+4+5+6 || rep.Records["Invites"] != 2 || rep.Records["Accounts"] != 5 ||
		rep.Records["Archive"] != 2+5+8+11+2 || rep.Records["Push"] != 6 ||
		rep.Records["Rooms"] != 4+1+2+3+4 || rep.Records["RoomArchive"] != 1+4+10 ||
		rep.Records["PubsubServices"] != f.svcCount || f.svcCount != (1+2+1+3)+(2+4+1+2+2)+(3+6+1+3+1) {
		t.Errorf("Copy reported %v", rep.Records)
	}
	f.check(t, dst)
	f.check(t, src) // the source is untouched (check uses an invitation of each)

	if _, err := Copy(ctx, src, dst, Options{}); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("second Copy = %v, want ErrNotEmpty", err)
	}
}

// TestCopyPostgresToSQLite copies the other way, into a new SQLite store.
func TestCopyPostgresToSQLite(t *testing.T) {
	ctx := t.Context()
	src := openPostgres(t)
	f := fill(t, src)
	dst := openSQLite(t, nil)
	if _, err := Copy(ctx, src, dst, Options{}); err != nil {
		t.Fatalf("Copy = %v", err)
	}
	f.check(t, dst)
}

// TestNotEmpty checks that Copy writes nothing into a store that has an
// account or an invitation.
func TestNotEmpty(t *testing.T) {
	ctx := t.Context()
	src := openSQLite(t, nil)
	if err := src.Accounts().Create(ctx, storage.Account{User: "a@a.example"}); err != nil {
		t.Fatal(err)
	}
	for name, prepare := range map[string]func(s storage.Store) error{
		"account": func(s storage.Store) error { return s.Accounts().Create(ctx, storage.Account{User: "z@a.example"}) },
		"invite": func(s storage.Store) error {
			return s.Invites().Add(ctx, []byte("hash"), "a.example", time.Now().Add(time.Hour))
		},
		"room": func(s storage.Store) error {
			return s.Rooms().Put(ctx, storage.Room{JID: "r@muc.a.example", Config: "{}"})
		},
		"pubsub node": func(s storage.Store) error {
			return s.PubsubServices().CreateNode(ctx, "pubsub.a.example", storage.PubsubNode{Name: "n"}, 0)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dst := openSQLite(t, nil)
			if err := prepare(dst); err != nil {
				t.Fatal(err)
			}
			if _, err := Copy(ctx, src, dst, Options{}); !errors.Is(err, ErrNotEmpty) {
				t.Fatalf("Copy into a store with an %s = %v, want ErrNotEmpty", name, err)
			}
			if _, err := dst.Accounts().Get(ctx, "a@a.example"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Copy refused but wrote an account (Get = %v)", err)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	tests := []struct {
		a, b any
		want bool
	}{
		{[]string(nil), []string{}, true},
		{[]string{"a"}, []string{"a"}, true},
		{[]string{"a"}, []string{"b"}, false},
		{[]string{"a", "b"}, []string{"b", "a"}, false},
		{at, at.In(time.FixedZone("x", 3600)), true},
		{at, at.Add(time.Microsecond), false},
		{storage.FastToken{Seed: nil}, storage.FastToken{Seed: []byte{}}, true},
		{storage.FastToken{Seed: []byte{1}}, storage.FastToken{Seed: []byte{2}}, false},
		{map[string]int(nil), map[string]int{}, true},
		{map[string]int{"a": 1}, map[string]int{"a": 2}, false},
		{map[string]int{"a": 1}, map[string]int{"b": 1}, false},
		{rosterData{Version: 1}, rosterData{Version: 2}, false},
		{rosterData{Items: []storage.RosterItem{{Ask: true}}}, rosterData{Items: []storage.RosterItem{{}}}, false},
	}
	for _, tc := range tests {
		if got := equal(reflect.ValueOf(tc.a), reflect.ValueOf(tc.b)); got != tc.want {
			t.Errorf("equal(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
