// Package storagetest is the conformance suite of samtal's storage
// backends: one body of tests for the contract written down in package
// storage, which every backend runs from its own test:
//
//	func TestStore(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store {
//			s, err := mybackend.Open(...) // a fresh, empty store
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// It also has the benchmarks of the hot calls (BenchOfflinePush, ...), so
// that backends are measured on the same work.
package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/storage"
)

// Run checks a backend against the storage contract. open must return a
// new, empty store each time it is called (once per subtest); Run closes
// it when the subtest ends and fails the test if Close fails.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	s := func(t *testing.T) storage.Store {
		t.Helper()
		st := open(t)
		t.Cleanup(func() {
			if err := st.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
		})
		return st
	}
	areas := []struct {
		name  string
		tests []subtest
	}{
		{"Accounts", accountTests},
		{"Roster", rosterTests},
		{"Pending", pendingTests},
		{"Offline", offlineTests},
		{"VCards", vcardTests},
		{"Private", privateTests},
		{"Blocklist", blocklistTests},
		{"Invites", inviteTests},
		{"Pubsub", pubsubTests},
		{"PubsubSubscriptions", pubsubSubscriptionTests},
		{"PubsubServices", pubsubServiceTests},
		{"FastTokens", fastTests},
		{"Archive", archiveTests},
		{"ArchiveTime", archiveTimeTests},
		{"ArchiveEnqueue", archiveEnqueueTests},
		{"ArchiveID", archiveIDTests},
		{"Push", pushTests},
		{"Rooms", roomTests},
		{"RoomArchive", roomArchiveTests},
		{"RoomArchiveEnqueue", roomArchiveEnqueueTests},
		{"Export", exportTests},
		{"NoAccount", noAccountTests},
		{"DeleteAccount", deleteAccountTests},
		{"Concurrency", concurrencyTests},
	}
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) {
			for _, tc := range a.tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, s(t)) })
			}
		})
	}
}

type subtest struct {
	name string
	run  func(t *testing.T, s storage.Store)
}

const (
	alice = "alice@example.org"
	bob   = "bob@example.org"
	ghost = "ghost@example.org" // never has an account
)

// testKeys returns SCRAM keys that differ with seed.
func testKeys(seed byte) map[storage.Hash]storage.SCRAMKeys {
	k := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	return map[storage.Hash]storage.SCRAMKeys{
		storage.SHA1:   {Salt: k(16, seed), Iterations: 4096, StoredKey: k(20, seed+1), ServerKey: k(20, seed+2)},
		storage.SHA256: {Salt: k(16, seed+3), Iterations: 10000, StoredKey: k(32, seed+4), ServerKey: k(32, seed+5)},
	}
}

func create(t *testing.T, s storage.Store, users ...string) {
	t.Helper()
	for _, u := range users {
		if err := s.Accounts().Create(t.Context(), storage.Account{User: u, Keys: testKeys(1)}); err != nil {
			t.Fatalf("Accounts.Create(%q) = %v", u, err)
		}
	}
}

// wantErr fails unless err matches target (nil for success).
func wantErr(t *testing.T, call string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s = %v, want no error", call, err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("%s = %v, want %v", call, err, target)
	}
}

func equalKeys(a, b map[storage.Hash]storage.SCRAMKeys) bool {
	return maps.EqualFunc(a, b, func(x, y storage.SCRAMKeys) bool {
		return bytes.Equal(x.Salt, y.Salt) && x.Iterations == y.Iterations &&
			bytes.Equal(x.StoredKey, y.StoredKey) && bytes.Equal(x.ServerKey, y.ServerKey)
	})
}

// near reports whether a stored time is close to now and in UTC; the
// slack allows for a database server's clock.
func near(t time.Time) bool {
	return t.Location() == time.UTC && time.Until(t).Abs() < time.Minute
}

