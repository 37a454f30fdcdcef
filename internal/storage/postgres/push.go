package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
)

type push struct{ s *Store }

// Push returns the push service area.
func (s *Store) Push() storage.Push { return push{s} }

var errPushQuota = fmt.Errorf("too many push services: %w", storage.ErrQuota)

func (p push) Enable(ctx context.Context, user string, svc storage.PushService, limit int) error {
	defer p.s.done("push.enable", time.Now())
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		// The account's lock makes the count and the insert one step for
		// the user: two nodes enabling at once cannot both pass the limit.
		if err := lockAccount(ctx, tx, user); err != nil {
			return err // pgx.ErrNoRows: no account
		}
		tag, err := tx.Exec(ctx, "UPDATE push_services SET options = $1 WHERE account = $2 AND service = $3 AND node = $4",
			svc.Options, user, svc.JID, svc.Node)
		if err != nil || tag.RowsAffected() > 0 {
			return err
		}
		if limit > 0 {
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM push_services WHERE account = $1", user).Scan(&n); err != nil {
				return err
			}
			if n >= limit {
				return errPushQuota
			}
		}
		_, err = tx.Exec(ctx, "INSERT INTO push_services (account, service, node, options) VALUES ($1, $2, $3, $4)",
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
		_, err = p.s.pool.Exec(ctx, "DELETE FROM push_services WHERE account = $1 AND service = $2", user, jid)
	} else {
		_, err = p.s.pool.Exec(ctx, "DELETE FROM push_services WHERE account = $1 AND service = $2 AND node = $3", user, jid, node)
	}
	return wrapErr("push disable", err)
}

func (p push) List(ctx context.Context, user string) ([]storage.PushService, error) {
	defer p.s.done("push.list", time.Now())
	rows, err := p.s.pool.Query(ctx,
		"SELECT service, node, options FROM push_services WHERE account = $1 ORDER BY service, node", user)
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.PushService, error) {
		var svc storage.PushService
		err := row.Scan(&svc.JID, &svc.Node, &svc.Options)
		return svc, err
	})
	return out, wrapErr("push list", err)
}
