package postgres

import (
	"context"
	"time"
)

type blocklist struct{ s *Store }

func (b blocklist) List(ctx context.Context, user string) ([]string, error) {
	defer b.s.done("blocklist.list", time.Now())
	jids, err := b.s.strings(ctx,
		"SELECT blocked FROM blocklist WHERE account = $1 ORDER BY blocked", user)
	return jids, wrapErr("blocklist list", err)
}

// Add and Remove pass the JIDs as one array, so that each is one
// statement (atomic without an explicit transaction) whatever the number
// of JIDs.

func (b blocklist) Add(ctx context.Context, user string, jids []string) error {
	defer b.s.done("blocklist.add", time.Now())
	if len(jids) == 0 {
		return nil
	}
	_, err := b.s.pool.Exec(ctx, `
INSERT INTO blocklist (account, blocked) SELECT $1, unnest($2::text[])
ON CONFLICT DO NOTHING`, user, jids)
	return wrapErr("blocklist add", err)
}

func (b blocklist) Remove(ctx context.Context, user string, jids []string) error {
	defer b.s.done("blocklist.remove", time.Now())
	if len(jids) == 0 {
		_, err := b.s.pool.Exec(ctx, "DELETE FROM blocklist WHERE account = $1", user)
		return wrapErr("blocklist remove", err)
	}
	_, err := b.s.pool.Exec(ctx,
		"DELETE FROM blocklist WHERE account = $1 AND blocked = ANY ($2::text[])", user, jids)
	return wrapErr("blocklist remove", err)
}
