package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"samtal.org/samtal/internal/storage"
)

type pubsub struct{ s *Store }

// Pubsub returns the personal pubsub area.
func (s *Store) Pubsub() storage.Pubsub { return pubsub{s} }

func (p pubsub) Nodes(ctx context.Context, user string) ([]storage.PubsubNode, error) {
	defer p.s.done("pubsub.nodes", time.Now())
	rows, err := p.s.r.QueryContext(ctx, "SELECT node, config FROM pubsub_nodes WHERE account = ? ORDER BY node", user)
	out, err := collect(rows, err, func(sc scanner) (storage.PubsubNode, error) {
		var n storage.PubsubNode
		err := sc.Scan(&n.Name, &n.Config)
		return n, err
	})
	return out, wrapErr("pubsub nodes", err)
}

func (p pubsub) Node(ctx context.Context, user, node string) (storage.PubsubNode, error) {
	defer p.s.done("pubsub.node", time.Now())
	n := storage.PubsubNode{Name: node}
	err := p.s.r.QueryRowContext(ctx, "SELECT config FROM pubsub_nodes WHERE account = ? AND node = ?", user, node).Scan(&n.Config)
	if err != nil {
		return storage.PubsubNode{}, wrapErr("pubsub node", err)
	}
	return n, nil
}

var errNodeQuota = fmt.Errorf("too many nodes: %w", storage.ErrQuota)

func (p pubsub) CreateNode(ctx context.Context, user string, n storage.PubsubNode, limit int) error {
	defer p.s.done("pubsub.createnode", time.Now())
	err := p.s.tx(ctx, func(tx *sql.Tx) error {
		if limit > 0 {
			var count int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM pubsub_nodes WHERE account = ?", user).Scan(&count); err != nil {
				return err
			}
			if count >= limit {
				var one int
				if err := tx.QueryRowContext(ctx, "SELECT 1 FROM pubsub_nodes WHERE account = ? AND node = ?", user, n.Name).Scan(&one); err == nil {
					return storage.ErrExists
				}
				return errNodeQuota
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO pubsub_nodes (account, node, config) VALUES (?, ?, ?)", user, n.Name, n.Config)
		return err
	})
	return wrapErr("pubsub create node", err)
}

// trimItems removes the oldest items of a node beyond max.
func trimItems(ctx context.Context, tx *sql.Tx, user, node string, max int) error {
	if max <= 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `
DELETE FROM pubsub_items WHERE account = ?1 AND node = ?2 AND seq NOT IN (
	SELECT seq FROM pubsub_items WHERE account = ?1 AND node = ?2 ORDER BY seq DESC LIMIT ?3)`,
		user, node, max)
	return err
}

// nodeExists returns sql.ErrNoRows when the node does not exist.
func nodeExists(ctx context.Context, tx *sql.Tx, user, node string) error {
	var one int
	return tx.QueryRowContext(ctx, "SELECT 1 FROM pubsub_nodes WHERE account = ? AND node = ?", user, node).Scan(&one)
}

func (p pubsub) ConfigureNode(ctx context.Context, user string, n storage.PubsubNode, maxItems int) error {
	defer p.s.done("pubsub.configurenode", time.Now())
	err := p.s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE pubsub_nodes SET config = ? WHERE account = ? AND node = ?", n.Config, user, n.Name)
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 {
			if err == nil {
				err = storage.ErrNotFound
			}
			return err
		}
		return trimItems(ctx, tx, user, n.Name, maxItems)
	})
	return wrapErr("pubsub configure node", err)
}

func (p pubsub) DeleteNode(ctx context.Context, user, node string) error {
	defer p.s.done("pubsub.deletenode", time.Now())
	res, err := p.s.w.ExecContext(ctx, "DELETE FROM pubsub_nodes WHERE account = ? AND node = ?", user, node)
	if err == nil {
		if k, rerr := res.RowsAffected(); rerr != nil {
			err = rerr
		} else if k == 0 {
			err = storage.ErrNotFound
		}
	}
	return wrapErr("pubsub delete node", err)
}

