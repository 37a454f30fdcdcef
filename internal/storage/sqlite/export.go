package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

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
	users, err := queryStrings(ctx, a.s.r, "SELECT jid FROM accounts WHERE jid > ? ORDER BY jid LIMIT ?", after, max)
	return users, wrapErr("accounts users", err)
}

func (r roster) SetVersion(ctx context.Context, user string, version int64) error {
	defer r.s.done("roster.setversion", time.Now())
	err := r.s.execFound(ctx, "UPDATE accounts SET roster_version = ? WHERE jid = ?", version, user)
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
	out, err := collect(rows, err, func(sc scanner) (storage.Invite, error) {
		var (
			inv storage.Invite
			exp int64
		)
		err := sc.Scan(&inv.Hash, &inv.Host, &exp)
		inv.Expires = fromMicros(exp)
		return inv, err
	})
	return out, wrapErr("invites all", err)
}

func (f fastTokens) All(ctx context.Context, user string) ([]storage.FastToken, error) {
	defer f.s.done("fast.all", time.Now())
	rows, err := f.s.r.QueryContext(ctx, `
SELECT client, slot, mechanism, seed, expires, count FROM fast_tokens
WHERE account = ? ORDER BY client, slot DESC`, user)
	out, err := collect(rows, err, func(sc scanner) (storage.FastToken, error) {
		var (
			t   storage.FastToken
			exp int64
		)
		err := sc.Scan(&t.Client, &t.Slot, &t.Mechanism, &t.Seed, &exp, &t.Count)
		t.Expires = fromMicros(exp)
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
	// DISTINCT walks the primary key (service, node) in order.
	svcs, err := queryStrings(ctx, p.s.r, "SELECT DISTINCT service FROM pubsub_service_nodes WHERE service > ? ORDER BY service LIMIT ?", after, max)
	return svcs, wrapErr("pubsub services services", err)
}

// Import hands every message to the group-commit writer, as Append does,
// so that the writer's last stored time stays the newest, then waits for
// them all: the writer commits them in batches.
func (a archive) Import(ctx context.Context, user string, msgs []storage.ArchivedMessage) error {
	defer a.s.done("archive.import", time.Now())
	reqs := make([]*archiveReq, 0, len(msgs))
	var err error
	for _, m := range msgs {
		req := &archiveReq{user: user, m: m, imported: true, done: make(chan archiveRes, 1)}
		if err = a.s.queueArchive(ctx, writeReq{user: req}); err != nil {
			break
		}
		reqs = append(reqs, req)
	}
	for _, req := range reqs {
		// Every queued request is answered, even when ctx ends: the
		// writer has it.
		if r := <-req.done; r.err != nil && err == nil {
			err = r.err
		}
	}
	return err
}

func (r rooms) All(ctx context.Context, after string, max int) ([]storage.Room, error) {
	defer r.s.done("rooms.all", time.Now())
	rows, err := r.s.r.QueryContext(ctx, "SELECT "+sqlRoomColumns+" FROM rooms WHERE jid > ? ORDER BY jid LIMIT ?", after, max)
	out, err := collect(rows, err, scanRoom)
	return out, wrapErr("rooms all", err)
}

func (a roomArchive) Import(ctx context.Context, room string, msgs []storage.RoomMessage) error {
	defer a.s.done("roomarchive.import", time.Now())
	// The messages go after those queued before.
	if err := a.s.roomArchiveSynced(ctx); err != nil {
		return err
	}
	err := a.s.tx(ctx, func(tx *sql.Tx) error {
		// Raised to the room's last time: the order of one room's
		// archive is what a query pages through.
		var last sql.NullInt64
		err := tx.QueryRowContext(ctx, "SELECT stored FROM room_archive WHERE room = ? ORDER BY seq DESC LIMIT 1", room).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		for _, m := range msgs {
			stored := max(micros(m.Stored), last.Int64)
			if _, err := tx.ExecContext(ctx, sqlRoomArchiveInsert,
				room, m.ID, stored, m.Nick, m.Sender, m.Stanza); err != nil {
				return err
			}
			last.Int64 = stored
		}
		return nil
	})
	return wrapErr("room archive import", err)
}
