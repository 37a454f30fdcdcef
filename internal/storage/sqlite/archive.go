package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlutil"
)

type archive struct{ s *Store }

// Archive returns the message archive area.
func (s *Store) Archive() storage.Archive { return archive{s} }

// Group commit: Append hands its message to one writer goroutine, which
// inserts every message waiting at that moment in one transaction. A
// commit costs an fsync (synchronous=FULL); under load, concurrent
// appends share it instead of queueing for one each. Rooms' messages
// (rooms.go) go through the same writer: one transaction holds both
// kinds, and no second writer takes turns with it for the one write
// connection, each paying an fsync of its own.
const (
	// archiveQueue is how many appends may wait for the writer.
	archiveQueue = 4096
	// archiveBatch bounds the messages of one transaction, so that one
	// commit does not hold the write lock for long.
	archiveBatch = 1024
	// archiveDeleteBatch bounds the rows one delete transaction removes.
	archiveDeleteBatch = 5000
)

const sqlArchiveInsert = `
INSERT INTO archive (seq, account, id, stored, with_bare, with_resource, stanza)
VALUES (?, ?, ?, ?, ?, ?, ?)`

var errClosed = errors.New("sqlite: store closed")

// writeReq is one message for the group-commit writer: for a user's
// archive, or for a room's.
type writeReq struct {
	pos  int64 // its place in the queue, given when queued (writtenUpTo)
	user *archiveReq
	room *roomArchiveReq
}

type archiveReq struct {
	user string
	m    storage.ArchivedMessage
	// imported asks to keep m.Stored (ArchiveImporter) rather than stamp
	// the message with the current time; it is raised all the same to
	// the last time written.
	imported bool
	done     chan archiveRes                      // buffered: the writer never waits for the caller
	then     func(storage.ArchivedMessage, error) // instead of done (Enqueue)
	row      int64                                // its seq in the archive, given when queued
	native   bool                                 // m.ID is derived from row (archiveid.go)
}

type archiveRes struct {
	m   storage.ArchivedMessage
	err error
}

func (a archive) Append(ctx context.Context, user string, m storage.ArchivedMessage) (storage.ArchivedMessage, error) {
	s := a.s
	defer s.done("archive.append", time.Now())
	req := &archiveReq{user: user, m: m, done: make(chan archiveRes, 1)}
	if err := s.queueArchive(ctx, writeReq{user: req}); err != nil {
		return m, err
	}
	select {
	case r := <-req.done:
		return r.m, r.err
	case <-ctx.Done():
		// The message may still be archived: the writer has it.
		return req.m, ctx.Err()
	}
}

// Enqueue hands the message to the group-commit writer and returns; the
// writer calls then after its transaction.
func (a archive) Enqueue(ctx context.Context, user string, m storage.ArchivedMessage, then func(storage.ArchivedMessage, error)) string {
	req := &archiveReq{user: user, m: m, then: then}
	if err := a.s.queueArchive(ctx, writeReq{user: req}); err != nil {
		then(m, err)
		return ""
	}
	return req.m.ID
}

