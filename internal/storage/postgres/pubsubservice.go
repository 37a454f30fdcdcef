package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
)

// pubsubServices keeps the nodes of the pubsub services that are nobody's
// account in tables of their own (migration 0008): they have no foreign
// key to accounts, and their items keep a publisher.
type pubsubServices struct{ s *Store }

// PubsubServices returns the area of the publish-subscribe services.
func (s *Store) PubsubServices() storage.PubsubServices { return pubsubServices{s} }

func (p pubsubServices) Nodes(ctx context.Context, service string) ([]storage.PubsubNode, error) {
	defer p.s.done("pubsubservices.nodes", time.Now())
	rows, err := p.s.pool.Query(ctx, "SELECT node, config FROM pubsub_service_nodes WHERE service = $1 ORDER BY node", service)
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.PubsubNode, error) {
		var n storage.PubsubNode
		err := row.Scan(&n.Name, &n.Config)
		return n, err
	})
	return out, wrapErr("pubsub services nodes", err)
}

func (p pubsubServices) Node(ctx context.Context, service, node string) (storage.PubsubNode, error) {
	defer p.s.done("pubsubservices.node", time.Now())
	n := storage.PubsubNode{Name: node}
	err := p.s.pool.QueryRow(ctx, "SELECT config FROM pubsub_service_nodes WHERE service = $1 AND node = $2", service, node).Scan(&n.Config)
	if err != nil {
		return storage.PubsubNode{}, wrapErr("pubsub services node", err)
	}
	return n, nil
}

// serviceLockClass is the first key of the advisory locks that stand for
// a service: the two-key form, whose keys never meet the one-key
// migration lock's.
const serviceLockClass = 0x7073 // "ps"

// lockService takes an advisory lock on a service until the end of the
// transaction. A service has no row of its own to lock, as a user has
// in accounts; CreateNode with a limit takes this lock instead, so that
// two creations cannot both take the last place. A collision of hashes
// only makes two services queue together.
func lockService(ctx context.Context, tx pgx.Tx, service string) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", int32(serviceLockClass), service)
	return err
}

func (p pubsubServices) CreateNode(ctx context.Context, service string, n storage.PubsubNode, limit int) error {
	defer p.s.done("pubsubservices.createnode", time.Now())
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		if limit > 0 {
			if err := lockService(ctx, tx, service); err != nil {
				return err
			}
			var (
				count  int
				exists bool
			)
			if err := tx.QueryRow(ctx, `
SELECT count(*), coalesce(bool_or(node = $2), false) FROM pubsub_service_nodes WHERE service = $1`,
				service, n.Name).Scan(&count, &exists); err != nil {
				return err
			}
			if exists {
				return storage.ErrExists
			}
			if count >= limit {
				return errNodeQuota
			}
		}
		_, err := tx.Exec(ctx, "INSERT INTO pubsub_service_nodes (service, node, config) VALUES ($1, $2, $3)", service, n.Name, n.Config)
		return err
	})
	return wrapErr("pubsub services create node", err)
}

// lockServiceNode locks a node's row until the end of the transaction, or
// returns pgx.ErrNoRows when there is no such node. Publications to one
// node queue there, so that their items are numbered in commit order.
func lockServiceNode(ctx context.Context, tx pgx.Tx, service, node string) error {
	var one int
	return tx.QueryRow(ctx, "SELECT 1 FROM pubsub_service_nodes WHERE service = $1 AND node = $2 FOR NO KEY UPDATE", service, node).Scan(&one)
}

// trimServiceItems removes the oldest items of a node beyond max: those
// at or before the (max+1)th newest.
func trimServiceItems(ctx context.Context, tx pgx.Tx, service, node string, max int) error {
	if max <= 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `
DELETE FROM pubsub_service_items WHERE service = $1 AND node = $2 AND seq <= (
	SELECT seq FROM pubsub_service_items WHERE service = $1 AND node = $2
	ORDER BY seq DESC OFFSET $3 LIMIT 1)`,
		service, node, max)
	return err
}

func (p pubsubServices) ConfigureNode(ctx context.Context, service string, n storage.PubsubNode, maxItems int) error {
	defer p.s.done("pubsubservices.configurenode", time.Now())
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		if err := execFoundOn(ctx, tx, "UPDATE pubsub_service_nodes SET config = $1 WHERE service = $2 AND node = $3", n.Config, service, n.Name); err != nil {
			return err
		}
		return trimServiceItems(ctx, tx, service, n.Name, maxItems)
	})
	return wrapErr("pubsub services configure node", err)
}

