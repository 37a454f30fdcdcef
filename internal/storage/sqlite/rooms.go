package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlutil"
)

type rooms struct{ s *Store }

// Rooms returns the group chat room area.
func (s *Store) Rooms() storage.Rooms { return rooms{s} }

const sqlRoomColumns = "jid, config, subject, subject_nick, subject_time, vcard, created"

func scanRoom(sc scanner) (storage.Room, error) {
	var (
		r                storage.Room
		subjectTime, crt int64
	)
	if err := sc.Scan(&r.JID, &r.Config, &r.Subject, &r.SubjectNick, &subjectTime, &r.VCard, &crt); err != nil {
		return r, err
	}
	if subjectTime != 0 {
		r.SubjectTime = fromMicros(subjectTime)
	}
	r.Created = fromMicros(crt)
	return r, nil
}

func (r rooms) Get(ctx context.Context, room string) (storage.Room, error) {
	defer r.s.done("rooms.get", time.Now())
	out, err := scanRoom(r.s.r.QueryRowContext(ctx, "SELECT "+sqlRoomColumns+" FROM rooms WHERE jid = ?", room))
	if err != nil {
		return storage.Room{}, wrapErr("rooms get", err)
	}
	return out, nil
}

func (r rooms) List(ctx context.Context, service string) ([]storage.Room, error) {
	defer r.s.done("rooms.list", time.Now())
	rows, err := r.s.r.QueryContext(ctx, "SELECT "+sqlRoomColumns+" FROM rooms WHERE service = ? ORDER BY jid", service)
	out, err := collect(rows, err, scanRoom)
	return out, wrapErr("rooms list", err)
}

func (r rooms) Put(ctx context.Context, room storage.Room) error {
	defer r.s.done("rooms.put", time.Now())
	created := room.Created
	if created.IsZero() {
		created = r.s.now()
	}
	var subjectTime int64
	if !room.SubjectTime.IsZero() {
		subjectTime = micros(room.SubjectTime)
	}
	_, err := r.s.w.ExecContext(ctx, `
INSERT INTO rooms (jid, service, config, subject, subject_nick, subject_time, vcard, created)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (jid) DO UPDATE SET config = excluded.config, subject = excluded.subject,
	subject_nick = excluded.subject_nick, subject_time = excluded.subject_time, vcard = excluded.vcard`,
		room.JID, domainOf(room.JID), room.Config, room.Subject, room.SubjectNick, subjectTime, room.VCard, micros(created))
	return wrapErr("rooms put", err)
}

func (r rooms) Delete(ctx context.Context, room string) error {
	defer r.s.done("rooms.delete", time.Now())
	// The archive goes with the room: a message queued before would
	// otherwise land in a room stored again under the same JID.
	if err := r.s.roomArchiveSynced(ctx); err != nil {
		return err
	}
	err := r.s.execFound(ctx, "DELETE FROM rooms WHERE jid = ?", room)
	return wrapErr("rooms delete", err)
}

func (r rooms) Affiliations(ctx context.Context, room string) ([]storage.RoomAffiliation, error) {
	defer r.s.done("rooms.affiliations", time.Now())
	rows, err := r.s.r.QueryContext(ctx,
		"SELECT jid, affiliation, nick, reason FROM room_affiliations WHERE room = ? ORDER BY jid", room)
	out, err := collect(rows, err, func(sc scanner) (storage.RoomAffiliation, error) {
		var a storage.RoomAffiliation
		err := sc.Scan(&a.JID, &a.Affiliation, &a.Nick, &a.Reason)
		return a, err
	})
	return out, wrapErr("rooms affiliations", err)
}

func (r rooms) SetAffiliation(ctx context.Context, room string, a storage.RoomAffiliation) error {
	defer r.s.done("rooms.setaffiliation", time.Now())
	if a.Affiliation == "" || a.Affiliation == "none" {
		// Removing needs the room to exist, as adding does.
		err := r.s.tx(ctx, func(tx *sql.Tx) error {
			var one int
			if err := tx.QueryRowContext(ctx, "SELECT 1 FROM rooms WHERE jid = ?", room).Scan(&one); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "DELETE FROM room_affiliations WHERE room = ? AND jid = ?", room, a.JID)
			return err
		})
		return wrapErr("rooms set affiliation", err)
	}
	_, err := r.s.w.ExecContext(ctx, `
INSERT INTO room_affiliations (room, jid, affiliation, nick, reason) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (room, jid) DO UPDATE SET affiliation = excluded.affiliation, nick = excluded.nick, reason = excluded.reason`,
		room, a.JID, a.Affiliation, a.Nick, a.Reason)
	return wrapErr("rooms set affiliation", err)
}

func (r rooms) RemoveJID(ctx context.Context, jid string) (int64, error) {
	defer r.s.done("rooms.removejid", time.Now())
	n, err := r.s.exec(ctx, "DELETE FROM room_affiliations WHERE jid = ?", jid)
	return n, wrapErr("rooms remove jid", err)
}