var accountTests = []subtest{
	{"CreateGet", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		want := storage.Account{
			User:    alice,
			Created: time.Date(2024, 2, 29, 23, 59, 58, 123456000, time.UTC),
			Keys:    testKeys(7),
		}
		wantErr(t, "Create", s.Accounts().Create(ctx, want), nil)
		got, err := s.Accounts().Get(ctx, alice)
		wantErr(t, "Get", err, nil)
		if got.User != want.User || !got.Created.Equal(want.Created) || got.Created.Location() != time.UTC {
			t.Errorf("Get(%q) = %q created %v, want %q created %v", alice, got.User, got.Created, want.User, want.Created)
		}
		if !equalKeys(got.Keys, want.Keys) {
			t.Errorf("Get(%q).Keys = %v, want %v", alice, got.Keys, want.Keys)
		}
	}},
	{"CreateNow", func(t *testing.T, s storage.Store) {
		create(t, s, alice)
		got, err := s.Accounts().Get(t.Context(), alice)
		wantErr(t, "Get", err, nil)
		if !near(got.Created) {
			t.Errorf("Created = %v for a zero Created, want about now in UTC", got.Created)
		}
	}},
	{"CreateNoKeys", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		wantErr(t, "Create", s.Accounts().Create(ctx, storage.Account{User: alice}), nil)
		got, err := s.Accounts().Get(ctx, alice)
		wantErr(t, "Get", err, nil)
		if len(got.Keys) != 0 {
			t.Errorf("Keys = %v, want none", got.Keys)
		}
	}},
	{"CreateExists", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		err := s.Accounts().Create(ctx, storage.Account{User: alice, Keys: testKeys(9)})
		wantErr(t, "Create of an existing user", err, storage.ErrExists)
		got, err := s.Accounts().Get(ctx, alice)
		wantErr(t, "Get", err, nil)
		if !equalKeys(got.Keys, testKeys(1)) {
			t.Errorf("a failed Create changed the keys to %v", got.Keys)
		}
	}},
	{"GetNotFound", func(t *testing.T, s storage.Store) {
		create(t, s, alice)
		_, err := s.Accounts().Get(t.Context(), bob)
		wantErr(t, "Get of a missing user", err, storage.ErrNotFound)
	}},
	{"SetKeys", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		want := map[storage.Hash]storage.SCRAMKeys{storage.SHA256: testKeys(42)[storage.SHA256]}
		wantErr(t, "SetKeys", s.Accounts().SetKeys(ctx, alice, want), nil)
		got, err := s.Accounts().Get(ctx, alice)
		wantErr(t, "Get", err, nil)
		if !equalKeys(got.Keys, want) {
			t.Errorf("Keys after SetKeys = %v, want %v (replaced, SHA-1 gone)", got.Keys, want)
		}
		other, err := s.Accounts().Get(ctx, bob)
		wantErr(t, "Get", err, nil)
		if !equalKeys(other.Keys, testKeys(1)) {
			t.Errorf("SetKeys of %s changed the keys of %s", alice, bob)
		}
		err = s.Accounts().SetKeys(ctx, ghost, want)
		wantErr(t, "SetKeys of a missing user", err, storage.ErrNotFound)
	}},
	{"SetDisabled", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		disabled := func(user string, want bool) {
			t.Helper()
			got, err := s.Accounts().Get(ctx, user)
			wantErr(t, "Get", err, nil)
			if got.Disabled != want {
				t.Errorf("%s: Disabled = %v, want %v", user, got.Disabled, want)
			}
			if !equalKeys(got.Keys, testKeys(1)) {
				t.Errorf("%s: keys %v after SetDisabled, want them unchanged", user, got.Keys)
			}
		}
		disabled(alice, false) // a new account is enabled
		// Read once, so that a store that keeps what it read must see
		// the change.
		wantErr(t, "SetDisabled", s.Accounts().SetDisabled(ctx, alice, true), nil)
		disabled(alice, true)
		disabled(bob, false)
		wantErr(t, "SetDisabled again", s.Accounts().SetDisabled(ctx, alice, true), nil)
		disabled(alice, true)
		wantErr(t, "SetDisabled false", s.Accounts().SetDisabled(ctx, alice, false), nil)
		disabled(alice, false)
		wantErr(t, "SetDisabled of a missing user", s.Accounts().SetDisabled(ctx, ghost, true), storage.ErrNotFound)
		// Create keeps the state it is given (a copy between stores).
		const carol = "carol@example.org"
		wantErr(t, "Create disabled", s.Accounts().Create(ctx, storage.Account{User: carol, Keys: testKeys(1), Disabled: true}), nil)
		disabled(carol, true)
		const dora = "dora@other.example"
		create(t, s, dora)
		wantErr(t, "SetDisabled", s.Accounts().SetDisabled(ctx, dora, true), nil)
		got, err := s.Accounts().ListDisabled(ctx, "example.org")
		wantErr(t, "ListDisabled", err, nil)
		if want := []string{carol}; !slices.Equal(got, want) {
			t.Errorf("ListDisabled(example.org) = %q, want %q", got, want)
		}
		wantErr(t, "SetDisabled", s.Accounts().SetDisabled(ctx, carol, false), nil)
		if got, err := s.Accounts().ListDisabled(ctx, "example.org"); err != nil || len(got) != 0 {
			t.Errorf("ListDisabled(example.org) = %q, %v after enabling carol, want none", got, err)
		}
	}},
	{"Delete", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		wantErr(t, "Delete", s.Accounts().Delete(ctx, alice), nil)
		_, err := s.Accounts().Get(ctx, alice)
		wantErr(t, "Get after Delete", err, storage.ErrNotFound)
		wantErr(t, "second Delete", s.Accounts().Delete(ctx, alice), storage.ErrNotFound)
		wantErr(t, "Delete of a missing user", s.Accounts().Delete(ctx, ghost), storage.ErrNotFound)
		if _, err := s.Accounts().Get(ctx, bob); err != nil {
			t.Errorf("Get(%q) after deleting %s = %v", bob, alice, err)
		}
		create(t, s, alice) // the name is free again
	}},
	{"List", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		// Byte order: "zoe" sorts before "émile", unlike in most locales.
		users := []string{"zoe@x.example", "bob@x.example", "émile@x.example", "adam@x.example", "dora@y.example"}
		create(t, s, users...)
		got, err := s.Accounts().List(ctx, "x.example")
		wantErr(t, "List", err, nil)
		want := []string{"adam@x.example", "bob@x.example", "zoe@x.example", "émile@x.example"}
		if !slices.Equal(got, want) {
			t.Errorf("List(x.example) = %q, want %q", got, want)
		}
		got, err = s.Accounts().List(ctx, "y.example")
		wantErr(t, "List", err, nil)
		if want := []string{"dora@y.example"}; !slices.Equal(got, want) {
			t.Errorf("List(y.example) = %q, want %q", got, want)
		}
		got, err = s.Accounts().List(ctx, "example")
		wantErr(t, "List", err, nil)
		if len(got) != 0 {
			t.Errorf("List(example) = %q, want none (domains match whole)", got)
		}
	}},
}

func item(contact string, groups ...string) storage.RosterItem {
	return storage.RosterItem{Contact: contact, Name: "Name of " + contact, Subscription: storage.SubBoth, Groups: groups}
}

func equalItem(a, b storage.RosterItem) bool {
	return a.Contact == b.Contact && a.Name == b.Name && a.Subscription == b.Subscription &&
		a.Ask == b.Ask && a.Approved == b.Approved && slices.Equal(a.Groups, b.Groups)
}

// checkItems compares a roster with want, in any order.
func checkItems(t *testing.T, s storage.Store, user string, want ...storage.RosterItem) int64 {
	t.Helper()
	got, ver, err := s.Roster().Items(t.Context(), user)
	wantErr(t, "Items", err, nil)
	byContact := func(a, b storage.RosterItem) int { return strings.Compare(a.Contact, b.Contact) }
	got = slices.Clone(got)
	want = slices.Clone(want)
	slices.SortFunc(got, byContact)
	slices.SortFunc(want, byContact)
	if !slices.EqualFunc(got, want, equalItem) {
		t.Fatalf("Items(%q) = %+v, want %+v", user, got, want)
	}
	return ver
}

