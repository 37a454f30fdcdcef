package sqlite

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"samtal.org/samtal/internal/storage"
)

func keysOf(stored string) map[storage.Hash]storage.SCRAMKeys {
	return map[storage.Hash]storage.SCRAMKeys{
		storage.SHA256: {Salt: []byte("salt"), Iterations: 4096, StoredKey: []byte(stored), ServerKey: []byte("server")},
	}
}

// user is the account the tests of another process's changes change.
const user = "ada@example.org"

// serverWithAda opens a server's Store in a new file, with an account for
// user, and returns it and the file's path; the test closes it.
func serverWithAda(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "samtal.db")
	server := open(t, path, Options{})
	t.Cleanup(func() { closeStore(t, server) })
	if err := server.Accounts().Create(t.Context(), storage.Account{User: user, Keys: keysOf("one")}); err != nil {
		t.Fatal(err)
	}
	return server, path
}

// TestKeyCacheOtherStore changes and removes an account through a second
// Store on the same file, as `samtal user passwd` and `samtal user
// remove` do in another process, after the first Store cached it.
func TestKeyCacheOtherStore(t *testing.T) {
	ctx := t.Context()
	server, path := serverWithAda(t)
	stored := func() string {
		t.Helper()
		a, err := server.Accounts().Get(ctx, user)
		if err != nil {
			t.Fatalf("Get = %v", err)
		}
		return string(a.Keys[storage.SHA256].StoredKey)
	}
	if got := stored(); got != "one" {
		t.Fatalf("stored key %q, want one", got)
	}
	// Cached: a second read does not reach the file.
	if _, ok, _ := server.keys.get(user); !ok {
		t.Fatal("the account read is not cached")
	}
	// The copy returned is the caller's.
	a, _ := server.Accounts().Get(ctx, user)
	delete(a.Keys, storage.SHA256)
	if got := stored(); got != "one" {
		t.Fatalf("a caller's change reached the cache: %q", got)
	}

	admin := open(t, path, Options{BusyTimeout: time.Minute})
	if err := admin.Accounts().SetKeys(ctx, user, keysOf("two")); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != "two" {
		t.Errorf("after another store's SetKeys: stored key %q, want two", got)
	}
	if err := admin.Accounts().Delete(ctx, user); err != nil {
		t.Fatal(err)
	}
	closeStore(t, admin)
	if _, err := server.Accounts().Get(ctx, user); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after another store's Delete: Get = %v, want ErrNotFound", err)
	}

	// The store's own changes.
	if err := server.Accounts().Create(ctx, storage.Account{User: user, Keys: keysOf("three")}); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != "three" {
		t.Errorf("after Create: stored key %q, want three", got)
	}
	if err := server.Accounts().SetKeys(ctx, user, keysOf("four")); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != "four" {
		t.Errorf("after SetKeys: stored key %q, want four", got)
	}
}

// TestKeyCacheRace: what a lookup read before a change must not be kept
// after it.
func TestKeyCacheRace(t *testing.T) {
	c := newKeyCache(filepath.Join(t.TempDir(), "samtal.db"))
	const user = "ada@example.org"
	_, ok, epoch := c.get(user)
	if ok {
		t.Fatal("an empty cache has the account")
	}
	// The account is read from the file (old keys), then changed, then
	// the read is put.
	if err := c.changed(user); err != nil {
		t.Fatal(err)
	}
	c.put(storage.Account{User: user, Keys: keysOf("old")}, epoch)
	if _, ok, _ := c.get(user); ok {
		t.Error("a read made before a change was kept")
	}

	// A stamp that changes under a lookup's read drops it too.
	_, _, epoch = c.get(user)
	other := newKeyCache(filepath.Join(filepath.Dir(c.stamp), "samtal.db"))
	if err := other.changed(user); err != nil {
		t.Fatal(err)
	}
	if _, _, e := c.get("someone@example.org"); e == epoch {
		t.Error("another process's change did not drop the cache")
	}
	c.put(storage.Account{User: user, Keys: keysOf("old")}, epoch)
	if _, ok, _ := c.get(user); ok {
		t.Error("a read made before another process's change was kept")
	}
}

// TestKeyCacheBound: the cache holds at most maxCachedAccounts.
func TestKeyCacheBound(t *testing.T) {
	c := newKeyCache(filepath.Join(t.TempDir(), "samtal.db"))
	for i := range maxCachedAccounts + 10 {
		_, _, epoch := c.get("x")
		c.put(storage.Account{User: string(bytes.Repeat([]byte{'a'}, i+1)), Keys: keysOf("k")}, epoch)
	}
	if n := len(c.m); n != maxCachedAccounts {
		t.Errorf("%d accounts cached, want %d", n, maxCachedAccounts)
	}
}

// TestWatchAccounts checks that a server's Store hears of an account
// another Store on the same file disabled, as `samtal user disable` in
// another process does, and of nothing while nothing changes or when it
// changed an account itself.
func TestWatchAccounts(t *testing.T) {
	ctx := t.Context()
	server, path := serverWithAda(t)
	changes := make(chan struct{}, 10)
	var _ storage.AccountsWatcher = server
	server.WatchAccounts(ctx, 10*time.Millisecond, func(string) { changes <- struct{}{} })
	quiet := func(what string) {
		t.Helper()
		select {
		case <-changes:
			t.Fatalf("a change heard %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
	quiet("while nothing changed")
	// The server's own changes are its own business.
	if err := server.Accounts().SetKeys(ctx, user, keysOf("two")); err != nil {
		t.Fatal(err)
	}
	quiet("after a change of the server's own")
	admin := open(t, path, Options{BusyTimeout: time.Minute})
	defer closeStore(t, admin)
	if err := admin.Accounts().SetDisabled(ctx, user, true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("the other store's change was not heard")
	}
}
