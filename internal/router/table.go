package router

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"samtal.org/samtal/internal/jid"
)

// shardCount is how many parts the table of bound resources is split
// into. Every message delivered looks its recipient up; with one lock for
// the table, every lookup on one core wrote to the memory that the
// lookups on the others read (a read lock is a write). With 64 parts,
// two cores meet on one lock one time in 64: routing on two cores at
// once took 7.5% less CPU per message (BenchmarkRouteMessageParallel in
// package im).
const shardCount = 64

// table is the bound resources of local accounts, split by account.
type table struct {
	seed   maphash.Seed
	shards [shardCount]shard
	// bound and peak count the resources bound now and at most since
	// the start. Every bind and unbind writes them, so they come after
	// the shards, away from seed, which every lookup reads.
	bound, peak atomic.Int64
}

// shard is one part of the table: the accounts whose bare JIDs hash to
// it, under a lock of its own.
type shard struct {
	mu       sync.RWMutex
	accounts map[jid.JID]map[string]*Resource
	// revoked holds the accounts revoked lately (revoke.go); nil until
	// one is.
	revoked map[jid.JID]revocation
	// Keeps the next shard's lock off this one's cache lines (128 bytes:
	// cores fetch lines in pairs).
	_ [128 - 40]byte
}

func newTable() *table {
	t := &table{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].accounts = make(map[jid.JID]map[string]*Resource)
	}
	return t
}

// shard returns the part of the table that holds the account bare.
func (t *table) shard(bare jid.JID) *shard {
	return &t.shards[maphash.String(t.seed, bare.String())%shardCount]
}

// each calls f with every account's resources, one shard at a time under
// its read lock.
func (t *table) each(f func(map[string]*Resource)) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		for _, res := range sh.accounts {
			f(res)
		}
		sh.mu.RUnlock()
	}
}

// added counts a resource bound, and the peak if it is one.
func (t *table) added() {
	n := t.bound.Add(1)
	for {
		p := t.peak.Load()
		if n <= p || t.peak.CompareAndSwap(p, n) {
			return
		}
	}
}
