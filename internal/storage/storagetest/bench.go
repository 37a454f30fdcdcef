package storagetest

import (
	"fmt"
	"strings"
	"testing"

	"samtal.org/samtal/internal/storage"
)

// The benchmarks below measure the hot calls on an empty store s, so that
// every backend is measured on the same work. Run them with -benchmem.

// BenchOfflinePush measures storing one offline message of about 500
// bytes, spread over 100 users with a limit of 1000 messages each.
func BenchOfflinePush(b *testing.B, s storage.Store) {
	ctx := b.Context()
	users := make([]string, 100)
	for i := range users {
		users[i] = fmt.Sprintf("user%d@example.org", i)
		if err := s.Accounts().Create(ctx, storage.Account{User: users[i], Keys: testKeys(1)}); err != nil {
			b.Fatal(err)
		}
	}
	stanza := `<message from="juliet@example.com/balcony" to="romeo@example.net" type="chat" id="ktx72v49"><body>` +
		strings.Repeat("Art thou not Romeo, and a Montague? ", 11) + `</body></message>`
	b.SetBytes(int64(len(stanza)))
	i := 0
	for b.Loop() {
		if err := s.Offline().Push(ctx, users[i%len(users)], stanza, 1000); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchRosterItems measures reading a roster of n items, each in a group.
func BenchRosterItems(b *testing.B, s storage.Store, n int) {
	ctx := b.Context()
	const user = "romeo@example.net"
	if err := s.Accounts().Create(ctx, storage.Account{User: user, Keys: testKeys(1)}); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		it := storage.RosterItem{
			Contact:      fmt.Sprintf("contact%03d@example.com", i),
			Name:         fmt.Sprintf("Contact Number %d", i),
			Subscription: storage.SubBoth,
			Groups:       []string{fmt.Sprintf("Group %d", i%10)},
		}
		if _, err := s.Roster().Put(ctx, user, it, 0); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		items, _, err := s.Roster().Items(ctx, user)
		if err != nil || len(items) != n {
			b.Fatalf("Items = %d items, %v; want %d", len(items), err, n)
		}
	}
}

// BenchAccountsGet measures reading an account with SCRAM-SHA-1 and
// SCRAM-SHA-256 keys, as every login does.
func BenchAccountsGet(b *testing.B, s storage.Store) {
	ctx := b.Context()
	const user = "romeo@example.net"
	if err := s.Accounts().Create(ctx, storage.Account{User: user, Keys: testKeys(1)}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		a, err := s.Accounts().Get(ctx, user)
		if err != nil || len(a.Keys) != 2 {
			b.Fatalf("Get = %d keys, %v", len(a.Keys), err)
		}
	}
}
