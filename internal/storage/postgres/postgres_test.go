package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/postgres/pgtest"
	"samtal.org/samtal/internal/storage/storagetest"
)

var pg pgtest.Server

func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }

// open opens a store on a new database; the test closes it.
func open(t testing.TB, opt Options) *Store {
	t.Helper()
	return openURL(t, pg.Database(t), opt)
}

func openURL(t testing.TB, url string, opt Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, opt)
	if err != nil {
		t.Fatalf("Open = %v", err)
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
		return open(t, Options{})
	})
}

// TestSchemaCascade checks that Accounts.Delete removes every user's
// rows (see storagetest.SchemaCascade).
func TestSchemaCascade(t *testing.T) {
	s := open(t, Options{})
	defer closeStore(t, s)
	ctx := t.Context()
	tables, err := s.strings(ctx, "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.pool.Query(ctx, `
SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, c.confdeltype = 'c'
FROM pg_constraint c WHERE c.contype = 'f'`)
	if err != nil {
		t.Fatal(err)
	}
	fks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storagetest.ForeignKey, error) {
		var f storagetest.ForeignKey
		err := row.Scan(&f.Child, &f.Parent, &f.Cascade)
		return f, err
	})
	if err != nil {
		t.Fatal(err)
	}
	storagetest.SchemaCascade(t, tables, fks)
}

// TestSchemaCollation checks that every text column of a key or an index
// sorts in byte order, as the contract's sorted lists need, whatever the
// database's default collation (the test databases' is ICU's, where
// "émile" comes before "zoe").
func TestSchemaCollation(t *testing.T) {
	s := open(t, Options{})
	defer closeStore(t, s)
	rows, err := s.pool.Query(t.Context(), `
SELECT DISTINCT c.relname::text, a.attname::text, coalesce(co.collname::text, '')
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE a.atttypid = 'text'::regtype`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var tbl, col, coll string
		if err := rows.Scan(&tbl, &col, &coll); err != nil {
			t.Fatal(err)
		}
		n++
		if coll != "C" {
			t.Errorf("%s.%s has collation %q, want \"C\" (byte order)", tbl, col, coll)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no indexed text columns found")
	}
}

func TestSchemaNewer(t *testing.T) {
	url := pg.Database(t)
	s := openURL(t, url, Options{})
	if _, err := s.pool.Exec(t.Context(), "INSERT INTO schema_version (version, name, applied) VALUES (9999, 'future', now())"); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)
	s, err := Open(t.Context(), url, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a database from a newer samtal succeeded")
	}
	if !errors.Is(err, ErrSchemaNewer) || !strings.Contains(err.Error(), "9999") {
		t.Errorf("Open = %v, want ErrSchemaNewer naming version 9999", err)
	}
}

// TestMigrationsConcurrent opens one new database from several stores at
// once, as the nodes of a cluster starting together do: each migration
// runs once.
func TestMigrationsConcurrent(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	url := pg.Database(t)
	const nodes = 4
	stores := make([]*Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), url, Options{}) })
	}
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("Open %d = %v", i, errs[i])
		}
		defer closeStore(t, stores[i])
	}
	s := openURL(t, url, Options{}) // nothing left to apply
	defer closeStore(t, s)
	var n, v int
	if err := s.pool.QueryRow(t.Context(), "SELECT count(*), max(version) FROM schema_version").Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || v != ms[len(ms)-1].Version {
		t.Errorf("schema_version has %d rows up to %d, want %d up to %d", n, v, len(ms), ms[len(ms)-1].Version)
	}
}

func TestObserve(t *testing.T) {
	storagetest.Observe(t, func(observe func(string, time.Duration)) storage.Store {
		return open(t, Options{Observe: observe})
	})
}

func TestClock(t *testing.T) {
	storagetest.Clock(t, func(clock func() time.Time) storage.Store {
		return open(t, Options{Clock: clock})
	})
}

// TestOpenErrors checks that Open refuses what is not a PostgreSQL URL or
// does not parse, and never repeats a password.
func TestOpenErrors(t *testing.T) {
	for _, url := range []string{
		"",
		"sqlite:/tmp/x.db",
		"host=localhost password=hunter2",
		"postgres://u:hunter2@[::1",
		"postgres://u:hunter2@localhost:notaport/db",
		"postgres://u:hunter2@localhost/db?sslmode=hunter2x",
	} {
		s, err := Open(t.Context(), url, Options{})
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", url)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v: the error shows the password", url, err)
		}
	}
}

// TestConnectError checks that a wrong password fails at Open, without
// showing the password.
func TestConnectError(t *testing.T) {
	url := pg.Database(t)
	bad := strings.Replace(url, "user=postgres", "user=nobody_here&password=hunter2", 1)
	s, err := Open(t.Context(), bad, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open as a user that does not exist succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open = %v: the error shows the password", err)
	}
}

func TestCloseTwice(t *testing.T) {
	s := open(t, Options{})
	closeStore(t, s)
	closeStore(t, s)
}

// TestOfflineIDOrder pushes for one user from several goroutines while
// another delivers: every List sees the messages with IDs up to its last
// one, so that Delete(upTo) after it removes only what it saw. A message
// that took a lower ID but committed later would be deleted unseen.
func TestOfflineIDOrder(t *testing.T) {
	ctx := t.Context()
	s := open(t, Options{})
	defer closeStore(t, s)
	const user = "a@example.org"
	if err := s.Accounts().Create(ctx, storage.Account{User: user}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := s.Offline().Push(ctx, user, fmt.Sprintf("<message id='%d-%d'/>", w, i), 0); err != nil {
					t.Errorf("Push = %v", err)
					return
				}
			}
		})
	}
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		msgs, err := s.Offline().List(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			continue
		}
		for _, m := range msgs {
			seen[m.Stanza] = true
		}
		if err := s.Offline().Delete(ctx, user, msgs[len(msgs)-1].ID); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := s.Offline().List(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		seen[m.Stanza] = true
	}
	if len(seen) != writers*each {
		t.Errorf("%d messages delivered, want %d: Delete removed some that no List saw", len(seen), writers*each)
	}
}

func benchStore(b *testing.B) *Store {
	s := open(b, Options{})
	b.Cleanup(func() { closeStore(b, s) })
	return s
}

func BenchmarkOfflinePush(b *testing.B) { storagetest.BenchOfflinePush(b, benchStore(b)) }

func BenchmarkRosterItems(b *testing.B) { storagetest.BenchRosterItems(b, benchStore(b), 200) }

func BenchmarkAccountsGet(b *testing.B) { storagetest.BenchAccountsGet(b, benchStore(b)) }

// TestDatabases checks what the tests here rely on: each test has a
// database of its own, whose default collation is not byte order, so
// that the conformance suite's byte-order checks fail for a column or a
// query that forgets COLLATE "C".
func TestDatabases(t *testing.T) {
	s1, s2 := open(t, Options{}), open(t, Options{})
	defer closeStore(t, s1)
	defer closeStore(t, s2)
	ctx := t.Context()
	var first string
	if err := s1.pool.QueryRow(ctx, "SELECT s FROM (VALUES ('zoe'), ('émile')) v(s) ORDER BY s LIMIT 1").Scan(&first); err != nil {
		t.Fatal(err)
	}
	if first != "émile" {
		t.Errorf("the default collation puts %q first, want a linguistic order (émile first)", first)
	}
	if err := s1.Accounts().Create(ctx, storage.Account{User: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Accounts().Get(ctx, "a@example.org"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("an account of one test's database is in another's: Get = %v", err)
	}
}

// TestTwoNodes writes for the same users through two Stores on one
// database, as two samtal nodes of a cluster do: limits, versions and
// counts hold across them.
func TestTwoNodes(t *testing.T) {
	ctx := t.Context()
	url := pg.Database(t)
	nodes := []*Store{openURL(t, url, Options{}), openURL(t, url, Options{})}
	for _, n := range nodes {
		defer closeStore(t, n)
	}
	users := []string{"a@example.org", "b@example.org"}
	for _, u := range users {
		if err := nodes[0].Accounts().Create(ctx, storage.Account{User: u}); err != nil {
			t.Fatal(err)
		}
	}
	const each, limit = 20, 25
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		pushed     = map[string]int{}
		maxVersion = map[string]int64{}
	)
	for i, n := range nodes {
		for _, u := range users {
			wg.Go(func() {
				for j := range each {
					err := n.Offline().Push(ctx, u, "<message/>", limit)
					if err != nil && !errors.Is(err, storage.ErrQuota) {
						t.Errorf("Push = %v", err)
						return
					}
					v, perr := n.Roster().Put(ctx, u, storage.RosterItem{Contact: fmt.Sprintf("c%d-%d@example.com", i, j), Subscription: storage.SubNone}, 0)
					if perr != nil {
						t.Errorf("Roster.Put = %v", perr)
						return
					}
					mu.Lock()
					if err == nil {
						pushed[u]++
					}
					maxVersion[u] = max(maxVersion[u], v)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for _, u := range users {
		if pushed[u] != limit {
			t.Errorf("%d messages stored for %s through two nodes, want the limit, %d", pushed[u], u, limit)
		}
		if n, err := nodes[1].Offline().Count(ctx, u); err != nil || n != limit {
			t.Errorf("Count(%s) = %d, %v, want %d", u, n, err, limit)
		}
		items, ver, err := nodes[1].Roster().Items(ctx, u)
		if err != nil || len(items) != 2*each || ver != 2*each || maxVersion[u] != ver {
			t.Errorf("Items(%s) = %d items version %d (highest returned %d), %v, want %d and %d", u, len(items), ver, maxVersion[u], err, 2*each, 2*each)
		}
	}
}

// TestWatchAccounts checks that a server's Store hears of the accounts
// another Store on the same database disabled or removed, as `samtal
// user` in another process or another node does, and of nothing else.
func TestWatchAccounts(t *testing.T) {
	ctx := t.Context()
	url := pg.Database(t)
	server := openURL(t, url, Options{})
	defer closeStore(t, server)
	admin := openURL(t, url, Options{})
	defer closeStore(t, admin)
	const user = "ada@example.org"
	keys := map[storage.Hash]storage.SCRAMKeys{storage.SHA256: {Salt: []byte("salt"), Iterations: 4096, StoredKey: []byte("k"), ServerKey: []byte("s")}}
	if err := admin.Accounts().Create(ctx, storage.Account{User: user, Keys: keys}); err != nil {
		t.Fatal(err)
	}
	heard := make(chan string, 10)
	ready := make(chan struct{}, 10)
	server.WatchAccounts(ctx, 10*time.Millisecond, func(u string) {
		if u == "ready" {
			ready <- struct{}{}
			return
		}
		heard <- u
	})
	want := func(what, u string) {
		t.Helper()
		select {
		case got := <-heard:
			if got != u {
				t.Errorf("after %s, heard %q, want %q", what, got, u)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("after %s, heard nothing", what)
		}
	}
	// The listener is ready once a notification of its own comes back.
	waitListening := time.Now().Add(5 * time.Second)
	for {
		if _, err := admin.pool.Exec(ctx, "SELECT pg_notify($1, 'ready')", channelRevoked); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ready:
		case <-time.After(50 * time.Millisecond):
			if time.Now().Before(waitListening) {
				continue
			}
			t.Fatal("the watcher never listened")
		}
		break
	}
	if err := admin.Accounts().SetDisabled(ctx, user, true); err != nil {
		t.Fatal(err)
	}
	want("disabling", user)
	if err := admin.Accounts().SetDisabled(ctx, user, false); err != nil {
		t.Fatal(err)
	}
	want("enabling", user)
	if err := admin.Accounts().Delete(ctx, user); err != nil {
		t.Fatal(err)
	}
	want("removing", user)
	if err := admin.Accounts().SetDisabled(ctx, user, true); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("disabling a removed account: %v, want ErrNotFound", err)
	}
	select {
	case u := <-heard:
		t.Errorf("heard %q of an account that was not there", u)
	case <-time.After(100 * time.Millisecond):
	}
	// A lost connection: what was announced meanwhile went unheard, and
	// the watcher says so once it listens again.
	if _, err := admin.pool.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1", "LISTEN "+channelRevoked); err != nil {
		t.Fatal(err)
	}
	want("losing the connection", "")
}
