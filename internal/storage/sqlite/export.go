package sqlite

import (
	"context"
	"time"

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
	users, err := queryStrings(ctx, a.s.r, "SELECT jid FROM accounts WHERE jid > ? ORDER BY jid LIMIT ?", after, max)
	return users, wrapErr("accounts users", err)
}

func (r roster) SetVersion(ctx context.Context, user string, version int64) error {
	defer r.s.done("roster.setversion", time.Now())
	res, err := r.s.w.ExecContext(ctx, "UPDATE accounts SET roster_version = ? WHERE jid = ?", version, user)
	if err == nil {
		if n, rerr := res.RowsAffected(); rerr != nil {
			err = rerr
		} else if n == 0 {
			err = storage.ErrNotFound
		}
	}
	return wrapErr("roster set version", err)
}

func (o offline) Import(ctx context.Context, user string, m storage.OfflineMessage) error {
	defer o.s.done("offline.import", time.Now())
	_, err := o.s.w.ExecContext(ctx, "INSERT INTO offline_messages (account, stored, stanza) VALUES (?, ?, ?)",
		user, micros(m.Stored), m.Stanza)
	return wrapErr("offline import", err)
}

func (p private) Namespaces(ctx context.Context, user string) ([]string, error) {
	defer p.s.done("private.namespaces", time.Now())
	nss, err := queryStrings(ctx, p.s.r, "SELECT namespace FROM private_xml WHERE account = ? ORDER BY namespace", user)
	return nss, wrapErr("private namespaces", err)
}

func (i invites) All(ctx context.Context) ([]storage.Invite, error) {
	defer i.s.done("invites.all", time.Now())
	rows, err := i.s.r.QueryContext(ctx, "SELECT hash, host, expires FROM invites ORDER BY hash")
	if err != nil {
		return nil, wrapErr("invites all", err)
	}
	defer rows.Close()
	var out []storage.Invite
	for rows.Next() {
		var (
			inv storage.Invite
			exp int64
		)
		if err := rows.Scan(&inv.Hash, &inv.Host, &exp); err != nil {
			return nil, wrapErr("invites all", err)
		}
		inv.Expires = fromMicros(exp)
		out = append(out, inv)
	}
	return out, wrapErr("invites all", rows.Err())
}

func (f fastTokens) All(ctx context.Context, user string) ([]storage.FastToken, error) {
	defer f.s.done("fast.all", time.Now())
	rows, err := f.s.r.QueryContext(ctx, `
SELECT client, slot, mechanism, seed, expires, count FROM fast_tokens
WHERE account = ? ORDER BY client, slot DESC`, user)
	if err != nil {
		return nil, wrapErr("fast all", err)
	}
	defer rows.Close()
	var out []storage.FastToken
	for rows.Next() {
		var (
			t   storage.FastToken
			exp int64
		)
		if err := rows.Scan(&t.Client, &t.Slot, &t.Mechanism, &t.Seed, &exp, &t.Count); err != nil {
			return nil, wrapErr("fast all", err)
		}
		t.Expires = fromMicros(exp)
		out = append(out, t)
	}
	return out, wrapErr("fast all", rows.Err())
}