// queueArchive hands w, with its user's or its room's message, to the
// group-commit writer.
func (s *Store) queueArchive(ctx context.Context, w writeReq) error {
	s.archiveMu.RLock()
	defer s.archiveMu.RUnlock()
	if s.archiveClosed {
		return errClosed
	}
	s.archiveSeqMu.Lock()
	defer s.archiveSeqMu.Unlock()
	w.pos = s.archivePos + 1
	if req := w.user; req != nil {
		req.row = s.archiveSeq + 1
		if req.m.ID == "" {
			req.native = true
			req.m.ID = s.archiveIDs.public(req.row)
		}
	}
	select {
	case s.archiveCh <- w:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.archivePos = w.pos
	if w.user != nil {
		s.archiveSeq = w.user.row
		s.archiveQueued.Store(w.pos)
	} else {
		s.roomArchiveQueued.Store(w.pos)
	}
	return nil
}

// archiveSynced waits until every message for a user's archive queued
// before the call is written, so that a reader sees what was enqueued
// before it: a client that sends a message and then queries its archive
// finds it.
func (s *Store) archiveSynced(ctx context.Context) error {
	return s.writtenUpTo(ctx, s.archiveQueued.Load())
}

// roomArchiveSynced is archiveSynced for the messages of rooms: a
// retraction right after its message finds it.
func (s *Store) roomArchiveSynced(ctx context.Context) error {
	return s.writtenUpTo(ctx, s.roomArchiveQueued.Load())
}

// writtenUpTo waits until the writer has written the request queued at
// pos, and so every one queued before it.
func (s *Store) writtenUpTo(ctx context.Context, pos int64) error {
	for {
		s.archiveSyncMu.Lock()
		if s.archiveWritten >= pos {
			s.archiveSyncMu.Unlock()
			return nil
		}
		wake := s.archiveWake
		s.archiveSyncMu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// archiveLoop is the group-commit writer. It ends when Close closes the
// queue, after it has written what was in it.
func (s *Store) archiveLoop() {
	defer s.wg.Done()
	batch := make([]writeReq, 0, archiveBatch)
	for req := range s.archiveCh {
		batch = append(batch[:0], req)
	collect:
		for len(batch) < archiveBatch {
			select {
			case r, ok := <-s.archiveCh:
				if !ok {
					break collect
				}
				batch = append(batch, r)
			default:
				break collect
			}
		}
		s.writeArchive(batch)
	}
}

// writeArchive inserts a batch in one transaction and answers each
// request. A message that fails (no account or room, ID taken) fails
// alone: a failed statement does not end the SQLite transaction.
func (s *Store) writeArchive(batch []writeReq) {
	s.archiveCommits.Add(1)
	ctx := context.Background() // no caller's context may abort the others' commit
	// The outcomes of users' messages; a room's request keeps its own.
	res := make([]archiveRes, len(batch))
	var last int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if !s.archiveLastKnown {
			var last sql.NullInt64
			err := tx.QueryRowContext(ctx, "SELECT stored FROM archive ORDER BY seq DESC LIMIT 1").Scan(&last)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			s.archiveLast, s.archiveLastKnown = last.Int64, true
		}
		// Stored never decreases in archive order, whatever the clock
		// does: a time can then be mapped to a position (see Query).
		now := micros(s.now())
		last = s.archiveLast
		stmt := tx.StmtContext(ctx, s.archiveInsert)
		for i, w := range batch {
			req := w.user
			if req == nil {
				continue
			}
			stored := max(now, last)
			if req.imported {
				// Raised to the user's last time only: times map to
				// positions within one archive.
				var userLast sql.NullInt64
				err := tx.QueryRowContext(ctx, "SELECT stored FROM archive WHERE account = ? ORDER BY seq DESC LIMIT 1", req.user).Scan(&userLast)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				stored = max(micros(req.m.Stored), userLast.Int64)
			}
			bare, resource, _ := strings.Cut(req.m.With, "/")
			id := req.m.ID
			var err error
			if req.native {
				id = nativeID(req.row)
			} else if seq, ok := s.archiveIDs.decode(id); ok {
				// An ID this store made, given back (an export
				// imported again): taken if its message is here.
				var one int
				err = tx.QueryRowContext(ctx, "SELECT 1 FROM archive WHERE account = ? AND id = ?", req.user, nativeID(seq)).Scan(&one)
				switch {
				case err == nil:
					err = storage.ErrExists
				case errors.Is(err, sql.ErrNoRows):
					err = nil
				}
			}
			if err == nil {
				_, err = stmt.ExecContext(ctx, req.row, req.user, id, stored, bare, resource, req.m.Stanza)
			}
			if err == nil {
				last = max(last, stored)
			}
			req.m.Stored = fromMicros(stored)
			res[i] = archiveRes{m: req.m, err: wrapErr("archive append", err)}
		}
		return s.writeRoomMessages(ctx, tx, batch, now)
	})
	if err == nil {
		s.archiveLast = last
	}
	for i, w := range batch {
		if req := w.room; req != nil {
			if err != nil {
				req.err = wrapErr("room archive append", err)
			}
			req.then(req.m, req.err)
			continue
		}
		req := w.user
		if err != nil {
			res[i].err = wrapErr("archive append", err)
		}
		if req.then != nil {
			req.then(res[i].m, res[i].err)
		} else {
			req.done <- res[i]
		}
	}
	s.archiveSyncMu.Lock()
	s.archiveWritten = batch[len(batch)-1].pos
	close(s.archiveWake)
	s.archiveWake = make(chan struct{})
	s.archiveSyncMu.Unlock()
}

// closeArchive stops the group-commit writer after the appends already
// queued, users' and rooms'; later appends fail.
func (s *Store) closeArchive() {
	s.archiveMu.Lock()
	if !s.archiveClosed {
		s.archiveClosed = true
		close(s.archiveCh)
	}
	s.archiveMu.Unlock()
}

// bounds is the part of a user's archive a query may return: seq > lo
// and seq < hi, plus conditions on other columns.
type bounds struct {
	user   string
	lo, hi int64
	where  []string
	args   []any
}

func (b *bounds) add(cond string, args ...any) {
	b.where = append(b.where, cond)
	b.args = append(b.args, args...)
}

// sql returns the WHERE clause (without the keyword) with extra seq
// bounds and its arguments.
func (b *bounds) sql(lo, hi int64) (string, []any) {
	conds := append([]string{"account = ?", "seq > ?", "seq < ?"}, b.where...)
	args := append([]any{b.user, max(b.lo, lo), min(b.hi, hi)}, b.args...)
	return strings.Join(conds, " AND "), args
}

func (a archive) Query(ctx context.Context, user string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	defer a.s.done("archive.query", time.Now())
	if err := a.s.archiveSynced(ctx); err != nil {
		return storage.ArchivePage{}, err
	}
	page := storage.ArchivePage{Count: -1, Index: -1}
	tx, err := a.s.r.BeginTx(ctx, nil)
	if err != nil {
		return page, wrapErr("archive query", err)
	}
	defer func() { _ = tx.Rollback() }() // read only: nothing to keep
	page, err = a.query(ctx, tx, user, q)
	return page, wrapErr("archive query", err)
}

// readStmt returns the statement for query prepared on the read pool,
// or nil while it is not prepared yet. Archive queries are built from a
// few dozen texts, and preparing one costs as much as running it.
//
// It never waits for a connection: its callers hold one in a read
// transaction, and preparing on the pool takes another. Were every
// connection held by a caller waiting for a prepare, no reader would
// ever move again. A text seen for the first time is prepared in the
// background, once, when a connection comes free; meanwhile callers run
// the text directly in their transaction.
func (s *Store) readStmt(query string) *sql.Stmt {
	s.readStmtsMu.Lock()
	defer s.readStmtsMu.Unlock()
	if st, seen := s.readStmts[query]; seen || s.readStmtsClosed {
		return st
	}
	if s.readStmts == nil {
		s.readStmts = make(map[string]*sql.Stmt)
	}
	s.readStmts[query] = nil // being prepared
	go func() {
		st, err := s.r.PrepareContext(context.Background(), query)
		s.readStmtsMu.Lock()
		defer s.readStmtsMu.Unlock()
		switch {
		case err != nil:
			delete(s.readStmts, query) // the next caller tries again
		case s.readStmtsClosed:
			_ = st.Close()
		default:
			s.readStmts[query] = st
		}
	}()
	return nil
}

// queryRow runs a cached statement in tx.
func (a archive) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := a.s.readStmt(query); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

func (a archive) query(ctx context.Context, tx *sql.Tx, user string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	page := storage.ArchivePage{Count: -1, Index: -1}
	seqOf := func(id string) (int64, error) {
		var err error
		for _, stored := range a.s.archiveIDs.storedIDs(id) {
			var seq int64
			err = a.queryRow(ctx, tx, "SELECT seq FROM archive WHERE account = ? AND id = ?", user, stored).Scan(&seq)
			if !errors.Is(err, sql.ErrNoRows) {
				return seq, err
			}
		}
		return 0, err
	}
	set, err := sqlutil.Full().Between(q.AfterID, q.BeforeID, seqOf)
	if err != nil {
		return page, err
	}
	b := bounds{user: user, lo: set.Lo, hi: set.Hi}
	// Stored never decreases with seq in one archive: the first of the
	// user's messages stored at or after Start is where the range starts
	// (one step in the (account, stored) index), and the condition on
	// stored keeps the answer exact.
	if !q.Start.IsZero() {
		us := micros(q.Start)
		if q.Start.After(fromMicros(us)) {
			us++
		}
		var seq int64
		err := a.queryRow(ctx, tx, "SELECT seq FROM archive WHERE account = ? AND stored >= ? ORDER BY stored, seq LIMIT 1", user, us).Scan(&seq)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			b.lo = math.MaxInt64 - 1
		case err != nil:
			return page, err
		default:
			b.lo = max(b.lo, seq-1)
		}
		b.add("stored >= ?", us)
	}
	if !q.End.IsZero() {
		us := micros(q.End)
		var seq int64
		err := a.queryRow(ctx, tx, "SELECT seq FROM archive WHERE account = ? AND stored <= ? ORDER BY stored DESC, seq DESC LIMIT 1", user, us).Scan(&seq)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			b.hi = 0
		case err != nil:
			return page, err
		default:
			b.hi = min(b.hi, seq+1)
		}
		b.add("stored <= ?", us)
	}
	if q.With != "" {
		bare, resource, full := strings.Cut(q.With, "/")
		if full {
			b.add("with_bare = ? AND with_resource = ?", bare, resource)
		} else {
			b.add("with_bare = ?", bare)
		}
	}
	if len(q.IDs) > 0 {
		// The IDs travel as one JSON array, so that the statement text
		// does not depend on how many there are.
		ids := slices.Compact(slices.Sorted(slices.Values(q.IDs)))
		var stored []string
		for _, id := range ids {
			stored = append(stored, a.s.archiveIDs.storedIDs(id)...)
		}
		list, err := json.Marshal(stored)
		if err != nil {
			return page, err
		}
		var n int
		if err := a.queryRow(ctx, tx, "SELECT count(*) FROM archive WHERE account = ? AND id IN (SELECT value FROM json_each(?))", user, string(list)).Scan(&n); err != nil {
			return page, err
		}
		if n != len(ids) {
			return page, sql.ErrNoRows
		}
		b.add("id IN (SELECT value FROM json_each(?))", string(list))
	}
	// The cursor chooses the page within the set.
	cur, err := sqlutil.Full().Between(q.After, q.Before, seqOf)
	if err != nil {
		return page, err
	}

	limit := max(q.Max, 0) + 1
	where, args := b.sql(cur.Lo, cur.Hi)
	order := "ASC"
	if q.Backward {
		order = "DESC"
	}
	text := "SELECT seq, id, stored, with_bare, with_resource, stanza FROM archive WHERE " +
		where + " ORDER BY seq " + order + " LIMIT ?"
	var rows *sql.Rows
	if st := a.s.readStmt(text); st != nil {
		rows, err = tx.StmtContext(ctx, st).QueryContext(ctx, append(args, limit)...)
	} else {
		rows, err = tx.QueryContext(ctx, text, append(args, limit)...)
	}
	if err != nil {
		return page, err
	}
	var seqs []int64
	for rows.Next() {
		var (
			m              storage.ArchivedMessage
			seq, stored    int64
			bare, resource string
		)
		if err := rows.Scan(&seq, &m.ID, &stored, &bare, &resource, &m.Stanza); err != nil {
			rows.Close()
			return page, err
		}
		m.ID = a.s.archiveIDs.shown(seq, m.ID)
		m.Stored = fromMicros(stored)
		m.With = sqlutil.JoinJID(bare, resource)
		page.Messages = append(page.Messages, m)
		seqs = append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return page, err
	}
	page.Messages, seqs, page.Complete = sqlutil.Page(page.Messages, seqs, limit-1, q.Backward)

	count := func(hi int64) (int, error) {
		where, args := b.sql(0, hi)
		var n int
		err := a.queryRow(ctx, tx, "SELECT count(*) FROM (SELECT 1 FROM archive WHERE "+where+" LIMIT ?)",
			append(args, storage.ArchiveCountLimit+1)...).Scan(&n)
		if n > storage.ArchiveCountLimit {
			n = -1
		}
		return n, err
	}
	if page.Count, err = count(math.MaxInt64); err != nil {
		return page, err
	}
	if len(seqs) > 0 {
		if page.Index, err = count(seqs[0]); err != nil {
			return page, err
		}
	}
	return page, nil
}

