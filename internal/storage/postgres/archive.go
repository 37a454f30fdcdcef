package postgres

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlutil"
)

type archive struct{ s *Store }

// Archive returns the message archive area.
func (s *Store) Archive() storage.Archive { return archive{s} }

// sqlArchiveAppend runs after the account's lock (sqlLockAccount), so one
// user's appends queue there: they take their seq in commit order, and
// each sees the last one stored. Stored never decreases in archive order,
// whatever the clocks of the nodes do, so that a time maps to a position
// in the archive (see archiveTable.times). A missing account fails the
// foreign key.
const sqlArchiveAppend = `
INSERT INTO archive (account, id, stored, with_bare, with_resource, stanza)
SELECT $1, $2, greatest($3::timestamptz,
	(SELECT stored FROM archive WHERE account = $1 ORDER BY seq DESC LIMIT 1)), $4, $5, $6
RETURNING stored`

// Enqueue appends at once: PostgreSQL commits concurrent transactions
// in parallel, so waiting here costs the caller one round trip.
func (a archive) Enqueue(ctx context.Context, user string, m storage.ArchivedMessage, then func(storage.ArchivedMessage, error)) string {
	m, err := a.Append(ctx, user, m)
	then(m, err)
	if err != nil {
		return ""
	}
	return m.ID
}

func (a archive) Append(ctx context.Context, user string, m storage.ArchivedMessage) (storage.ArchivedMessage, error) {
	defer a.s.done("archive.append", time.Now())
	if m.ID == "" {
		m.ID = storage.NewID()
	}
	bare, resource, _ := strings.Cut(m.With, "/")
	var stored time.Time
	err := a.s.lockedInsert(ctx, sqlLockAccount, user, storage.ErrNotFound, sqlArchiveAppend,
		[]any{user, m.ID, micro(a.s.now()), bare, resource, m.Stanza}, &stored)
	if err != nil {
		return m, wrapErr("archive append", err)
	}
	m.Stored = utc(stored)
	return m, nil
}

const sqlArchiveColumns = "seq, id, stored, with_bare, with_resource, stanza"

func (a archive) Query(ctx context.Context, user string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	defer a.s.done("archive.query", time.Now())
	var page storage.ArchivePage
	err := a.s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		page, err = a.query(ctx, tx, user, q)
		return err
	})
	if err != nil {
		return storage.ArchivePage{Count: -1, Index: -1}, wrapErr("archive query", err)
	}
	return page, nil
}

func (a archive) query(ctx context.Context, tx pgx.Tx, user string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	page := storage.ArchivePage{Count: -1, Index: -1}
	t := userArchiveTable
	seqOf := func(id string) (int64, error) { return t.seqOf(ctx, tx, user, id) }
	set, err := sqlutil.Full().Between(q.AfterID, q.BeforeID, seqOf)
	if err != nil {
		return page, err
	}
	c := &conds{}
	c.add("account = ?", user)
	if err := t.times(ctx, tx, user, q.Start, q.End, &set, c); err != nil {
		return page, err
	}
	if q.With != "" {
		bare, resource, full := strings.Cut(q.With, "/")
		if full {
			c.add("with_bare = ? AND with_resource = ?", bare, resource)
		} else {
			c.add("with_bare = ?", bare)
		}
	}
	if len(q.IDs) > 0 {
		if err := t.ids(ctx, tx, user, q.IDs, c); err != nil {
			return page, err
		}
	}
	// The cursor chooses the page within the set.
	cur, err := set.Between(q.After, q.Before, seqOf)
	if err != nil {
		return page, err
	}

	limit := max(q.Max, 0) + 1
	query, args := t.pageSQL(sqlArchiveColumns, c, cur.Lo, cur.Hi, q.Backward, limit)
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return page, err
	}
	var seqs []int64
	for rows.Next() {
		var (
			m              storage.ArchivedMessage
			seq            int64
			bare, resource string
		)
		if err := rows.Scan(&seq, &m.ID, &m.Stored, &bare, &resource, &m.Stanza); err != nil {
			rows.Close()
			return page, err
		}
		m.Stored = utc(m.Stored)
		m.With = sqlutil.JoinJID(bare, resource)
		page.Messages = append(page.Messages, m)
		seqs = append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return page, err
	}
	page.Messages, seqs, page.Complete = sqlutil.Page(page.Messages, seqs, limit-1, q.Backward)
	if len(page.Messages) == 0 {
		page.Messages = nil
	}
	if page.Count, err = t.count(ctx, tx, c, set.Lo, set.Hi, storage.ArchiveCountLimit); err != nil {
		return page, err
	}
	if len(seqs) > 0 {
		if page.Index, err = t.count(ctx, tx, c, set.Lo, min(set.Hi, seqs[0]), storage.ArchiveCountLimit); err != nil {
			return page, err
		}
	}
	return page, nil
}

