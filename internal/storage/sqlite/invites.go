package sqlite

import (
	"context"
	"time"

	"samtal.org/samtal/internal/storage"
)

type invites struct{ s *Store }

// Invites returns the invitations area.
func (s *Store) Invites() storage.Invites { return invites{s} }

func (i invites) Add(ctx context.Context, hash []byte, host string, expires time.Time) error {
	defer i.s.done("invites.add", time.Now())
	_, err := i.s.w.ExecContext(ctx, "INSERT INTO invites (hash, host, expires) VALUES (?, ?, ?)",
		hash, host, expires.UnixMicro())
	return wrapErr("invites add", err)
}

// Use deletes the matching row: one statement, so two concurrent uses
// cannot both succeed.
func (i invites) Use(ctx context.Context, hash []byte, host string, now time.Time) (bool, error) {
	defer i.s.done("invites.use", time.Now())
	res, err := i.s.w.ExecContext(ctx, "DELETE FROM invites WHERE hash = ? AND host = ? AND expires > ?",
		hash, host, now.UnixMicro())
	if err != nil {
		return false, wrapErr("invites use", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrapErr("invites use", err)
}

func (i invites) Expire(ctx context.Context, before time.Time) (int64, error) {
	defer i.s.done("invites.expire", time.Now())
	n, err := i.s.exec(ctx, "DELETE FROM invites WHERE expires <= ?", before.UnixMicro())
	return n, wrapErr("invites expire", err)
}
