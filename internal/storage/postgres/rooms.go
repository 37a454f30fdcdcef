package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlutil"
)

type rooms struct{ s *Store }

// Rooms returns the group chat room area.
func (s *Store) Rooms() storage.Rooms { return rooms{s} }

const sqlRoomColumns = "jid, config, subject, subject_nick, subject_time, vcard, created"

func scanRoom(row pgx.Row) (storage.Room, error) {
	var (
		r           storage.Room
		subjectTime *time.Time
	)
	if err := row.Scan(&r.JID, &r.Config, &r.Subject, &r.SubjectNick, &subjectTime, &r.VCard, &r.Created); err != nil {
		return r, err
	}
	if subjectTime != nil {
		r.SubjectTime = utc(*subjectTime)
	}
	r.Created = utc(r.Created)
	return r, nil
}

func (r rooms) Get(ctx context.Context, room string) (storage.Room, error) {
	defer r.s.done("rooms.get", time.Now())
	out, err := scanRoom(r.s.pool.QueryRow(ctx, "SELECT "+sqlRoomColumns+" FROM rooms WHERE jid = $1", room))
	if err != nil {
		return storage.Room{}, wrapErr("rooms get", err)
	}
	return out, nil
}

func (r rooms) List(ctx context.Context, service string) ([]storage.Room, error) {
	defer r.s.done("rooms.list", time.Now())
	rows, err := r.s.pool.Query(ctx, "SELECT "+sqlRoomColumns+" FROM rooms WHERE service = $1 ORDER BY jid", service)
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.Room, error) { return scanRoom(row) })
	return out, wrapErr("rooms list", err)
}

func (r rooms) Put(ctx context.Context, room storage.Room) error {
	defer r.s.done("rooms.put", time.Now())
	created := room.Created
	if created.IsZero() {
		created = r.s.now()
	}
	var subjectTime *time.Time
	if !room.SubjectTime.IsZero() {
		t := micro(room.SubjectTime)
		subjectTime = &t
	}
	_, err := r.s.pool.Exec(ctx, `
INSERT INTO rooms (jid, service, config, subject, subject_nick, subject_time, vcard, created)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (jid) DO UPDATE SET config = excluded.config, subject = excluded.subject,
	subject_nick = excluded.subject_nick, subject_time = excluded.subject_time, vcard = excluded.vcard`,
		room.JID, domainOf(room.JID), room.Config, room.Subject, room.SubjectNick, subjectTime, room.VCard, micro(created))
	return wrapErr("rooms put", err)
}

func (r rooms) Delete(ctx context.Context, room string) error {
	defer r.s.done("rooms.delete", time.Now())
	err := r.s.execFound(ctx, "DELETE FROM rooms WHERE jid = $1", room)
	return wrapErr("rooms delete", err)
}

func (r rooms) Affiliations(ctx context.Context, room string) ([]storage.RoomAffiliation, error) {
	defer r.s.done("rooms.affiliations", time.Now())
	rows, err := r.s.pool.Query(ctx,
		"SELECT jid, affiliation, nick, reason FROM room_affiliations WHERE room = $1 ORDER BY jid", room)
	out, err := collect(rows, err, func(row pgx.CollectableRow) (storage.RoomAffiliation, error) {
		var a storage.RoomAffiliation
		err := row.Scan(&a.JID, &a.Affiliation, &a.Nick, &a.Reason)
		return a, err
	})
	return out, wrapErr("rooms affiliations", err)
}

func (r rooms) SetAffiliation(ctx context.Context, room string, a storage.RoomAffiliation) error {
	defer r.s.done("rooms.setaffiliation", time.Now())
	if a.Affiliation == "" || a.Affiliation == "none" {
		// Removing needs the room to exist, as adding does: one
		// statement that says whether it found the room.
		var found bool
		err := r.s.pool.QueryRow(ctx, `
WITH d AS (DELETE FROM room_affiliations WHERE room = $1 AND jid = $2)
SELECT EXISTS (SELECT 1 FROM rooms WHERE jid = $1)`, room, a.JID).Scan(&found)
		if err == nil && !found {
			err = storage.ErrNotFound
		}
		return wrapErr("rooms set affiliation", err)
	}
	_, err := r.s.pool.Exec(ctx, `
INSERT INTO room_affiliations (room, jid, affiliation, nick, reason) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (room, jid) DO UPDATE SET affiliation = excluded.affiliation, nick = excluded.nick, reason = excluded.reason`,
		room, a.JID, a.Affiliation, a.Nick, a.Reason)
	return wrapErr("rooms set affiliation", err) // a foreign key violation: no room
}