func (a archive) Bounds(ctx context.Context, user string) (first, last storage.ArchivedMessage, err error) {
	defer a.s.done("archive.bounds", time.Now())
	if err := a.s.archiveSynced(ctx); err != nil {
		return first, last, err
	}
	one := func(order string) (storage.ArchivedMessage, error) {
		var (
			m              storage.ArchivedMessage
			seq, stored    int64
			bare, resource string
		)
		err := a.s.r.QueryRowContext(ctx, "SELECT seq, id, stored, with_bare, with_resource FROM archive WHERE account = ? ORDER BY seq "+order+" LIMIT 1", user).
			Scan(&seq, &m.ID, &stored, &bare, &resource)
		m.ID = a.s.archiveIDs.shown(seq, m.ID)
		m.Stored, m.With = fromMicros(stored), sqlutil.JoinJID(bare, resource)
		return m, err
	}
	if first, err = one("ASC"); err != nil {
		return first, last, wrapErr("archive bounds", err)
	}
	last, err = one("DESC")
	return first, last, wrapErr("archive bounds", err)
}

// deleteBatches runs a DELETE of at most archiveDeleteBatch rows (its
// last argument) until it deletes fewer, each in its own transaction, so
// that a large deletion lets other writes in between.
func (s *Store) deleteBatches(ctx context.Context, query string, args ...any) (int64, error) {
	var total int64
	for {
		res, err := s.w.ExecContext(ctx, query, append(args, archiveDeleteBatch)...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < archiveDeleteBatch {
			return total, nil
		}
	}
}

func (a archive) DeleteAll(ctx context.Context, user string) (int64, error) {
	defer a.s.done("archive.deleteall", time.Now())
	if err := a.s.archiveSynced(ctx); err != nil {
		return 0, err
	}
	n, err := a.s.deleteBatches(ctx,
		"DELETE FROM archive WHERE seq IN (SELECT seq FROM archive WHERE account = ? ORDER BY seq LIMIT ?)", user)
	return n, wrapErr("archive delete", err)
}

func (a archive) Expire(ctx context.Context, before time.Time) (int64, error) {
	defer a.s.done("archive.expire", time.Now())
	us := micros(before)
	if before.After(fromMicros(us)) {
		us++
	}
	// The oldest messages first, by position: stored grows with seq.
	n, err := a.s.deleteBatches(ctx,
		"DELETE FROM archive WHERE seq IN (SELECT seq FROM archive WHERE stored < ? ORDER BY stored, seq LIMIT ?)", us)
	return n, wrapErr("archive expire", err)
}

func (a archive) Prefs(ctx context.Context, user string) (storage.ArchivePrefs, error) {
	defer a.s.done("archive.prefs", time.Now())
	var p storage.ArchivePrefs
	tx, err := a.s.r.BeginTx(ctx, nil)
	if err != nil {
		return p, wrapErr("archive prefs", err)
	}
	defer func() { _ = tx.Rollback() }() // read only
	if err := tx.QueryRowContext(ctx, "SELECT default_policy FROM archive_prefs WHERE account = ?", user).Scan(&p.Default); err != nil {
		return p, wrapErr("archive prefs", err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT jid, always FROM archive_prefs_jids WHERE account = ? ORDER BY jid", user)
	if err != nil {
		return p, wrapErr("archive prefs", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			j      string
			always bool
		)
		if err := rows.Scan(&j, &always); err != nil {
			return p, wrapErr("archive prefs", err)
		}
		if always {
			p.Always = append(p.Always, j)
		} else {
			p.Never = append(p.Never, j)
		}
	}
	return p, wrapErr("archive prefs", rows.Err())
}

func (a archive) SetPrefs(ctx context.Context, user string, p storage.ArchivePrefs) error {
	defer a.s.done("archive.setprefs", time.Now())
	err := a.s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO archive_prefs (account, default_policy) VALUES (?, ?)
ON CONFLICT (account) DO UPDATE SET default_policy = excluded.default_policy`, user, p.Default); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM archive_prefs_jids WHERE account = ?", user); err != nil {
			return err
		}
		// A JID in both lists is never archived: 'never' is written last.
		for _, l := range []struct {
			jids   []string
			always bool
		}{{p.Always, true}, {p.Never, false}} {
			for _, j := range l.jids {
				if _, err := tx.ExecContext(ctx, `INSERT INTO archive_prefs_jids (account, jid, always) VALUES (?, ?, ?)
ON CONFLICT (account, jid) DO UPDATE SET always = excluded.always`, user, j, l.always); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return wrapErr("archive set prefs", err)
}