// DeleteNode removes the node row; ON DELETE CASCADE removes its items,
// affiliations and subscriptions in the same statement.
func (p pubsubServices) DeleteNode(ctx context.Context, service, node string) error {
	defer p.s.done("pubsubservices.deletenode", time.Now())
	err := p.s.execFound(ctx, "DELETE FROM pubsub_service_nodes WHERE service = $1 AND node = $2", service, node)
	return wrapErr("pubsub services delete node", err)
}

func (p pubsubServices) Publish(ctx context.Context, service, node string, it storage.PubsubItem, maxItems int) error {
	defer p.s.done("pubsubservices.publish", time.Now())
	if it.Published.IsZero() {
		it.Published = p.s.now()
	}
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockServiceNode(ctx, tx, service, node); err != nil {
			return err
		}
		// Deleted and inserted, not updated: the new row's seq makes the
		// item the newest (XEP-0060 §12.1).
		if _, err := tx.Exec(ctx, "DELETE FROM pubsub_service_items WHERE service = $1 AND node = $2 AND item = $3", service, node, it.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
INSERT INTO pubsub_service_items (service, node, item, published, publisher, payload) VALUES ($1, $2, $3, $4, $5, $6)`,
			service, node, it.ID, micro(it.Published), it.Publisher, it.Payload); err != nil {
			return err
		}
		return trimServiceItems(ctx, tx, service, node, maxItems)
	})
	return wrapErr("pubsub services publish", err)
}

func (p pubsubServices) Items(ctx context.Context, service, node string, max int) ([]storage.PubsubItem, error) {
	defer p.s.done("pubsubservices.items", time.Now())
	var limit *int // NULL: LIMIT ALL
	if max > 0 {
		limit = &max
	}
	// The LEFT JOIN gives one row of NULL items for an empty node, and
	// none at all when there is no node, in one snapshot.
	rows, err := p.s.pool.Query(ctx, `
SELECT i.item, i.published, i.publisher, i.payload
FROM pubsub_service_nodes n LEFT JOIN pubsub_service_items i ON i.service = n.service AND i.node = n.node
WHERE n.service = $1 AND n.node = $2
ORDER BY i.seq DESC LIMIT $3`, service, node, limit)
	if err != nil {
		return nil, wrapErr("pubsub services items", err)
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
			return nil, wrapErr("pubsub services items", err)
		}
		if id != nil {
			out = append(out, storage.PubsubItem{ID: *id, Published: utc(*published), Publisher: *publisher, Payload: *payload})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("pubsub services items", err)
	}
	if !found {
		return nil, wrapErr("pubsub services items", storage.ErrNotFound)
	}
	return out, nil
}

// ItemPage reads in one snapshot (readTx), so that the page, the total
// and the position of after agree.
func (p pubsubServices) ItemPage(ctx context.Context, service, node, after string, max int) ([]storage.PubsubItem, int, error) {
	defer p.s.done("pubsubservices.itempage", time.Now())
	var (
		items []storage.PubsubItem
		total int
	)
	err := p.s.readTx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM pubsub_service_nodes WHERE service = $1 AND node = $2", service, node).Scan(&one); err != nil {
			return err // pgx.ErrNoRows: no such node
		}
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM pubsub_service_items WHERE service = $1 AND node = $2", service, node).Scan(&total); err != nil {
			return err
		}
		// Items older than after have a smaller seq; with no after,
		// every seq is below the largest bigint.
		var below int64 = 1<<63 - 1
		if after != "" {
			err := tx.QueryRow(ctx, "SELECT seq FROM pubsub_service_items WHERE service = $1 AND node = $2 AND item = $3", service, node, after).Scan(&below)
			if err != nil {
				return err // pgx.ErrNoRows: after is not an item of the node
			}
		}
		var limit *int // NULL: LIMIT ALL
		if max > 0 {
			limit = &max
		}
		rows, err := tx.Query(ctx, `
SELECT item, published, publisher, payload FROM pubsub_service_items
WHERE service = $1 AND node = $2 AND seq < $3
ORDER BY seq DESC LIMIT $4`, service, node, below, limit)
		items, err = collect(rows, err, scanServiceItem)
		return err
	})
	if err != nil {
		return nil, 0, wrapErr("pubsub services item page", err)
	}
	return items, total, nil
}

// scanServiceItem scans item, published, publisher, payload.
func scanServiceItem(row pgx.CollectableRow) (storage.PubsubItem, error) {
	var it storage.PubsubItem
	err := row.Scan(&it.ID, &it.Published, &it.Publisher, &it.Payload)
	it.Published = utc(it.Published)
	return it, err
}

func (p pubsubServices) Item(ctx context.Context, service, node, id string) (storage.PubsubItem, error) {
	defer p.s.done("pubsubservices.item", time.Now())
	it := storage.PubsubItem{ID: id}
	err := p.s.pool.QueryRow(ctx, `
SELECT published, publisher, payload FROM pubsub_service_items WHERE service = $1 AND node = $2 AND item = $3`,
		service, node, id).Scan(&it.Published, &it.Publisher, &it.Payload)
	if err != nil {
		return storage.PubsubItem{}, wrapErr("pubsub services item", err)
	}
	it.Published = utc(it.Published)
	return it, nil
}

func (p pubsubServices) Retract(ctx context.Context, service, node, id string) error {
	defer p.s.done("pubsubservices.retract", time.Now())
	err := p.s.execFound(ctx, "DELETE FROM pubsub_service_items WHERE service = $1 AND node = $2 AND item = $3", service, node, id)
	return wrapErr("pubsub services retract", err)
}

func (p pubsubServices) Purge(ctx context.Context, service, node string) error {
	defer p.s.done("pubsubservices.purge", time.Now())
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockServiceNode(ctx, tx, service, node); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM pubsub_service_items WHERE service = $1 AND node = $2", service, node)
		return err
	})
	return wrapErr("pubsub services purge", err)
}

func (p pubsubServices) Affiliations(ctx context.Context, service, node string) ([]storage.PubsubAffiliation, error) {
	defer p.s.done("pubsubservices.affiliations", time.Now())
	// As in Items, the LEFT JOIN tells an empty node from none.
	rows, err := p.s.pool.Query(ctx, `
SELECT a.jid, a.affiliation
FROM pubsub_service_nodes n LEFT JOIN pubsub_service_affiliations a ON a.service = n.service AND a.node = n.node
WHERE n.service = $1 AND n.node = $2
ORDER BY a.jid`, service, node)
	found := false
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.PubsubAffiliation, error) {
		found = true
		var jid, aff *string
		if err := row.Scan(&jid, &aff); err != nil || jid == nil {
			return storage.PubsubAffiliation{}, err
		}
		return storage.PubsubAffiliation{Node: node, JID: *jid, Affiliation: *aff}, nil
	})
	if err == nil && !found {
		err = storage.ErrNotFound
	}
	if err != nil {
		return nil, wrapErr("pubsub services affiliations", err)
	}
	if len(out) == 1 && out[0].JID == "" {
		return nil, nil // the NULL row of a node with no affiliations
	}
	return out, nil
}

func (p pubsubServices) AffiliationsOf(ctx context.Context, service, jid string) ([]storage.PubsubAffiliation, error) {
	defer p.s.done("pubsubservices.affiliationsof", time.Now())
	rows, err := p.s.pool.Query(ctx, `
SELECT node, affiliation FROM pubsub_service_affiliations
WHERE jid = $1 AND service = $2 ORDER BY node`, jid, service)
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.PubsubAffiliation, error) {
		a := storage.PubsubAffiliation{JID: jid}
		err := row.Scan(&a.Node, &a.Affiliation)
		return a, err
	})
	return out, wrapErr("pubsub services affiliations of", err)
}

func (p pubsubServices) SetAffiliation(ctx context.Context, service string, a storage.PubsubAffiliation) error {
	defer p.s.done("pubsubservices.setaffiliation", time.Now())
	var err error
	if a.Affiliation == storage.AffiliationNone {
		// No foreign key to fail here: look for the node first, and
		// keep it from going meanwhile (FOR KEY SHARE).
		err = p.s.tx(ctx, func(tx pgx.Tx) error {
			var one int
			if err := tx.QueryRow(ctx, "SELECT 1 FROM pubsub_service_nodes WHERE service = $1 AND node = $2 FOR KEY SHARE", service, a.Node).Scan(&one); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "DELETE FROM pubsub_service_affiliations WHERE service = $1 AND node = $2 AND jid = $3", service, a.Node, a.JID)
			return err
		})
	} else {
		// The foreign key refuses a node that does not exist.
		_, err = p.s.pool.Exec(ctx, `
INSERT INTO pubsub_service_affiliations (service, node, jid, affiliation) VALUES ($1, $2, $3, $4)
ON CONFLICT (service, node, jid) DO UPDATE SET affiliation = excluded.affiliation`,
			service, a.Node, a.JID, a.Affiliation)
	}
	return wrapErr("pubsub services set affiliation", err)
}

func (p pubsubServices) Subscriptions(ctx context.Context, service, node string) ([]storage.PubsubSubscription, error) {
	defer p.s.done("pubsubservices.subscriptions", time.Now())
	rows, err := p.s.pool.Query(ctx, `
SELECT s.jid, s.subid, s.state
FROM pubsub_service_nodes n LEFT JOIN pubsub_service_subscriptions s ON s.service = n.service AND s.node = n.node
WHERE n.service = $1 AND n.node = $2
ORDER BY s.jid, s.subid`, service, node)
	found := false
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.PubsubSubscription, error) {
		found = true
		var jid, subid, state *string
		if err := row.Scan(&jid, &subid, &state); err != nil || jid == nil {
			return storage.PubsubSubscription{}, err
		}
		return storage.PubsubSubscription{Node: node, JID: *jid, SubID: *subid, State: *state}, nil
	})
	if err == nil && !found {
		err = storage.ErrNotFound
	}
	if err != nil {
		return nil, wrapErr("pubsub services subscriptions", err)
	}
	if len(out) == 1 && out[0].State == "" {
		return nil, nil // the NULL row of a node with no subscriptions
	}
	return out, nil
}

// sqlJIDAndFull matches a bare JID $1 and its full JIDs: those are the
// bare JID followed by "/" and a resource, which sort in byte order (the
// column is COLLATE "C") from bare+"/" to before bare+"0" ('0' follows
// '/'), so an index on jid finds them.
const sqlJIDAndFull = `(jid = $1 OR (jid >= $1 || '/' AND jid < $1 || '0'))`

func (p pubsubServices) SubscriptionsOf(ctx context.Context, service, bare string) ([]storage.PubsubSubscription, error) {
	defer p.s.done("pubsubservices.subscriptionsof", time.Now())
	rows, err := p.s.pool.Query(ctx, `
SELECT node, jid, subid, state FROM pubsub_service_subscriptions
WHERE `+sqlJIDAndFull+` AND service = $2 ORDER BY node, jid, subid`, bare, service)
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.PubsubSubscription, error) {
		var s storage.PubsubSubscription
		err := row.Scan(&s.Node, &s.JID, &s.SubID, &s.State)
		return s, err
	})
	return out, wrapErr("pubsub services subscriptions of", err)
}

func (p pubsubServices) Subscribe(ctx context.Context, service string, s storage.PubsubSubscription) error {
	defer p.s.done("pubsubservices.subscribe", time.Now())
	// The foreign key refuses a node that does not exist.
	_, err := p.s.pool.Exec(ctx, `
INSERT INTO pubsub_service_subscriptions (service, node, jid, subid, state) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (service, node, jid, subid) DO UPDATE SET state = excluded.state`,
		service, s.Node, s.JID, s.SubID, s.State)
	return wrapErr("pubsub services subscribe", err)
}

func (p pubsubServices) Unsubscribe(ctx context.Context, service, node, jid, subid string) error {
	defer p.s.done("pubsubservices.unsubscribe", time.Now())
	err := p.s.execFound(ctx, `
DELETE FROM pubsub_service_subscriptions WHERE service = $1 AND node = $2 AND jid = $3 AND subid = $4`,
		service, node, jid, subid)
	return wrapErr("pubsub services unsubscribe", err)
}

// deleteServiceJID removes the affiliations of user and the
// subscriptions of user and its full JIDs in every service: they have no
// foreign key to accounts that would cascade (the services' nodes are
// nobody's account), so Accounts.Delete calls it in its transaction.
func deleteServiceJID(ctx context.Context, tx pgx.Tx, user string) error {
	if _, err := tx.Exec(ctx, "DELETE FROM pubsub_service_affiliations WHERE jid = $1", user); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "DELETE FROM pubsub_service_subscriptions WHERE "+sqlJIDAndFull, user)
	return err
}