func (r rooms) RemoveJID(ctx context.Context, jid string) (int64, error) {
	defer r.s.done("rooms.removejid", time.Now())
	tag, err := r.s.pool.Exec(ctx, "DELETE FROM room_affiliations WHERE jid = $1", jid)
	if err != nil {
		return 0, wrapErr("rooms remove jid", err)
	}
	return tag.RowsAffected(), nil
}

func (r rooms) CountOwned(ctx context.Context, jid string) (int, error) {
	defer r.s.done("rooms.countowned", time.Now())
	var n int
	err := r.s.pool.QueryRow(ctx,
		"SELECT count(*) FROM room_affiliations WHERE jid = $1 AND affiliation = $2", jid, storage.AffOwner).Scan(&n)
	return n, wrapErr("rooms count owned", err)
}

type roomArchive struct{ s *Store }

// RoomArchive returns the room archive area.
func (s *Store) RoomArchive() storage.RoomArchive { return roomArchive{s} }

// sqlLockRoom locks a room's row until the end of the transaction: the
// appends to one room's archive queue there, so that they take their seq
// in commit order and each sees the last one stored. FOR NO KEY UPDATE
// does not block the foreign key checks of affiliations.
const sqlLockRoom = "SELECT 1 FROM rooms WHERE jid = $1 FOR NO KEY UPDATE"

// sqlRoomArchiveAppend runs after sqlLockRoom. Stored never decreases in
// a room's archive order, whatever the clocks of the nodes do.
const sqlRoomArchiveAppend = `
INSERT INTO room_archive (room, id, stored, nick, sender, stanza)
SELECT $1, $2, greatest($3::timestamptz,
	(SELECT stored FROM room_archive WHERE room = $1 ORDER BY seq DESC LIMIT 1)), $4, $5, $6
RETURNING stored`

func (a roomArchive) Append(ctx context.Context, room string, m storage.RoomMessage) (storage.RoomMessage, error) {
	defer a.s.done("roomarchive.append", time.Now())
	var stored time.Time
	err := a.s.lockedInsert(ctx, sqlLockRoom, room, storage.ErrNotFound, sqlRoomArchiveAppend,
		[]any{room, m.ID, micro(a.s.now()), m.Nick, m.Sender, m.Stanza}, &stored)
	if err != nil {
		return m, wrapErr("room archive append", err)
	}
	m.Stored = utc(stored)
	return m, nil
}

// Enqueue appends at once, as the archive's Enqueue does: PostgreSQL
// commits concurrent transactions in parallel, so waiting here costs the
// caller one round trip.
func (a roomArchive) Enqueue(ctx context.Context, room string, m storage.RoomMessage, then func(storage.RoomMessage, error)) {
	then(a.Append(ctx, room, m))
}

const sqlRoomMessageColumns = "seq, id, stored, nick, sender, stanza"

func scanRoomMessages(rows pgx.Rows) ([]storage.RoomMessage, []int64, error) {
	defer rows.Close()
	var (
		out  []storage.RoomMessage
		seqs []int64
	)
	for rows.Next() {
		var (
			m   storage.RoomMessage
			seq int64
		)
		if err := rows.Scan(&seq, &m.ID, &m.Stored, &m.Nick, &m.Sender, &m.Stanza); err != nil {
			return nil, nil, err
		}
		m.Stored = utc(m.Stored)
		out = append(out, m)
		seqs = append(seqs, seq)
	}
	return out, seqs, rows.Err()
}

func (a roomArchive) Get(ctx context.Context, room, id string) (storage.RoomMessage, error) {
	defer a.s.done("roomarchive.get", time.Now())
	rows, err := a.s.pool.Query(ctx,
		"SELECT "+sqlRoomMessageColumns+" FROM room_archive WHERE room = $1 AND id = $2", room, id)
	if err != nil {
		return storage.RoomMessage{}, wrapErr("room archive get", err)
	}
	msgs, _, err := scanRoomMessages(rows)
	if err == nil && len(msgs) == 0 {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.RoomMessage{}, wrapErr("room archive get", err)
	}
	return msgs[0], nil
}