func put(t *testing.T, s storage.Store, user string, it storage.RosterItem) int64 {
	t.Helper()
	v, err := s.Roster().Put(t.Context(), user, it, 0)
	wantErr(t, fmt.Sprintf("Put(%q, %q)", user, it.Contact), err, nil)
	return v
}

var rosterTests = []subtest{
	{"Empty", func(t *testing.T, s storage.Store) {
		create(t, s, alice)
		checkItems(t, s, alice)
		_, err := s.Roster().Item(t.Context(), alice, bob)
		wantErr(t, "Item of an empty roster", err, storage.ErrNotFound)
	}},
	{"PutItems", func(t *testing.T, s storage.Store) {
		create(t, s, alice)
		v0 := checkItems(t, s, alice)
		a, b := item("a@example.com", "Friends"), item("b@example.com")
		v1 := put(t, s, alice, a)
		v2 := put(t, s, alice, b)
		if !(v0 < v1 && v1 < v2) {
			t.Errorf("versions %d, %d, %d after two Puts, want increasing", v0, v1, v2)
		}
		if v := checkItems(t, s, alice, a, b); v != v2 {
			t.Errorf("Items version = %d, want %d (the last Put)", v, v2)
		}
		got, err := s.Roster().Item(t.Context(), alice, a.Contact)
		wantErr(t, "Item", err, nil)
		if !equalItem(got, a) {
			t.Errorf("Item = %+v, want %+v", got, a)
		}
	}},
	{"Fields", func(t *testing.T, s storage.Store) {
		create(t, s, alice)
		items := []storage.RosterItem{
			{Contact: "none@example.com", Subscription: storage.SubNone, Ask: true},
			{Contact: "to@example.com", Subscription: storage.SubTo, Approved: true, Name: `"Quoted" <name> & 'co'`},
			{Contact: "from@example.com", Subscription: storage.SubFrom, Ask: true, Approved: true,
				Groups: []string{"Ünïcode 😀", `with "quotes", commas, [brackets]`, "", "a\nnewline"}},
			{Contact: "both@example.com", Subscription: storage.SubBoth, Groups: []string{"b", "a"}},
			{Contact: "one@example.com", Subscription: storage.SubBoth, Groups: []string{""}},
			// Not from XML 1.0 text, but the contract takes any string.
			{Contact: "odd@example.com", Subscription: storage.SubBoth, Groups: []string{"unit\x1fseparator", "]", "["}},
		}
		for _, it := range items {
			put(t, s, alice, it)
		}
		checkItems(t, s, alice, items...)
		for _, want := range items {
			got, err := s.Roster().Item(t.Context(), alice, want.Contact)
			wantErr(t, "Item", err, nil)
			if !equalItem(got, want) {
				t.Errorf("Item = %+v, want %+v", got, want)
			}
		}
	}},
	{"Replace", func(t *testing.T, s storage.Store) {
		create(t, s, alice)
		a := item("a@example.com", "Old")
		v1 := put(t, s, alice, a)
		a2 := storage.RosterItem{Contact: a.Contact, Name: "New", Subscription: storage.SubTo, Ask: true, Groups: []string{"New", "Other"}}
		v2 := put(t, s, alice, a2)
		if v2 <= v1 {
			t.Errorf("version %d after replacing, want more than %d", v2, v1)
		}
		checkItems(t, s, alice, a2)
		a3 := storage.RosterItem{Contact: a.Contact, Subscription: storage.SubNone}
		put(t, s, alice, a3)
		checkItems(t, s, alice, a3) // groups and name cleared
	}},
	{"ListAfter", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		// Interleaved, so that bob's IDs fall between alice's.
		for i := range 5 {
			push(t, s, alice, msg(i))
			push(t, s, bob, msg(10+i))
		}
		all := list(t, s, alice)
		page := func(after int64, n int, want ...string) []storage.OfflineMessage {
			t.Helper()
			msgs, err := s.Offline().ListAfter(ctx, alice, after, n)
			wantErr(t, "ListAfter", err, nil)
			var got []string
			for _, m := range msgs {
				got = append(got, m.Stanza)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("ListAfter(%d, %d) = %q, want %q", after, n, got, want)
			}
			return msgs
		}
		first := page(0, 2, msg(0), msg(1))
		if first[0].ID != all[0].ID || !first[1].Stored.Equal(all[1].Stored) {
			t.Errorf("ListAfter = %+v, want the records List returns, %+v", first, all[:2])
		}
		page(first[1].ID, 2, msg(2), msg(3))
		page(all[3].ID, 2, msg(4))
		page(all[4].ID, 2)
		page(0, 100, msg(0), msg(1), msg(2), msg(3), msg(4))
		wantErr(t, "Delete", s.Offline().Delete(ctx, alice, all[1].ID), nil)
		page(0, 1, msg(2))
	}},
	{"Limit", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		a, b, c := item("a@example.com"), item("b@example.com"), item("c@example.com")
		for _, it := range []storage.RosterItem{a, b} {
			if _, err := s.Roster().Put(ctx, alice, it, 2); err != nil {
				t.Fatalf("Put under the limit = %v", err)
			}
		}
		before := checkItems(t, s, alice, a, b)
		_, err := s.Roster().Put(ctx, alice, c, 2)
		wantErr(t, "Put over the limit", err, storage.ErrQuota)
		if v := checkItems(t, s, alice, a, b); v != before {
			t.Errorf("version %d after a refused Put, want %d", v, before)
		}
		a.Name = "Changed"
		if _, err := s.Roster().Put(ctx, alice, a, 2); err != nil {
			t.Errorf("Put replacing an item at the limit = %v, want no error", err)
		}
		if _, err := s.Roster().Put(ctx, bob, a, 1); err != nil {
			t.Errorf("Put for %s = %v: the limit is per user", bob, err)
		}
		for _, limit := range []int{0, -1} {
			c.Name = fmt.Sprint(limit)
			if _, err := s.Roster().Put(ctx, alice, c, limit); err != nil {
				t.Errorf("Put with limit %d = %v, want no limit", limit, err)
			}
		}
		checkItems(t, s, alice, a, b, c)
	}},
	{"Delete", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		a, b := item("a@example.com"), item("b@example.com")
		put(t, s, alice, a)
		v1 := put(t, s, alice, b)
		v2, err := s.Roster().Delete(ctx, alice, a.Contact)
		wantErr(t, "Delete", err, nil)
		if v2 <= v1 {
			t.Errorf("version %d after Delete, want more than %d", v2, v1)
		}
		if v := checkItems(t, s, alice, b); v != v2 {
			t.Errorf("Items version = %d, want %d", v, v2)
		}
		_, err = s.Roster().Item(ctx, alice, a.Contact)
		wantErr(t, "Item after Delete", err, storage.ErrNotFound)
		_, err = s.Roster().Delete(ctx, alice, a.Contact)
		wantErr(t, "Delete of a missing item", err, storage.ErrNotFound)
		if v := checkItems(t, s, alice, b); v != v2 {
			t.Errorf("version %d after a failed Delete, want %d", v, v2)
		}
		v3 := put(t, s, alice, a) // back again
		if v3 <= v2 {
			t.Errorf("version %d after Put, want more than %d", v3, v2)
		}
	}},
	{"PerUser", func(t *testing.T, s storage.Store) {
		create(t, s, alice, bob)
		a, b := item("a@example.com"), item("b@example.com")
		put(t, s, alice, a)
		put(t, s, bob, b)
		vb := checkItems(t, s, bob, b)
		put(t, s, alice, b)
		checkItems(t, s, alice, a, b)
		if v := checkItems(t, s, bob, b); v != vb {
			t.Errorf("%s's version moved from %d to %d by a change of %s's roster", bob, vb, v, alice)
		}
	}},
}

