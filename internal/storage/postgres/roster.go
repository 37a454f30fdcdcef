package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
)

type roster struct{ s *Store }

// sqlRosterItems reads the version and the items in one statement, hence
// one snapshot. The LEFT JOIN gives one row of NULL items for an empty
// roster, and none at all when there is no account.
const sqlRosterItems = `
SELECT a.roster_version, r.contact, r.name, r.subscription, r.ask, r.approved, r.groups
FROM accounts a LEFT JOIN roster_items r ON r.account = a.jid
WHERE a.jid = $1
ORDER BY r.contact`

func (r roster) Items(ctx context.Context, user string) ([]storage.RosterItem, int64, error) {
	defer r.s.done("roster.items", time.Now())
	items, ver, err := r.items(ctx, user)
	return items, ver, wrapErr("roster items", err)
}

func (r roster) items(ctx context.Context, user string) ([]storage.RosterItem, int64, error) {
	rows, err := r.s.pool.Query(ctx, sqlRosterItems, user)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var (
		items []storage.RosterItem
		ver   int64
	)
	for rows.Next() {
		var (
			contact, name, sub *string
			ask, approved      *bool
			groups             []string
		)
		if err := rows.Scan(&ver, &contact, &name, &sub, &ask, &approved, &groups); err != nil {
			return nil, 0, err
		}
		if contact == nil {
			continue // an empty roster
		}
		items = append(items, storage.RosterItem{
			Contact:      *contact,
			Name:         *name,
			Subscription: storage.Subscription(*sub),
			Ask:          *ask,
			Approved:     *approved,
			Groups:       nilIfEmpty(groups),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return items, ver, nil
}

// nilIfEmpty gives no groups the form the SQLite backend gives them.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func (r roster) Item(ctx context.Context, user, contact string) (storage.RosterItem, error) {
	defer r.s.done("roster.item", time.Now())
	it := storage.RosterItem{Contact: contact}
	var sub string
	err := r.s.pool.QueryRow(ctx, `
SELECT name, subscription, ask, approved, groups FROM roster_items
WHERE account = $1 AND contact = $2`, user, contact).
		Scan(&it.Name, &sub, &it.Ask, &it.Approved, &it.Groups)
	if err != nil {
		return storage.RosterItem{}, wrapErr("roster item", err)
	}
	it.Subscription = storage.Subscription(sub)
	it.Groups = nilIfEmpty(it.Groups)
	return it, nil
}

var errQuota = fmt.Errorf("roster full: %w", storage.ErrQuota)

// sqlRosterPut writes the item and bumps the version in one statement,
// which runs after the account's lock (sqlLockAccount) and so counts the
// items every earlier Put committed. No row back means the item was not
// written: the roster is at the limit ($9 > 0), or there is no account
// (then the insert fails the foreign key first).
const sqlRosterPut = `
WITH put AS (
	INSERT INTO roster_items (account, contact, name, subscription, ask, approved, groups)
	SELECT $1, $2, $3, $4, $5, $6, $7
	WHERE $8 <= 0
	   OR EXISTS (SELECT 1 FROM roster_items WHERE account = $1 AND contact = $2)
	   OR (SELECT count(*) FROM roster_items WHERE account = $1) < $8
	ON CONFLICT (account, contact) DO UPDATE SET
		name = excluded.name, subscription = excluded.subscription, ask = excluded.ask,
		approved = excluded.approved, groups = excluded.groups
	RETURNING 1
)
UPDATE accounts SET roster_version = roster_version + 1
WHERE jid = $1 AND EXISTS (SELECT 1 FROM put)
RETURNING roster_version`

// sqlRosterDelete removes the item and bumps the version when there was
// one, in one statement after the account's lock.
const sqlRosterDelete = `
WITH del AS (
	DELETE FROM roster_items WHERE account = $1 AND contact = $2 RETURNING 1
)
UPDATE accounts SET roster_version = roster_version + 1
WHERE jid = $1 AND EXISTS (SELECT 1 FROM del)
RETURNING roster_version`

func (r roster) Put(ctx context.Context, user string, item storage.RosterItem, limit int) (int64, error) {
	defer r.s.done("roster.put", time.Now())
	groups := item.Groups
	if groups == nil {
		groups = []string{}
	}
	ver, err := r.s.lockedRow(ctx, user, sqlRosterPut,
		user, item.Contact, item.Name, string(item.Subscription), item.Ask, item.Approved, groups, limit)
	if err == pgx.ErrNoRows {
		err = errQuota
	}
	if err != nil {
		return 0, wrapErr("roster put", err)
	}
	return ver, nil
}

func (r roster) Delete(ctx context.Context, user, contact string) (int64, error) {
	defer r.s.done("roster.delete", time.Now())
	ver, err := r.s.lockedRow(ctx, user, sqlRosterDelete, user, contact)
	if err != nil {
		return 0, wrapErr("roster delete", err) // pgx.ErrNoRows: no such item
	}
	return ver, nil
}

// lockedRow runs a statement that returns one int64 (or no row) after
// taking the lock of user's accounts row, in one round trip: a batch is
// one implicit transaction, and each of its statements reads a new
// snapshot. It returns pgx.ErrNoRows when the statement returned no row
// and the account exists, storage.ErrNotFound when there is no account.
func (s *Store) lockedRow(ctx context.Context, user, query string, args ...any) (int64, error) {
	var (
		b      pgx.Batch
		locked bool
		v      int64
		got    bool
	)
	b.Queue(sqlLockAccount, user).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			locked = true
		}
		return rows.Err()
	})
	b.Queue(query, args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := rows.Scan(&v); err != nil {
				return err
			}
			got = true
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return 0, err
	}
	switch {
	case !locked:
		return 0, storage.ErrNotFound
	case !got:
		return 0, pgx.ErrNoRows
	}
	return v, nil
}

func (r roster) AddPending(ctx context.Context, user string, p storage.PendingSubscription) error {
	defer r.s.done("roster.addpending", time.Now())
	_, err := r.s.pool.Exec(ctx, `
INSERT INTO roster_pending (account, sender, stanza) VALUES ($1, $2, $3)
ON CONFLICT (account, sender) DO UPDATE SET stanza = excluded.stanza`,
		user, p.From, p.Stanza)
	return wrapErr("roster add pending", err)
}

func (r roster) RemovePending(ctx context.Context, user, from string) error {
	defer r.s.done("roster.removepending", time.Now())
	_, err := r.s.pool.Exec(ctx, "DELETE FROM roster_pending WHERE account = $1 AND sender = $2", user, from)
	return wrapErr("roster remove pending", err)
}

func (r roster) Pending(ctx context.Context, user string) ([]storage.PendingSubscription, error) {
	defer r.s.done("roster.pending", time.Now())
	rows, err := r.s.pool.Query(ctx,
		"SELECT sender, stanza FROM roster_pending WHERE account = $1 ORDER BY seq", user)
	ps, err := collect(rows, err, func(row pgx.CollectableRow) (storage.PendingSubscription, error) {
		var p storage.PendingSubscription
		err := row.Scan(&p.From, &p.Stanza)
		return p, err
	})
	return ps, wrapErr("roster pending", err)
}