func (a roomArchive) Replace(ctx context.Context, room, id, stanza string) error {
	defer a.s.done("roomarchive.replace", time.Now())
	err := a.s.execFound(ctx, "UPDATE room_archive SET stanza = $1 WHERE room = $2 AND id = $3", stanza, room, id)
	return wrapErr("room archive replace", err)
}

func (a roomArchive) Last(ctx context.Context, room string, n int) ([]storage.RoomMessage, error) {
	defer a.s.done("roomarchive.last", time.Now())
	if n <= 0 {
		return nil, nil
	}
	rows, err := a.s.pool.Query(ctx,
		"SELECT "+sqlRoomMessageColumns+" FROM room_archive WHERE room = $1 ORDER BY seq DESC LIMIT $2", room, n)
	if err != nil {
		return nil, wrapErr("room archive last", err)
	}
	msgs, _, err := scanRoomMessages(rows)
	if err != nil {
		return nil, wrapErr("room archive last", err)
	}
	slices.Reverse(msgs)
	return msgs, nil
}

func (a roomArchive) Expire(ctx context.Context, before time.Time) (int64, error) {
	defer a.s.done("roomarchive.expire", time.Now())
	n, err := a.s.deleteBatches(ctx,
		"DELETE FROM room_archive WHERE ctid = ANY (ARRAY (SELECT ctid FROM room_archive WHERE stored < $1 ORDER BY stored LIMIT $2))", roundUp(before))
	return n, wrapErr("room archive expire", err)
}

// Query builds the result set from the filters as a seq range and
// conditions on one room's rows, then takes the page from the cursor in
// the direction of paging, in one snapshot, so that the page, the count
// and the index agree.
func (a roomArchive) Query(ctx context.Context, room string, q storage.RoomArchiveQuery) (storage.RoomArchivePage, error) {
	defer a.s.done("roomarchive.query", time.Now())
	var page storage.RoomArchivePage
	err := a.s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		page, err = a.query(ctx, tx, room, q)
		return err
	})
	if err != nil {
		return storage.RoomArchivePage{Count: -1, Index: -1}, wrapErr("room archive query", err)
	}
	return page, nil
}

func (a roomArchive) query(ctx context.Context, tx pgx.Tx, room string, q storage.RoomArchiveQuery) (storage.RoomArchivePage, error) {
	page := storage.RoomArchivePage{Count: -1, Index: -1}
	t := roomArchiveTable
	seqOf := func(id string) (int64, error) { return t.seqOf(ctx, tx, room, id) }
	set, err := sqlutil.Full().Between(q.AfterID, q.BeforeID, seqOf)
	if err != nil {
		return page, err
	}
	c := &conds{}
	c.add("room = ?", room)
	if err := t.times(ctx, tx, room, q.Start, q.End, &set, c); err != nil {
		return page, err
	}
	if q.Nick != "" {
		c.add("nick = ?", q.Nick)
	}
	if q.Sender != "" {
		c.add("sender = ?", q.Sender)
	}
	if len(q.IDs) > 0 {
		if err := t.ids(ctx, tx, room, q.IDs, c); err != nil {
			return page, err
		}
	}
	// The cursor narrows the set to what follows After or precedes
	// Before.
	cur, err := set.Between(q.After, q.Before, seqOf)
	if err != nil {
		return page, err
	}
	var (
		msgs []storage.RoomMessage
		seqs []int64
	)
	if q.Max > 0 {
		query, args := t.pageSQL(sqlRoomMessageColumns, c, cur.Lo, cur.Hi, q.Backward, q.Max+1)
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return page, err
		}
		if msgs, seqs, err = scanRoomMessages(rows); err != nil {
			return page, err
		}
	}
	page.Messages, seqs, page.Complete = sqlutil.Page(msgs, seqs, q.Max, q.Backward)

	n, err := t.count(ctx, tx, c, set.Lo, set.Hi, storage.RoomArchiveCountLimit)
	if err != nil || n < 0 {
		return page, err
	}
	page.Count = n
	switch {
	case len(seqs) > 0:
		if page.Index, err = t.count(ctx, tx, c, set.Lo, min(set.Hi, seqs[0]), storage.RoomArchiveCountLimit); err != nil {
			return page, err
		}
	case q.Max == 0:
		page.Complete = n == 0
	}
	return page, nil
}
