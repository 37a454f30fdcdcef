package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/storagetest"
)

// open opens a store on a new file in a temporary directory; the test
// closes it.
func open(t testing.TB, path string, opt Options) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "samtal.db")
	}
	s, err := Open(context.Background(), path, opt)
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	return s
}

func closeStore(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return open(t, "", Options{})
	})
}

// TestTwoStores opens a second Store on the file of a first one, as
// `samtal user add` does in another process while the server runs, and
// creates an account while the first store writes.
func TestTwoStores(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "data", "samtal.db")
	server := open(t, path, Options{})
	if err := server.Accounts().Create(ctx, storage.Account{User: "alice@example.org"}); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var (
		wg     sync.WaitGroup
		pushed int
	)
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := server.Offline().Push(ctx, "alice@example.org", "<message/>", 0); err != nil {
				t.Errorf("Push while another store writes = %v", err)
				return
			}
			if _, err := server.Roster().Put(ctx, "alice@example.org", storage.RosterItem{
				Contact: fmt.Sprintf("c%d@example.com", pushed), Subscription: storage.SubNone,
			}, 0); err != nil {
				t.Errorf("Roster.Put while another store writes = %v", err)
				return
			}
			pushed++
		}
	})

	// SQLite's lock waits poll: behind a writer that never pauses, as
	// this one, the first write of the other process can wait seconds.
	// `samtal user add` uses a long BusyTimeout for that.
	admin := open(t, path, Options{BusyTimeout: time.Minute})
	for i := range 5 {
		user := fmt.Sprintf("new%d@example.org", i)
		if err := admin.Accounts().Create(ctx, storage.Account{User: user}); err != nil {
			t.Errorf("Create(%q) from a second store = %v", user, err)
		}
	}
	closeStore(t, admin)
	// The server sees the new accounts at once.
	if _, err := server.Accounts().Get(ctx, "new4@example.org"); err != nil {
		t.Errorf("Get of an account the other store created = %v", err)
	}
	close(stop)
	wg.Wait()
	closeStore(t, server)

	s := open(t, path, Options{})
	defer closeStore(t, s)
	users, err := s.Accounts().List(ctx, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alice@example.org", "new0@example.org", "new1@example.org", "new2@example.org", "new3@example.org", "new4@example.org"}
	if !slices.Equal(users, want) {
		t.Errorf("List after reopening = %q, want %q", users, want)
	}
	if n, err := s.Offline().Count(ctx, "alice@example.org"); err != nil || n != pushed {
		t.Errorf("Count after reopening = %d, %v, want %d", n, err, pushed)
	}
	items, ver, err := s.Roster().Items(ctx, "alice@example.org")
	if err != nil || len(items) != pushed || ver != int64(pushed) {
		t.Errorf("Items after reopening = %d items version %d, %v, want %d and %d", len(items), ver, err, pushed, pushed)
	}
}

func TestSchemaNewer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samtal.db")
	closeStore(t, open(t, path, Options{}))
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO schema_version (version, name, applied) VALUES (9999, 'future', 0)"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a database from a newer samtal succeeded")
	}
	if !errors.Is(err, ErrSchemaNewer) || !strings.Contains(err.Error(), "9999") {
		t.Errorf("Open = %v, want ErrSchemaNewer naming version 9999", err)
	}
}

func TestMigrationsOnce(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "samtal.db")
	closeStore(t, open(t, path, Options{}))
	s := open(t, path, Options{}) // nothing left to apply
	defer closeStore(t, s)
	var n, v int
	if err := s.r.QueryRow("SELECT count(*), max(version) FROM schema_version").Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || v != ms[len(ms)-1].Version {
		t.Errorf("schema_version has %d rows up to %d, want %d up to %d", n, v, len(ms), ms[len(ms)-1].Version)
	}
}

