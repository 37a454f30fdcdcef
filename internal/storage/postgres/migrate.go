package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"samtal.org/samtal/internal/storage/sqlutil"
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

// loadMigrations returns the embedded migrations in order, checking their
// names and numbering.
func loadMigrations() ([]sqlutil.Migration, error) {
	return sqlutil.LoadMigrations(migrationFiles, "migrations/*.sql")
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
	last := sqlutil.Last(ms)
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
		todo, err := sqlutil.Pending(ms, applied, ErrSchemaNewer)
		if err != nil {
			return err
		}
		for _, m := range todo {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx,
				"INSERT INTO schema_version (version, name, applied) VALUES ($1, $2, now())",
				m.Version, m.Name); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
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