func (r rooms) CountOwned(ctx context.Context, jid string) (int, error) {
	defer r.s.done("rooms.countowned", time.Now())
	var n int
	err := r.s.r.QueryRowContext(ctx,
		"SELECT count(*) FROM room_affiliations WHERE jid = ? AND affiliation = ?", jid, storage.AffOwner).Scan(&n)
	return n, wrapErr("rooms count owned", err)
}

type roomArchive struct{ s *Store }

// RoomArchive returns the room archive area.
func (s *Store) RoomArchive() storage.RoomArchive { return roomArchive{s} }

const sqlRoomArchiveInsert = "INSERT INTO room_archive (room, id, stored, nick, sender, stanza) VALUES (?, ?, ?, ?, ?, ?)"

// roomArchiveReq is a room's message for the group-commit writer
// (archive.go), which sets m.Stored and err before it calls then.
type roomArchiveReq struct {
	room string
	m    storage.RoomMessage
	then func(storage.RoomMessage, error)
	err  error
}

func (a roomArchive) Append(ctx context.Context, room string, m storage.RoomMessage) (storage.RoomMessage, error) {
	defer a.s.done("roomarchive.append", time.Now())
	type result struct {
		m   storage.RoomMessage
		err error
	}
	done := make(chan result, 1) // buffered: the writer never waits for the caller
	a.Enqueue(ctx, room, m, func(m storage.RoomMessage, err error) { done <- result{m, err} })
	select {
	case r := <-done:
		return r.m, r.err
	case <-ctx.Done():
		// The message may still be archived: the writer has it.
		return m, ctx.Err()
	}
}

// Enqueue hands the message to the group-commit writer and returns; the
// writer calls then after its transaction.
func (a roomArchive) Enqueue(ctx context.Context, room string, m storage.RoomMessage, then func(storage.RoomMessage, error)) {
	if err := a.s.queueArchive(ctx, writeReq{room: &roomArchiveReq{room: room, m: m, then: then}}); err != nil {
		then(m, err)
	}
}

// writeRoomMessages inserts the rooms' messages of a batch of the
// group-commit writer in its transaction, stored at now or later, and
// leaves each request its outcome.
func (s *Store) writeRoomMessages(ctx context.Context, tx *sql.Tx, batch []writeReq, now int64) error {
	var (
		stmt *sql.Stmt
		last sql.NullInt64
	)
	for _, w := range batch {
		req := w.room
		if req == nil {
			continue
		}
		if stmt == nil {
			// Stored never decreases in archive order, whatever the
			// clock does, so that a time maps to a position in the
			// archive. The last one is read in every transaction rather
			// than kept, as archiveLast is: Import writes rows without
			// the writer.
			err := tx.QueryRowContext(ctx, "SELECT stored FROM room_archive ORDER BY seq DESC LIMIT 1").Scan(&last)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			stmt = tx.StmtContext(ctx, s.roomArchiveInsert)
		}
		stored := max(now, last.Int64)
		_, err := stmt.ExecContext(ctx, req.room, req.m.ID, stored, req.m.Nick, req.m.Sender, req.m.Stanza)
		if err == nil {
			last.Int64 = stored
		}
		req.m.Stored = fromMicros(stored)
		req.err = wrapErr("room archive append", err)
	}
	return nil
}

func scanRoomMessages(rows *sql.Rows) ([]storage.RoomMessage, []int64, error) {
	defer rows.Close()
	var (
		out  []storage.RoomMessage
		seqs []int64
	)
	for rows.Next() {
		var (
			m           storage.RoomMessage
			seq, stored int64
		)
		if err := rows.Scan(&seq, &m.ID, &stored, &m.Nick, &m.Sender, &m.Stanza); err != nil {
			return nil, nil, err
		}
		m.Stored = fromMicros(stored)
		out = append(out, m)
		seqs = append(seqs, seq)
	}
	return out, seqs, rows.Err()
}

const sqlRoomMessageColumns = "seq, id, stored, nick, sender, stanza"

func (a roomArchive) Get(ctx context.Context, room, id string) (storage.RoomMessage, error) {
	defer a.s.done("roomarchive.get", time.Now())
	if err := a.s.roomArchiveSynced(ctx); err != nil {
		return storage.RoomMessage{}, err
	}
	rows, err := a.s.r.QueryContext(ctx,
		"SELECT "+sqlRoomMessageColumns+" FROM room_archive WHERE room = ? AND id = ?", room, id)
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
	if err := a.s.roomArchiveSynced(ctx); err != nil {
		return err
	}
	err := a.s.execFound(ctx, "UPDATE room_archive SET stanza = ? WHERE room = ? AND id = ?", stanza, room, id)
	return wrapErr("room archive replace", err)
}

