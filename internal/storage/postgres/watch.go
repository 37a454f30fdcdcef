package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
)

// channelRevoked is the channel on which an account disabled, enabled
// again or removed is announced to the servers sharing the database:
// "samtal user disable", "enable" or "remove" in another process, or
// another node's administration command. (Its name is from when it
// carried only the first and the last; servers of either version hear
// each other on it.)
const channelRevoked = "samtal_accounts_revoked"

var _ storage.AccountsWatcher = (*Store)(nil)

// notifyChanged announces, when tx commits, that user was disabled,
// enabled again or removed.
func notifyChanged(ctx context.Context, tx pgx.Tx, user string) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channelRevoked, user)
	return err
}

// WatchAccounts calls changed with each account that any process
// disabled, enabled again or removed (storage.AccountsWatcher), on a
// connection of its own that listens on channelRevoked. When the
// connection is lost it connects again after interval, and then calls
// changed with "": what was announced meanwhile went unheard.
func (s *Store) WatchAccounts(ctx context.Context, interval time.Duration, changed func(user string)) {
	go func() {
		again := false
		for {
			s.listen(ctx, changed, again)
			again = true
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
		}
	}()
}

// listen listens on channelRevoked until the connection fails or ctx
// ends; again says that an earlier connection was lost.
func (s *Store) listen(ctx context.Context, changed func(user string), again bool) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return
	}
	// Its own from now on: a connection that listens does not go back to
	// the pool.
	conn := pc.Hijack()
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx) // the connection is done with either way
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+channelRevoked); err != nil {
		return
	}
	if again {
		changed("")
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return
		}
		changed(n.Payload)
	}
}
