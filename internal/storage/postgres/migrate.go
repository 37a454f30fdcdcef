package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles holds the schema changes, one file each, named
// NNNN_what.sql and numbered from 0001 in increasing order. A released
// file is never edited: a change to the schema is a new file. The numbers
// are those of the SQLite backend's migrations for the same change, so
// that an area has one number on both; a number may be missing for a
// while. Each migration is applied once, in order of its number, whenever
// it arrives, and the database records every one applied.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in order, checking their
// names and numbering.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names { // fs.Glob sorts
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 || v < 1 {
			return nil, fmt.Errorf("migration %s: name is not NNNN_what.sql", base)
		}
		if len(ms) > 0 && v <= ms[len(ms)-1].version {
			return nil, fmt.Errorf("migration %s: number %04d is used twice", base, v)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	return ms, nil
}

// migrationLock is the key of the advisory lock that serializes the
// migrations of every samtal node that opens the database at once.
const migrationLock = 0x73616d74616c // "samtal"

// migrate brings the schema up to date in one transaction (PostgreSQL's
// DDL is transactional) under an advisory lock, so that nodes of a
// cluster starting together apply each migration once, and a failed one
// leaves nothing behind. It refuses a database whose schema is newer than
// the newest migration this binary knows.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	last := 0
	if len(ms) > 0 {
		last = ms[len(ms)-1].version
	}
	// Usually there is nothing to do: find out without the lock.
	if n, v, err := schemaVersion(ctx, pool); err == nil && n == len(ms) && v == last {
		return nil
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
	version integer     NOT NULL PRIMARY KEY,
	name    text        NOT NULL,
	applied timestamptz NOT NULL
)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT version FROM schema_version")
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		applied := make(map[int]bool, len(versions))
		for _, v := range versions {
			applied[int(v)] = true
		}
		known := make(map[int]bool, len(ms))
		for _, m := range ms {
			known[m.version] = true
		}
		for v := range applied {
			if !known[v] {
				return fmt.Errorf("%w: the database has schema version %d, which this samtal (up to %d) does not know; run a newer samtal or restore a backup",
					ErrSchemaNewer, v, last)
			}
		}
		for _, m := range ms {
			if applied[m.version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx,
				"INSERT INTO schema_version (version, name, applied) VALUES ($1, $2, now())",
				m.version, m.name); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
		}
		return nil
	})
	if errors.Is(err, ErrSchemaNewer) {
		return err
	}
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// schemaVersion returns how many migrations were applied and the newest
// one, or an error when there is no schema_version table yet.
func schemaVersion(ctx context.Context, pool *pgxpool.Pool) (n, newest int, err error) {
	err = pool.QueryRow(ctx, "SELECT count(*), coalesce(max(version), 0) FROM schema_version").Scan(&n, &newest)
	return n, newest, err
}