func checkPending(t *testing.T, s storage.Store, user string, want ...storage.PendingSubscription) {
	t.Helper()
	got, err := s.Roster().Pending(t.Context(), user)
	wantErr(t, "Pending", err, nil)
	if !slices.Equal(got, want) {
		t.Fatalf("Pending(%q) = %+v, want %+v", user, got, want)
	}
}

func pending(from, text string) storage.PendingSubscription {
	return storage.PendingSubscription{From: from, Stanza: `<presence from="` + from + `" type="subscribe"><status>` + text + `</status></presence>`}
}

var pendingTests = []subtest{
	{"Order", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		checkPending(t, s, alice)
		// Not in byte order, so that sorting by sender would fail.
		c, a, b := pending("c@example.com", "1"), pending("a@example.com", "2"), pending("b@example.com", "3")
		for _, p := range []storage.PendingSubscription{c, a, b} {
			wantErr(t, "AddPending", s.Roster().AddPending(ctx, alice, p), nil)
		}
		checkPending(t, s, alice, c, a, b)
		checkPending(t, s, bob)
	}},
	{"Replace", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		a, b := pending("a@example.com", "first"), pending("b@example.com", "")
		wantErr(t, "AddPending", s.Roster().AddPending(ctx, alice, a), nil)
		wantErr(t, "AddPending", s.Roster().AddPending(ctx, alice, b), nil)
		a2 := pending(a.From, "second")
		wantErr(t, "AddPending again", s.Roster().AddPending(ctx, alice, a2), nil)
		checkPending(t, s, alice, a2, b)
	}},
	{"Remove", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		a, b, c := pending("a@example.com", ""), pending("b@example.com", ""), pending("c@example.com", "")
		for _, p := range []storage.PendingSubscription{a, b, c} {
			wantErr(t, "AddPending", s.Roster().AddPending(ctx, alice, p), nil)
		}
		wantErr(t, "AddPending", s.Roster().AddPending(ctx, bob, b), nil)
		wantErr(t, "RemovePending", s.Roster().RemovePending(ctx, alice, b.From), nil)
		checkPending(t, s, alice, a, c)
		checkPending(t, s, bob, b)
		wantErr(t, "RemovePending of a missing request", s.Roster().RemovePending(ctx, alice, b.From), nil)
		wantErr(t, "AddPending after RemovePending", s.Roster().AddPending(ctx, alice, b), nil)
		checkPending(t, s, alice, a, c, b) // a new request goes last
	}},
}

func push(t *testing.T, s storage.Store, user, stanza string) {
	t.Helper()
	if err := s.Offline().Push(t.Context(), user, stanza, 0); err != nil {
		t.Fatalf("Push(%q) = %v", user, err)
	}
}

func list(t *testing.T, s storage.Store, user string) []storage.OfflineMessage {
	t.Helper()
	msgs, err := s.Offline().List(t.Context(), user)
	wantErr(t, "List", err, nil)
	return msgs
}

func checkStanzas(t *testing.T, s storage.Store, user string, want ...string) []storage.OfflineMessage {
	t.Helper()
	msgs := list(t, s, user)
	var got []string
	for _, m := range msgs {
		got = append(got, m.Stanza)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List(%q) stanzas = %q, want %q", user, got, want)
	}
	n, err := s.Offline().Count(t.Context(), user)
	wantErr(t, "Count", err, nil)
	if n != len(want) {
		t.Fatalf("Count(%q) = %d, want %d", user, n, len(want))
	}
	return msgs
}

func msg(n int) string {
	return fmt.Sprintf(`<message from="x@example.com/r" to="alice@example.org" id="m%d"><body>hello %d</body></message>`, n, n)
}

