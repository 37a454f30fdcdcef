package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
)

// The storage export interfaces, for copying a whole store.
var (
	_ storage.AccountLister   = accounts{}
	_ storage.RosterImporter  = roster{}
	_ storage.OfflineImporter = offline{}
	_ storage.PrivateLister   = private{}
	_ storage.InviteLister    = invites{}
	_ storage.FastTokenLister = fastTokens{}
)

func (a accounts) Users(ctx context.Context, after string, max int) ([]string, error) {
	defer a.s.done("accounts.users", time.Now())
	users, err := a.s.strings(ctx, "SELECT jid FROM accounts WHERE jid > $1 ORDER BY jid LIMIT $2", after, max)
	if len(users) == 0 {
		users = nil
	}
	return users, wrapErr("accounts users", err)
}

func (r roster) SetVersion(ctx context.Context, user string, version int64) error {
	defer r.s.done("roster.setversion", time.Now())
	tag, err := r.s.pool.Exec(ctx, "UPDATE accounts SET roster_version = $1 WHERE jid = $2", version, user)
	if err == nil && tag.RowsAffected() == 0 {
		err = storage.ErrNotFound
	}
	return wrapErr("roster set version", err)
}

// Import takes the account's lock, as Push does, so that IDs stay in
// commit order for the user.
func (o offline) Import(ctx context.Context, user string, m storage.OfflineMessage) error {
	defer o.s.done("offline.import", time.Now())
	_, err := o.s.lockedRow(ctx, user, `
INSERT INTO offline_messages (account, stored, stanza) VALUES ($1, $2, $3) RETURNING id`,
		user, micro(m.Stored), m.Stanza)
	return wrapErr("offline import", err)
}

func (p private) Namespaces(ctx context.Context, user string) ([]string, error) {
	defer p.s.done("private.namespaces", time.Now())
	nss, err := p.s.strings(ctx, "SELECT namespace FROM private_xml WHERE account = $1 ORDER BY namespace", user)
	if len(nss) == 0 {
		nss = nil
	}
	return nss, wrapErr("private namespaces", err)
}

func (i invites) All(ctx context.Context) ([]storage.Invite, error) {
	defer i.s.done("invites.all", time.Now())
	rows, err := i.s.pool.Query(ctx, "SELECT hash, host, expires FROM invites ORDER BY hash")
	if err != nil {
		return nil, wrapErr("invites all", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Invite, error) {
		var inv storage.Invite
		err := row.Scan(&inv.Hash, &inv.Host, &inv.Expires)
		inv.Expires = utc(inv.Expires)
		return inv, err
	})
	if len(out) == 0 {
		out = nil
	}
	return out, wrapErr("invites all", err)
}

func (f fastTokens) All(ctx context.Context, user string) ([]storage.FastToken, error) {
	defer f.s.done("fast.all", time.Now())
	rows, err := f.s.pool.Query(ctx, `
SELECT client, slot, mechanism, seed, expires, count FROM fast_tokens
WHERE account = $1 ORDER BY client, slot DESC`, user)
	if err != nil {
		return nil, wrapErr("fast all", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.FastToken, error) {
		var t storage.FastToken
		err := row.Scan(&t.Client, &t.Slot, &t.Mechanism, &t.Seed, &t.Expires, &t.Count)
		t.Expires = utc(t.Expires)
		return t, err
	})
	if len(out) == 0 {
		out = nil
	}
	return out, wrapErr("fast all", err)
}
