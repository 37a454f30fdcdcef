package postgres

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"samtal.org/samtal/internal/storage/sqlutil"
)

// The archives (a user's, a room's) are queried the same way: every
// message has a seq, from a sequence, that orders one archive; the
// filters of a query become a range of seq (lo, hi), both exclusive,
// plus conditions on other columns; and a page is the first or last rows
// of that range in seq order. Each step is a range scan of an index that
// starts with the archive's key and ends with seq, so a page costs its
// own rows, not the archive's (TestArchiveQueryPlans checks the plans).

// conds is a conjunction of SQL conditions with their arguments; the
// conditions use ? for their arguments, numbered $1, $2, ... in order.
type conds struct {
	where []string
	args  []any
}

func (c *conds) add(cond string, args ...any) {
	c.where = append(c.where, cond)
	c.args = append(c.args, args...)
}

// sql returns the conditions joined by AND, with the seq range (lo, hi)
// after them, and their arguments, then extra ones (for a LIMIT): the
// placeholders are numbered in that order.
func (c *conds) sql(lo, hi int64, extra ...any) (string, []any) {
	all := append(append([]string(nil), c.where...), "seq > ?", "seq < ?")
	args := append(append(append([]any(nil), c.args...), lo, hi), extra...)
	var b strings.Builder
	n := 0
	for i, w := range all {
		if i > 0 {
			b.WriteString(" AND ")
		}
		for {
			before, after, ok := strings.Cut(w, "?")
			b.WriteString(before)
			if !ok {
				break
			}
			n++
			b.WriteString("$" + strconv.Itoa(n))
			w = after
		}
	}
	// The extra arguments follow, numbered $n+1, ...
	return b.String(), args
}

// next returns the placeholder of the first extra argument of sql.
func (c *conds) next() string {
	return "$" + strconv.Itoa(len(c.args)+3)
}

// archiveTable names an archive table and its key column (the user, the
// room); its indexes are (key, seq) and (key, stored, seq).
type archiveTable struct{ table, key string }

var (
	userArchiveTable = archiveTable{"archive", "account"}
	roomArchiveTable = archiveTable{"room_archive", "room"}
)

// seqOf returns the seq of the message with the archive ID in one
// archive; pgx.ErrNoRows when there is none.
func (a archiveTable) seqOf(ctx context.Context, tx pgx.Tx, key, id string) (int64, error) {
	var seq int64
	err := tx.QueryRow(ctx, "SELECT seq FROM "+a.table+" WHERE "+a.key+" = $1 AND id = $2", key, id).Scan(&seq)
	return seq, err
}

// ids restricts c to the messages with the given archive IDs. XEP-0313
// §4.1.3: every one of them must be in the archive, else the query
// fails (pgx.ErrNoRows, item-not-found to the client).
func (a archiveTable) ids(ctx context.Context, tx pgx.Tx, key string, ids []string, c *conds) error {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	var n int
	err := tx.QueryRow(ctx, "SELECT count(*) FROM "+a.table+" WHERE "+a.key+" = $1 AND id = ANY ($2)", key, ids).Scan(&n)
	if err != nil {
		return err
	}
	if n != len(ids) {
		return pgx.ErrNoRows
	}
	c.add("id = ANY (?)", ids)
	return nil
}

// times narrows r to the messages stored in [start, end] (zero times do
// not bound) and adds the same conditions to c. Within one archive
// stored never decreases with seq, so the first message stored at or
// after start is where the range starts, found in one step of the (key,
// stored, seq) index; the conditions on stored keep the answer exact.
func (a archiveTable) times(ctx context.Context, tx pgx.Tx, key string, start, end time.Time, r *sqlutil.Range, c *conds) error {
	if !start.IsZero() {
		t := roundUp(start)
		var seq int64
		err := tx.QueryRow(ctx, a.firstSQL(), key, t).Scan(&seq)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			r.Empty()
		case err != nil:
			return err
		default:
			r.After(seq - 1)
		}
		c.add("stored >= ?", t)
	}
	if !end.IsZero() {
		t := micro(end)
		var seq int64
		err := tx.QueryRow(ctx, a.lastSQL(), key, t).Scan(&seq)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			r.Empty()
		case err != nil:
			return err
		default:
			r.Before(seq + 1)
		}
		c.add("stored <= ?", t)
	}
	return nil
}

// firstSQL finds the first message of an archive stored at or after a
// time; lastSQL the last one stored at or before a time.
func (a archiveTable) firstSQL() string {
	return "SELECT seq FROM " + a.table + " WHERE " + a.key + " = $1 AND stored >= $2 ORDER BY stored, seq LIMIT 1"
}

func (a archiveTable) lastSQL() string {
	return "SELECT seq FROM " + a.table + " WHERE " + a.key + " = $1 AND stored <= $2 ORDER BY stored DESC, seq DESC LIMIT 1"
}

// pageSQL selects the columns of the first limit rows that match c in
// (lo, hi), in seq order, backward or not.
func (a archiveTable) pageSQL(cols string, c *conds, lo, hi int64, backward bool, limit int) (string, []any) {
	order := "ASC"
	if backward {
		order = "DESC"
	}
	where, args := c.sql(lo, hi, limit)
	return "SELECT " + cols + " FROM " + a.table + " WHERE " + where + " ORDER BY seq " + order + " LIMIT " + c.next(), args
}

// countSQL counts the rows that match c in (lo, hi), up to limit, in
// whatever order an index gives them.
func (a archiveTable) countSQL(c *conds, lo, hi int64, limit int) (string, []any) {
	where, args := c.sql(lo, hi, limit)
	return "SELECT count(*) FROM (SELECT 1 FROM " + a.table + " WHERE " + where +
		" LIMIT " + c.next() + ") AS s", args
}

// count counts the rows that match c in (lo, hi), up to limit+1: a count
// costs a scan of what it counts. It returns -1 above limit.
func (a archiveTable) count(ctx context.Context, tx pgx.Tx, c *conds, lo, hi int64, limit int) (int, error) {
	query, args := a.countSQL(c, lo, hi, limit+1)
	var n int
	err := tx.QueryRow(ctx, query, args...).Scan(&n)
	if n > limit {
		n = -1
	}
	return n, err
}

// readTx runs fn in a read-only REPEATABLE READ transaction: one
// snapshot, so that a page, its count and its index agree.
func (s *Store) readTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// lockedInsert runs lock (which returns a row when the thing it locks
// exists) and then query, which returns one row scanned into dest, in one
// round trip: a batch is one implicit transaction. It returns
// storage.ErrNotFound (through notFound) when lock found nothing.
func (s *Store) lockedInsert(ctx context.Context, lock string, key string, notFound error, query string, args []any, dest ...any) error {
	var (
		b      pgx.Batch
		locked bool
	)
	b.Queue(lock, key).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			locked = true
		}
		return rows.Err()
	})
	b.Queue(query, args...).QueryRow(func(row pgx.Row) error { return row.Scan(dest...) })
	err := s.pool.SendBatch(ctx, &b).Close()
	if !locked && (err == nil || isForeignKey(err)) {
		return notFound
	}
	return err
}

// isForeignKey reports whether err is a foreign key violation.
func isForeignKey(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == codeForeignKeyViolation
}
