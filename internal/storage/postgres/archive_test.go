package postgres

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/storagetest"
)

// TestArchiveQueryPlans checks, with EXPLAIN on a filled database, that
// the statements of archive and room archive queries walk an index in
// archive order: no sequential scan of the table, no sort of a user's or
// a room's messages.
func TestArchiveQueryPlans(t *testing.T) {
	ctx := t.Context()
	s := open(t, Options{})
	defer closeStore(t, s)
	// 40 users and 40 rooms of 500 messages each, then fresh statistics.
	for _, q := range []string{
		`INSERT INTO accounts (jid, domain, created) SELECT 'u' || i || '@example.org', 'example.org', now() FROM generate_series(1, 40) i`,
		`INSERT INTO archive (account, id, stored, with_bare, with_resource, stanza)
SELECT 'u' || (i % 40 + 1) || '@example.org', 'id' || i, now() + i * interval '1 ms', 'c' || (i / 40 % 3) || '@example.org', 'r', '<message/>'
FROM generate_series(1, 20000) i`,
		`INSERT INTO rooms (jid, service, config, subject, subject_nick, vcard, created)
SELECT 'room' || i || '@muc.example.org', 'muc.example.org', '{}', '', '', '', now() FROM generate_series(1, 40) i`,
		`INSERT INTO room_archive (room, id, stored, nick, sender, stanza)
SELECT 'room' || (i % 40 + 1) || '@muc.example.org', 'id' || i, now() + i * interval '1 ms', 'n' || (i % 5), 'u' || (i % 5) || '@example.org', '<message/>'
FROM generate_series(1, 20000) i`,
		`ANALYZE`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	user, room := "u7@example.org", "room7@muc.example.org"
	userConds := func(extra ...string) *conds {
		c := &conds{}
		c.add("account = ?", user)
		for _, e := range extra {
			c.add(e, "c3@example.org")
		}
		return c
	}
	roomConds := &conds{}
	roomConds.add("room = ?", room)
	const hi = int64(1) << 62
	type plan struct {
		name, index string // index: one of a list separated by |
		query       string
		args        []any
	}
	var cases []plan
	add := func(name, index, query string, args []any) {
		cases = append(cases, plan{name, index, query, args})
	}
	q, a := userArchiveTable.pageSQL(sqlArchiveColumns, userConds(), 0, hi, false, 51)
	add("archive page forward", "archive_pkey", q, a)
	q, a = userArchiveTable.pageSQL(sqlArchiveColumns, userConds(), 100, 15000, true, 51)
	add("archive page backward in a range", "archive_pkey", q, a)
	q, a = userArchiveTable.pageSQL(sqlArchiveColumns, userConds("with_bare = ?"), 0, hi, false, 51)
	add("archive page with a contact", "archive_with", q, a)
	q, a = userArchiveTable.countSQL(userConds(), 0, hi, 101)
	add("archive count", "archive_pkey|archive_account_id_key|archive_account_stored", q, a)
	// A time in the middle of the archives, as a query's Start or End.
	var now time.Time
	if err := s.pool.QueryRow(ctx, "SELECT stored FROM archive WHERE id = 'id10000'").Scan(&now); err != nil {
		t.Fatal(err)
	}
	add("archive start", "archive_account_stored", userArchiveTable.firstSQL(), []any{user, now})
	add("archive end", "archive_account_stored", userArchiveTable.lastSQL(), []any{user, now})
	add("archive id", "archive_account_id_key", "SELECT seq FROM archive WHERE account = $1 AND id = $2", []any{user, "id7"})
	add("archive expiry", "archive_stored", "DELETE FROM archive WHERE ctid = ANY (ARRAY (SELECT ctid FROM archive WHERE stored < $1 ORDER BY stored LIMIT $2))", []any{now, deleteBatch})
	add("archive deletion", "archive_pkey|archive_account_id_key|archive_account_stored|archive_with", "DELETE FROM archive WHERE ctid = ANY (ARRAY (SELECT ctid FROM archive WHERE account = $1 LIMIT $2))", []any{user, deleteBatch})
	q, a = roomArchiveTable.pageSQL(sqlRoomMessageColumns, roomConds, 0, hi, true, 21)
	add("room page backward", "room_archive_pkey", q, a)
	q, a = roomArchiveTable.countSQL(roomConds, 0, hi, 1001)
	add("room count", "room_archive_pkey|room_archive_room_id_key|room_archive_room_stored", q, a)
	add("room start", "room_archive_room_stored", roomArchiveTable.firstSQL(), []any{room, now})
	add("room last", "room_archive_pkey", "SELECT "+sqlRoomMessageColumns+" FROM room_archive WHERE room = $1 ORDER BY seq DESC LIMIT $2", []any{room, 20})
	add("room expiry", "room_archive_stored", "DELETE FROM room_archive WHERE ctid = ANY (ARRAY (SELECT ctid FROM room_archive WHERE stored < $1 ORDER BY stored LIMIT $2))", []any{now, deleteBatch})
	for _, tc := range cases {
		lines, err := s.strings(ctx, "EXPLAIN "+tc.query, tc.args...)
		if err != nil {
			t.Fatalf("%s: EXPLAIN %s: %v", tc.name, tc.query, err)
		}
		p := strings.Join(lines, "\n")
		walks := false
		for _, idx := range strings.Split(tc.index, "|") {
			walks = walks || strings.Contains(p, " using "+idx+" ") || strings.Contains(p, " on "+idx+" ")
		}
		if !walks || strings.Contains(p, "Seq Scan") || strings.Contains(p, "Sort ") {
			t.Errorf("%s: plan of %s:\n%s\nwant a walk of %s without a sequential scan or a sort", tc.name, tc.query, p, tc.index)
		}
	}
}

// TestArchiveClocks appends to one archive through two Stores whose
// clocks disagree by an hour, as two nodes whose clocks drifted: stored
// times still never go back in archive order, and a time still finds
// its place.
func TestArchiveClocks(t *testing.T) {
	ctx := t.Context()
	url := pg.Database(t)
	base := time.Now()
	var mu sync.Mutex
	tick := time.Duration(0)
	clock := func(offset time.Duration) func() time.Time {
		return func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			tick += time.Millisecond
			return base.Add(offset + tick)
		}
	}
	nodes := []*Store{openURL(t, url, Options{Clock: clock(0)}), openURL(t, url, Options{Clock: clock(-time.Hour)})}
	for _, n := range nodes {
		defer closeStore(t, n)
	}
	const user = "a@example.org"
	if err := nodes[0].Accounts().Create(ctx, storage.Account{User: user}); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].Rooms().Put(ctx, storage.Room{JID: "r@muc.example.org", Config: "{}"}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 15
	var wg sync.WaitGroup
	for w := range workers {
		n := nodes[w%2]
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				if _, err := n.Archive().Append(ctx, user, storage.ArchivedMessage{ID: id, With: "b@example.org", Stanza: "<message/>"}); err != nil {
					t.Errorf("Archive.Append = %v", err)
					return
				}
				if _, err := n.RoomArchive().Append(ctx, "r@muc.example.org", storage.RoomMessage{ID: id, Nick: "a", Sender: user, Stanza: "<message/>"}); err != nil {
					t.Errorf("RoomArchive.Append = %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	p, err := nodes[1].Archive().Query(ctx, user, storage.ArchiveQuery{Max: 100})
	if err != nil || len(p.Messages) != workers*each {
		t.Fatalf("Query = %d messages, %v, want %d", len(p.Messages), err, workers*each)
	}
	for i := 1; i < len(p.Messages); i++ {
		if p.Messages[i].Stored.Before(p.Messages[i-1].Stored) {
			t.Fatalf("archive message %d stored at %v, before message %d at %v", i, p.Messages[i].Stored, i-1, p.Messages[i-1].Stored)
		}
	}
	// Every message from the middle one's time on: Start finds its place.
	mid := p.Messages[len(p.Messages)/2]
	var want int
	for _, m := range p.Messages {
		if !m.Stored.Before(mid.Stored) {
			want++
		}
	}
	if q, err := nodes[0].Archive().Query(ctx, user, storage.ArchiveQuery{Start: mid.Stored, Max: 100}); err != nil || len(q.Messages) != want {
		t.Errorf("Query from %v = %d messages, %v, want %d", mid.Stored, len(q.Messages), err, want)
	}
	r, err := nodes[0].RoomArchive().Query(ctx, "r@muc.example.org", storage.RoomArchiveQuery{Max: 100})
	if err != nil || len(r.Messages) != workers*each {
		t.Fatalf("room Query = %d messages, %v, want %d", len(r.Messages), err, workers*each)
	}
	for i := 1; i < len(r.Messages); i++ {
		if r.Messages[i].Stored.Before(r.Messages[i-1].Stored) {
			t.Fatalf("room message %d stored at %v, before message %d at %v", i, r.Messages[i].Stored, i-1, r.Messages[i-1].Stored)
		}
	}
}

// BenchmarkArchiveAppend measures appends to one archive from many
// goroutines: they queue at the account's lock, one commit each.
func BenchmarkArchiveAppend(b *testing.B) { storagetest.BenchArchiveAppend(b, benchStore(b)) }

// BenchmarkArchiveQuery measures the last page of 50 of an archive of
// 100,000 messages among 1,000,000 of 10 users, written with SQL (through
// Append, the filling would take minutes).
func BenchmarkArchiveQuery(b *testing.B) {
	ctx := b.Context()
	s := benchStore(b)
	const user = "u3@example.org"
	for _, q := range []string{
		`INSERT INTO accounts (jid, domain, created) SELECT 'u' || i || '@example.org', 'example.org', now() FROM generate_series(0, 9) i`,
		`INSERT INTO archive (account, id, stored, with_bare, with_resource, stanza)
SELECT 'u' || (i % 10) || '@example.org', 'm' || i, now() + i * interval '1 ms', 'juliet@example.com', 'balcony', repeat('x', 500)
FROM generate_series(1, 1000000) i`,
		`ANALYZE archive`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		p, err := s.Archive().Query(ctx, user, storage.ArchiveQuery{Max: 50, Backward: true})
		if err != nil || len(p.Messages) != 50 {
			b.Fatalf("Query = %d messages, %v", len(p.Messages), err)
		}
	}
}
