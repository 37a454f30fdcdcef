package storagetest

import (
	"bytes"
	"testing"
	"time"

	"samtal.org/samtal/internal/storage"
)

// fastToken returns a token of the client named client, in slot.
func fastToken(client, slot string) storage.FastToken {
	return storage.FastToken{
		Client:    []byte(client),
		Slot:      slot,
		Mechanism: "HT-SHA-256-NONE",
		Seed:      []byte("seed " + client + " " + slot),
		Expires:   time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC),
	}
}

func checkFast(t *testing.T, s storage.Store, user string, client []byte, want ...storage.FastToken) {
	t.Helper()
	got, err := s.FastTokens().List(t.Context(), user, client)
	if err != nil {
		t.Fatalf("FastTokens.List(%q, %q) = %v", user, client, err)
	}
	if len(got) != len(want) {
		t.Fatalf("FastTokens.List(%q, %q) = %d tokens, want %d", user, client, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !bytes.Equal(g.Client, w.Client) || g.Slot != w.Slot || g.Mechanism != w.Mechanism ||
			!bytes.Equal(g.Seed, w.Seed) || !g.Expires.Equal(w.Expires) || g.Count != w.Count {
			t.Errorf("FastTokens.List(%q, %q)[%d] = %+v, want %+v", user, client, i, g, w)
		}
	}
}

func use(t *testing.T, s storage.Store, user, client, slot string, count int64, want bool) {
	t.Helper()
	ok, err := s.FastTokens().Use(t.Context(), user, []byte(client), slot, count)
	if err != nil || ok != want {
		t.Fatalf("FastTokens.Use(%q, %q, %q, %d) = %v, %v, want %v", user, client, slot, count, ok, err, want)
	}
}

var fastTests = []subtest{
	{"PutList", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		cur, next := fastToken("phone", storage.FastCurrent), fastToken("phone", storage.FastNew)
		wantErr(t, "Put", s.FastTokens().Put(ctx, alice, cur, 0), nil)
		wantErr(t, "Put", s.FastTokens().Put(ctx, alice, next, 0), nil)
		// The new slot comes first.
		checkFast(t, s, alice, []byte("phone"), next, cur)
		checkFast(t, s, alice, []byte("laptop"))
		checkFast(t, s, bob, []byte("phone"))
		// A second token in a slot replaces the first.
		newer := next
		newer.Seed, newer.Mechanism = []byte("other"), "HT-SHA-256-EXPR"
		wantErr(t, "Put", s.FastTokens().Put(ctx, alice, newer, 0), nil)
		checkFast(t, s, alice, []byte("phone"), newer, cur)
	}},
	{"NoAccount", func(t *testing.T, s storage.Store) {
		wantErr(t, "Put", s.FastTokens().Put(t.Context(), ghost, fastToken("phone", storage.FastNew), 0), storage.ErrNotFound)
	}},
	{"UsePromotes", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		wantErr(t, "Put", s.FastTokens().Put(ctx, alice, fastToken("phone", storage.FastCurrent), 0), nil)
		wantErr(t, "Put", s.FastTokens().Put(ctx, alice, fastToken("phone", storage.FastNew), 0), nil)
		// Using the current token keeps the new one waiting.
		use(t, s, alice, "phone", storage.FastCurrent, 0, true)
		checkFast(t, s, alice, []byte("phone"), fastToken("phone", storage.FastNew), fastToken("phone", storage.FastCurrent))
		// Using the new one makes it current and drops the old one.
		use(t, s, alice, "phone", storage.FastNew, 0, true)
		promoted := fastToken("phone", storage.FastNew)
		promoted.Slot = storage.FastCurrent
		checkFast(t, s, alice, []byte("phone"), promoted)
		use(t, s, alice, "phone", storage.FastNew, 0, false)
		use(t, s, alice, "laptop", storage.FastCurrent, 0, false)
	}},
	{"UseCount", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		wantErr(t, "Put", s.FastTokens().Put(ctx, alice, fastToken("phone", storage.FastCurrent), 0), nil)
		use(t, s, alice, "phone", storage.FastCurrent, 3, true)
		use(t, s, alice, "phone", storage.FastCurrent, 3, false) // replayed
		use(t, s, alice, "phone", storage.FastCurrent, 2, false)
		use(t, s, alice, "phone", storage.FastCurrent, 4, true)
		use(t, s, alice, "phone", storage.FastCurrent, 0, true) // no counter: nothing to compare
		want := fastToken("phone", storage.FastCurrent)
		want.Count = 4
		checkFast(t, s, alice, []byte("phone"), want)
	}},
	{"Delete", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		for _, c := range []string{"phone", "laptop"} {
			for _, slot := range []string{storage.FastNew, storage.FastCurrent} {
				wantErr(t, "Put", s.FastTokens().Put(ctx, alice, fastToken(c, slot), 0), nil)
			}
		}
		wantErr(t, "Delete", s.FastTokens().Delete(ctx, alice, []byte("phone"), storage.FastNew), nil)
		checkFast(t, s, alice, []byte("phone"), fastToken("phone", storage.FastCurrent))
		wantErr(t, "Delete", s.FastTokens().Delete(ctx, alice, []byte("laptop"), ""), nil)
		checkFast(t, s, alice, []byte("laptop"))
		checkFast(t, s, alice, []byte("phone"), fastToken("phone", storage.FastCurrent))
	}},
	{"MaxClients", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		for i, c := range []string{"a", "b", "c"} {
			tok := fastToken(c, storage.FastCurrent)
			tok.Expires = tok.Expires.Add(time.Duration(i) * time.Hour)
			wantErr(t, "Put", s.FastTokens().Put(ctx, alice, tok, 2), nil)
		}
		// "a" expires first and goes.
		checkFast(t, s, alice, []byte("a"))
		for i, c := range []string{"b", "c"} {
			tok := fastToken(c, storage.FastCurrent)
			tok.Expires = tok.Expires.Add(time.Duration(i+1) * time.Hour)
			checkFast(t, s, alice, []byte(c), tok)
		}
	}},
	{"Expire", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		old := fastToken("phone", storage.FastCurrent)
		old.Expires = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		wantErr(t, "Put", s.FastTokens().Put(ctx, alice, old, 0), nil)
		wantErr(t, "Put", s.FastTokens().Put(ctx, alice, fastToken("phone", storage.FastNew), 0), nil)
		n, err := s.FastTokens().Expire(ctx, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil || n != 1 {
			t.Fatalf("Expire = %d, %v, want 1", n, err)
		}
		checkFast(t, s, alice, []byte("phone"), fastToken("phone", storage.FastNew))
	}},
}