var offlineTests = []subtest{
	{"PushList", func(t *testing.T, s storage.Store) {
		create(t, s, alice, bob)
		checkStanzas(t, s, alice)
		for i := range 3 {
			push(t, s, alice, msg(i))
		}
		push(t, s, bob, msg(9))
		msgs := checkStanzas(t, s, alice, msg(0), msg(1), msg(2))
		for i, m := range msgs {
			if !near(m.Stored) {
				t.Errorf("message %d stored at %v, want about now in UTC", i, m.Stored)
			}
			if i > 0 && m.ID <= msgs[i-1].ID {
				t.Errorf("IDs %d then %d, want increasing", msgs[i-1].ID, m.ID)
			}
			if i > 0 && m.Stored.Before(msgs[i-1].Stored) {
				t.Errorf("stored %v then %v, want in order", msgs[i-1].Stored, m.Stored)
			}
		}
		checkStanzas(t, s, bob, msg(9))
	}},
	{"IDsNotReused", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		push(t, s, alice, msg(1))
		push(t, s, alice, msg(2))
		old := list(t, s, alice)
		wantErr(t, "Delete", s.Offline().Delete(ctx, alice, old[1].ID), nil)
		push(t, s, alice, msg(3))
		msgs := checkStanzas(t, s, alice, msg(3))
		if msgs[0].ID <= old[1].ID {
			t.Errorf("ID %d after deleting %d, want a larger one", msgs[0].ID, old[1].ID)
		}
	}},
	{"ListAfter", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		// Interleaved, so that bob's IDs fall between alice's.
		for i := range 5 {
			push(t, s, alice, msg(i))
			push(t, s, bob, msg(10+i))
		}
		all := list(t, s, alice)
		page := func(after int64, n int, want ...string) []storage.OfflineMessage {
			t.Helper()
			msgs, err := s.Offline().ListAfter(ctx, alice, after, n)
			wantErr(t, "ListAfter", err, nil)
			var got []string
			for _, m := range msgs {
				got = append(got, m.Stanza)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("ListAfter(%d, %d) = %q, want %q", after, n, got, want)
			}
			return msgs
		}
		first := page(0, 2, msg(0), msg(1))
		if first[0].ID != all[0].ID || !first[1].Stored.Equal(all[1].Stored) {
			t.Errorf("ListAfter = %+v, want the records List returns, %+v", first, all[:2])
		}
		page(first[1].ID, 2, msg(2), msg(3))
		page(all[3].ID, 2, msg(4))
		page(all[4].ID, 2)
		page(0, 100, msg(0), msg(1), msg(2), msg(3), msg(4))
		wantErr(t, "Delete", s.Offline().Delete(ctx, alice, all[1].ID), nil)
		page(0, 1, msg(2))
	}},
	{"Limit", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		for i := range 2 {
			if err := s.Offline().Push(ctx, alice, msg(i), 2); err != nil {
				t.Fatalf("Push under the limit = %v", err)
			}
		}
		wantErr(t, "Push over the limit", s.Offline().Push(ctx, alice, msg(2), 2), storage.ErrQuota)
		checkStanzas(t, s, alice, msg(0), msg(1))
		wantErr(t, "Push for another user", s.Offline().Push(ctx, bob, msg(3), 2), nil)
		for _, limit := range []int{0, -1} {
			if err := s.Offline().Push(ctx, alice, msg(limit), limit); err != nil {
				t.Errorf("Push with limit %d = %v, want no limit", limit, err)
			}
		}
		msgs := checkStanzas(t, s, alice, msg(0), msg(1), msg(0), msg(-1))
		wantErr(t, "Delete", s.Offline().Delete(ctx, alice, msgs[2].ID), nil)
		wantErr(t, "Push after Delete", s.Offline().Push(ctx, alice, msg(5), 2), nil)
	}},
	{"Delete", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		// Interleaved, so that bob's IDs fall between alice's.
		for i := range 4 {
			push(t, s, alice, msg(i))
			push(t, s, bob, msg(10+i))
		}
		msgs := list(t, s, alice)
		wantErr(t, "Delete", s.Offline().Delete(ctx, alice, msgs[1].ID), nil)
		checkStanzas(t, s, alice, msg(2), msg(3))
		checkStanzas(t, s, bob, msg(10), msg(11), msg(12), msg(13))
		wantErr(t, "Delete of nothing", s.Offline().Delete(ctx, alice, msgs[0].ID), nil)
		checkStanzas(t, s, alice, msg(2), msg(3))
		push(t, s, alice, msg(4)) // arrived after the List: kept
		wantErr(t, "Delete", s.Offline().Delete(ctx, alice, msgs[3].ID), nil)
		checkStanzas(t, s, alice, msg(4))
		checkStanzas(t, s, bob, msg(10), msg(11), msg(12), msg(13))
	}},
	{"Expire", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		push(t, s, alice, msg(1))
		first := list(t, s, alice)[0]
		time.Sleep(20 * time.Millisecond)
		push(t, s, alice, msg(2))
		push(t, s, bob, msg(3))
		second := list(t, s, alice)[1]
		if !second.Stored.After(first.Stored) {
			t.Fatalf("stored %v, then %v 20ms later, want a later time", first.Stored, second.Stored)
		}
		n, err := s.Offline().Expire(ctx, first.Stored)
		wantErr(t, "Expire", err, nil)
		if n != 0 {
			t.Errorf("Expire(first stored time) = %d, want 0: only messages stored before it go", n)
		}
		n, err = s.Offline().Expire(ctx, second.Stored)
		wantErr(t, "Expire", err, nil)
		if n != 1 {
			t.Errorf("Expire(second stored time) = %d, want 1", n)
		}
		checkStanzas(t, s, alice, msg(2))
		checkStanzas(t, s, bob, msg(3))
		n, err = s.Offline().Expire(ctx, time.Now().Add(time.Hour))
		wantErr(t, "Expire", err, nil)
		if n != 2 {
			t.Errorf("Expire(an hour from now) = %d, want 2", n)
		}
		checkStanzas(t, s, alice)
		checkStanzas(t, s, bob)
	}},
}

