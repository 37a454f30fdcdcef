package sqlite

import (
	"context"
	"database/sql"
	"time"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlutil"
)

func (p pubsub) Subscriptions(ctx context.Context, user, node string) ([]storage.PubsubSubscription, error) {
	defer p.s.done("pubsub.subscriptions", time.Now())
	jids, err := queryStrings(ctx, p.s.r, "SELECT jid FROM pubsub_subscriptions WHERE account = ? AND node = ? ORDER BY jid", user, node)
	if err == nil && len(jids) == 0 {
		// No subscriptions, or no node: tell them apart. A node
		// deleted in between gives either answer, as it would a moment
		// earlier or later.
		var one int
		err = p.s.r.QueryRowContext(ctx, p.query.nodeExists, user, node).Scan(&one)
	}
	if err != nil {
		return nil, wrapErr("pubsub subscriptions", err)
	}
	return sqlutil.PEPSubscriptions(node, jids), nil
}

func (p pubsub) SubscriptionsOf(ctx context.Context, user, bare string) ([]storage.PubsubSubscription, error) {
	defer p.s.done("pubsub.subscriptionsof", time.Now())
	rows, err := p.s.r.QueryContext(ctx, `
SELECT node, jid FROM pubsub_subscriptions
WHERE `+sqlJIDAndFull+` AND account = ?2 ORDER BY node, jid`, bare, user)
	out, err := collect(rows, err, func(sc scanner) (storage.PubsubSubscription, error) {
		var node, jid string
		err := sc.Scan(&node, &jid)
		return sqlutil.PEPSubscription(node, jid), err
	})
	return out, wrapErr("pubsub subscriptions of", err)
}

func (p pubsub) Subscribe(ctx context.Context, user string, s storage.PubsubSubscription, perNode, perSubscriber int) error {
	defer p.s.done("pubsub.subscribe", time.Now())
	// One writer at a time: the counts hold until the commit.
	err := p.s.tx(ctx, func(tx *sql.Tx) error {
		if err := p.nodeExists(ctx, tx, user, s.Node); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM pubsub_subscriptions WHERE account = ? AND node = ? AND jid = ?",
			user, s.Node, s.JID).Scan(&n); err != nil || n > 0 {
			return err // subscribed already: nothing to count
		}
		if perNode > 0 {
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM pubsub_subscriptions WHERE account = ? AND node = ?",
				user, s.Node).Scan(&n); err != nil {
				return err
			}
			if n >= perNode {
				return sqlutil.ErrNodeSubscriptions
			}
		}
		if perSubscriber > 0 {
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM pubsub_subscriptions WHERE "+sqlJIDAndFull,
				sqlutil.BareJID(s.JID)).Scan(&n); err != nil {
				return err
			}
			if n >= perSubscriber {
				return sqlutil.ErrSubscriberSubscriptions
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO pubsub_subscriptions (account, node, jid) VALUES (?, ?, ?)", user, s.Node, s.JID)
		return err
	})
	return wrapErr("pubsub subscribe", err)
}

func (p pubsub) Unsubscribe(ctx context.Context, user, node, jid string) error {
	defer p.s.done("pubsub.unsubscribe", time.Now())
	err := p.s.execFound(ctx, "DELETE FROM pubsub_subscriptions WHERE account = ? AND node = ? AND jid = ?", user, node, jid)
	return wrapErr("pubsub unsubscribe", err)
}

// deleteSubscriber removes the subscriptions of user and its full JIDs
// to every user's nodes: subscribers have no foreign key to accounts that
// would cascade (they may be remote), so Accounts.Delete calls it in its
// transaction.
func deleteSubscriber(ctx context.Context, tx *sql.Tx, user string) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM pubsub_subscriptions WHERE "+sqlJIDAndFull, user)
	return err
}
