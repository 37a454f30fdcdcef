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

// TestKeyCacheOtherStore changes and removes an account through a second
// Store on the same file, as `samtal user passwd` and `samtal user
// remove` do in another process, after the first Store cached it.
func TestKeyCacheOtherStore(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "samtal.db")
	server := open(t, path, Options{})
	defer closeStore(t, server)
	const user = "ada@example.org"
	if err := server.Accounts().Create(ctx, storage.Account{User: user, Keys: keysOf("one")}); err != nil {
		t.Fatal(err)
	}
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