// TestSchemaCascade checks that Accounts.Delete removes every user's
// rows (see storagetest.SchemaCascade).
func TestSchemaCascade(t *testing.T) {
	s := open(t, "", Options{})
	defer closeStore(t, s)
	ctx := t.Context()
	tables, err := queryStrings(ctx, s.r, "SELECT name FROM sqlite_schema WHERE type = 'table'")
	if err != nil {
		t.Fatal(err)
	}
	var fks []storagetest.ForeignKey
	for _, tbl := range tables {
		rows, err := s.r.QueryContext(ctx, "SELECT \"table\", on_delete FROM pragma_foreign_key_list(?)", tbl)
		more, err := collect(rows, err, func(sc scanner) (storagetest.ForeignKey, error) {
			f := storagetest.ForeignKey{Child: tbl}
			var onDelete string
			err := sc.Scan(&f.Parent, &onDelete)
			f.Cascade = onDelete == "CASCADE"
			return f, err
		})
		if err != nil {
			t.Fatal(err)
		}
		fks = append(fks, more...)
	}
	storagetest.SchemaCascade(t, tables, fks,
		"sqlite_sequence", // AUTOINCREMENT counters
		"archive_key")     // the server's key for archive IDs, nobody's data
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "samtal.db")
	s := open(t, path, Options{})
	defer closeStore(t, s)
	if err := s.Accounts().Create(t.Context(), storage.Account{User: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{
		dir:               0o700 | os.ModeDir,
		path:              0o600,
		path + "-wal":     0o600,
		path + "-shm":     0o600,
		filepath.Dir(dir): 0o700 | os.ModeDir,
	} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Errorf("Stat: %v", err)
			continue
		}
		if got := fi.Mode(); got != want {
			t.Errorf("mode of %s = %v, want %v", name, got, want)
		}
	}
}

// TestDeletedDataGone checks that deleted stanzas do not linger in the
// database file (secure_delete) or the WAL (checkpoint at Close).
func TestDeletedDataGone(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "samtal.db")
	s := open(t, path, Options{})
	const (
		secretMsg   = "MESSAGE-THAT-WAS-DELIVERED"
		secretVCard = "VCARD-OF-A-DELETED-ACCOUNT"
	)
	for _, u := range []string{"a@example.org", "b@example.org"} {
		if err := s.Accounts().Create(ctx, storage.Account{User: u}); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 { // enough to fill pages that are then freed
		if err := s.Offline().Push(ctx, "a@example.org", "<message><body>"+secretMsg+strings.Repeat(".", 500)+"</body></message>", 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.VCards().Put(ctx, "b@example.org", "<vCard>"+secretVCard+"</vCard>"); err != nil {
		t.Fatal(err)
	}
	if err := s.checkpoint(ctx); err != nil { // the secrets reach the main file
		t.Fatal(err)
	}
	if err := s.Offline().Delete(ctx, "a@example.org", 1<<40); err != nil {
		t.Fatal(err)
	}
	if err := s.Accounts().Delete(ctx, "b@example.org"); err != nil {
		t.Fatal(err)
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
		for _, secret := range []string{secretMsg, secretVCard} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s still holds %q after it was deleted", filepath.Base(name), secret)
			}
		}
	}
}

func TestCheckpointTruncates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samtal.db")
	s := open(t, path, Options{CheckpointInterval: 10 * time.Millisecond})
	defer closeStore(t, s)
	if err := s.Accounts().Create(t.Context(), storage.Account{User: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("WAL still %d bytes long; the periodic checkpoint did not truncate it", fi.Size())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestObserve(t *testing.T) {
	storagetest.Observe(t, func(observe func(string, time.Duration)) storage.Store {
		return open(t, "", Options{Observe: observe})
	})
}

func TestClock(t *testing.T) {
	storagetest.Clock(t, func(clock func() time.Time) storage.Store {
		return open(t, "", Options{Clock: clock})
	})
}

func TestOpenErrors(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file::memory:?cache=shared"} {
		if s, err := Open(t.Context(), path, Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
	dir := t.TempDir()
	if s, err := Open(t.Context(), dir, Options{}); err == nil {
		s.Close()
		t.Errorf("Open of a directory succeeded, want an error")
	}
	notDB := filepath.Join(dir, "not.db")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("not a database "), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), notDB, Options{}); err == nil {
		s.Close()
		t.Errorf("Open of a file that is no database succeeded, want an error")
	}
}

func TestOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir?with#odd%chars", "db file?.sqlite")
	s := open(t, path, Options{})
	closeStore(t, s)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %q: %v", path, err)
	}
}

func TestCloseTwice(t *testing.T) {
	s := open(t, "", Options{})
	closeStore(t, s)
	closeStore(t, s)
}

func benchStore(b *testing.B) *Store {
	s := open(b, "", Options{})
	b.Cleanup(func() { closeStore(b, s) })
	return s
}

func BenchmarkOfflinePush(b *testing.B) { storagetest.BenchOfflinePush(b, benchStore(b)) }

func BenchmarkRosterItems(b *testing.B) { storagetest.BenchRosterItems(b, benchStore(b), 200) }

func BenchmarkAccountsGet(b *testing.B) { storagetest.BenchAccountsGet(b, benchStore(b)) }