var vcardTests = []subtest{
	{"PutGet", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		_, err := s.VCards().Get(ctx, alice)
		wantErr(t, "Get of no vCard", err, storage.ErrNotFound)
		v1 := `<vCard xmlns="vcard-temp"><FN>Alice</FN></vCard>`
		v2 := `<vCard xmlns="vcard-temp"><FN>Alice Ü</FN><NICKNAME>al</NICKNAME></vCard>`
		for _, want := range []string{v1, v2} {
			wantErr(t, "Put", s.VCards().Put(ctx, alice, want), nil)
			got, err := s.VCards().Get(ctx, alice)
			wantErr(t, "Get", err, nil)
			if got != want {
				t.Errorf("Get = %q, want %q", got, want)
			}
		}
		_, err = s.VCards().Get(ctx, bob)
		wantErr(t, "Get of another user", err, storage.ErrNotFound)
	}},
	{"EmptyRemoves", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		wantErr(t, "Put", s.VCards().Put(ctx, alice, `<vCard xmlns="vcard-temp"/>`), nil)
		wantErr(t, "Put empty", s.VCards().Put(ctx, alice, ""), nil)
		_, err := s.VCards().Get(ctx, alice)
		wantErr(t, "Get after an empty Put", err, storage.ErrNotFound)
		wantErr(t, "Put empty again", s.VCards().Put(ctx, alice, ""), nil)
	}},
}

var privateTests = []subtest{
	{"PutGet", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		const ns1, ns2 = "storage:bookmarks", "exodus:prefs"
		_, err := s.Private().Get(ctx, alice, ns1)
		wantErr(t, "Get of nothing", err, storage.ErrNotFound)
		x1 := `<storage xmlns="storage:bookmarks"><conference jid="room@muc.example"/></storage>`
		x1b := `<storage xmlns="storage:bookmarks"/>`
		x2 := `<exodus xmlns="exodus:prefs"><defaultnick>al</defaultnick></exodus>`
		wantErr(t, "Put", s.Private().Put(ctx, alice, ns1, x1), nil)
		wantErr(t, "Put", s.Private().Put(ctx, alice, ns2, x2), nil)
		wantErr(t, "Put replacing", s.Private().Put(ctx, alice, ns1, x1b), nil)
		for ns, want := range map[string]string{ns1: x1b, ns2: x2} {
			got, err := s.Private().Get(ctx, alice, ns)
			wantErr(t, "Get", err, nil)
			if got != want {
				t.Errorf("Get(%q) = %q, want %q", ns, got, want)
			}
		}
		_, err = s.Private().Get(ctx, bob, ns1)
		wantErr(t, "Get of another user", err, storage.ErrNotFound)
		got, err := s.Private().Namespaces(ctx, alice)
		wantErr(t, "Namespaces", err, nil)
		if want := []string{ns2, ns1}; !slices.Equal(got, want) {
			t.Errorf("Namespaces = %q, want %q", got, want)
		}
		got, err = s.Private().Namespaces(ctx, bob)
		if err != nil || len(got) != 0 {
			t.Errorf("Namespaces of a user with none = %q, %v", got, err)
		}
	}},
}

func checkBlocked(t *testing.T, s storage.Store, user string, want ...string) {
	t.Helper()
	got, err := s.Blocklist().List(t.Context(), user)
	wantErr(t, "List", err, nil)
	if !slices.Equal(got, want) {
		t.Fatalf("List(%q) = %q, want %q", user, got, want)
	}
}

var blocklistTests = []subtest{
	{"AddList", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		checkBlocked(t, s, alice)
		wantErr(t, "Add", s.Blocklist().Add(ctx, alice, []string{"émile@x.example", "c.example", "zoe@x.example"}), nil)
		checkBlocked(t, s, alice, "c.example", "zoe@x.example", "émile@x.example")
		// Already blocked ones and duplicates within one call are kept once.
		wantErr(t, "Add", s.Blocklist().Add(ctx, alice, []string{"c.example", "a@x.example", "a@x.example"}), nil)
		checkBlocked(t, s, alice, "a@x.example", "c.example", "zoe@x.example", "émile@x.example")
		wantErr(t, "Add of nothing", s.Blocklist().Add(ctx, alice, nil), nil)
		checkBlocked(t, s, alice, "a@x.example", "c.example", "zoe@x.example", "émile@x.example")
		checkBlocked(t, s, bob)
	}},
	{"Remove", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		wantErr(t, "Add", s.Blocklist().Add(ctx, alice, []string{"a.example", "b.example", "c.example"}), nil)
		wantErr(t, "Add", s.Blocklist().Add(ctx, bob, []string{"a.example"}), nil)
		wantErr(t, "Remove", s.Blocklist().Remove(ctx, alice, []string{"b.example", "never.example"}), nil)
		checkBlocked(t, s, alice, "a.example", "c.example")
		wantErr(t, "Remove of everyone", s.Blocklist().Remove(ctx, alice, nil), nil)
		checkBlocked(t, s, alice)
		checkBlocked(t, s, bob, "a.example")
		wantErr(t, "Remove from an empty list", s.Blocklist().Remove(ctx, alice, []string{}), nil)
		wantErr(t, "Add after Remove", s.Blocklist().Add(ctx, alice, []string{"b.example"}), nil)
		checkBlocked(t, s, alice, "b.example")
	}},
}

func inviteHash(n byte) []byte { return bytes.Repeat([]byte{n}, 32) }

// useInvite fails unless Use reports want.
func useInvite(t *testing.T, s storage.Store, hash []byte, host string, now time.Time, want bool) {
	t.Helper()
	ok, err := s.Invites().Use(t.Context(), hash, host, now)
	wantErr(t, "Invites.Use", err, nil)
	if ok != want {
		t.Fatalf("Use(%x, %q, %v) = %v, want %v", hash[:2], host, now, ok, want)
	}
}

