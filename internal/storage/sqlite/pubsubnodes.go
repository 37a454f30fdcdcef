package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

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
	query     struct {
		nodes, node, countNodes, nodeExists   string
		createNode, configureNode, deleteNode string
		deleteItem, insertItem, trim, purge   string
		items, item                           string
	}
}

func newNodeTables(t sqlutil.PubsubTables) *nodeTables {
	n := &nodeTables{op: t.Ops(), publisher: t.Publisher}
	q := &n.query
	q.nodes = t.Expand("SELECT node, config FROM {nodes} WHERE {owner} = ? ORDER BY node")
	q.node = t.Expand("SELECT config FROM {nodes} WHERE {owner} = ? AND node = ?")
	q.countNodes = t.Expand("SELECT count(*) FROM {nodes} WHERE {owner} = ?")
	q.nodeExists = t.Expand("SELECT 1 FROM {nodes} WHERE {owner} = ? AND node = ?")
	q.createNode = t.Expand("INSERT INTO {nodes} ({owner}, node, config) VALUES (?, ?, ?)")
	q.configureNode = t.Expand("UPDATE {nodes} SET config = ? WHERE {owner} = ? AND node = ?")
	q.deleteNode = t.Expand("DELETE FROM {nodes} WHERE {owner} = ? AND node = ?")
	q.deleteItem = t.Expand("DELETE FROM {items} WHERE {owner} = ? AND node = ? AND item = ?")
	q.insertItem = t.Expand("INSERT INTO {items} ({owner}, node, item, published, payload) VALUES (?, ?, ?, ?, ?)")
	if t.Publisher {
		q.insertItem = t.Expand("INSERT INTO {items} ({owner}, node, item, published, payload, publisher) VALUES (?, ?, ?, ?, ?, ?)")
	}
	q.trim = t.Expand(`
DELETE FROM {items} WHERE {owner} = ?1 AND node = ?2 AND seq NOT IN (
	SELECT seq FROM {items} WHERE {owner} = ?1 AND node = ?2 ORDER BY seq DESC LIMIT ?3)`)
	q.purge = t.Expand("DELETE FROM {items} WHERE {owner} = ? AND node = ?")
	// The LEFT JOIN gives one row of NULL items for an empty node, and
	// none at all when there is no node, in one snapshot. The nodes have
	// no publisher column, so {publisher} needs no table.
	q.items = t.Expand(`
SELECT i.item, i.published, {publisher}, i.payload
FROM {nodes} n LEFT JOIN {items} i ON i.{owner} = n.{owner} AND i.node = n.node
WHERE n.{owner} = ? AND n.node = ?
ORDER BY i.seq DESC LIMIT ?`)
	q.item = t.Expand("SELECT item, published, {publisher}, payload FROM {items} WHERE {owner} = ? AND node = ? AND item = ?")
	return n
}

func (p pubsubNodes) Nodes(ctx context.Context, owner string) ([]storage.PubsubNode, error) {
	defer p.s.done(p.op.Nodes.Metric, time.Now())
	rows, err := p.s.r.QueryContext(ctx, p.query.nodes, owner)
	out, err := collect(rows, err, func(sc scanner) (storage.PubsubNode, error) {
		var n storage.PubsubNode
		err := sc.Scan(&n.Name, &n.Config)
		return n, err
	})
	return out, wrapErr(p.op.Nodes.Err, err)
}

func (p pubsubNodes) Node(ctx context.Context, owner, node string) (storage.PubsubNode, error) {
	defer p.s.done(p.op.Node.Metric, time.Now())
	n := storage.PubsubNode{Name: node}
	if err := p.s.r.QueryRowContext(ctx, p.query.node, owner, node).Scan(&n.Config); err != nil {
		return storage.PubsubNode{}, wrapErr(p.op.Node.Err, err)
	}
	return n, nil
}

var errNodeQuota = fmt.Errorf("too many nodes: %w", storage.ErrQuota)

func (p pubsubNodes) CreateNode(ctx context.Context, owner string, n storage.PubsubNode, limit int) error {
	defer p.s.done(p.op.CreateNode.Metric, time.Now())
	err := p.s.tx(ctx, func(tx *sql.Tx) error {
		if limit > 0 {
			var count int
			if err := tx.QueryRowContext(ctx, p.query.countNodes, owner).Scan(&count); err != nil {
				return err
			}
			if count >= limit {
				// An existing node is ErrExists even at the limit, as
				// below it.
				if err := p.nodeExists(ctx, tx, owner, n.Name); err == nil {
					return storage.ErrExists
				}
				return errNodeQuota
			}
		}
		_, err := tx.ExecContext(ctx, p.query.createNode, owner, n.Name, n.Config)
		return err
	})
	return wrapErr(p.op.CreateNode.Err, err)
}

