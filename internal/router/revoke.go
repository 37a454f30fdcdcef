package router

import (
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stream"
)

// An administrator who disables or removes an account ends its sessions.
// A client that was logging in meanwhile read the account's state from
// before the change; walking the account's sessions once would miss it if
// it bound just after the walk, and it would stay until its next login.
// So the walk leaves a mark (Revoke), under the same lock that Bind takes:
// a session either was bound before the mark and is ended, or binds after
// it and is refused if it began before it. A session that begins after
// the mark reads the changed state and fails its login by itself.

// Beginner is implemented by a client session that knows when it began:
// when its connection was accepted, before it read anything of its
// account. Bind and Rebind refuse such a session when its account was
// revoked since. Sessions that stand in for others (a cluster's proxies
// of resources bound on other nodes) do not implement it.
type Beginner interface {
	Began() time.Time
}

// RevokedError is the error of Bind for a session that began before its
// account was revoked. Stream is the stream error that the account's
// sessions were ended with.
type RevokedError struct {
	Stream stream.Error
}

func (e *RevokedError) Error() string {
	return "router: account revoked (" + string(e.Stream.Condition) + ")"
}

// revocation is the mark of an account revoked at a time.
type revocation struct {
	at  time.Time
	why stream.Error
}

// revocationMargin is how long a mark outlives bindWithin: a session is
// ended at its deadline by its own goroutine, which may be busy with a
// last stanza when the time comes.
const revocationMargin = time.Minute

// SetBindWithin tells the router that every Beginner binds within d of
// beginning or not at all (the time a connection has to log in): marks of
// revocations are forgotten after that, and a margin. Without it they are
// kept until Unrevoke. Set it before serving.
func (r *Router) SetBindWithin(d time.Duration) { r.bindWithin = d }

// Revoke ends every session of the account bare with e, and refuses to
// bind one that began before now. Call it once the change that revokes
// the account (disabling or removing it) is stored. An account removed and
// created again meanwhile refuses those sessions too; they log in again.
func (r *Router) Revoke(bare jid.JID, e stream.Error) {
	now := time.Now()
	sh := r.table.shard(bare)
	sh.mu.Lock()
	r.forgetRevoked(sh, now)
	if sh.revoked == nil {
		sh.revoked = make(map[jid.JID]revocation)
	}
	sh.revoked[bare] = revocation{at: now, why: e}
	sessions := make([]Session, 0, len(sh.accounts[bare]))
	for _, res := range sh.accounts[bare] {
		sessions = append(sessions, res.Session)
	}
	sh.mu.Unlock()
	// Ended outside the lock: a session that ends unbinds.
	for _, s := range sessions {
		s.CloseWithError(e)
	}
}

// Unrevoke lets every session of the account bare bind again, however
// early it began: the account was enabled again.
func (r *Router) Unrevoke(bare jid.JID) {
	sh := r.table.shard(bare)
	sh.mu.Lock()
	delete(sh.revoked, bare)
	sh.mu.Unlock()
}

// UnrevokeWithin lifts the account's mark if it was made after after and
// before before, and reports whether it did. A server that reads an
// account again after another process changed it passes the account's
// creation and the moment it began to read: a mark made after the
// account was created, by a change the read saw undone, is lifted; one
// made before it (the removal of an account of the same name) or after
// the read began (a change the read may not have seen) stays.
func (r *Router) UnrevokeWithin(bare jid.JID, after, before time.Time) bool {
	sh := r.table.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	rv, ok := sh.revoked[bare]
	if !ok || !rv.at.After(after) || !rv.at.Before(before) {
		return false
	}
	delete(sh.revoked, bare)
	return true
}

// Revoked returns the accounts marked revoked whose marks still count.
func (r *Router) Revoked() []jid.JID {
	now := time.Now()
	var out []jid.JID
	for i := range r.table.shards {
		sh := &r.table.shards[i]
		sh.mu.Lock()
		r.forgetRevoked(sh, now)
		for bare := range sh.revoked {
			out = append(out, bare)
		}
		sh.mu.Unlock()
	}
	return out
}

// forgetRevoked drops the marks no session may still bind against; sh is
// locked.
func (r *Router) forgetRevoked(sh *shard, now time.Time) {
	if r.bindWithin <= 0 {
		return
	}
	for bare, rv := range sh.revoked {
		if now.Sub(rv.at) > r.bindWithin+revocationMargin {
			delete(sh.revoked, bare)
		}
	}
}

// refused returns the error for binding s to the account bare: a
// *RevokedError when the account was revoked since s began, otherwise
// nil. sh is bare's shard, locked.
func refused(sh *shard, bare jid.JID, s Session) error {
	if len(sh.revoked) == 0 {
		return nil
	}
	rv, ok := sh.revoked[bare]
	if !ok {
		return nil
	}
	if b, ok := s.(Beginner); !ok || !b.Began().Before(rv.at) {
		return nil
	}
	return &RevokedError{Stream: rv.why}
}
