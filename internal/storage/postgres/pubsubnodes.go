package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlutil"
)

// pubsubNodes implements storage.PubsubNodes for pubsub (users' own
// nodes) and pubsubServices, which embed it: their tables differ only
// in names and in the services' items keeping a publisher.
type pubsubNodes struct {
	s *Store
	*nodeTables
}

// nodeTables holds the queries and operation names for the tables of
// one kind of nodes, made once from their sqlutil.PubsubTables: every
// publication runs them.
type nodeTables struct {
	op        sqlutil.PubsubOps
	publisher bool // Publish stores it.Publisher
	// lockOwner takes the lock under which CreateNode counts the nodes
	// of a service against its limit, so that two creations cannot both
	// take the last place.
	lockOwner func(ctx context.Context, tx pgx.Tx, owner string) error
	query     struct {
		nodes, node, countNodes, nodeExists, lockNode string
		createNode, configureNode, deleteNode         string
		deleteItem, insertItem, trim, purge           string
		items, item                                   string
	}
}

func newNodeTables(t sqlutil.PubsubTables, lockOwner func(context.Context, pgx.Tx, string) error) *nodeTables {
	n := &nodeTables{op: t.Ops(), publisher: t.Publisher, lockOwner: lockOwner}
	q := &n.query
	q.nodes = t.Expand("SELECT node, config FROM {nodes} WHERE {owner} = $1 ORDER BY node")
	q.node = t.Expand("SELECT config FROM {nodes} WHERE {owner} = $1 AND node = $2")
	q.countNodes = t.Expand("SELECT count(*), coalesce(bool_or(node = $2), false) FROM {nodes} WHERE {owner} = $1")
	q.nodeExists = t.Expand("SELECT 1 FROM {nodes} WHERE {owner} = $1 AND node = $2")
	q.lockNode = q.nodeExists + " FOR NO KEY UPDATE"
	q.createNode = t.Expand("INSERT INTO {nodes} ({owner}, node, config) VALUES ($1, $2, $3)")
	q.configureNode = t.Expand("UPDATE {nodes} SET config = $1 WHERE {owner} = $2 AND node = $3")
	q.deleteNode = t.Expand("DELETE FROM {nodes} WHERE {owner} = $1 AND node = $2")
	q.deleteItem = t.Expand("DELETE FROM {items} WHERE {owner} = $1 AND node = $2 AND item = $3")
	q.insertItem = t.Expand("INSERT INTO {items} ({owner}, node, item, published, payload) VALUES ($1, $2, $3, $4, $5)")
	if t.Publisher {
		q.insertItem = t.Expand("INSERT INTO {items} ({owner}, node, item, published, payload, publisher) VALUES ($1, $2, $3, $4, $5, $6)")
	}
	// trim removes the items at or before the (max+1)th newest.
	q.trim = t.Expand(`
DELETE FROM {items} WHERE {owner} = $1 AND node = $2 AND seq <= (
	SELECT seq FROM {items} WHERE {owner} = $1 AND node = $2
	ORDER BY seq DESC OFFSET $3 LIMIT 1)`)
	q.purge = t.Expand("DELETE FROM {items} WHERE {owner} = $1 AND node = $2")
	// The LEFT JOIN gives one row of NULL items for an empty node, and
	// none at all when there is no node, in one snapshot. The nodes have
	// no publisher column, so {publisher} needs no table.
	q.items = t.Expand(`
SELECT i.item, i.published, {publisher}, i.payload
FROM {nodes} n LEFT JOIN {items} i ON i.{owner} = n.{owner} AND i.node = n.node
WHERE n.{owner} = $1 AND n.node = $2
ORDER BY i.seq DESC LIMIT $3`)
	q.item = t.Expand("SELECT item, published, {publisher}, payload FROM {items} WHERE {owner} = $1 AND node = $2 AND item = $3")
	return n
}

func (p pubsubNodes) Nodes(ctx context.Context, owner string) ([]storage.PubsubNode, error) {
	defer p.s.done(p.op.Nodes.Metric, time.Now())
	rows, err := p.s.pool.Query(ctx, p.query.nodes, owner)
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.PubsubNode, error) {
		var n storage.PubsubNode
		err := row.Scan(&n.Name, &n.Config)
		return n, err
	})
	return out, wrapErr(p.op.Nodes.Err, err)
}

func (p pubsubNodes) Node(ctx context.Context, owner, node string) (storage.PubsubNode, error) {
	defer p.s.done(p.op.Node.Metric, time.Now())
	n := storage.PubsubNode{Name: node}
	if err := p.s.pool.QueryRow(ctx, p.query.node, owner, node).Scan(&n.Config); err != nil {
		return storage.PubsubNode{}, wrapErr(p.op.Node.Err, err)
	}
	return n, nil
}

var errNodeQuota = fmt.Errorf("too many nodes: %w", storage.ErrQuota)

func (p pubsubNodes) CreateNode(ctx context.Context, owner string, n storage.PubsubNode, limit int) error {
	defer p.s.done(p.op.CreateNode.Metric, time.Now())
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		if limit > 0 {
			if err := p.lockOwner(ctx, tx, owner); err != nil {
				return err
			}
			var (
				count  int
				exists bool
			)
			if err := tx.QueryRow(ctx, p.query.countNodes, owner, n.Name).Scan(&count, &exists); err != nil {
				return err
			}
			if exists {
				return storage.ErrExists
			}
			if count >= limit {
				return errNodeQuota
			}
		}
		_, err := tx.Exec(ctx, p.query.createNode, owner, n.Name, n.Config)
		return err
	})
	return wrapErr(p.op.CreateNode.Err, err)
}

