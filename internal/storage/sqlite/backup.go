package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// backupBusyTimeout is how long the snapshot waits for a lock the server
// holds: only a checkpoint that truncates the WAL keeps a new reader out,
// and never for long, but SQLite waits by polling.
const backupBusyTimeout = time.Minute

// Backup writes a consistent snapshot of the database at src into the
// file dst, which must not exist, while other processes (a running
// server) may be writing to src, then checks the snapshot. It returns
// the newest migration of the snapshot's schema.
//
// Copying the file with cp while the server writes can give a torn copy:
// the database file and its WAL change between the reads, and a copy of
// the file alone lacks the commits still in the WAL. VACUUM INTO reads
// one transaction's snapshot (the WAL included) and writes a compact new
// file with only the live pages, so that neither old page images from
// the WAL nor free pages travel into the backup. The source is never
// created nor migrated: a backup must not change what it copies.
//
// The snapshot is checked before Backup returns: opened read-only, it
// must pass PRAGMA integrity_check and hold the same migrations as the
// source. On any error dst is removed.
func Backup(ctx context.Context, src, dst string) (schema int, err error) {
	if src, err = filepath.Abs(src); err != nil {
		return 0, fmt.Errorf("sqlite: backup: %w", err)
	}
	// An absolute path also keeps dst from being read as a "file:" URI.
	if dst, err = filepath.Abs(dst); err != nil {
		return 0, fmt.Errorf("sqlite: backup: %w", err)
	}
	if _, err := os.Stat(src); err != nil {
		return 0, fmt.Errorf("sqlite: backup: %w", err)
	}
	// VACUUM INTO accepts an empty file, and would create a missing one
	// with mode 0644 (less the umask); the snapshot holds every SCRAM key.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("sqlite: backup: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(dst) // a partial snapshot; err says why
		}
	}()

	want, err := snapshot(ctx, src, dst)
	if err != nil {
		return 0, err
	}
	if err := syncFile(dst); err != nil {
		return 0, fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := checkSnapshot(ctx, dst, want); err != nil {
		return 0, err
	}
	return want[len(want)-1], nil
}

// snapshot runs VACUUM INTO dst on src and returns the migrations src
// had, read on the same connection just before.
func snapshot(ctx context.Context, src, dst string) ([]int, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(backupBusyTimeout.Milliseconds(), 10)+")")
	// mode=rw: a missing or renamed file is an error, not a new empty
	// database that would make an empty backup. Read-write, not ro, as a
	// reader of a WAL database writes to its -shm index. Not query_only
	// either, which refuses VACUUM INTO (it writes, if only into its
	// output): the connection runs nothing but a SELECT and the VACUUM.
	q.Set("mode", "rw")
	db, err := sql.Open("sqlite", fileURI(src, q))
	if err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: backup: open %s: %w", src, err)
	}
	defer conn.Close()
	versions, err := migrations(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: backup: %s: %w", src, err)
	}
	// The file name is a bound parameter, so that no quote in the path
	// can end the statement's string.
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return nil, fmt.Errorf("sqlite: backup: snapshot of %s: %w", src, err)
	}
	return versions, nil
}

// checkSnapshot opens the snapshot at path read-only and checks its
// integrity and that it holds the migrations want.
func checkSnapshot(ctx context.Context, path string, want []int) error {
	// immutable=1: nothing else writes the new file, so SQLite takes no
	// locks and creates no -wal or -shm beside it in the backup.
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("immutable", "1")
	db, err := sql.Open("sqlite", fileURI(path, q))
	if err != nil {
		return fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	var problems []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: check %s: %w", path, err)
		}
		problems = append(problems, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	if len(problems) != 1 || problems[0] != "ok" {
		return fmt.Errorf("sqlite: check %s: integrity check failed: %s", path, strings.Join(problems, "; "))
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	defer conn.Close()
	got, err := migrations(ctx, conn)
	if err != nil {
		return fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("sqlite: check %s: the snapshot has migrations %v, the source %v", path, got, want)
	}
	return nil
}

// migrations returns the versions of the migrations applied, in order;
// a file without them is no samtal database.
func migrations(ctx context.Context, conn *sql.Conn) ([]int, error) {
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_version ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("not a samtal database: %w", err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, errors.New("not a samtal database: no migration applied")
	}
	return vs, nil
}

// fileURI is the driver's data source name for path with the query q:
// a file: URI, so that any path works, and SQLite reads the parameters it
// knows (mode, immutable) while the driver takes its own (_pragma...).
func fileURI(path string, q url.Values) string {
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	// url.URL writes "file:///abs/path"; SQLite reads the empty authority.
	return u.String()
}

// syncFile flushes path to stable storage: SQLite does not sync the
// output of VACUUM INTO (its documentation says so).
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}
