package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
)

// TestStorageMigrate copies the configured SQLite store into another
// with the command; the PostgreSQL side is tested in storage/migrate and
// test/e2e.
func TestStorageMigrate(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	src, err := sqlite.Open(ctx, filepath.Join(dir, "samtal.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"a@example.org", "b@example.org"} {
		if err := src.Accounts().Create(ctx, storage.Account{User: u}); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Offline().Push(ctx, "a@example.org", "<message/>", 0); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}

	target := filepath.Join(dir, "copy", "samtal.db")
	var out, errOut bytes.Buffer
	if code := run([]string{"storage", "migrate", "--data-dir", dir, "--to", "sqlite:" + target}, nil, &out, &errOut); code != 0 {
		t.Fatalf("storage migrate = %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "checked 2 accounts") || !strings.Contains(out.String(), "Offline      1") {
		t.Errorf("output %q, want 2 accounts and 1 offline message", out.String())
	}
	dst, err := sqlite.Open(ctx, target, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := dst.Offline().Count(ctx, "a@example.org"); err != nil || n != 1 {
		t.Errorf("Count in the copy = %d, %v, want 1", n, err)
	}
	dst.Close()

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"again", []string{"--to", "sqlite:" + target}, 1, "not empty"},
		{"neither", nil, 2, "give --from or --to"},
		{"same", []string{"--from", "sqlite:" + target, "--to", "sqlite:" + target}, 2, "same store"},
		{"missing source", []string{"--from", "sqlite:" + filepath.Join(dir, "nothing.db")}, 1, "no such file"},
		{"unknown kind", []string{"--to", "mysql://u:hunter2@db/x"}, 2, "sqlite:PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"storage", "migrate", "--data-dir", dir}, tc.args...)
			code := run(args, nil, &out, &errOut)
			if code != tc.code || !strings.Contains(errOut.String(), tc.msg) {
				t.Errorf("storage migrate %q = %d, %q, want %d and %q", tc.args, code, errOut.String(), tc.code, tc.msg)
			}
			if strings.Contains(out.String()+errOut.String(), "hunter2") {
				t.Errorf("the output shows a password: %q", out.String()+errOut.String())
			}
		})
	}
}
