package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlutil"
)

func (p pubsub) Subscriptions(ctx context.Context, user, node string) ([]storage.PubsubSubscription, error) {
	defer p.s.done("pubsub.subscriptions", time.Now())
	jids, err := p.s.strings(ctx, "SELECT jid FROM pubsub_subscriptions WHERE account = $1 AND node = $2 ORDER BY jid", user, node)
	if err == nil && len(jids) == 0 {
		// No subscriptions, or no node: tell them apart. A node
		// deleted in between gives either answer, as it would a moment
		// earlier or later.
		var one int
		err = p.s.pool.QueryRow(ctx, p.query.nodeExists, user, node).Scan(&one)
	}
	if err != nil {
		return nil, wrapErr("pubsub subscriptions", err)
	}
	return sqlutil.PEPSubscriptions(node, jids), nil
}

func (p pubsub) SubscriptionsOf(ctx context.Context, user, bare string) ([]storage.PubsubSubscription, error) {
	defer p.s.done("pubsub.subscriptionsof", time.Now())
	rows, err := p.s.pool.Query(ctx, `
SELECT node, jid FROM pubsub_subscriptions
WHERE `+sqlJIDAndFull+` AND account = $2 ORDER BY node, jid`, bare, user)
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.PubsubSubscription, error) {
		var node, jid string
		err := row.Scan(&node, &jid)
		return sqlutil.PEPSubscription(node, jid), err
	})
	return out, wrapErr("pubsub subscriptions of", err)
}

// subscriberLockClass is the first key of the advisory locks that stand
// for a subscriber's bare JID, as serviceLockClass does for a service.
const subscriberLockClass = 0x7375 // "su"

func (p pubsub) Subscribe(ctx context.Context, user string, s storage.PubsubSubscription, perNode, perSubscriber int) error {
	defer p.s.done("pubsub.subscribe", time.Now())
	err := p.s.tx(ctx, func(tx pgx.Tx) error {
		// Subscriptions to one node queue at its row, those of one
		// subscriber at its advisory lock (a subscriber has no row of
		// its own: it may be remote), so that two cannot both take the
		// last place. Always in this order, so they cannot deadlock.
		if err := p.lockNode(ctx, tx, user, s.Node); err != nil {
			return err
		}
		if perSubscriber > 0 {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", int32(subscriberLockClass), sqlutil.BareJID(s.JID)); err != nil {
				return err
			}
		}
		var exists bool
		var count int
		if err := tx.QueryRow(ctx, `
SELECT coalesce(bool_or(jid = $3), false), count(*) FROM pubsub_subscriptions WHERE account = $1 AND node = $2`,
			user, s.Node, s.JID).Scan(&exists, &count); err != nil || exists {
			return err // subscribed already: nothing to count
		}
		if perNode > 0 && count >= perNode {
			return sqlutil.ErrNodeSubscriptions
		}
		if perSubscriber > 0 {
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM pubsub_subscriptions WHERE "+sqlJIDAndFull, sqlutil.BareJID(s.JID)).Scan(&count); err != nil {
				return err
			}
			if count >= perSubscriber {
				return sqlutil.ErrSubscriberSubscriptions
			}
		}
		_, err := tx.Exec(ctx, "INSERT INTO pubsub_subscriptions (account, node, jid) VALUES ($1, $2, $3)", user, s.Node, s.JID)
		return err
	})
	return wrapErr("pubsub subscribe", err)
}

func (p pubsub) Unsubscribe(ctx context.Context, user, node, jid string) error {
	defer p.s.done("pubsub.unsubscribe", time.Now())
	err := p.s.execFound(ctx, "DELETE FROM pubsub_subscriptions WHERE account = $1 AND node = $2 AND jid = $3", user, node, jid)
	return wrapErr("pubsub unsubscribe", err)
}

// deleteSubscriber removes the subscriptions of user and its full JIDs
// to every user's nodes: subscribers have no foreign key to accounts that
// would cascade (they may be remote), so Accounts.Delete calls it in its
// transaction.
func deleteSubscriber(ctx context.Context, tx pgx.Tx, user string) error {
	_, err := tx.Exec(ctx, "DELETE FROM pubsub_subscriptions WHERE "+sqlJIDAndFull, user)
	return err
}
