package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
)

type offline struct{ s *Store }

// sqlOfflinePush checks the limit and inserts in one statement, which
// runs after the account's lock (sqlLockAccount): pushes for one user
// queue there, so that the count sees every message pushed before, and
// IDs are taken in commit order. No row inserted means the user is at the
// limit; a missing account fails the foreign key.
const sqlOfflinePush = `
INSERT INTO offline_messages (account, stored, stanza)
SELECT $1, $2, $3
WHERE $4 <= 0 OR (SELECT count(*) FROM offline_messages WHERE account = $1) < $4
RETURNING id`

var errOfflineQuota = fmt.Errorf("offline storage full: %w", storage.ErrQuota)

func (o offline) Push(ctx context.Context, user string, stanza string, limit int) error {
	defer o.s.done("offline.push", time.Now())
	_, err := o.s.lockedRow(ctx, user, sqlOfflinePush, user, micro(o.s.now()), stanza, limit)
	if err == pgx.ErrNoRows {
		err = errOfflineQuota
	}
	return wrapErr("offline push", err)
}

func (o offline) List(ctx context.Context, user string) ([]storage.OfflineMessage, error) {
	defer o.s.done("offline.list", time.Now())
	rows, err := o.s.pool.Query(ctx,
		"SELECT id, stored, stanza FROM offline_messages WHERE account = $1 ORDER BY id", user)
	msgs, err := collectOffline(rows, err)
	return msgs, wrapErr("offline list", err)
}

func (o offline) ListAfter(ctx context.Context, user string, after int64, n int) ([]storage.OfflineMessage, error) {
	defer o.s.done("offline.list_after", time.Now())
	rows, err := o.s.pool.Query(ctx,
		"SELECT id, stored, stanza FROM offline_messages WHERE account = $1 AND id > $2 ORDER BY id LIMIT $3", user, after, n)
	msgs, err := collectOffline(rows, err)
	return msgs, wrapErr("offline list", err)
}

func collectOffline(rows pgx.Rows, err error) ([]storage.OfflineMessage, error) {
	return collect(rows, err, func(row pgx.CollectableRow) (storage.OfflineMessage, error) {
		var m storage.OfflineMessage
		err := row.Scan(&m.ID, &m.Stored, &m.Stanza)
		m.Stored = utc(m.Stored)
		return m, err
	})
}

func (o offline) Delete(ctx context.Context, user string, upTo int64) error {
	defer o.s.done("offline.delete", time.Now())
	_, err := o.s.pool.Exec(ctx,
		"DELETE FROM offline_messages WHERE account = $1 AND id <= $2", user, upTo)
	return wrapErr("offline delete", err)
}

func (o offline) Count(ctx context.Context, user string) (int, error) {
	defer o.s.done("offline.count", time.Now())
	var n int
	err := o.s.pool.QueryRow(ctx,
		"SELECT count(*) FROM offline_messages WHERE account = $1", user).Scan(&n)
	if err != nil {
		return 0, wrapErr("offline count", err)
	}
	return n, nil
}

func (o offline) Expire(ctx context.Context, before time.Time) (int64, error) {
	defer o.s.done("offline.expire", time.Now())
	tag, err := o.s.pool.Exec(ctx, "DELETE FROM offline_messages WHERE stored < $1", roundUp(before))
	if err != nil {
		return 0, wrapErr("offline expire", err)
	}
	return tag.RowsAffected(), nil
}

// roundUp rounds t up to a whole microsecond. Stored times have whole
// microseconds: one is before t exactly when it is before t rounded up,
// which is what the database compares once the driver has dropped the
// nanoseconds.
func roundUp(t time.Time) time.Time {
	if m := micro(t); m.Before(t) {
		return m.Add(time.Microsecond)
	}
	return t
}
