package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
)

// The storage export interfaces, for copying a whole store.
var (
	_ storage.AccountLister   = accounts{}
	_ storage.RosterImporter  = roster{}
	_ storage.OfflineImporter = offline{}
	_ storage.InviteLister    = invites{}
	_ storage.FastTokenLister = fastTokens{}
)

func (a accounts) Users(ctx context.Context, after string, max int) ([]string, error) {
	defer a.s.done("accounts.users", time.Now())
	users, err := a.s.strings(ctx, "SELECT jid FROM accounts WHERE jid > $1 ORDER BY jid LIMIT $2", after, max)
	return users, wrapErr("accounts users", err)
}

func (r roster) SetVersion(ctx context.Context, user string, version int64) error {
	defer r.s.done("roster.setversion", time.Now())
	err := r.s.execFound(ctx, "UPDATE accounts SET roster_version = $1 WHERE jid = $2", version, user)
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
	return nss, wrapErr("private namespaces", err)
}

func (i invites) All(ctx context.Context) ([]storage.Invite, error) {
	defer i.s.done("invites.all", time.Now())
	rows, err := i.s.pool.Query(ctx, "SELECT hash, host, expires FROM invites ORDER BY hash")
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.Invite, error) {
		var inv storage.Invite
		err := row.Scan(&inv.Hash, &inv.Host, &inv.Expires)
		inv.Expires = utc(inv.Expires)
		return inv, err
	})
	return out, wrapErr("invites all", err)
}

func (f fastTokens) All(ctx context.Context, user string) ([]storage.FastToken, error) {
	defer f.s.done("fast.all", time.Now())
	rows, err := f.s.pool.Query(ctx, `
SELECT client, slot, mechanism, seed, expires, count FROM fast_tokens
WHERE account = $1 ORDER BY client, slot DESC`, user)
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.FastToken, error) {
		var t storage.FastToken
		err := row.Scan(&t.Client, &t.Slot, &t.Mechanism, &t.Seed, &t.Expires, &t.Count)
		t.Expires = utc(t.Expires)
		return t, err
	})
	return out, wrapErr("fast all", err)
}

var (
	_ storage.ArchiveImporter     = archive{}
	_ storage.RoomLister          = rooms{}
	_ storage.RoomArchiveImporter = roomArchive{}
	_ storage.PubsubServiceLister = pubsubServices{}
)

func (p pubsubServices) Services(ctx context.Context, after string, max int) ([]string, error) {
	defer p.s.done("pubsubservices.services", time.Now())
	svcs, err := p.s.strings(ctx, "SELECT DISTINCT service FROM pubsub_service_nodes WHERE service > $1 ORDER BY service LIMIT $2", after, max)
	return svcs, wrapErr("pubsub services services", err)
}

// sqlArchiveImport appends a batch after the account's lock, in one
// statement: rows are inserted, and take their seq, in the order of the
// arrays; each one's time is raised to the newest before it (the running
// max) and to the archive's last.
const sqlArchiveImport = `
INSERT INTO archive (account, id, stored, with_bare, with_resource, stanza)
SELECT $1, m.id, greatest(max(m.stored) OVER (ORDER BY m.ord),
	(SELECT stored FROM archive WHERE account = $1 ORDER BY seq DESC LIMIT 1)), m.bare, m.resource, m.stanza
FROM unnest($2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[])
	WITH ORDINALITY AS m (id, stored, bare, resource, stanza, ord)
ORDER BY m.ord`

func (a archive) Import(ctx context.Context, user string, msgs []storage.ArchivedMessage) error {
	defer a.s.done("archive.import", time.Now())
	if len(msgs) == 0 {
		return nil
	}
	var ids, bares, resources, stanzas []string
	var stored []time.Time
	for _, m := range msgs {
		bare, resource, _ := strings.Cut(m.With, "/")
		ids, bares, resources, stanzas = append(ids, m.ID), append(bares, bare), append(resources, resource), append(stanzas, m.Stanza)
		stored = append(stored, micro(m.Stored))
	}
	err := a.s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, user); err != nil {
			return err // pgx.ErrNoRows: no account
		}
		_, err := tx.Exec(ctx, sqlArchiveImport, user, ids, stored, bares, resources, stanzas)
		return err
	})
	return wrapErr("archive import", err)
}

func (r rooms) All(ctx context.Context, after string, max int) ([]storage.Room, error) {
	defer r.s.done("rooms.all", time.Now())
	rows, err := r.s.pool.Query(ctx, "SELECT "+sqlRoomColumns+" FROM rooms WHERE jid > $1 ORDER BY jid LIMIT $2", after, max)
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.Room, error) { return scanRoom(row) })
	return out, wrapErr("rooms all", err)
}

// sqlRoomArchiveImport is sqlArchiveImport for a room, after the room's
// lock.
const sqlRoomArchiveImport = `
INSERT INTO room_archive (room, id, stored, nick, sender, stanza)
SELECT $1, m.id, greatest(max(m.stored) OVER (ORDER BY m.ord),
	(SELECT stored FROM room_archive WHERE room = $1 ORDER BY seq DESC LIMIT 1)), m.nick, m.sender, m.stanza
FROM unnest($2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[])
	WITH ORDINALITY AS m (id, stored, nick, sender, stanza, ord)
ORDER BY m.ord`

func (a roomArchive) Import(ctx context.Context, room string, msgs []storage.RoomMessage) error {
	defer a.s.done("roomarchive.import", time.Now())
	if len(msgs) == 0 {
		return nil
	}
	var ids, nicks, senders, stanzas []string
	var stored []time.Time
	for _, m := range msgs {
		ids, nicks, senders, stanzas = append(ids, m.ID), append(nicks, m.Nick), append(senders, m.Sender), append(stanzas, m.Stanza)
		stored = append(stored, micro(m.Stored))
	}
	err := a.s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, sqlLockRoom, room).Scan(&one); err != nil {
			return err // pgx.ErrNoRows: no room
		}
		_, err := tx.Exec(ctx, sqlRoomArchiveImport, room, ids, stored, nicks, senders, stanzas)
		return err
	})
	return wrapErr("room archive import", err)
}