func (a archive) Bounds(ctx context.Context, user string) (first, last storage.ArchivedMessage, err error) {
	defer a.s.done("archive.bounds", time.Now())
	one := func(order string) (storage.ArchivedMessage, error) {
		var (
			m              storage.ArchivedMessage
			bare, resource string
		)
		err := a.s.pool.QueryRow(ctx, "SELECT id, stored, with_bare, with_resource FROM archive WHERE account = $1 ORDER BY seq "+order+" LIMIT 1", user).
			Scan(&m.ID, &m.Stored, &bare, &resource)
		m.Stored, m.With = utc(m.Stored), sqlutil.JoinJID(bare, resource)
		return m, err
	}
	if first, err = one("ASC"); err != nil {
		return first, last, wrapErr("archive bounds", err)
	}
	last, err = one("DESC")
	return first, last, wrapErr("archive bounds", err)
}

// deleteBatch bounds the rows one delete transaction removes, so that a
// large deletion does not hold its row locks, or bloat one transaction,
// for long.
const deleteBatch = 5000

// deleteBatches runs a DELETE of at most deleteBatch rows (its last
// argument) until it deletes fewer, each in its own transaction. The
// deletes find their rows by ctid, which the subquery read from an index:
// a join back on the key would have the planner scan the table. A row
// that an update moved meanwhile (a tombstone replacing a room message)
// is left for the next run.
func (s *Store) deleteBatches(ctx context.Context, query string, args ...any) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, query, append(args, deleteBatch)...)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < deleteBatch {
			return total, nil
		}
	}
}

func (a archive) DeleteAll(ctx context.Context, user string) (int64, error) {
	defer a.s.done("archive.deleteall", time.Now())
	n, err := a.s.deleteBatches(ctx,
		"DELETE FROM archive WHERE ctid = ANY (ARRAY (SELECT ctid FROM archive WHERE account = $1 LIMIT $2))", user)
	return n, wrapErr("archive delete", err)
}

func (a archive) Expire(ctx context.Context, before time.Time) (int64, error) {
	defer a.s.done("archive.expire", time.Now())
	n, err := a.s.deleteBatches(ctx,
		"DELETE FROM archive WHERE ctid = ANY (ARRAY (SELECT ctid FROM archive WHERE stored < $1 ORDER BY stored LIMIT $2))", roundUp(before))
	return n, wrapErr("archive expire", err)
}

func (a archive) Prefs(ctx context.Context, user string) (storage.ArchivePrefs, error) {
	defer a.s.done("archive.prefs", time.Now())
	var p storage.ArchivePrefs
	// One statement, so one snapshot: the default policy with the JIDs,
	// NULL when the lists are empty.
	rows, err := a.s.pool.Query(ctx, `
SELECT p.default_policy, j.jid, j.always
FROM archive_prefs p LEFT JOIN archive_prefs_jids j ON j.account = p.account
WHERE p.account = $1 ORDER BY j.jid`, user)
	if err != nil {
		return p, wrapErr("archive prefs", err)
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var (
			j      *string
			always *bool
		)
		if err := rows.Scan(&p.Default, &j, &always); err != nil {
			return p, wrapErr("archive prefs", err)
		}
		found = true
		switch {
		case j == nil:
		case *always:
			p.Always = append(p.Always, *j)
		default:
			p.Never = append(p.Never, *j)
		}
	}
	if err := rows.Err(); err != nil {
		return p, wrapErr("archive prefs", err)
	}
	if !found {
		return p, wrapErr("archive prefs", storage.ErrNotFound)
	}
	return p, nil
}

func (a archive) SetPrefs(ctx context.Context, user string, p storage.ArchivePrefs) error {
	defer a.s.done("archive.setprefs", time.Now())
	// A JID in both lists is never archived: 'never' wins.
	always := make([]string, 0, len(p.Always))
	for _, j := range p.Always {
		if !slices.Contains(p.Never, j) {
			always = append(always, j)
		}
	}
	never := append([]string{}, p.Never...)
	err := a.s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, user); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO archive_prefs (account, default_policy) VALUES ($1, $2)
ON CONFLICT (account) DO UPDATE SET default_policy = excluded.default_policy`, user, p.Default); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM archive_prefs_jids WHERE account = $1", user); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO archive_prefs_jids (account, jid, always)
SELECT $1, j, true FROM unnest($2::text[]) AS j
UNION SELECT $1, j, false FROM unnest($3::text[]) AS j
ON CONFLICT DO NOTHING`, user, always, never)
		return err
	})
	return wrapErr("archive set prefs", err) // pgx.ErrNoRows: no account
}
