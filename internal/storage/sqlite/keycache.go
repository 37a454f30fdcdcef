package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"samtal.org/samtal/internal/storage"
)

// maxCachedAccounts bounds the key cache: under a kilobyte an account
// (its name, salts and keys for two hashes, two small maps).
const maxCachedAccounts = 2048

// keyCache keeps the accounts read by Accounts.Get, so that a client that
// logs in again (a phone between networks, a bot, a load test) costs no
// query: every login reads its account's SCRAM keys, and with the file's
// locks that read is about a tenth of a login's work on the server.
//
// Writes made through any Store, in this process or another, must not
// leave a running server with old keys: a password changed or an account
// deleted with "samtal user" next to a running server takes effect at
// the next login. A Store drops what it changes itself, and after every
// committed change of keys or accounts it appends a byte to the stamp
// file beside the database. Each lookup stats the stamp and empties the
// cache when the stamp is not as it was; as the stamp only grows, no
// later state looks like an earlier one. The stat costs one system call
// where the query cost a read transaction.
//
// A change made to the file with another program (the sqlite3 shell)
// reaches a running server only when it restarts.
type keyCache struct {
	stamp string // the stamp file's path

	mu sync.Mutex
	// epoch counts the times entries were dropped: a lookup that read the
	// file while a change was being made must not store what it read.
	epoch uint64
	seen  fs.FileInfo // the stamp as last seen; nil when it did not exist
	m     map[string]storage.Account

	// own counts the bytes this process appended to the stamp, so that
	// WatchAccounts tells another process's changes from its own.
	own atomic.Int64
}

func newKeyCache(dbPath string) *keyCache {
	return &keyCache{stamp: dbPath + "-accounts-changed", m: make(map[string]storage.Account)}
}

// get returns the cached account of user, and the epoch to give put if
// there is none.
func (c *keyCache) get(user string) (storage.Account, bool, uint64) {
	fi := c.statStamp()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !sameStamp(c.seen, fi) {
		c.dropAll()
		c.seen = fi
	}
	a, ok := c.m[user]
	if ok {
		a.Keys = maps.Clone(a.Keys) // the caller's to change
	}
	return a, ok, c.epoch
}

// put stores an account read from the file, unless something was
// dropped since the lookup that gave epoch.
func (c *keyCache) put(a storage.Account, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	if len(c.m) >= maxCachedAccounts {
		for u := range c.m { // any one: the cache is for bursts, not for order
			delete(c.m, u)
			break
		}
	}
	a.Keys = maps.Clone(a.Keys)
	c.m[a.User] = a
}

// changed drops user's entry after this process changed the account,
// and tells other processes through the stamp. It is called after the
// change is committed, so that no process reads the old keys again
// after dropping them.
func (c *keyCache) changed(user string) error {
	c.mu.Lock()
	delete(c.m, user)
	c.epoch++
	c.mu.Unlock()
	f, err := os.OpenFile(c.stamp, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		var n int
		n, err = f.Write([]byte{'\n'})
		c.own.Add(int64(n))
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		return fmt.Errorf("account changed, but a running samtal may accept its old keys until it restarts: %w", err)
	}
	return nil
}

func (c *keyCache) dropAll() {
	clear(c.m)
	c.epoch++
}

// statStamp returns the stamp as it is now, or nil when it is missing
// or unreadable: either way not a stamp seen before.
func (c *keyCache) statStamp() fs.FileInfo {
	fi, err := os.Stat(c.stamp)
	if err != nil {
		return nil
	}
	return fi
}

// stampSize is the size of a stamp, 0 for one that did not exist.
func stampSize(fi fs.FileInfo) int64 {
	if fi == nil {
		return 0
	}
	return fi.Size()
}

// sameStamp reports whether two stats show the same stamp: the same
// file, with the same size and modification time.
func sameStamp(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// WatchAccounts calls changed after another process changed accounts:
// the stamp grew by more than this process appended to it
// (storage.AccountsWatcher). It looks every interval, one stat each
// time; a server's own registrations and password changes do not call
// it.
func (s *Store) WatchAccounts(ctx context.Context, interval time.Duration, changed func(user string)) {
	c := s.keys
	own := c.own.Load()
	seen := c.statStamp()
	go tick(ctx, interval, func() {
		// own is read before the stat: a change of ours between the two
		// counts as another process's, never the other way. A stamp as
		// it was holds every byte counted before the stat.
		nowOwn := c.own.Load()
		fi := c.statStamp()
		if sameStamp(seen, fi) {
			own = nowOwn
			return
		}
		// The stamp appears with the first change, or grows.
		ours := fi != nil && (seen == nil || os.SameFile(seen, fi)) && stampSize(fi)-stampSize(seen) == nowOwn-own
		seen, own = fi, nowOwn
		if !ours {
			changed("") // the stamp does not say which
		}
	})
}
