package postgres

import (
	"context"
	"time"
)

type invites struct{ s *Store }

func (i invites) Add(ctx context.Context, hash []byte, host string, expires time.Time) error {
	defer i.s.done("invites.add", time.Now())
	_, err := i.s.pool.Exec(ctx, "INSERT INTO invites (hash, host, expires) VALUES ($1, $2, $3)",
		nonNil(hash), host, micro(expires))
	return wrapErr("invites add", err)
}

// Use deletes the matching row: one statement, and a second Use waits
// for the first's row lock, then finds the row gone.
func (i invites) Use(ctx context.Context, hash []byte, host string, now time.Time) (bool, error) {
	defer i.s.done("invites.use", time.Now())
	tag, err := i.s.pool.Exec(ctx, "DELETE FROM invites WHERE hash = $1 AND host = $2 AND expires > $3",
		nonNil(hash), host, micro(now))
	if err != nil {
		return false, wrapErr("invites use", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (i invites) Expire(ctx context.Context, before time.Time) (int64, error) {
	defer i.s.done("invites.expire", time.Now())
	tag, err := i.s.pool.Exec(ctx, "DELETE FROM invites WHERE expires <= $1", micro(before))
	if err != nil {
		return 0, wrapErr("invites expire", err)
	}
	return tag.RowsAffected(), nil
}
