package sqlite

import (
	"context"
	"database/sql"
	"time"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlutil"
)

// pubsubServices keeps the nodes of the pubsub services that are nobody's
// account in tables of their own (migration 0010): they have no foreign
// key to accounts, and their items keep a publisher.
type pubsubServices struct{ pubsubNodes }

var serviceTables = newNodeTables(sqlutil.PubsubTables{
	Nodes: "pubsub_service_nodes", Items: "pubsub_service_items", Owner: "service",
	Publisher: true, Name: "pubsub services",
})

// PubsubServices returns the area of the publish-subscribe services.
func (s *Store) PubsubServices() storage.PubsubServices {
	return pubsubServices{pubsubNodes{s, serviceTables}}
}

// ItemPage reads in one read transaction, so that the page, the total
// and the position of after agree.
func (p pubsubServices) ItemPage(ctx context.Context, service, node, after string, max int) ([]storage.PubsubItem, int, error) {
	defer p.s.done("pubsubservices.itempage", time.Now())
	tx, err := p.s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, wrapErr("pubsub services item page", err)
	}
	defer func() { _ = tx.Rollback() }() // read only: nothing to keep
	items, total, err := p.itemPage(ctx, tx, service, node, after, max)
	return items, total, wrapErr("pubsub services item page", err)
}

func (p pubsubServices) itemPage(ctx context.Context, tx *sql.Tx, service, node, after string, max int) ([]storage.PubsubItem, int, error) {
	if err := p.nodeExists(ctx, tx, service, node); err != nil {
		return nil, 0, err
	}
	var total int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM pubsub_service_items WHERE service = ? AND node = ?", service, node).Scan(&total); err != nil {
		return nil, 0, err
	}
	// Items older than after have a smaller seq; with no after, every
	// seq is below the largest int64.
	var below int64 = 1<<63 - 1
	if after != "" {
		err := tx.QueryRowContext(ctx, "SELECT seq FROM pubsub_service_items WHERE service = ? AND node = ? AND item = ?", service, node, after).Scan(&below)
		if err != nil {
			return nil, 0, err // sql.ErrNoRows: after is not an item of the node
		}
	}
	if max <= 0 {
		max = -1 // SQLite: no limit
	}
	rows, err := tx.QueryContext(ctx, `
SELECT item, published, publisher, payload FROM pubsub_service_items
WHERE service = ? AND node = ? AND seq < ?
ORDER BY seq DESC LIMIT ?`, service, node, below, max)
	items, err := collect(rows, err, scanItem)
	return items, total, err
}

