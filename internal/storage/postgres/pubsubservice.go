package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlutil"
)

// pubsubServices keeps the nodes of the pubsub services that are nobody's
// account in tables of their own (migration 0008): they have no foreign
// key to accounts, and their items keep a publisher.
type pubsubServices struct{ pubsubNodes }

var serviceTables = newNodeTables(sqlutil.PubsubTables{
	Nodes: "pubsub_service_nodes", Items: "pubsub_service_items", Owner: "service",
	Publisher: true, Name: "pubsub services",
}, lockService)

// PubsubServices returns the area of the publish-subscribe services.
func (s *Store) PubsubServices() storage.PubsubServices {
	return pubsubServices{pubsubNodes{s, serviceTables}}
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
		if err := tx.QueryRow(ctx, p.query.nodeExists, service, node).Scan(&one); err != nil {
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
		items, err = collect(rows, err, scanItem)
		return err
	})
	if err != nil {
		return nil, 0, wrapErr("pubsub services item page", err)
	}
	return items, total, nil
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