var inviteTests = []subtest{
	{"UseOnce", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		h := inviteHash(1)
		wantErr(t, "Add", s.Invites().Add(ctx, h, "example.org", now.Add(time.Hour)), nil)
		useInvite(t, s, inviteHash(2), "example.org", now, false) // unknown
		useInvite(t, s, h, "other.example", now, false)           // another host
		useInvite(t, s, h, "example.org", now, true)
		useInvite(t, s, h, "example.org", now, false) // spent
	}},
	{"Expired", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		h := inviteHash(1)
		wantErr(t, "Add", s.Invites().Add(ctx, h, "example.org", now), nil)
		useInvite(t, s, h, "example.org", now.Add(time.Second), false)
		useInvite(t, s, h, "example.org", now.Add(-time.Second), true)
	}},
	{"Expire", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		for i, exp := range []time.Duration{-2 * time.Hour, -time.Hour, time.Hour} {
			wantErr(t, "Add", s.Invites().Add(ctx, inviteHash(byte(i)), "example.org", now.Add(exp)), nil)
		}
		n, err := s.Invites().Expire(ctx, now)
		wantErr(t, "Expire", err, nil)
		if n != 2 {
			t.Errorf("Expire = %d, want 2", n)
		}
		// Expire removed them: they do not come back valid at an earlier now.
		useInvite(t, s, inviteHash(0), "example.org", now.Add(-3*time.Hour), false)
		useInvite(t, s, inviteHash(2), "example.org", now, true)
	}},
	{"ConcurrentUse", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		h := inviteHash(1)
		wantErr(t, "Add", s.Invites().Add(ctx, h, "example.org", now.Add(time.Hour)), nil)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			used int
		)
		for range 8 {
			wg.Go(func() {
				ok, err := s.Invites().Use(ctx, h, "example.org", now)
				if err != nil {
					t.Errorf("Use = %v", err)
				}
				if ok {
					mu.Lock()
					used++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if used != 1 {
			t.Errorf("%d concurrent Uses of one invitation succeeded, want 1", used)
		}
	}},
}

// noAccountTests check that a user without an account has no data and
// cannot be given any.
var noAccountTests = []subtest{
	{"ArchiveAndPush", archiveNoAccount},
	{"Writes", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		_, err := s.Roster().Put(ctx, ghost, item(alice), 0)
		wantErr(t, "Roster.Put", err, storage.ErrNotFound)
		_, err = s.Roster().Put(ctx, ghost, item(alice), 10)
		wantErr(t, "Roster.Put with a limit", err, storage.ErrNotFound)
		_, err = s.Roster().Delete(ctx, ghost, alice)
		wantErr(t, "Roster.Delete", err, storage.ErrNotFound)
		wantErr(t, "Roster.AddPending", s.Roster().AddPending(ctx, ghost, pending(alice, "")), storage.ErrNotFound)
		wantErr(t, "Offline.Push", s.Offline().Push(ctx, ghost, msg(1), 0), storage.ErrNotFound)
		wantErr(t, "Offline.Push with a limit", s.Offline().Push(ctx, ghost, msg(1), 10), storage.ErrNotFound)
		wantErr(t, "VCards.Put", s.VCards().Put(ctx, ghost, "<vCard/>"), storage.ErrNotFound)
		wantErr(t, "Private.Put", s.Private().Put(ctx, ghost, "ns", "<x/>"), storage.ErrNotFound)
		wantErr(t, "Blocklist.Add", s.Blocklist().Add(ctx, ghost, []string{alice}), storage.ErrNotFound)
		wantErr(t, "Accounts.SetKeys", s.Accounts().SetKeys(ctx, ghost, testKeys(1)), storage.ErrNotFound)
	}},
	{"Reads", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		checkItems(t, s, ghost)
		_, err := s.Roster().Item(ctx, ghost, alice)
		wantErr(t, "Roster.Item", err, storage.ErrNotFound)
		checkPending(t, s, ghost)
		checkStanzas(t, s, ghost)
		_, err = s.VCards().Get(ctx, ghost)
		wantErr(t, "VCards.Get", err, storage.ErrNotFound)
		_, err = s.Private().Get(ctx, ghost, "ns")
		wantErr(t, "Private.Get", err, storage.ErrNotFound)
		checkBlocked(t, s, ghost)
	}},
	{"Removals", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		wantErr(t, "Roster.RemovePending", s.Roster().RemovePending(ctx, ghost, alice), nil)
		wantErr(t, "Offline.Delete", s.Offline().Delete(ctx, ghost, 1<<40), nil)
		wantErr(t, "VCards.Put empty", s.VCards().Put(ctx, ghost, ""), nil)
		wantErr(t, "Blocklist.Remove", s.Blocklist().Remove(ctx, ghost, []string{alice}), nil)
		wantErr(t, "Blocklist.Remove all", s.Blocklist().Remove(ctx, ghost, nil), nil)
	}},
}

// userData is something of a user in every area.
type userData struct {
	user    string
	items   []storage.RosterItem
	pending []storage.PendingSubscription
	msgs    []string
	vcard   string
	private map[string]string
	blocked []string
}

func dataOf(user, other string) userData {
	return userData{
		user:    user,
		items:   []storage.RosterItem{item(other, "Friends"), item("c@example.com")},
		pending: []storage.PendingSubscription{pending(other, "hi"), pending("d@example.com", "")},
		msgs:    []string{msg(1), msg(2)},
		vcard:   `<vCard xmlns="vcard-temp"><FN>` + user + `</FN></vCard>`,
		private: map[string]string{"storage:bookmarks": `<storage xmlns="storage:bookmarks"/>`},
		blocked: []string{"spam.example", other},
	}
}

func (d userData) store(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := t.Context()
	create(t, s, d.user)
	for _, it := range d.items {
		put(t, s, d.user, it)
	}
	for _, p := range d.pending {
		wantErr(t, "AddPending", s.Roster().AddPending(ctx, d.user, p), nil)
	}
	for _, m := range d.msgs {
		push(t, s, d.user, m)
	}
	wantErr(t, "VCards.Put", s.VCards().Put(ctx, d.user, d.vcard), nil)
	for ns, x := range d.private {
		wantErr(t, "Private.Put", s.Private().Put(ctx, d.user, ns, x), nil)
	}
	wantErr(t, "Blocklist.Add", s.Blocklist().Add(ctx, d.user, d.blocked), nil)
	wantErr(t, "FastTokens.Put", s.FastTokens().Put(ctx, d.user, fastToken(d.user, storage.FastNew), 0), nil)
}