// lockNode locks a node's row until the end of the transaction, or
// returns pgx.ErrNoRows when there is no such node. Publications to one
// node queue there, so that their items are numbered in commit order.
func (t *nodeTables) lockNode(ctx context.Context, tx pgx.Tx, owner, node string) error {
	var one int
	return tx.QueryRow(ctx, t.query.lockNode, owner, node).Scan(&one)
}

// trimItems removes the oldest items of a node beyond max.
func (t *nodeTables) trimItems(ctx context.Context, tx pgx.Tx, owner, node string, max int) error {
	if max <= 0 {
		return nil
	}
	_, err := tx.Exec(ctx, t.query.trim, owner, node, max)
	return err
}

func (p pubsubNodes) ConfigureNode(ctx context.Context, owner string, n storage.PubsubNode, maxItems int) error {
	defer p.s.done(p.op.ConfigureNode.Metric, time.Now())
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		if err := execFoundOn(ctx, tx, p.query.configureNode, n.Config, owner, n.Name); err != nil {
			return err
		}
		return p.trimItems(ctx, tx, owner, n.Name, maxItems)
	})
	return wrapErr(p.op.ConfigureNode.Err, err)
}

// DeleteNode removes the node row; ON DELETE CASCADE removes what hangs
// on it (items, subscriptions, a service's affiliations) in the same
// statement.
func (p pubsubNodes) DeleteNode(ctx context.Context, owner, node string) error {
	defer p.s.done(p.op.DeleteNode.Metric, time.Now())
	err := p.s.execFound(ctx, p.query.deleteNode, owner, node)
	return wrapErr(p.op.DeleteNode.Err, err)
}

func (p pubsubNodes) Publish(ctx context.Context, owner, node string, it storage.PubsubItem, maxItems int) error {
	defer p.s.done(p.op.Publish.Metric, time.Now())
	if it.Published.IsZero() {
		it.Published = p.s.now()
	}
	args := []any{owner, node, it.ID, micro(it.Published), it.Payload, it.Publisher}
	if !p.publisher {
		args = args[:5]
	}
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		if err := p.lockNode(ctx, tx, owner, node); err != nil {
			return err
		}
		// Deleted and inserted, not updated: the new row's seq makes the
		// item the newest (XEP-0060 §12.1).
		if _, err := tx.Exec(ctx, p.query.deleteItem, owner, node, it.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, p.query.insertItem, args...); err != nil {
			return err
		}
		return p.trimItems(ctx, tx, owner, node, maxItems)
	})
	return wrapErr(p.op.Publish.Err, err)
}

func (p pubsubNodes) Items(ctx context.Context, owner, node string, max int) ([]storage.PubsubItem, error) {
	defer p.s.done(p.op.Items.Metric, time.Now())
	var limit *int // NULL: LIMIT ALL
	if max > 0 {
		limit = &max
	}
	rows, err := p.s.pool.Query(ctx, p.query.items, owner, node, limit)
	if err != nil {
		return nil, wrapErr(p.op.Items.Err, err)
	}
	defer rows.Close()
	found := false
	var out []storage.PubsubItem
	for rows.Next() {
		found = true
		var (
			id, publisher, payload *string
			published              *time.Time
		)
		if err := rows.Scan(&id, &published, &publisher, &payload); err != nil {
			return nil, wrapErr(p.op.Items.Err, err)
		}
		if id != nil {
			out = append(out, storage.PubsubItem{ID: *id, Published: utc(*published), Publisher: *publisher, Payload: *payload})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(p.op.Items.Err, err)
	}
	if !found {
		return nil, wrapErr(p.op.Items.Err, storage.ErrNotFound)
	}
	return out, nil
}

// scanItem scans item, published, publisher, payload.
func scanItem(row pgx.CollectableRow) (storage.PubsubItem, error) {
	var it storage.PubsubItem
	err := row.Scan(&it.ID, &it.Published, &it.Publisher, &it.Payload)
	it.Published = utc(it.Published)
	return it, err
}

func (p pubsubNodes) Item(ctx context.Context, owner, node, id string) (storage.PubsubItem, error) {
	defer p.s.done(p.op.Item.Metric, time.Now())
	var it storage.PubsubItem
	err := p.s.pool.QueryRow(ctx, p.query.item, owner, node, id).Scan(&it.ID, &it.Published, &it.Publisher, &it.Payload)
	if err != nil {
		return storage.PubsubItem{}, wrapErr(p.op.Item.Err, err)
	}
	it.Published = utc(it.Published)
	return it, nil
}

func (p pubsubNodes) Retract(ctx context.Context, owner, node, id string) error {
	defer p.s.done(p.op.Retract.Metric, time.Now())
	err := p.s.execFound(ctx, p.query.deleteItem, owner, node, id)
	return wrapErr(p.op.Retract.Err, err)
}

func (p pubsubNodes) Purge(ctx context.Context, owner, node string) error {
	defer p.s.done(p.op.Purge.Metric, time.Now())
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		if err := p.lockNode(ctx, tx, owner, node); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, p.query.purge, owner, node)
		return err
	})
	return wrapErr(p.op.Purge.Err, err)
}
