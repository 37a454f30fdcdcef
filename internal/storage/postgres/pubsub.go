package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
)

type pubsub struct{ s *Store }

func (p pubsub) Nodes(ctx context.Context, user string) ([]storage.PubsubNode, error) {
	defer p.s.done("pubsub.nodes", time.Now())
	rows, err := p.s.pool.Query(ctx, "SELECT node, config FROM pubsub_nodes WHERE account = $1 ORDER BY node", user)
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.PubsubNode, error) {
		var n storage.PubsubNode
		err := row.Scan(&n.Name, &n.Config)
		return n, err
	})
	return out, wrapErr("pubsub nodes", err)
}

func (p pubsub) Node(ctx context.Context, user, node string) (storage.PubsubNode, error) {
	defer p.s.done("pubsub.node", time.Now())
	n := storage.PubsubNode{Name: node}
	err := p.s.pool.QueryRow(ctx, "SELECT config FROM pubsub_nodes WHERE account = $1 AND node = $2", user, node).Scan(&n.Config)
	if err != nil {
		return storage.PubsubNode{}, wrapErr("pubsub node", err)
	}
	return n, nil
}

var errNodeQuota = fmt.Errorf("too many nodes: %w", storage.ErrQuota)

func (p pubsub) CreateNode(ctx context.Context, user string, n storage.PubsubNode, limit int) error {
	defer p.s.done("pubsub.createnode", time.Now())
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		if limit > 0 {
			// Under the lock, so that two creations cannot both take
			// the last place.
			if err := lockAccount(ctx, tx, user); err != nil {
				return err
			}
			var (
				count  int
				exists bool
			)
			if err := tx.QueryRow(ctx, `
SELECT count(*), coalesce(bool_or(node = $2), false) FROM pubsub_nodes WHERE account = $1`,
				user, n.Name).Scan(&count, &exists); err != nil {
				return err
			}
			if exists {
				return storage.ErrExists
			}
			if count >= limit {
				return errNodeQuota
			}
		}
		_, err := tx.Exec(ctx, "INSERT INTO pubsub_nodes (account, node, config) VALUES ($1, $2, $3)", user, n.Name, n.Config)
		return err
	})
	return wrapErr("pubsub create node", err)
}

// lockNode locks a node's row until the end of the transaction, or
// returns pgx.ErrNoRows when there is no such node. Publications to one
// node queue there, so that their items are numbered in commit order.
func lockNode(ctx context.Context, tx pgx.Tx, user, node string) error {
	var one int
	return tx.QueryRow(ctx, "SELECT 1 FROM pubsub_nodes WHERE account = $1 AND node = $2 FOR NO KEY UPDATE", user, node).Scan(&one)
}

// trimItems removes the oldest items of a node beyond max: those at or
// before the (max+1)th newest.
func trimItems(ctx context.Context, tx pgx.Tx, user, node string, max int) error {
	if max <= 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `
DELETE FROM pubsub_items WHERE account = $1 AND node = $2 AND seq <= (
	SELECT seq FROM pubsub_items WHERE account = $1 AND node = $2
	ORDER BY seq DESC OFFSET $3 LIMIT 1)`,
		user, node, max)
	return err
}

func (p pubsub) ConfigureNode(ctx context.Context, user string, n storage.PubsubNode, maxItems int) error {
	defer p.s.done("pubsub.configurenode", time.Now())
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE pubsub_nodes SET config = $1 WHERE account = $2 AND node = $3", n.Config, user, n.Name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return trimItems(ctx, tx, user, n.Name, maxItems)
	})
	return wrapErr("pubsub configure node", err)
}

func (p pubsub) DeleteNode(ctx context.Context, user, node string) error {
	defer p.s.done("pubsub.deletenode", time.Now())
	err := p.s.execFound(ctx, "DELETE FROM pubsub_nodes WHERE account = $1 AND node = $2", user, node)
	return wrapErr("pubsub delete node", err)
}

func (p pubsub) Publish(ctx context.Context, user, node string, it storage.PubsubItem, maxItems int) error {
	defer p.s.done("pubsub.publish", time.Now())
	if it.Published.IsZero() {
		it.Published = p.s.now()
	}
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockNode(ctx, tx, user, node); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM pubsub_items WHERE account = $1 AND node = $2 AND item = $3", user, node, it.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
INSERT INTO pubsub_items (account, node, item, published, payload) VALUES ($1, $2, $3, $4, $5)`,
			user, node, it.ID, micro(it.Published), it.Payload); err != nil {
			return err
		}
		return trimItems(ctx, tx, user, node, maxItems)
	})
	return wrapErr("pubsub publish", err)
}

func (p pubsub) Items(ctx context.Context, user, node string, max int) ([]storage.PubsubItem, error) {
	defer p.s.done("pubsub.items", time.Now())
	var limit *int // NULL: LIMIT ALL
	if max > 0 {
		limit = &max
	}
	// The LEFT JOIN gives one row of NULL items for an empty node, and
	// none at all when there is no node, in one snapshot.
	rows, err := p.s.pool.Query(ctx, `
SELECT i.item, i.published, i.payload
FROM pubsub_nodes n LEFT JOIN pubsub_items i ON i.account = n.account AND i.node = n.node
WHERE n.account = $1 AND n.node = $2
ORDER BY i.seq DESC LIMIT $3`, user, node, limit)
	if err != nil {
		return nil, wrapErr("pubsub items", err)
	}
	defer rows.Close()
	found := false
	var out []storage.PubsubItem
	for rows.Next() {
		found = true
		var (
			id, payload *string
			published   *time.Time
		)
		if err := rows.Scan(&id, &published, &payload); err != nil {
			return nil, wrapErr("pubsub items", err)
		}
		if id != nil {
			out = append(out, storage.PubsubItem{ID: *id, Published: utc(*published), Payload: *payload})
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
	err := p.s.pool.QueryRow(ctx, `
SELECT published, payload FROM pubsub_items WHERE account = $1 AND node = $2 AND item = $3`,
		user, node, id).Scan(&it.Published, &it.Payload)
	if err != nil {
		return storage.PubsubItem{}, wrapErr("pubsub item", err)
	}
	it.Published = utc(it.Published)
	return it, nil
}

func (p pubsub) Retract(ctx context.Context, user, node, id string) error {
	defer p.s.done("pubsub.retract", time.Now())
	err := p.s.execFound(ctx, "DELETE FROM pubsub_items WHERE account = $1 AND node = $2 AND item = $3", user, node, id)
	return wrapErr("pubsub retract", err)
}

func (p pubsub) Purge(ctx context.Context, user, node string) error {
	defer p.s.done("pubsub.purge", time.Now())
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockNode(ctx, tx, user, node); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM pubsub_items WHERE account = $1 AND node = $2", user, node)
		return err
	})
	return wrapErr("pubsub purge", err)
}
