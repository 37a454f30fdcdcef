package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/server"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/migrate"
)

const storageUsage = `usage: samtal storage migrate [--config FILE] [--data-dir DIR] [--from STORE] [--to STORE]
       samtal storage backup [--config FILE] [--data-dir DIR] --to DIR

migrate copies every account and everything stored for it, and the
invitations, from one store into another that is empty, then checks the
copy. STORE is "sqlite:PATH" or a PostgreSQL URL "postgres://..."; --from
or --to left out is the configured storage. Stop the server first. Keep a
password out of the command line: PGPASSWORD or ~/.pgpass provide it.

backup writes into DIR, new or empty, a copy of what the server keeps,
while it runs: a checked snapshot of the SQLite database, the secrets,
certificates and uploaded files of the data directory, and last
SHA256SUMS, which marks the backup complete. A PostgreSQL database is
left to pg_dump.
`

// storageCmd administers the store as a whole.
func storageCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "backup" {
		return backupCmd(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "migrate" {
		fmt.Fprint(stderr, storageUsage)
		return 2
	}
	var c commonFlags
	fs := c.newFlagSet("samtal storage migrate", false, stderr)
	from := fs.String("from", "", "the `store` to copy: sqlite:PATH or postgres://... (default: the configured one)")
	to := fs.String("to", "", "the empty `store` to copy into (default: the configured one)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "samtal: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, ok := c.config(fs, stderr)
	if !ok {
		return 1
	}
	src, dst := *from, *to
	switch {
	case src == "" && dst == "":
		fmt.Fprint(stderr, "samtal: give --from or --to (or both): the other one is the configured storage\n")
		return 2
	case src == "":
		src = configured(cfg)
	case dst == "":
		dst = configured(cfg)
	}
	for _, s := range []string{src, dst} {
		if !strings.HasPrefix(s, "sqlite:") && !config.IsPostgresURL(s) || s == "sqlite:" {
			// Never the value itself: it may hold a password.
			fmt.Fprint(stderr, "samtal: a store is \"sqlite:PATH\" or \"postgres://...\"\n")
			return 2
		}
	}
	if src == dst {
		fmt.Fprint(stderr, "samtal: --from and --to name the same store\n")
		return 2
	}
	if path, ok := strings.CutPrefix(src, "sqlite:"); ok {
		// Opening a missing file would create an empty store, and copy
		// nothing.
		if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(stderr, "samtal: the source store: %v\n", err)
			return 1
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srcStore, err := openAdmin(ctx, cfg, src)
	if err != nil {
		fmt.Fprintf(stderr, "samtal: the source store: %v\n", err)
		return 1
	}
	defer srcStore.Close()
	dstStore, err := openAdmin(ctx, cfg, dst)
	if err != nil {
		fmt.Fprintf(stderr, "samtal: the target store: %v\n", err)
		return 1
	}
	defer dstStore.Close()

	fmt.Fprintf(stdout, "copying %s into %s\n", describe(src), describe(dst))
	start := time.Now()
	rep, err := migrate.Copy(ctx, srcStore, dstStore, migrate.Options{Progress: func(n int) {
		if n%1000 == 0 {
			fmt.Fprintf(stdout, "  %d accounts\n", n)
		}
	}})
	if errors.Is(err, migrate.ErrNotEmpty) {
		fmt.Fprintf(stderr, "samtal: %v; nothing was copied\n", err)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "samtal: %v\nsamtal: the target holds part of the store: empty it (for PostgreSQL, drop and create the database again) before trying again\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "copied and checked %d accounts in %v:\n", rep.Accounts, time.Since(start).Round(time.Millisecond))
	for _, a := range migrate.Areas {
		fmt.Fprintf(stdout, "  %-12s %d\n", a.Name(), rep.Records[a.Name()])
	}
	return 0
}

// configured returns the configured storage in the form of --from and
// --to.
func configured(cfg config.Config) string {
	if url := cfg.StorageURL(); url != "" {
		return url
	}
	return "sqlite:" + cfg.StoragePath()
}

// describe names a store without what its URL may hide.
func describe(store string) string {
	if path, ok := strings.CutPrefix(store, "sqlite:"); ok {
		return "SQLite " + path
	}
	return "PostgreSQL"
}

// openAdmin opens a store named as --from and --to name them.
func openAdmin(ctx context.Context, cfg config.Config, store string) (storage.Store, error) {
	cfg.Storage = store
	return server.OpenAdminStore(ctx, cfg)
}

// backupCmd writes a backup of the server's data (server.Backup) and
// tells how to restore it.
func backupCmd(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := c.newFlagSet("samtal storage backup", false, stderr)
	to := fs.String("to", "", "the new or empty `directory` to write the backup into")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "samtal: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *to == "" {
		fmt.Fprint(stderr, "samtal: give --to DIR, the new or empty directory to write the backup into\n")
		return 2
	}
	cfg, ok := c.config(fs, stderr)
	if !ok {
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	postgres := cfg.StorageURL() != ""
	if postgres {
		// Never the URL: it may hold a password.
		fmt.Fprint(stdout, "the database is PostgreSQL: back it up with pg_dump (pg_dump --format=custom);\n"+
			"this backup holds the data directory's files only\n")
	}
	fmt.Fprintf(stdout, "backing up %s into %s\n", cfg.DataDir, *to)
	files, bytes := 0, int64(0)
	err := server.Backup(ctx, cfg, *to, func(it server.BackupItem) {
		files += it.Files
		bytes += it.Bytes
		what := sizeOf(it.Bytes)
		if strings.HasSuffix(it.Name, "/") {
			what = fmt.Sprintf("%d %s, %s", it.Files, plural(it.Files, "file"), what)
		}
		line := fmt.Sprintf("  %-14s %20s", it.Name, what)
		if it.Note != "" {
			line += "  " + it.Note
		}
		fmt.Fprintln(stdout, line)
	})
	if err != nil {
		fmt.Fprintf(stderr, "samtal: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "backup complete: %d %s, %s; sha256sum -c %s in %s checks them\n",
		files, plural(files, "file"), sizeOf(bytes), server.BackupManifest, *to)
	fmt.Fprintf(stdout, "to restore: stop samtal, move %s aside (keep it until the restored server works),\n"+
		"copy %s to %s with its mode (cp -a)", cfg.DataDir, *to, cfg.DataDir)
	if postgres {
		fmt.Fprint(stdout, ", restore the database with pg_restore")
	} else if db := cfg.StoragePath(); filepath.Clean(db) != filepath.Join(cfg.DataDir, server.BackupDB) {
		fmt.Fprintf(stdout, ", move %s to %s (with no %[2]s-wal or %[2]s-shm left there)", filepath.Join(cfg.DataDir, server.BackupDB), db)
	}
	fmt.Fprint(stdout, ", and start samtal\n")
	return 0
}

// sizeOf writes a number of bytes for people.
func sizeOf(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, units := float64(n)/unit, "KMGT"
	i := 0
	for f >= unit && i < len(units)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, units[i])
}

// plural returns noun for one, and its plural (with an s) otherwise.
func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}
