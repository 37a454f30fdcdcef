package sqlite

import (
	"context"
	"database/sql"
	"time"

	"samtal.org/samtal/internal/storage"
)

type fastTokens struct{ s *Store }

// FastTokens returns the FAST token area.
func (s *Store) FastTokens() storage.FastTokens { return fastTokens{s} }

func (f fastTokens) Put(ctx context.Context, user string, t storage.FastToken, maxClients int) error {
	defer f.s.done("fast.put", time.Now())
	err := f.s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `
INSERT INTO fast_tokens (account, client, slot, mechanism, seed, expires, count)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account, client, slot) DO UPDATE SET
	mechanism = excluded.mechanism, seed = excluded.seed,
	expires = excluded.expires, count = excluded.count`,
			user, t.Client, t.Slot, t.Mechanism, t.Seed, micros(t.Expires), t.Count); err != nil {
			return err
		}
		if maxClients <= 0 {
			return nil
		}
		// The clients beyond the limit whose newest token expires first.
		_, err := tx.ExecContext(ctx, `
DELETE FROM fast_tokens WHERE account = ?1 AND client IN (
	SELECT client FROM fast_tokens WHERE account = ?1 AND client != ?2
	GROUP BY client ORDER BY max(expires) DESC LIMIT -1 OFFSET ?3)`,
			user, t.Client, maxClients-1)
		return err
	})
	return wrapErr("fast put", err)
}

func (f fastTokens) List(ctx context.Context, user string, client []byte) ([]storage.FastToken, error) {
	defer f.s.done("fast.list", time.Now())
	rows, err := f.s.r.QueryContext(ctx, `
SELECT slot, mechanism, seed, expires, count FROM fast_tokens
WHERE account = ? AND client = ? ORDER BY slot DESC`, user, client)
	out, err := collect(rows, err, func(sc scanner) (storage.FastToken, error) {
		t := storage.FastToken{Client: append([]byte(nil), client...)}
		var exp int64
		err := sc.Scan(&t.Slot, &t.Mechanism, &t.Seed, &exp, &t.Count)
		t.Expires = fromMicros(exp)
		return t, err
	})
	return out, wrapErr("fast list", err)
}

func (f fastTokens) Use(ctx context.Context, user string, client []byte, slot string, count int64) (bool, error) {
	defer f.s.done("fast.use", time.Now())
	used := false
	err := f.s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
UPDATE fast_tokens SET count = max(count, ?4)
WHERE account = ?1 AND client = ?2 AND slot = ?3 AND (?4 <= 0 OR count < ?4)`,
			user, client, slot, count)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n != 1 {
			return err
		}
		used = true
		if slot != storage.FastNew {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM fast_tokens WHERE account = ? AND client = ? AND slot = ?",
			user, client, storage.FastCurrent); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE fast_tokens SET slot = ? WHERE account = ? AND client = ? AND slot = ?",
			storage.FastCurrent, user, client, storage.FastNew)
		return err
	})
	if err != nil {
		return false, wrapErr("fast use", err)
	}
	return used, nil
}

func (f fastTokens) Delete(ctx context.Context, user string, client []byte, slot string) error {
	defer f.s.done("fast.delete", time.Now())
	_, err := f.s.w.ExecContext(ctx, "DELETE FROM fast_tokens WHERE account = ? AND client = ? AND (? = '' OR slot = ?)",
		user, client, slot, slot)
	return wrapErr("fast delete", err)
}

func (f fastTokens) Expire(ctx context.Context, before time.Time) (int64, error) {
	defer f.s.done("fast.expire", time.Now())
	n, err := f.s.exec(ctx, "DELETE FROM fast_tokens WHERE expires <= ?", micros(before))
	return n, wrapErr("fast expire", err)
}
