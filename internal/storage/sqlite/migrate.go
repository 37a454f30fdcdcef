package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"samtal.org/samtal/internal/storage/sqlutil"
)

// migrationFiles holds the schema changes, one file each, named
// NNNN_what.sql and numbered from 0001 in increasing order. A released
// file is never edited: a change to the schema is a new file. Work done
// in parallel reserves its numbers ahead, so a number may be missing for
// a while; each migration is applied once, in order of its number,
// whenever it arrives, and the database records every one applied.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// loadMigrations returns the embedded migrations in order, checking their
// names and numbering.
func loadMigrations() ([]sqlutil.Migration, error) {
	return sqlutil.LoadMigrations(migrationFiles, "migrations/*.sql")
}

// migrate brings the schema of the database behind w up to date in one
// IMMEDIATE transaction, so that two processes opening the same file at
// once apply each migration once. It refuses a database whose schema is
// newer than the newest migration this binary knows.
func migrate(ctx context.Context, w *sql.DB) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	last := sqlutil.Last(ms)
	// Usually there is nothing to do: find out without taking the write
	// lock, which another process may hold for a while.
	if n, v, err := schemaVersion(ctx, w); err == nil && n == len(ms) && v == last {
		return nil
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op that fails
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
	version INTEGER NOT NULL PRIMARY KEY,
	name    TEXT    NOT NULL,
	applied INTEGER NOT NULL -- Unix seconds
) STRICT`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	applied := make(map[int]bool)
	rows, err := tx.QueryContext(ctx, "SELECT version FROM schema_version")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	todo, err := sqlutil.Pending(ms, applied, ErrSchemaNewer)
	if err != nil {
		return err
	}
	for _, m := range todo {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("sqlite: migrate: %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO schema_version (version, name, applied) VALUES (?, ?, unixepoch())",
			m.Version, m.Name); err != nil {
			return fmt.Errorf("sqlite: migrate: %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// schemaVersion returns how many migrations were applied and the newest
// one, or an error when there is no schema_version table yet.
func schemaVersion(ctx context.Context, db *sql.DB) (n, newest int, err error) {
	err = db.QueryRowContext(ctx, "SELECT count(*), coalesce(max(version), 0) FROM schema_version").Scan(&n, &newest)
	return n, newest, err
}
