package server

import (
	"context"
	"errors"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/register"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/stream"
)

// accountsWatchInterval is how soon a running server ends the sessions
// of an account that "samtal user" disabled or removed beside it.
const accountsWatchInterval = time.Second

// accountSessions is what ends an account's sessions when it is disabled
// or removed: the router, or in a cluster the node, which ends them on
// every node.
func (s *Server) accountSessions() register.Sessions {
	if s.cluster != nil {
		return s.cluster
	}
	return s.router
}

// watchAccounts ends the sessions of the accounts another process
// disabled or removed ("samtal user disable" or "remove" on the same
// store, or another node), and lets the logins of those it enabled again
// bind, when the store can tell that accounts changed
// (storage.AccountsWatcher): the account it names, or every account
// bound or revoked here, is read again.
func (s *Server) watchAccounts(store storage.Store) {
	w, ok := store.(storage.AccountsWatcher)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	// Closers run in reverse: this one before the store closes.
	s.closers = append(s.closers, func(context.Context) { cancel() })
	// Every node of a cluster watches, and ends what is bound on it. A
	// named account is revoked here even with nothing bound: a login
	// under way here binds after.
	w.WatchAccounts(ctx, accountsWatchInterval, func(user string) {
		if user == "" {
			endRevoked(ctx, s.router, store.Accounts())
			return
		}
		if bare, err := jid.Parse(user); err == nil {
			endIfRevoked(ctx, s.router, bare, store.Accounts())
		}
	})
}

// guest is implemented by a session that may be bound to no stored
// account (an IRC guest's).
type guest interface{ Guest() bool }

// endRevoked ends the sessions of every account bound in r that is now
// disabled or gone from accounts, and lifts the marks of the accounts r
// holds revoked that were enabled again.
func endRevoked(ctx context.Context, r *router.Router, accounts storage.Accounts) {
	seen := make(map[jid.JID]bool)
	for _, bare := range r.Revoked() {
		seen[bare] = true
	}
	r.Each(func(sess router.Session) {
		if g, ok := sess.(guest); ok && g.Guest() {
			return
		}
		if _, remote := sess.(router.Proxy); remote {
			return // its node looks
		}
		seen[sess.JID().Bare()] = true
	})
	for bare := range seen {
		endIfRevoked(ctx, r, bare, accounts)
	}
}

// endIfRevoked revokes in r an account that is disabled or gone from
// accounts (router.Router.Revoke). An account enabled again ("samtal user
// enable") has its mark lifted, so that a login that began while it was
// disabled may bind, as the XEP-0133 command lets it; one removed and
// created again keeps it (router.Router.UnrevokeWithin).
func endIfRevoked(ctx context.Context, r *router.Router, bare jid.JID, accounts storage.Accounts) {
	read := time.Now()
	a, err := accounts.Get(ctx, bare.String())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		r.Revoke(bare, stream.Error{Condition: stream.NotAuthorized, Text: "account removed"})
	case err != nil:
		// The store did not answer: the next change, or the next
		// connection lost and found again, reads the account again.
	case a.Disabled:
		r.Revoke(bare, stream.Error{Condition: stream.NotAuthorized, Text: "account disabled"})
	default:
		r.UnrevokeWithin(bare, a.Created, read)
	}
}
