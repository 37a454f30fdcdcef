package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
)

type fastTokens struct{ s *Store }

func (f fastTokens) Put(ctx context.Context, user string, t storage.FastToken, maxClients int) error {
	defer f.s.done("fast.put", time.Now())
	err := f.s.tx(ctx, func(tx pgx.Tx) error {
		// Two Puts for different clients of one user would otherwise
		// each remove the other's tokens, in opposite orders.
		if err := lockAccount(ctx, tx, user); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
INSERT INTO fast_tokens (account, client, slot, mechanism, seed, expires, count)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (account, client, slot) DO UPDATE SET
	mechanism = excluded.mechanism, seed = excluded.seed,
	expires = excluded.expires, count = excluded.count`,
			user, nonNil(t.Client), t.Slot, t.Mechanism, nonNil(t.Seed), micro(t.Expires), t.Count); err != nil {
			return err
		}
		if maxClients <= 0 {
			return nil
		}
		// The clients beyond the limit whose newest token expires first.
		_, err := tx.Exec(ctx, `
DELETE FROM fast_tokens WHERE account = $1 AND client IN (
	SELECT client FROM fast_tokens WHERE account = $1 AND client <> $2
	GROUP BY client ORDER BY max(expires) DESC OFFSET $3)`,
			user, nonNil(t.Client), maxClients-1)
		return err
	})
	return wrapErr("fast put", err)
}

func (f fastTokens) List(ctx context.Context, user string, client []byte) ([]storage.FastToken, error) {
	defer f.s.done("fast.list", time.Now())
	rows, err := f.s.pool.Query(ctx, `
SELECT slot, mechanism, seed, expires, count FROM fast_tokens
WHERE account = $1 AND client = $2 ORDER BY slot DESC`, user, nonNil(client))
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.FastToken, error) {
		t := storage.FastToken{Client: append([]byte(nil), client...)}
		err := row.Scan(&t.Slot, &t.Mechanism, &t.Seed, &t.Expires, &t.Count)
		t.Expires = utc(t.Expires)
		return t, err
	})
	return out, wrapErr("fast list", err)
}

func (f fastTokens) Use(ctx context.Context, user string, client []byte, slot string, count int64) (bool, error) {
	defer f.s.done("fast.use", time.Now())
	used := false
	err := f.s.tx(ctx, func(tx pgx.Tx) error {
		// A second Use of the token waits for this one's row lock, then
		// finds the count raised or the token moved out of its slot.
		tag, err := tx.Exec(ctx, `
UPDATE fast_tokens SET count = greatest(count, $4)
WHERE account = $1 AND client = $2 AND slot = $3 AND ($4 <= 0 OR count < $4)`,
			user, nonNil(client), slot, count)
		if err != nil || tag.RowsAffected() != 1 {
			return err
		}
		used = true
		if slot != storage.FastNew {
			return nil
		}
		if _, err := tx.Exec(ctx, "DELETE FROM fast_tokens WHERE account = $1 AND client = $2 AND slot = $3",
			user, nonNil(client), storage.FastCurrent); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE fast_tokens SET slot = $1 WHERE account = $2 AND client = $3 AND slot = $4",
			storage.FastCurrent, user, nonNil(client), storage.FastNew)
		return err
	})
	if err != nil {
		return false, wrapErr("fast use", err)
	}
	return used, nil
}

func (f fastTokens) Delete(ctx context.Context, user string, client []byte, slot string) error {
	defer f.s.done("fast.delete", time.Now())
	_, err := f.s.pool.Exec(ctx, "DELETE FROM fast_tokens WHERE account = $1 AND client = $2 AND ($3 = '' OR slot = $3)",
		user, nonNil(client), slot)
	return wrapErr("fast delete", err)
}

func (f fastTokens) Expire(ctx context.Context, before time.Time) (int64, error) {
	defer f.s.done("fast.expire", time.Now())
	tag, err := f.s.pool.Exec(ctx, "DELETE FROM fast_tokens WHERE expires <= $1", micro(before))
	if err != nil {
		return 0, wrapErr("fast expire", err)
	}
	return tag.RowsAffected(), nil
}