func (p pubsub) Publish(ctx context.Context, user, node string, it storage.PubsubItem, maxItems int) error {
	defer p.s.done("pubsub.publish", time.Now())
	if it.Published.IsZero() {
		it.Published = p.s.now()
	}
	err := p.s.tx(ctx, func(tx *sql.Tx) error {
		if err := nodeExists(ctx, tx, user, node); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM pubsub_items WHERE account = ? AND node = ? AND item = ?", user, node, it.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
INSERT INTO pubsub_items (account, node, item, published, payload) VALUES (?, ?, ?, ?, ?)`,
			user, node, it.ID, micros(it.Published), it.Payload); err != nil {
			return err
		}
		return trimItems(ctx, tx, user, node, maxItems)
	})
	return wrapErr("pubsub publish", err)
}

func (p pubsub) Items(ctx context.Context, user, node string, max int) ([]storage.PubsubItem, error) {
	defer p.s.done("pubsub.items", time.Now())
	if max <= 0 {
		max = -1 // SQLite: no limit
	}
	// The LEFT JOIN gives one row of NULL items for an empty node, and
	// none at all when there is no node, in one snapshot.
	rows, err := p.s.r.QueryContext(ctx, `
SELECT i.item, i.published, i.payload
FROM pubsub_nodes n LEFT JOIN pubsub_items i ON i.account = n.account AND i.node = n.node
WHERE n.account = ? AND n.node = ?
ORDER BY i.seq DESC LIMIT ?`, user, node, max)
	if err != nil {
		return nil, wrapErr("pubsub items", err)
	}
	defer rows.Close()
	found := false
	var out []storage.PubsubItem
	for rows.Next() {
		found = true
		var (
			id, payload sql.NullString
			published   sql.NullInt64
		)
		if err := rows.Scan(&id, &published, &payload); err != nil {
			return nil, wrapErr("pubsub items", err)
		}
		if id.Valid {
			out = append(out, storage.PubsubItem{ID: id.String, Published: fromMicros(published.Int64), Payload: payload.String})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("pubsub items", err)
	}
	if !found {
		return nil, wrapErr("pubsub items", storage.ErrNotFound)
	}
	return out, nil
}

func (p pubsub) Item(ctx context.Context, user, node, id string) (storage.PubsubItem, error) {
	defer p.s.done("pubsub.item", time.Now())
	it := storage.PubsubItem{ID: id}
	var published int64
	err := p.s.r.QueryRowContext(ctx, `
SELECT published, payload FROM pubsub_items WHERE account = ? AND node = ? AND item = ?`,
		user, node, id).Scan(&published, &it.Payload)
	if err != nil {
		return storage.PubsubItem{}, wrapErr("pubsub item", err)
	}
	it.Published = fromMicros(published)
	return it, nil
}

func (p pubsub) Retract(ctx context.Context, user, node, id string) error {
	defer p.s.done("pubsub.retract", time.Now())
	res, err := p.s.w.ExecContext(ctx, "DELETE FROM pubsub_items WHERE account = ? AND node = ? AND item = ?", user, node, id)
	if err == nil {
		if k, rerr := res.RowsAffected(); rerr != nil {
			err = rerr
		} else if k == 0 {
			err = storage.ErrNotFound
		}
	}
	return wrapErr("pubsub retract", err)
}

func (p pubsub) Purge(ctx context.Context, user, node string) error {
	defer p.s.done("pubsub.purge", time.Now())
	err := p.s.tx(ctx, func(tx *sql.Tx) error {
		if err := nodeExists(ctx, tx, user, node); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM pubsub_items WHERE account = ? AND node = ?", user, node)
		return err
	})
	return wrapErr("pubsub purge", err)
}
