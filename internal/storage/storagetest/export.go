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
		l, ok := s.Private().(storage.PrivateLister)
		if !ok {
			t.Fatal("Private does not implement storage.PrivateLister")
		}
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
}
