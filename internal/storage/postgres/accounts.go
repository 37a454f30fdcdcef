package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
)

type accounts struct{ s *Store }

const sqlAccountsGet = `
SELECT a.created, a.disabled, k.hash, k.salt, k.iterations, k.stored_key, k.server_key
FROM accounts a LEFT JOIN account_keys k ON k.account = a.jid
WHERE a.jid = $1`

func (a accounts) Create(ctx context.Context, acc storage.Account) error {
	defer a.s.done("accounts.create", time.Now())
	created := acc.Created
	if created.IsZero() {
		created = a.s.now()
	}
	err := a.s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx,
			"INSERT INTO accounts (jid, domain, created, disabled) VALUES ($1, $2, $3, $4)",
			acc.User, domainOf(acc.User), micro(created), acc.Disabled); err != nil {
			return err
		}
		return insertKeys(ctx, tx, acc.User, acc.Keys)
	})
	return wrapErr("accounts create", err)
}

// insertKeys stores the keys of every hash in one statement.
func insertKeys(ctx context.Context, tx pgx.Tx, user string, keys map[storage.Hash]storage.SCRAMKeys) error {
	if len(keys) == 0 {
		return nil
	}
	var (
		hashes               []string
		salts, stored, srvrs [][]byte
		iters                []int32
	)
	for h, k := range keys {
		hashes = append(hashes, string(h))
		salts = append(salts, nonNil(k.Salt))
		iters = append(iters, int32(k.Iterations))
		stored = append(stored, nonNil(k.StoredKey))
		srvrs = append(srvrs, nonNil(k.ServerKey))
	}
	_, err := tx.Exec(ctx, `
INSERT INTO account_keys (account, hash, salt, iterations, stored_key, server_key)
SELECT $1, * FROM unnest($2::text[], $3::bytea[], $4::integer[], $5::bytea[], $6::bytea[])`,
		user, hashes, salts, iters, stored, srvrs)
	return err
}

func (a accounts) Get(ctx context.Context, user string) (storage.Account, error) {
	defer a.s.done("accounts.get", time.Now())
	acc, err := a.get(ctx, user)
	return acc, wrapErr("accounts get", err)
}

func (a accounts) get(ctx context.Context, user string) (storage.Account, error) {
	rows, err := a.s.pool.Query(ctx, sqlAccountsGet, user)
	if err != nil {
		return storage.Account{}, err
	}
	defer rows.Close()
	acc := storage.Account{User: user}
	found := false
	for rows.Next() {
		var (
			created            time.Time
			disabled           bool
			hash               *string
			salt, stored, srvr []byte
			iter               *int32
		)
		if err := rows.Scan(&created, &disabled, &hash, &salt, &iter, &stored, &srvr); err != nil {
			return storage.Account{}, err
		}
		if !found {
			found = true
			acc.Created = utc(created)
			acc.Disabled = disabled
			acc.Keys = make(map[storage.Hash]storage.SCRAMKeys)
		}
		if hash != nil {
			acc.Keys[storage.Hash(*hash)] = storage.SCRAMKeys{
				Salt:       salt,
				Iterations: int(*iter),
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
	err := a.s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, user); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM account_keys WHERE account = $1", user); err != nil {
			return err
		}
		return insertKeys(ctx, tx, user, keys)
	})
	return wrapErr("accounts set keys", err)
}

// SetDisabled changes the account's state, and tells the servers that
// watch (Store.WatchAccounts) when it commits: they end the sessions of
// an account disabled, and let those of one enabled again bind.
func (a accounts) SetDisabled(ctx context.Context, user string, disabled bool) error {
	defer a.s.done("accounts.setdisabled", time.Now())
	err := a.announced(ctx, user, "UPDATE accounts SET disabled = $1 WHERE jid = $2", disabled, user)
	return wrapErr("accounts set disabled", err)
}

// Delete removes the account row, and ON DELETE CASCADE the rows of
// every area that belongs to it; the user's affiliations with and
// subscriptions to the nodes of pubsub services, which belong to no
// account, and its subscriptions to other users' PEP nodes go in the same
// transaction. The servers that watch hear of it when it commits.
func (a accounts) Delete(ctx context.Context, user string) error {
	defer a.s.done("accounts.delete", time.Now())
	err := a.s.tx(ctx, func(tx pgx.Tx) error {
		if err := execFoundOn(ctx, tx, "DELETE FROM accounts WHERE jid = $1", user); err != nil {
			return err
		}
		if err := deleteServiceJID(ctx, tx, user); err != nil {
			return err
		}
		if err := deleteSubscriber(ctx, tx, user); err != nil {
			return err
		}
		return notifyChanged(ctx, tx, user)
	})
	return wrapErr("accounts delete", err)
}

// announced runs a write that must change user's account (execFound),
// and announces the change to the servers that watch when it commits.
func (a accounts) announced(ctx context.Context, user, query string, args ...any) error {
	return a.s.tx(ctx, func(tx pgx.Tx) error {
		if err := execFoundOn(ctx, tx, query, args...); err != nil {
			return err
		}
		return notifyChanged(ctx, tx, user)
	})
}

func (a accounts) List(ctx context.Context, domain string) ([]string, error) {
	defer a.s.done("accounts.list", time.Now())
	users, err := a.s.strings(ctx, "SELECT jid FROM accounts WHERE domain = $1 ORDER BY jid", domain)
	return users, wrapErr("accounts list", err)
}

func (a accounts) ListDisabled(ctx context.Context, domain string) ([]string, error) {
	defer a.s.done("accounts.listdisabled", time.Now())
	users, err := a.s.strings(ctx, "SELECT jid FROM accounts WHERE domain = $1 AND disabled ORDER BY jid", domain)
	return users, wrapErr("accounts list disabled", err)
}

// strings returns the one text column of every row of a query.
func (s *Store) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	return collect(rows, err, pgx.RowTo[string])
}

// collect reads every row of a query with scan and closes the rows, as
// pgx.CollectRows does; err is the query's, returned as it is. No rows
// give a nil slice, as in the SQLite backend.
func collect[T any](rows pgx.Rows, err error, scan pgx.RowToFunc[T]) ([]T, error) {
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, scan)
	if len(out) == 0 {
		out = nil
	}
	return out, err
}