func (a roomArchive) Last(ctx context.Context, room string, n int) ([]storage.RoomMessage, error) {
	defer a.s.done("roomarchive.last", time.Now())
	if n <= 0 {
		return nil, nil
	}
	if err := a.s.roomArchiveSynced(ctx); err != nil {
		return nil, err
	}
	rows, err := a.s.r.QueryContext(ctx,
		"SELECT "+sqlRoomMessageColumns+" FROM room_archive WHERE room = ? ORDER BY seq DESC LIMIT ?", room, n)
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
	if err := a.s.roomArchiveSynced(ctx); err != nil {
		return 0, err
	}
	us := micros(before)
	if before.After(fromMicros(us)) {
		us++
	}
	var total int64
	// In steps, so that a large expiry does not hold the write lock for
	// long.
	for {
		res, err := a.s.w.ExecContext(ctx,
			"DELETE FROM room_archive WHERE seq IN (SELECT seq FROM room_archive WHERE stored < ? LIMIT 5000)", us)
		if err != nil {
			return total, wrapErr("room archive expire", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, wrapErr("room archive expire", err)
		}
		total += n
		if n < 5000 {
			return total, nil
		}
	}
}

// Query builds the result set from the filters as conditions on one
// room's rows, then takes the page from the cursor in the direction of
// paging. It runs in one read transaction, so that the page, the count
// and the index agree.
func (a roomArchive) Query(ctx context.Context, room string, q storage.RoomArchiveQuery) (storage.RoomArchivePage, error) {
	defer a.s.done("roomarchive.query", time.Now())
	page := storage.RoomArchivePage{Count: -1, Index: -1}
	if err := a.s.roomArchiveSynced(ctx); err != nil {
		return page, err
	}
	tx, err := a.s.r.BeginTx(ctx, nil)
	if err != nil {
		return page, wrapErr("room archive query", err)
	}
	defer func() { _ = tx.Rollback() }() // read only: nothing to keep
	page, err = a.query(ctx, tx, room, q)
	return page, wrapErr("room archive query", err)
}

func (a roomArchive) query(ctx context.Context, tx *sql.Tx, room string, q storage.RoomArchiveQuery) (storage.RoomArchivePage, error) {
	page := storage.RoomArchivePage{Count: -1, Index: -1}
	seqOf := func(id string) (int64, error) {
		var seq int64
		err := tx.QueryRowContext(ctx, "SELECT seq FROM room_archive WHERE room = ? AND id = ?", room, id).Scan(&seq)
		return seq, err
	}
	bound, err := sqlutil.Full().Between(q.AfterID, q.BeforeID, seqOf)
	if err != nil {
		return page, err
	}
	conds := []string{"room = ?"}
	args := []any{room}
	add := func(c string, v ...any) {
		conds = append(conds, c)
		args = append(args, v...)
	}
	if !q.Start.IsZero() {
		us := micros(q.Start)
		if q.Start.After(fromMicros(us)) {
			us++
		}
		add("stored >= ?", us)
	}
	if !q.End.IsZero() {
		add("stored <= ?", micros(q.End))
	}
	if q.Nick != "" {
		add("nick = ?", q.Nick)
	}
	if q.Sender != "" {
		add("sender = ?", q.Sender)
	}
	if len(q.IDs) > 0 {
		for _, id := range q.IDs {
			if _, err := seqOf(id); err != nil {
				return page, err
			}
		}
		add("id IN (?"+strings.Repeat(", ?", len(q.IDs)-1)+")", anys(q.IDs)...)
	}
	set := strings.Join(conds, " AND ")
	setArgs := args

	// The cursor narrows the set to what follows After or precedes
	// Before.
	cur, err := bound.Between(q.After, q.Before, seqOf)
	if err != nil {
		return page, err
	}
	order := "ASC"
	if q.Backward {
		order = "DESC"
	}
	var msgs []storage.RoomMessage
	var seqs []int64
	if q.Max > 0 {
		rows, err := tx.QueryContext(ctx,
			"SELECT "+sqlRoomMessageColumns+" FROM room_archive WHERE "+set+" AND seq > ? AND seq < ? ORDER BY seq "+order+" LIMIT ?",
			append(slices.Clone(setArgs), cur.Lo, cur.Hi, q.Max+1)...)
		if err != nil {
			return page, err
		}
		msgs, seqs, err = scanRoomMessages(rows)
		if err != nil {
			return page, err
		}
	}
	page.Messages, seqs, page.Complete = sqlutil.Page(msgs, seqs, q.Max, q.Backward)

	// Count the whole set, and the position of the page in it, up to a
	// bound: a count costs a scan of the set.
	count := func(lo, hi int64) (int, error) {
		var n int
		err := tx.QueryRowContext(ctx,
			"SELECT count(*) FROM (SELECT 1 FROM room_archive WHERE "+set+" AND seq > ? AND seq < ? LIMIT ?)",
			append(slices.Clone(setArgs), lo, hi, storage.RoomArchiveCountLimit+1)...).Scan(&n)
		return n, err
	}
	n, err := count(bound.Lo, bound.Hi)
	if err != nil {
		return page, err
	}
	if n > storage.RoomArchiveCountLimit {
		return page, nil
	}
	page.Count = n
	switch {
	case len(seqs) > 0:
		idx, err := count(bound.Lo, seqs[0])
		if err != nil {
			return page, err
		}
		page.Index = idx
	case q.Max == 0:
		page.Complete = n == 0
	}
	return page, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