func (p pubsubServices) Affiliations(ctx context.Context, service, node string) ([]storage.PubsubAffiliation, error) {
	defer p.s.done("pubsubservices.affiliations", time.Now())
	// As in Items, the LEFT JOIN tells an empty node from none.
	rows, err := p.s.r.QueryContext(ctx, `
SELECT a.jid, a.affiliation
FROM pubsub_service_nodes n LEFT JOIN pubsub_service_affiliations a ON a.service = n.service AND a.node = n.node
WHERE n.service = ? AND n.node = ?
ORDER BY a.jid`, service, node)
	found := false
	out, err := collect(rows, err, func(sc scanner) (storage.PubsubAffiliation, error) {
		found = true
		var jid, aff sql.NullString
		err := sc.Scan(&jid, &aff)
		return storage.PubsubAffiliation{Node: node, JID: jid.String, Affiliation: aff.String}, err
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
	rows, err := p.s.r.QueryContext(ctx, `
SELECT node, affiliation FROM pubsub_service_affiliations
WHERE jid = ? AND service = ? ORDER BY node`, jid, service)
	out, err := collect(rows, err, func(sc scanner) (storage.PubsubAffiliation, error) {
		a := storage.PubsubAffiliation{JID: jid}
		err := sc.Scan(&a.Node, &a.Affiliation)
		return a, err
	})
	return out, wrapErr("pubsub services affiliations of", err)
}

func (p pubsubServices) SetAffiliation(ctx context.Context, service string, a storage.PubsubAffiliation) error {
	defer p.s.done("pubsubservices.setaffiliation", time.Now())
	var err error
	if a.Affiliation == storage.AffiliationNone {
		// No foreign key to fail here: look for the node first.
		err = p.s.tx(ctx, func(tx *sql.Tx) error {
			if err := p.nodeExists(ctx, tx, service, a.Node); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "DELETE FROM pubsub_service_affiliations WHERE service = ? AND node = ? AND jid = ?", service, a.Node, a.JID)
			return err
		})
	} else {
		// The foreign key refuses a node that does not exist.
		_, err = p.s.w.ExecContext(ctx, `
INSERT INTO pubsub_service_affiliations (service, node, jid, affiliation) VALUES (?, ?, ?, ?)
ON CONFLICT (service, node, jid) DO UPDATE SET affiliation = excluded.affiliation`,
			service, a.Node, a.JID, a.Affiliation)
	}
	return wrapErr("pubsub services set affiliation", err)
}

func (p pubsubServices) Subscriptions(ctx context.Context, service, node string) ([]storage.PubsubSubscription, error) {
	defer p.s.done("pubsubservices.subscriptions", time.Now())
	rows, err := p.s.r.QueryContext(ctx, `
SELECT s.jid, s.subid, s.state
FROM pubsub_service_nodes n LEFT JOIN pubsub_service_subscriptions s ON s.service = n.service AND s.node = n.node
WHERE n.service = ? AND n.node = ?
ORDER BY s.jid, s.subid`, service, node)
	found := false
	out, err := collect(rows, err, func(sc scanner) (storage.PubsubSubscription, error) {
		found = true
		var jid, subid, state sql.NullString
		err := sc.Scan(&jid, &subid, &state)
		return storage.PubsubSubscription{Node: node, JID: jid.String, SubID: subid.String, State: state.String}, err
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

// sqlJIDAndFull matches a bare JID ?1 and its full JIDs: those are the
// bare JID followed by "/" and a resource, which sort in byte order from
// bare+"/" to before bare+"0" ('0' follows '/'), so an index on jid finds
// them.
const sqlJIDAndFull = `(jid = ?1 OR (jid >= ?1 || '/' AND jid < ?1 || '0'))`

func (p pubsubServices) SubscriptionsOf(ctx context.Context, service, bare string) ([]storage.PubsubSubscription, error) {
	defer p.s.done("pubsubservices.subscriptionsof", time.Now())
	rows, err := p.s.r.QueryContext(ctx, `
SELECT node, jid, subid, state FROM pubsub_service_subscriptions
WHERE `+sqlJIDAndFull+` AND service = ?2 ORDER BY node, jid, subid`, bare, service)
	out, err := collect(rows, err, func(sc scanner) (storage.PubsubSubscription, error) {
		var s storage.PubsubSubscription
		err := sc.Scan(&s.Node, &s.JID, &s.SubID, &s.State)
		return s, err
	})
	return out, wrapErr("pubsub services subscriptions of", err)
}

func (p pubsubServices) Subscribe(ctx context.Context, service string, s storage.PubsubSubscription) error {
	defer p.s.done("pubsubservices.subscribe", time.Now())
	// The foreign key refuses a node that does not exist.
	_, err := p.s.w.ExecContext(ctx, `
INSERT INTO pubsub_service_subscriptions (service, node, jid, subid, state) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (service, node, jid, subid) DO UPDATE SET state = excluded.state`,
		service, s.Node, s.JID, s.SubID, s.State)
	return wrapErr("pubsub services subscribe", err)
}

func (p pubsubServices) Unsubscribe(ctx context.Context, service, node, jid, subid string) error {
	defer p.s.done("pubsubservices.unsubscribe", time.Now())
	err := p.s.execFound(ctx, `
DELETE FROM pubsub_service_subscriptions WHERE service = ? AND node = ? AND jid = ? AND subid = ?`,
		service, node, jid, subid)
	return wrapErr("pubsub services unsubscribe", err)
}

// deleteServiceJID removes the affiliations of user and the
// subscriptions of user and its full JIDs in every service: they have no
// foreign key to accounts that would cascade (the services' nodes are
// nobody's account), so Accounts.Delete calls it in its transaction.
func deleteServiceJID(ctx context.Context, tx *sql.Tx, user string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM pubsub_service_affiliations WHERE jid = ?", user); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM pubsub_service_subscriptions WHERE "+sqlJIDAndFull, user)
	return err
}
