package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/storagetest"
)

// settableClock returns a clock for Options.Clock that reads start until
// set moves it, either way.
func settableClock(start time.Time) (clock func() time.Time, set func(time.Time)) {
	var mu sync.Mutex
	now := start
	clock = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set = func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	return clock, set
}

// TestArchiveClockBackwards checks that Stored never decreases in archive
// order when the clock jumps back, also across a reopening.
func TestArchiveClockBackwards(t *testing.T) {
	ctx := t.Context()
	clock, set := settableClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "samtal.db")
	s := open(t, path, Options{Clock: clock})
	if err := s.Accounts().Create(ctx, storage.Account{User: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	appendAt := func(s *Store, id string) storage.ArchivedMessage {
		m, err := s.Archive().Append(ctx, "a@example.org", storage.ArchivedMessage{ID: id, With: "b@example.org", Stanza: "<message/>"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := appendAt(s, "1")
	set(clock().Add(-time.Hour))
	second := appendAt(s, "2")
	if !second.Stored.Equal(first.Stored) {
		t.Errorf("Stored after the clock went back = %v, want %v (no earlier than the one before)", second.Stored, first.Stored)
	}
	closeStore(t, s)
	s = open(t, path, Options{Clock: clock})
	defer closeStore(t, s)
	third := appendAt(s, "3")
	if third.Stored.Before(first.Stored) {
		t.Errorf("Stored after reopening = %v, before %v", third.Stored, first.Stored)
	}
	set(first.Stored.Add(time.Minute))
	if fourth := appendAt(s, "4"); !fourth.Stored.Equal(first.Stored.Add(time.Minute)) {
		t.Errorf("Stored once the clock caught up = %v, want %v", fourth.Stored, first.Stored.Add(time.Minute))
	}
}

// TestArchiveGroupCommit checks that concurrent appends share
// transactions.
func TestArchiveGroupCommit(t *testing.T) {
	ctx := t.Context()
	s := open(t, "", Options{})
	defer closeStore(t, s)
	if err := s.Accounts().Create(ctx, storage.Account{User: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	before := s.archiveCommits.Load()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.Archive().Append(ctx, "a@example.org", storage.ArchivedMessage{ID: fmt.Sprint(i), With: "b@example.org", Stanza: "<message/>"})
			if err != nil {
				t.Errorf("Append = %v", err)
			}
		})
	}
	// A failing append does not fail its batch.
	wg.Go(func() {
		_, err := s.Archive().Append(ctx, "nobody@example.org", storage.ArchivedMessage{ID: "x", With: "b@example.org", Stanza: "<message/>"})
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Append for no account = %v, want ErrNotFound", err)
		}
	})
	wg.Wait()
	commits := s.archiveCommits.Load() - before
	t.Logf("%d appends in %d transactions", n+1, commits)
	if commits >= n {
		t.Errorf("%d concurrent appends took %d transactions, want fewer", n, commits)
	}
	p, err := s.Archive().Query(ctx, "a@example.org", storage.ArchiveQuery{Max: n + 1})
	if err != nil || len(p.Messages) != n {
		t.Errorf("Query = %d messages, %v, want %d", len(p.Messages), err, n)
	}
}

// TestRoomArchiveClockBackwards checks that Stored never decreases in a
// room's archive when the clock jumps back, nor after an import of
// messages stored later than the clock says.
func TestRoomArchiveClockBackwards(t *testing.T) {
	ctx := t.Context()
	clock, set := settableClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s := open(t, "", Options{Clock: clock})
	defer closeStore(t, s)
	const room = "coven@conference.example.org"
	if err := s.Rooms().Put(ctx, storage.Room{JID: room, Config: "{}"}); err != nil {
		t.Fatal(err)
	}
	appendAt := func(id string) storage.RoomMessage {
		m, err := s.RoomArchive().Append(ctx, room, storage.RoomMessage{ID: id, Stanza: "<message/>"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := appendAt("1")
	set(clock().Add(-time.Hour))
	if second := appendAt("2"); !second.Stored.Equal(first.Stored) {
		t.Errorf("Stored after the clock went back = %v, want %v (no earlier than the one before)", second.Stored, first.Stored)
	}
	later := first.Stored.Add(time.Hour)
	imp := s.RoomArchive().(storage.RoomArchiveImporter)
	if err := imp.Import(ctx, room, []storage.RoomMessage{{ID: "imported", Stored: later, Stanza: "<message/>"}}); err != nil {
		t.Fatal(err)
	}
	if third := appendAt("3"); !third.Stored.Equal(later) {
		t.Errorf("Stored after an import = %v, want %v (no earlier than the imported one)", third.Stored, later)
	}
}

// TestRoomArchiveGroupCommit checks that rooms' messages share the
// transactions of the archive writer with users' messages.
func TestRoomArchiveGroupCommit(t *testing.T) {
	ctx := t.Context()
	s := open(t, "", Options{})
	defer closeStore(t, s)
	const room = "coven@conference.example.org"
	if err := s.Rooms().Put(ctx, storage.Room{JID: room, Config: "{}"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Accounts().Create(ctx, storage.Account{User: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	before := s.archiveCommits.Load()
	var wg sync.WaitGroup
	wg.Add(2 * n)
	for i := range n {
		s.RoomArchive().Enqueue(ctx, room, storage.RoomMessage{ID: fmt.Sprint(i), Stanza: "<message/>"},
			func(_ storage.RoomMessage, err error) {
				defer wg.Done()
				if err != nil {
					t.Errorf("room Enqueue = %v", err)
				}
			})
		s.Archive().Enqueue(ctx, "a@example.org", storage.ArchivedMessage{ID: fmt.Sprint(i), With: "b@example.org", Stanza: "<message/>"},
			func(_ storage.ArchivedMessage, err error) {
				defer wg.Done()
				if err != nil {
					t.Errorf("Enqueue = %v", err)
				}
			})
	}
	wg.Wait()
	commits := s.archiveCommits.Load() - before
	t.Logf("%d messages in %d transactions", 2*n, commits)
	if commits >= n {
		t.Errorf("%d messages for a room and a user took %d transactions, want fewer than %d", 2*n, commits, n)
	}
}

// TestRoomArchiveClose checks that Close writes the rooms' messages
// queued before it, and that later ones fail.
func TestRoomArchiveClose(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "samtal.db")
	s := open(t, path, Options{})
	const room = "coven@conference.example.org"
	if err := s.Rooms().Put(ctx, storage.Room{JID: room, Config: "{}"}); err != nil {
		t.Fatal(err)
	}
	const n = 500
	var failed atomic.Int64
	for i := range n {
		s.RoomArchive().Enqueue(ctx, room, storage.RoomMessage{ID: fmt.Sprint(i), Stanza: "<message/>"},
			func(_ storage.RoomMessage, err error) {
				if err != nil {
					failed.Add(1)
				}
			})
	}
	closeStore(t, s)
	if f := failed.Load(); f != 0 {
		t.Errorf("%d of %d messages queued before Close failed", f, n)
	}
	var afterClose error
	s.RoomArchive().Enqueue(ctx, room, storage.RoomMessage{ID: "late", Stanza: "<message/>"},
		func(_ storage.RoomMessage, err error) { afterClose = err })
	if !errors.Is(afterClose, errClosed) {
		t.Errorf("Enqueue after Close = %v, want errClosed", afterClose)
	}
	s = open(t, path, Options{})
	defer closeStore(t, s)
	if p, err := s.RoomArchive().Query(ctx, room, storage.RoomArchiveQuery{Max: 0}); err != nil || p.Count != n {
		t.Errorf("messages after reopening = %d, %v, want %d", p.Count, err, n)
	}
}

func TestArchiveAfterClose(t *testing.T) {
	s := open(t, "", Options{})
	closeStore(t, s)
	_, err := s.Archive().Append(t.Context(), "a@example.org", storage.ArchivedMessage{ID: "x"})
	if !errors.Is(err, errClosed) {
		t.Errorf("Append after Close = %v, want errClosed", err)
	}
}

// TestArchiveQueryPlans checks that page queries walk an index in archive
// order instead of scanning or sorting the archive.
func TestArchiveQueryPlans(t *testing.T) {
	s := open(t, "", Options{})
	defer closeStore(t, s)
	const user, with = "a@example.org", "b@example.org"
	for _, tc := range []struct {
		query, index string
		args         []any
	}{
		{"SELECT seq FROM archive WHERE account = ? AND seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?", "archive_account", []any{user, 0, 1 << 62, 50}},
		{"SELECT seq FROM archive WHERE account = ? AND seq > ? AND seq < ? AND with_bare = ? ORDER BY seq LIMIT ?", "archive_with", []any{user, 0, 1 << 62, with, 50}},
		{"SELECT seq FROM archive WHERE account = ? AND stored >= ? ORDER BY stored, seq LIMIT 1", "archive_account_stored", []any{user, 0}},
		{"SELECT seq FROM archive WHERE account = ? AND stored <= ? ORDER BY stored DESC, seq DESC LIMIT 1", "archive_account_stored", []any{user, 0}},
		{"SELECT seq FROM archive WHERE stored < ? ORDER BY stored, seq LIMIT ?", "archive_stored", []any{0, 50}},
	} {
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "; ")
		if !strings.Contains(all, tc.index) || strings.Contains(all, "TEMP B-TREE") {
			t.Errorf("plan of %q = %s, want a walk of %s without sorting", tc.query, all, tc.index)
		}
	}
}

// TestArchiveDeletedGone checks that an emptied archive does not linger
// in the database file.
func TestArchiveDeletedGone(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "samtal.db")
	s := open(t, path, Options{})
	const secret = "ARCHIVED-SECRET-MESSAGE"
	if err := s.Accounts().Create(ctx, storage.Account{User: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := s.Archive().Append(ctx, "a@example.org", storage.ArchivedMessage{
			ID: fmt.Sprint(i), With: "b@example.org", Stanza: "<message><body>" + secret + strings.Repeat(".", 500) + "</body></message>",
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Archive().DeleteAll(ctx, "a@example.org"); err != nil || n != 50 {
		t.Fatalf("DeleteAll = %d, %v", n, err)
	}
	closeStore(t, s)
	for _, name := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s still holds the archived message after DeleteAll", filepath.Base(name))
		}
	}
}

func BenchmarkArchiveAppend(b *testing.B) { storagetest.BenchArchiveAppend(b, benchStore(b)) }

func BenchmarkRoomArchiveEnqueue(b *testing.B) {
	storagetest.BenchRoomArchiveEnqueue(b, benchStore(b))
}

// BenchmarkArchiveQuery measures a page of 50 of an archive of a million
// messages. Building the archive takes about a minute; -short uses
// 100,000 messages.
func BenchmarkArchiveQuery(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	storagetest.BenchArchiveQuery(b, benchStore(b), n)
}

// TestArchiveQueryEveryReaderBusy checks that archive queries go on when
// every connection of the read pool is inside a query: a query whose
// text is new must not wait for another connection to prepare it, which
// no query holding one would ever give back.
func TestArchiveQueryEveryReaderBusy(t *testing.T) {
	const readers = 2
	s := open(t, filepath.Join(t.TempDir(), "samtal.db"), Options{ReadConns: readers})
	ctx := t.Context()
	if err := s.Accounts().Create(ctx, storage.Account{User: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := s.Archive().Append(ctx, "a@example.org", storage.ArchivedMessage{
			ID: fmt.Sprint("m", i), With: "b@example.org", Stanza: "<message/>"}); err != nil {
			t.Fatal(err)
		}
	}
	// Each round uses texts no earlier round used (another With, another
	// page size shape), with more queries at once than connections.
	queries := []storage.ArchiveQuery{
		{Max: 5},
		{Max: 5, With: "b@example.org"},
		{Max: 5, After: "m3"},
		{Max: 5, Before: "m10", Backward: true},
		{Max: 5, AfterID: "m1", BeforeID: "m15"},
		{Max: 5, IDs: []string{"m1", "m2"}},
	}
	done := make(chan error, len(queries)*readers*2)
	for _, q := range queries {
		for range readers * 2 {
			go func() {
				_, err := s.Archive().Query(ctx, "a@example.org", q)
				done <- err
			}()
		}
	}
	timeout := time.After(30 * time.Second)
	for range len(queries) * readers * 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("archive queries still wait after 30 s: the read pool is deadlocked")
		}
	}
}
