package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"samtal.org/samtal/internal/storage"
)

type offline struct{ s *Store }

// sqlOfflinePush checks the limit and inserts in one statement, which runs
// in its own write transaction: no other write can slip in between. No row
// inserted means the user is at the limit; a missing account fails the
// foreign key.
const sqlOfflinePush = `
INSERT INTO offline_messages (account, stored, stanza)
SELECT ?, ?, ?
WHERE ? <= 0 OR (SELECT count(*) FROM offline_messages WHERE account = ?) < ?`

var errOfflineQuota = fmt.Errorf("offline storage full: %w", storage.ErrQuota)

func (o offline) Push(ctx context.Context, user string, stanza string, limit int) error {
	defer o.s.done("offline.push", time.Now())
	res, err := o.s.offlinePush.ExecContext(ctx,
		user, micros(o.s.now()), stanza, limit, user, limit)
	if err != nil {
		return wrapErr("offline push", err)
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		err = errOfflineQuota
	}
	return wrapErr("offline push", err)
}

func (o offline) List(ctx context.Context, user string) ([]storage.OfflineMessage, error) {
	defer o.s.done("offline.list", time.Now())
	rows, err := o.s.r.QueryContext(ctx,
		"SELECT id, stored, stanza FROM offline_messages WHERE account = ? ORDER BY id", user)
	msgs, err := collectOffline(rows, err)
	return msgs, wrapErr("offline list", err)
}

func (o offline) ListAfter(ctx context.Context, user string, after int64, n int) ([]storage.OfflineMessage, error) {
	defer o.s.done("offline.list_after", time.Now())
	rows, err := o.s.r.QueryContext(ctx,
		"SELECT id, stored, stanza FROM offline_messages WHERE account = ? AND id > ? ORDER BY id LIMIT ?", user, after, n)
	msgs, err := collectOffline(rows, err)
	return msgs, wrapErr("offline list", err)
}

func collectOffline(rows *sql.Rows, err error) ([]storage.OfflineMessage, error) {
	return collect(rows, err, func(sc scanner) (storage.OfflineMessage, error) {
		var (
			m      storage.OfflineMessage
			stored int64
		)
		err := sc.Scan(&m.ID, &stored, &m.Stanza)
		m.Stored = fromMicros(stored)
		return m, err
	})
}

func (o offline) Delete(ctx context.Context, user string, upTo int64) error {
	defer o.s.done("offline.delete", time.Now())
	_, err := o.s.w.ExecContext(ctx,
		"DELETE FROM offline_messages WHERE account = ? AND id <= ?", user, upTo)
	return wrapErr("offline delete", err)
}

func (o offline) Count(ctx context.Context, user string) (int, error) {
	defer o.s.done("offline.count", time.Now())
	var n int
	err := o.s.r.QueryRowContext(ctx,
		"SELECT count(*) FROM offline_messages WHERE account = ?", user).Scan(&n)
	if err != nil {
		return 0, wrapErr("offline count", err)
	}
	return n, nil
}

func (o offline) Expire(ctx context.Context, before time.Time) (int64, error) {
	defer o.s.done("offline.expire", time.Now())
	// Stored times have whole microseconds: a message stored at t is
	// before `before` exactly when t < before rounded up to a microsecond.
	us := micros(before)
	if before.After(fromMicros(us)) {
		us++
	}
	n, err := o.s.exec(ctx, "DELETE FROM offline_messages WHERE stored < ?", us)
	if err != nil {
		return 0, wrapErr("offline expire", err)
	}
	return n, nil
}
