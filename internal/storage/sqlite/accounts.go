package sqlite

import (
	"context"
	"database/sql"
	"time"

	"samtal.org/samtal/internal/storage"
)

type accounts struct{ s *Store }

const sqlAccountsGet = `
SELECT a.created, a.disabled, k.hash, k.salt, k.iterations, k.stored_key, k.server_key
FROM accounts a LEFT JOIN account_keys k ON k.account = a.jid
WHERE a.jid = ?`

func (a accounts) Create(ctx context.Context, acc storage.Account) error {
	defer a.s.done("accounts.create", time.Now())
	created := acc.Created
	if created.IsZero() {
		created = a.s.now()
	}
	err := a.s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO accounts (jid, domain, created, disabled) VALUES (?, ?, ?, ?)",
			acc.User, domainOf(acc.User), micros(created), acc.Disabled); err != nil {
			return err
		}
		return insertKeys(ctx, tx, acc.User, acc.Keys)
	})
	return wrapErr("accounts create", err)
}

func insertKeys(ctx context.Context, tx *sql.Tx, user string, keys map[storage.Hash]storage.SCRAMKeys) error {
	for h, k := range keys {
		if _, err := tx.ExecContext(ctx, `
INSERT INTO account_keys (account, hash, salt, iterations, stored_key, server_key)
VALUES (?, ?, ?, ?, ?, ?)`,
			user, string(h), nonNil(k.Salt), k.Iterations, nonNil(k.StoredKey), nonNil(k.ServerKey)); err != nil {
			return err
		}
	}
	return nil
}

// nonNil turns a nil slice into an empty one: the driver binds nil as
// NULL, which the NOT NULL BLOB columns refuse.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (a accounts) Get(ctx context.Context, user string) (storage.Account, error) {
	if err := ctx.Err(); err != nil {
		return storage.Account{}, wrapErr("accounts get", err)
	}
	// Every login reads its account here: from the cache when the account
	// was read before and has not changed since. Only reads of the file
	// are observed, so that the storage latencies stay the file's.
	acc, ok, epoch := a.s.keys.get(user)
	if ok {
		return acc, nil
	}
	defer a.s.done("accounts.get", time.Now())
	// A point read of the local file cannot hang on a network, and
	// busy_timeout bounds its wait for a lock; with a context that cannot
	// end, database/sql and the driver start no goroutine per query to
	// watch it (two per login).
	acc, err := a.get(context.WithoutCancel(ctx), user)
	if err == nil {
		a.s.keys.put(acc, epoch)
	}
	return acc, wrapErr("accounts get", err)
}

func (a accounts) get(ctx context.Context, user string) (storage.Account, error) {
	rows, err := a.s.accountsGet.QueryContext(ctx, user)
	if err != nil {
		return storage.Account{}, err
	}
	defer rows.Close()
	acc := storage.Account{User: user}
	found := false
	for rows.Next() {
		var (
			created            int64
			disabled           bool
			hash               sql.NullString
			salt, stored, srvr []byte
			iter               sql.NullInt64
		)
		if err := rows.Scan(&created, &disabled, &hash, &salt, &iter, &stored, &srvr); err != nil {
			return storage.Account{}, err
		}
		if !found {
			found = true
			acc.Created = fromMicros(created)
			acc.Disabled = disabled
			acc.Keys = make(map[storage.Hash]storage.SCRAMKeys)
		}
		if hash.Valid {
			acc.Keys[storage.Hash(hash.String)] = storage.SCRAMKeys{
				Salt:       salt,
				Iterations: int(iter.Int64),
				StoredKey:  stored,
				ServerKey:  srvr,
			}
		}
	}
	if err := rows.Err(); err != nil {
		return storage.Account{}, err
	}
	if !found {
		return storage.Account{}, storage.ErrNotFound
	}
	return acc, nil
}

func (a accounts) SetKeys(ctx context.Context, user string, keys map[storage.Hash]storage.SCRAMKeys) error {
	defer a.s.done("accounts.setkeys", time.Now())
	err := a.s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM accounts WHERE jid = ?", user).Scan(&one); err != nil {
			return err // sql.ErrNoRows: no such account
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM account_keys WHERE account = ?", user); err != nil {
			return err
		}
		return insertKeys(ctx, tx, user, keys)
	})
	if err == nil {
		err = a.s.keys.changed(user)
	}
	return wrapErr("accounts set keys", err)
}

func (a accounts) SetDisabled(ctx context.Context, user string, disabled bool) error {
	defer a.s.done("accounts.setdisabled", time.Now())
	err := a.s.execFound(ctx, "UPDATE accounts SET disabled = ? WHERE jid = ?", disabled, user)
	if err == nil {
		err = a.s.keys.changed(user)
	}
	return wrapErr("accounts set disabled", err)
}

// Delete removes the account row, and ON DELETE CASCADE the rows of
// every area that belongs to it; the user's affiliations with and
// subscriptions to the nodes of pubsub services, which belong to no
// account, and its subscriptions to other users' PEP nodes go in the same
// transaction.
func (a accounts) Delete(ctx context.Context, user string) error {
	defer a.s.done("accounts.delete", time.Now())
	err := a.s.tx(ctx, func(tx *sql.Tx) error {
		if err := changedOne(tx.ExecContext(ctx, "DELETE FROM accounts WHERE jid = ?", user)); err != nil {
			return err
		}
		if err := deleteServiceJID(ctx, tx, user); err != nil {
			return err
		}
		return deleteSubscriber(ctx, tx, user)
	})
	if err == nil {
		err = a.s.keys.changed(user)
	}
	return wrapErr("accounts delete", err)
}

func (a accounts) List(ctx context.Context, domain string) ([]string, error) {
	defer a.s.done("accounts.list", time.Now())
	users, err := queryStrings(ctx, a.s.r, "SELECT jid FROM accounts WHERE domain = ? ORDER BY jid", domain)
	return users, wrapErr("accounts list", err)
}

func (a accounts) ListDisabled(ctx context.Context, domain string) ([]string, error) {
	defer a.s.done("accounts.listdisabled", time.Now())
	users, err := queryStrings(ctx, a.s.r, "SELECT jid FROM accounts WHERE domain = ? AND disabled = 1 ORDER BY jid", domain)
	return users, wrapErr("accounts list disabled", err)
}

// queryStrings returns the one text column of every row of a query.
func queryStrings(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	return collect(rows, err, func(sc scanner) (string, error) {
		var v string
		err := sc.Scan(&v)
		return v, err
	})
}

// scanner is a row to scan: *sql.Rows or *sql.Row.
type scanner interface{ Scan(dest ...any) error }

// collect reads every row of a query with scan and closes the rows, as
// pgx.CollectRows does for the PostgreSQL backend; err is the query's,
// returned as it is. No rows give a nil slice.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