// nodeExists returns sql.ErrNoRows when the node does not exist.
func (t *nodeTables) nodeExists(ctx context.Context, tx *sql.Tx, owner, node string) error {
	var one int
	return tx.QueryRowContext(ctx, t.query.nodeExists, owner, node).Scan(&one)
}

// trimItems removes the oldest items of a node beyond max.
func (t *nodeTables) trimItems(ctx context.Context, tx *sql.Tx, owner, node string, max int) error {
	if max <= 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, t.query.trim, owner, node, max)
	return err
}

func (p pubsubNodes) ConfigureNode(ctx context.Context, owner string, n storage.PubsubNode, maxItems int) error {
	defer p.s.done(p.op.ConfigureNode.Metric, time.Now())
	err := p.s.tx(ctx, func(tx *sql.Tx) error {
		if err := changedOne(tx.ExecContext(ctx, p.query.configureNode, n.Config, owner, n.Name)); err != nil {
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
	args := []any{owner, node, it.ID, micros(it.Published), it.Payload, it.Publisher}
	if !p.publisher {
		args = args[:5]
	}
	err := p.s.tx(ctx, func(tx *sql.Tx) error {
		if err := p.nodeExists(ctx, tx, owner, node); err != nil {
			return err
		}
		// Deleted and inserted, not updated: the new row's seq makes the
		// item the newest (XEP-0060 §12.1).
		if _, err := tx.ExecContext(ctx, p.query.deleteItem, owner, node, it.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, p.query.insertItem, args...); err != nil {
			return err
		}
		return p.trimItems(ctx, tx, owner, node, maxItems)
	})
	return wrapErr(p.op.Publish.Err, err)
}

func (p pubsubNodes) Items(ctx context.Context, owner, node string, max int) ([]storage.PubsubItem, error) {
	defer p.s.done(p.op.Items.Metric, time.Now())
	if max <= 0 {
		max = -1 // SQLite: no limit
	}
	rows, err := p.s.r.QueryContext(ctx, p.query.items, owner, node, max)
	if err != nil {
		return nil, wrapErr(p.op.Items.Err, err)
	}
	defer rows.Close()
	found := false
	var out []storage.PubsubItem
	for rows.Next() {
		found = true
		var (
			id, publisher, payload sql.NullString
			published              sql.NullInt64
		)
		if err := rows.Scan(&id, &published, &publisher, &payload); err != nil {
			return nil, wrapErr(p.op.Items.Err, err)
		}
		if id.Valid {
			out = append(out, storage.PubsubItem{
				ID:        id.String,
				Published: fromMicros(published.Int64),
				Publisher: publisher.String,
				Payload:   payload.String,
			})
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
func scanItem(sc scanner) (storage.PubsubItem, error) {
	var (
		it        storage.PubsubItem
		published int64
	)
	err := sc.Scan(&it.ID, &published, &it.Publisher, &it.Payload)
	it.Published = fromMicros(published)
	return it, err
}

func (p pubsubNodes) Item(ctx context.Context, owner, node, id string) (storage.PubsubItem, error) {
	defer p.s.done(p.op.Item.Metric, time.Now())
	it, err := scanItem(p.s.r.QueryRowContext(ctx, p.query.item, owner, node, id))
	if err != nil {
		return storage.PubsubItem{}, wrapErr(p.op.Item.Err, err)
	}
	return it, nil
}

func (p pubsubNodes) Retract(ctx context.Context, owner, node, id string) error {
	defer p.s.done(p.op.Retract.Metric, time.Now())
	err := p.s.execFound(ctx, p.query.deleteItem, owner, node, id)
	return wrapErr(p.op.Retract.Err, err)
}

func (p pubsubNodes) Purge(ctx context.Context, owner, node string) error {
	defer p.s.done(p.op.Purge.Metric, time.Now())
	err := p.s.tx(ctx, func(tx *sql.Tx) error {
		if err := p.nodeExists(ctx, tx, owner, node); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, p.query.purge, owner, node)
		return err
	})
	return wrapErr(p.op.Purge.Err, err)
}
