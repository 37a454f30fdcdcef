package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"samtal.org/samtal/internal/storage"
)

type push struct{ s *Store }

var errPushQuota = fmt.Errorf("too many push services: %w", storage.ErrQuota)

func (p push) Enable(ctx context.Context, user string, svc storage.PushService, limit int) error {
	defer p.s.done("push.enable", time.Now())
	err := p.s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE push_services SET options = ? WHERE account = ? AND service = ? AND node = ?",
			svc.Options, user, svc.JID, svc.Node)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		if limit > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM push_services WHERE account = ?", user).Scan(&n); err != nil {
				return err
			}
			if n >= limit {
				return errPushQuota
			}
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO push_services (account, service, node, options) VALUES (?, ?, ?, ?)",
			user, svc.JID, svc.Node, svc.Options)
		return err
	})
	if errors.Is(err, errPushQuota) {
		return err
	}
	return wrapErr("push enable", err)
}

func (p push) Disable(ctx context.Context, user, jid, node string) error {
	defer p.s.done("push.disable", time.Now())
	var err error
	if node == "" {
		_, err = p.s.w.ExecContext(ctx, "DELETE FROM push_services WHERE account = ? AND service = ?", user, jid)
	} else {
		_, err = p.s.w.ExecContext(ctx, "DELETE FROM push_services WHERE account = ? AND service = ? AND node = ?", user, jid, node)
	}
	return wrapErr("push disable", err)
}

func (p push) List(ctx context.Context, user string) ([]storage.PushService, error) {
	defer p.s.done("push.list", time.Now())
	rows, err := p.s.r.QueryContext(ctx,
		"SELECT service, node, options FROM push_services WHERE account = ? ORDER BY service, node", user)
	out, err := collect(rows, err, func(sc scanner) (storage.PushService, error) {
		var svc storage.PushService
		err := sc.Scan(&svc.JID, &svc.Node, &svc.Options)
		return svc, err
	})
	return out, wrapErr("push list", err)
}
