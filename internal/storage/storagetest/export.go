package storagetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"samtal.org/samtal/internal/storage"
)

// exportTests check the export interfaces of package storage, which a
// backend implements so that a whole store can be copied.
var exportTests = []subtest{
	{"Users", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		l, ok := s.Accounts().(storage.AccountLister)
		if !ok {
			t.Fatal("Accounts does not implement storage.AccountLister")
		}
		if got, err := l.Users(ctx, "", 10); err != nil || len(got) != 0 {
			t.Fatalf("Users of an empty store = %q, %v", got, err)
		}
		users := []string{"zoe@x.example", "émile@x.example", "bob@y.example", "adam@x.example", "y.example"}
		create(t, s, users...)
		want := slices.Clone(users)
		slices.Sort(want) // byte order
		var got []string
		for after := ""; ; {
			page, err := l.Users(ctx, after, 2)
			wantErr(t, "Users", err, nil)
			if len(page) > 2 {
				t.Fatalf("Users(%q, 2) = %q: more than 2", after, page)
			}
			got = append(got, page...)
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1]
		}
		if !slices.Equal(got, want) {
			t.Errorf("Users page by page = %q, want %q", got, want)
		}
	}},
	{"RosterVersion", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		imp, ok := s.Roster().(storage.RosterImporter)
		if !ok {
			t.Fatal("Roster does not implement storage.RosterImporter")
		}
		create(t, s, alice)
		put(t, s, alice, item(bob))
		wantErr(t, "SetVersion", imp.SetVersion(ctx, alice, 41), nil)
		if v := checkItems(t, s, alice, item(bob)); v != 41 {
			t.Errorf("version %d after SetVersion(41), want 41", v)
		}
		if v := put(t, s, alice, item("c@example.com")); v != 42 {
			t.Errorf("Put after SetVersion(41) = version %d, want 42", v)
		}
		wantErr(t, "SetVersion of a missing user", imp.SetVersion(ctx, ghost, 1), storage.ErrNotFound)
	}},
	{"OfflineImport", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		imp, ok := s.Offline().(storage.OfflineImporter)
		if !ok {
			t.Fatal("Offline does not implement storage.OfflineImporter")
		}
		create(t, s, alice)
		push(t, s, alice, msg(0))
		old := time.Date(2020, 2, 3, 4, 5, 6, 789000, time.FixedZone("x", -3600))
		wantErr(t, "Import", imp.Import(ctx, alice, storage.OfflineMessage{ID: 1, Stored: old, Stanza: msg(1)}), nil)
		msgs := checkStanzas(t, s, alice, msg(0), msg(1))
		if !msgs[1].Stored.Equal(old) || msgs[1].Stored.Location() != time.UTC || msgs[1].ID <= msgs[0].ID {
			t.Errorf("imported message = %+v, want stored %v in UTC after %d", msgs[1], old, msgs[0].ID)
		}
		err := imp.Import(ctx, ghost, storage.OfflineMessage{Stored: old, Stanza: msg(1)})
		wantErr(t, "Import for a missing user", err, storage.ErrNotFound)
	}},
	{"PrivateNamespaces", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		l := s.Private()
		create(t, s, alice, bob)
		for _, ns := range []string{"urn:b", "urn:a", "émile", "zoe"} {
			wantErr(t, "Private.Put", s.Private().Put(ctx, alice, ns, "<x/>"), nil)
		}
		wantErr(t, "Private.Put", s.Private().Put(ctx, bob, "urn:c", "<x/>"), nil)
		got, err := l.Namespaces(ctx, alice)
		if want := []string{"urn:a", "urn:b", "zoe", "émile"}; err != nil || !slices.Equal(got, want) {
			t.Errorf("Namespaces = %q, %v, want %q", got, err, want)
		}
		if got, err := l.Namespaces(ctx, ghost); err != nil || len(got) != 0 {
			t.Errorf("Namespaces of a missing user = %q, %v", got, err)
		}
	}},
	{"InvitesAll", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		l, ok := s.Invites().(storage.InviteLister)
		if !ok {
			t.Fatal("Invites does not implement storage.InviteLister")
		}
		if got, err := l.All(ctx); err != nil || len(got) != 0 {
			t.Fatalf("All of an empty store = %v, %v", got, err)
		}
		exp := time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)
		wantErr(t, "Add", s.Invites().Add(ctx, inviteHash(2), "b.example", exp.Add(time.Hour)), nil)
		wantErr(t, "Add", s.Invites().Add(ctx, inviteHash(1), "a.example", exp), nil)
		got, err := l.All(ctx)
		wantErr(t, "All", err, nil)
		if len(got) != 2 || !bytes.Equal(got[0].Hash, inviteHash(1)) || got[0].Host != "a.example" || !got[0].Expires.Equal(exp) ||
			got[0].Expires.Location() != time.UTC || !bytes.Equal(got[1].Hash, inviteHash(2)) {
			t.Errorf("All = %+v, want both invitations sorted by hash, the expired one too", got)
		}
	}},
	{"FastAll", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		l, ok := s.FastTokens().(storage.FastTokenLister)
		if !ok {
			t.Fatal("FastTokens does not implement storage.FastTokenLister")
		}
		create(t, s, alice, bob)
		var want []storage.FastToken
		for _, c := range []string{"phone", "laptop"} {
			for _, slot := range []string{storage.FastCurrent, storage.FastNew} {
				tok := fastToken(c, slot)
				tok.Count = int64(len(c))
				wantErr(t, "Put", s.FastTokens().Put(ctx, alice, tok, 0), nil)
			}
		}
		wantErr(t, "Put", s.FastTokens().Put(ctx, bob, fastToken("tablet", storage.FastNew), 0), nil)
		for _, c := range []string{"laptop", "phone"} {
			toks, err := s.FastTokens().List(ctx, alice, []byte(c))
			wantErr(t, "List", err, nil)
			want = append(want, toks...)
		}
		got, err := l.All(ctx, alice)
		wantErr(t, "All", err, nil)
		if len(got) != len(want) {
			t.Fatalf("All = %d tokens, want %d", len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if !bytes.Equal(g.Client, w.Client) || g.Slot != w.Slot || g.Mechanism != w.Mechanism ||
				!bytes.Equal(g.Seed, w.Seed) || !g.Expires.Equal(w.Expires) || g.Expires.Location() != time.UTC || g.Count != w.Count {
				t.Errorf("All[%d] = %+v, want %+v", i, g, w)
			}
		}
		if got, err := l.All(ctx, ghost); err != nil || len(got) != 0 {
			t.Errorf("All of a missing user = %v, %v", got, err)
		}
	}},
	{"ArchiveImport", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		imp, ok := s.Archive().(storage.ArchiveImporter)
		if !ok {
			t.Fatal("Archive does not implement storage.ArchiveImporter")
		}
		create(t, s, alice, bob)
		live := archived(t, s, alice, 1)
		t0 := live[0].Stored
		// Times after the last one are kept; an earlier one (a clock that
		// went back in the source) is raised to the one before it.
		msgs := []storage.ArchivedMessage{
			{ID: "i1", With: bob + "/phone", Stanza: msg(1), Stored: t0.Add(time.Hour)},
			{ID: "i2", With: "carol@example.com", Stanza: msg(2), Stored: t0.Add(2 * time.Hour)},
			{ID: "i3", With: bob, Stanza: msg(3), Stored: t0.Add(90 * time.Minute)},
			{ID: "i4", With: bob, Stanza: msg(4), Stored: t0.Add(3 * time.Hour)},
		}
		wantErr(t, "Import", imp.Import(ctx, alice, msgs), nil)
		want := append(live, msgs...)
		want[3].Stored = want[2].Stored
		checkPage(t, "after Import", query(t, s, alice, storage.ArchiveQuery{Max: 10}), want, true, 5, 0)
		checkPage(t, "start at an imported time", query(t, s, alice, storage.ArchiveQuery{Start: t0.Add(2 * time.Hour), Max: 10}), want[2:], true, 3, 0)
		// An earlier time in another archive is kept: times only
		// follow the order within one archive.
		early := []storage.ArchivedMessage{{ID: "b1", With: alice, Stanza: msg(5), Stored: t0.Add(-time.Hour)}}
		wantErr(t, "Import into another archive", imp.Import(ctx, bob, early), nil)
		checkPage(t, "bob's archive", query(t, s, bob, storage.ArchiveQuery{Max: 10}), early, true, 1, 0)
		// The imported times are in the future: the next message is
		// stored at the last of them, not before.
		more, err := s.Archive().Append(ctx, alice, storage.ArchivedMessage{ID: "next", With: bob, Stanza: msg(6)})
		wantErr(t, "Append after Import", err, nil)
		if more.Stored.Before(want[4].Stored) {
			t.Errorf("Append after Import stored at %v, before the last imported time %v", more.Stored, want[4].Stored)
		}
		err = imp.Import(ctx, alice, []storage.ArchivedMessage{{ID: "i1", With: bob, Stanza: msg(1), Stored: t0}})
		wantErr(t, "Import of a taken ID", err, storage.ErrExists)
		err = imp.Import(ctx, ghost, early)
		wantErr(t, "Import for a missing user", err, storage.ErrNotFound)
		wantErr(t, "Import of nothing", imp.Import(ctx, alice, nil), nil)
	}},
	{"RoomsAll", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		l, ok := s.Rooms().(storage.RoomLister)
		if !ok {
			t.Fatal("Rooms does not implement storage.RoomLister")
		}
		if got, err := l.All(ctx, "", 10); err != nil || len(got) != 0 {
			t.Fatalf("All of an empty store = %v, %v", got, err)
		}
		jids := []string{"zoe@muc.x.example", "émile@muc.x.example", "a@rooms.y.example", "b@muc.x.example"}
		for _, j := range jids {
			putRoom(t, s, j)
		}
		want := slices.Clone(jids)
		slices.Sort(want)
		var got []string
		for after := ""; ; {
			page, err := l.All(ctx, after, 3)
			wantErr(t, "All", err, nil)
			for _, r := range page {
				got = append(got, r.JID)
				if r.Config == "" || r.Created.IsZero() {
					t.Errorf("All returned %+v, without its state", r)
				}
			}
			if len(page) < 3 {
				break
			}
			after = page[len(page)-1].JID
		}
		if !slices.Equal(got, want) {
			t.Errorf("All page by page = %q, want %q", got, want)
		}
	}},
	{"PubsubServices", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		l, ok := s.PubsubServices().(storage.PubsubServiceLister)
		if !ok {
			t.Fatal("PubsubServices does not implement storage.PubsubServiceLister")
		}
		if got, err := l.Services(ctx, "", 10); err != nil || len(got) != 0 {
			t.Fatalf("Services of an empty store = %v, %v", got, err)
		}
		svcs := []string{"pubsub.y.example", "émile.x.example", "pubsub.x.example", "news.x.example"}
		for _, svc := range svcs {
			// Two nodes each: a service is listed once.
			createSvcNode(t, s, svc, "a", "")
			createSvcNode(t, s, svc, "b", "")
		}
		// A user's own nodes are not a service's.
		create(t, s, alice)
		createNode(t, s, alice, "a", "")
		// A service whose last node went is no longer listed.
		createSvcNode(t, s, "gone.x.example", "a", "")
		wantErr(t, "DeleteNode", s.PubsubServices().DeleteNode(ctx, "gone.x.example", "a"), nil)
		want := slices.Clone(svcs)
		slices.Sort(want)
		var got []string
		for after := ""; ; {
			page, err := l.Services(ctx, after, 3)
			wantErr(t, "Services", err, nil)
			got = append(got, page...)
			if len(page) < 3 {
				break
			}
			after = page[len(page)-1]
		}
		if !slices.Equal(got, want) {
			t.Errorf("Services page by page = %q, want %q", got, want)
		}
	}},
	{"RoomArchiveImport", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		imp, ok := s.RoomArchive().(storage.RoomArchiveImporter)
		if !ok {
			t.Fatal("RoomArchive does not implement storage.RoomArchiveImporter")
		}
		const room, other = "r@muc.example.com", "o@muc.example.com"
		putRoom(t, s, room)
		putRoom(t, s, other)
		t0 := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)
		msgs := []storage.RoomMessage{
			{ID: "m1", Nick: "a", Sender: alice, Stanza: msg(1), Stored: t0},
			{ID: "m2", Nick: "b", Sender: bob, Stanza: msg(2), Stored: t0.Add(-time.Minute)},
			{ID: "m3", Nick: "a", Sender: alice, Stanza: msg(3), Stored: t0.Add(time.Minute)},
		}
		wantErr(t, "Import", imp.Import(ctx, room, msgs), nil)
		want := slices.Clone(msgs)
		want[1].Stored = t0
		p, err := s.RoomArchive().Query(ctx, room, storage.RoomArchiveQuery{Max: 10})
		wantErr(t, "Query", err, nil)
		if len(p.Messages) != len(want) {
			t.Fatalf("Query after Import = %+v, want %+v", p.Messages, want)
		}
		for i, m := range p.Messages {
			if m.ID != want[i].ID || m.Nick != want[i].Nick || m.Sender != want[i].Sender || m.Stanza != want[i].Stanza || !m.Stored.Equal(want[i].Stored) {
				t.Errorf("message %d = %+v, want %+v", i, m, want[i])
			}
		}
		// The other room's archive keeps its own, earlier, times.
		early := []storage.RoomMessage{{ID: "e", Nick: "c", Sender: bob, Stanza: msg(4), Stored: t0.Add(-time.Hour)}}
		wantErr(t, "Import into another room", imp.Import(ctx, other, early), nil)
		if got, err := s.RoomArchive().Get(ctx, other, "e"); err != nil || !got.Stored.Equal(early[0].Stored) {
			t.Errorf("Get = %+v, %v, want the time kept", got, err)
		}
		wantErr(t, "Import of a taken ID", imp.Import(ctx, room, msgs[:1]), storage.ErrExists)
		wantErr(t, "Import into a missing room", imp.Import(ctx, "none@muc.example.com", early), storage.ErrNotFound)
	}},
}
