package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/server"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/migrate"
)

const storageUsage = `usage: samtal storage migrate [--config FILE] [--data-dir DIR] [--from STORE] [--to STORE]

Copies every account and everything stored for it, and the invitations,
from one store into another that is empty, then checks the copy. STORE is
"sqlite:PATH" or a PostgreSQL URL "postgres://..."; --from or --to left
out is the configured storage. Stop the server first. Keep a password out
of the command line: PGPASSWORD or ~/.pgpass provide it.
`

// storageCmd administers the store as a whole.
func storageCmd(args []string, stdout, stderr io.Writer) int {
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