func (d userData) check(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Accounts().Get(ctx, d.user); err != nil {
		t.Fatalf("Accounts.Get(%q) = %v", d.user, err)
	}
	checkItems(t, s, d.user, d.items...)
	checkPending(t, s, d.user, d.pending...)
	checkStanzas(t, s, d.user, d.msgs...)
	if v, err := s.VCards().Get(ctx, d.user); err != nil || v != d.vcard {
		t.Fatalf("VCards.Get(%q) = %q, %v, want %q", d.user, v, err, d.vcard)
	}
	for ns, want := range d.private {
		if x, err := s.Private().Get(ctx, d.user, ns); err != nil || x != want {
			t.Fatalf("Private.Get(%q, %q) = %q, %v, want %q", d.user, ns, x, err, want)
		}
	}
	blocked := slices.Clone(d.blocked)
	sort.Strings(blocked)
	checkBlocked(t, s, d.user, blocked...)
	checkFast(t, s, d.user, []byte(d.user), fastToken(d.user, storage.FastNew))
}

// checkGone checks that user has nothing in any area.
func checkGone(t *testing.T, s storage.Store, user string, namespaces []string) {
	t.Helper()
	ctx := t.Context()
	_, err := s.Accounts().Get(ctx, user)
	wantErr(t, "Accounts.Get", err, storage.ErrNotFound)
	checkItems(t, s, user)
	checkPending(t, s, user)
	checkStanzas(t, s, user)
	_, err = s.VCards().Get(ctx, user)
	wantErr(t, "VCards.Get", err, storage.ErrNotFound)
	for _, ns := range namespaces {
		_, err = s.Private().Get(ctx, user, ns)
		wantErr(t, "Private.Get", err, storage.ErrNotFound)
	}
	checkBlocked(t, s, user)
	checkFast(t, s, user, []byte(user))
}

var deleteAccountTests = []subtest{
	{"ArchiveAndPush", archiveDeleteAccount},
	{"RemovesEverything", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		a, b := dataOf(alice, bob), dataOf(bob, alice)
		a.store(t, s)
		b.store(t, s)
		wantErr(t, "Accounts.Delete", s.Accounts().Delete(ctx, alice), nil)
		checkGone(t, s, alice, slices.Collect(maps.Keys(a.private)))
		// bob's data stays, including what names alice.
		b.check(t, s)
		// A new account of the same name starts empty.
		create(t, s, alice)
		_, err := s.Accounts().Get(ctx, alice)
		wantErr(t, "Accounts.Get", err, nil)
		checkItems(t, s, alice)
		checkPending(t, s, alice)
		checkStanzas(t, s, alice)
		_, err = s.VCards().Get(ctx, alice)
		wantErr(t, "VCards.Get", err, storage.ErrNotFound)
		checkBlocked(t, s, alice)
	}},
	{"RosterVersionAfterRecreate", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		v := put(t, s, alice, item(bob))
		wantErr(t, "Accounts.Delete", s.Accounts().Delete(ctx, alice), nil)
		create(t, s, alice)
		if v2 := put(t, s, alice, item(bob)); v2 <= 0 {
			t.Errorf("version %d after Put on a new account (was %d before Delete), want > 0", v2, v)
		}
	}},
}

var concurrencyTests = []subtest{
	{"Writers", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		const workers, each = 8, 10
		users := make([]string, workers)
		for i := range users {
			users[i] = fmt.Sprintf("user%d@example.org", i)
		}
		create(t, s, users...)
		var wg sync.WaitGroup
		errs := make(chan error, workers*each*2)
		for _, u := range users {
			wg.Go(func() {
				for j := range each {
					errs <- s.Offline().Push(ctx, u, msg(j), 0)
					_, err := s.Roster().Put(ctx, u, item(fmt.Sprintf("c%d@example.com", j)), 0)
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent write = %v", err)
			}
		}
		seen := map[int64]bool{}
		for _, u := range users {
			for _, m := range list(t, s, u) {
				if seen[m.ID] {
					t.Fatalf("offline ID %d given twice", m.ID)
				}
				seen[m.ID] = true
			}
			items, _, err := s.Roster().Items(ctx, u)
			wantErr(t, "Items", err, nil)
			if len(items) != each {
				t.Errorf("Items(%q) has %d items, want %d", u, len(items), each)
			}
		}
		if len(seen) != workers*each {
			t.Errorf("%d offline messages stored, want %d", len(seen), workers*each)
		}
	}},
	{"OfflineLimit", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		const workers, each, limit = 8, 5, 10
		create(t, s, alice)
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			ok, full int
		)
		for i := range workers {
			wg.Go(func() {
				for j := range each {
					err := s.Offline().Push(ctx, alice, msg(i*each+j), limit)
					mu.Lock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, storage.ErrQuota):
						full++
					default:
						t.Errorf("Push = %v", err)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ok != limit || full != workers*each-limit {
			t.Errorf("%d Pushes stored and %d refused, want %d and %d", ok, full, limit, workers*each-limit)
		}
		if n, err := s.Offline().Count(ctx, alice); err != nil || n != limit {
			t.Errorf("Count = %d, %v, want %d", n, err, limit)
		}
	}},
	{"RosterVersions", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		const workers = 8
		create(t, s, alice)
		versions := make([]int64, workers)
		var wg sync.WaitGroup
		for i := range workers {
			wg.Go(func() {
				v, err := s.Roster().Put(ctx, alice, item(fmt.Sprintf("c%d@example.com", i)), 0)
				if err != nil {
					t.Errorf("Put = %v", err)
				}
				versions[i] = v
			})
		}
		wg.Wait()
		final := checkItemsCount(t, s, alice, workers)
		slices.Sort(versions)
		if len(slices.Compact(slices.Clone(versions))) != workers {
			t.Errorf("concurrent Puts returned versions %v, want all different", versions)
		}
		if final != versions[workers-1] {
			t.Errorf("Items version %d, want the largest one returned, %d", final, versions[workers-1])
		}
	}},
}

func checkItemsCount(t *testing.T, s storage.Store, user string, n int) int64 {
	t.Helper()
	items, ver, err := s.Roster().Items(t.Context(), user)
	wantErr(t, "Items", err, nil)
	if len(items) != n {
		t.Fatalf("Items(%q) has %d items, want %d", user, len(items), n)
	}
	return ver
}
