package storagetest

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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

// benchStanza is a chat message of about 500 bytes.
const benchStanza = `<message from="juliet@example.com/balcony" to="romeo@example.net" type="chat" id="ktx72v49"><body>` +
	`Art thou not Romeo, and a Montague? Art thou not Romeo, and a Montague? Art thou not Romeo, and a Montague? ` +
	`Art thou not Romeo, and a Montague? Art thou not Romeo, and a Montague? Art thou not Romeo, and a Montague? ` +
	`Art thou not Romeo, and a Montague? Art thou not Romeo, and a Montague? Art thou not Romeo, and a Montague? ` +
	`</body><origin-id xmlns="urn:xmpp:sid:0" id="de305d54-75b4-431b-adb2-eb6b9e546013"/></message>`

// BenchArchiveAppend measures archiving one message of about 500 bytes
// from 16 goroutines per CPU at once, as many senders do: group commit
// shares the cost of a transaction among them.
func BenchArchiveAppend(b *testing.B, s storage.Store) {
	ctx := b.Context()
	const user = "romeo@example.net"
	if err := s.Accounts().Create(ctx, storage.Account{User: user, Keys: testKeys(1)}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchStanza)))
	b.SetParallelism(16)
	b.ResetTimer() // not the store's opening
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("id-%d", n.Add(1))
			if _, err := s.Archive().Append(ctx, user, storage.ArchivedMessage{ID: id, With: "juliet@example.com/balcony", Stanza: benchStanza}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchRoomArchiveEnqueue measures archiving one message of about 500
// bytes in one busy room, whose goroutine hands each message over and
// goes on, as the group chat service does; the time includes waiting
// for the last one to be durable.
func BenchRoomArchiveEnqueue(b *testing.B, s storage.Store) {
	ctx := b.Context()
	const room = "coven@conference.example.org"
	if err := s.Rooms().Put(ctx, storage.Room{JID: room, Config: "{}"}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchStanza)))
	var wg sync.WaitGroup
	b.ResetTimer() // not the store's opening
	for i := range b.N {
		wg.Add(1)
		m := storage.RoomMessage{ID: fmt.Sprint("id-", i), Nick: "juliet", Sender: "juliet@example.com", Stanza: benchStanza}
		s.RoomArchive().Enqueue(ctx, room, m, func(_ storage.RoomMessage, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
}

// FillArchive appends n messages of about 500 bytes to user's archive,
// with 256 appends under way at once, with two contacts in turn. IDs are
// "m<i>".
func FillArchive(tb testing.TB, s storage.Store, user string, n int) {
	ctx := tb.Context()
	const workers = 256
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				with := "juliet@example.com/balcony"
				if i%2 == 1 {
					with = "nurse@example.com/garden"
				}
				if _, err := s.Archive().Append(ctx, user, storage.ArchivedMessage{ID: fmt.Sprintf("m%d", i), With: with, Stanza: benchStanza}); err != nil {
					tb.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchArchiveQuery measures reading the last page of 50 messages of an
// archive of n messages, as a client that opens a conversation does.
func BenchArchiveQuery(b *testing.B, s storage.Store, n int) {
	ctx := b.Context()
	const user = "romeo@example.net"
	if err := s.Accounts().Create(ctx, storage.Account{User: user, Keys: testKeys(1)}); err != nil {
		b.Fatal(err)
	}
	FillArchive(b, s, user, n)
	for b.Loop() {
		p, err := s.Archive().Query(ctx, user, storage.ArchiveQuery{Max: 50, Backward: true})
		if err != nil || len(p.Messages) != 50 {
			b.Fatalf("Query = %d messages, %v", len(p.Messages), err)
		}
	}
}
