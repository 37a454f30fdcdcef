package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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

// openLive opens a store in the data directory of a new temporary
// directory dir, and keeps it open, as a running server does, until the
// test ends.
func openLive(t *testing.T) (dir, data string, s *sqlite.Store) {
	t.Helper()
	dir = t.TempDir()
	data = filepath.Join(dir, "data")
	s, err := sqlite.Open(t.Context(), filepath.Join(data, "samtal.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return dir, data, s
}

// TestStorageBackup backs up the data directory of a store that is open,
// as a running server's is, its last writes still in the WAL: the
// backup holds them, opens as a store, and holds the data directory's
// files but what a restore must not get.
func TestStorageBackup(t *testing.T) {
	ctx := t.Context()
	dir, data, src := openLive(t)
	for _, u := range []string{"a@example.org", "b@example.org"} {
		if err := src.Accounts().Create(ctx, storage.Account{User: u}); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Offline().Push(ctx, "a@example.org", "<message><body>kept</body></message>", 0); err != nil {
		t.Fatal(err)
	}
	if err := src.VCards().Put(ctx, "b@example.org", "<vCard xmlns='vcard-temp'><FN>B</FN></vCard>"); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"secret":                     "server secret",
		"turn-secret":                "turn secret",
		"certs/example.org.key":      "key",
		"uploads/done/data":          "a file",
		"uploads/done/meta.json":     "{}",
		"uploads/writing/data.tmp":   "half a file", // an upload in progress
		"samtal.db-accounts-changed": "\n",
		"SHA256SUMS":                 "of the backup this was restored from",
		"operator/notes.txt":         "the operator's",
	}
	for name, content := range files {
		p := filepath.Join(data, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A link back to the data directory is not followed forever.
	if err := os.Symlink(data, filepath.Join(data, "loop")); err != nil {
		t.Fatal(err)
	}

	backup := filepath.Join(dir, "backup")
	var out, errOut bytes.Buffer
	if code := run([]string{"storage", "backup", "--data-dir", data, "--to", backup}, nil, &out, &errOut); code != 0 {
		t.Fatalf("storage backup = %d: %s", code, errOut.String())
	}
	for _, want := range []string{"samtal.db", "integrity checked", "uploads/", "1 file,", "SHA256SUMS", "to restore: stop samtal"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output %q lacks %q", out.String(), want)
		}
	}

	// What a restore must not get: the WAL of the live file, the stamp,
	// the upload in progress. SHA256SUMS is the backup's own.
	left := []string{"samtal.db-wal", "samtal.db-shm", "samtal.db-accounts-changed", "uploads/writing", "loop"}
	for name, content := range files {
		if name == "SHA256SUMS" || slices.ContainsFunc(left, func(l string) bool { return strings.HasPrefix(name, l) }) {
			continue
		}
		if got, err := os.ReadFile(filepath.Join(backup, filepath.FromSlash(name))); string(got) != content || err != nil {
			t.Errorf("%s in the backup = %q, %v, want %q", name, got, err, content)
		}
	}
	for _, name := range left {
		if _, err := os.Stat(filepath.Join(backup, name)); err == nil {
			t.Errorf("the backup holds %s", name)
		}
	}
	err := filepath.WalkDir(backup, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The manifest lists every other file with its SHA-256.
	sums, err := os.ReadFile(filepath.Join(backup, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n")
	if len(lines) != 7 {
		t.Errorf("SHA256SUMS has %d lines, want 7:\n%s", len(lines), sums)
	}
	for _, line := range lines {
		sum, name, _ := strings.Cut(line, "  ")
		b, err := os.ReadFile(filepath.Join(backup, filepath.FromSlash(name)))
		if h := sha256.Sum256(b); err != nil || hex.EncodeToString(h[:]) != sum {
			t.Errorf("SHA256SUMS: %q does not match %s (%v)", line, name, err)
		}
	}

	cp, err := sqlite.Open(ctx, filepath.Join(backup, "samtal.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if users, err := cp.Accounts().List(ctx, "example.org"); err != nil || len(users) != 2 {
		t.Errorf("accounts in the backup = %v, %v, want a and b", users, err)
	}
	if msgs, err := cp.Offline().List(ctx, "a@example.org"); err != nil || len(msgs) != 1 || msgs[0].Stanza != "<message><body>kept</body></message>" {
		t.Errorf("offline messages in the backup = %v, %v, want the one", msgs, err)
	}
	if v, err := cp.VCards().Get(ctx, "b@example.org"); err != nil || !strings.Contains(v, "<FN>B</FN>") {
		t.Errorf("vCard in the backup = %q, %v", v, err)
	}

	if err := os.WriteFile(filepath.Join(dir, "a file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"not empty", []string{"--to", backup}, 1, "is not empty (it holds SHA256SUMS)"},
		{"a file", []string{"--to", filepath.Join(dir, "a file")}, 1, "not a directory"},
		{"inside the data", []string{"--to", filepath.Join(data, "backup")}, 1, "inside the data directory"},
		{"no target", nil, 2, "give --to"},
		{"no data", []string{"--data-dir", filepath.Join(dir, "nothing"), "--to", filepath.Join(dir, "b2")}, 1, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"storage", "backup", "--data-dir", data}, tc.args...)
			if code := run(args, nil, &out, &errOut); code != tc.code || !strings.Contains(errOut.String(), tc.msg) {
				t.Errorf("storage backup %q = %d, %q, want %d and %q", tc.args, code, errOut.String(), tc.code, tc.msg)
			}
		})
	}
	// The refusals left the backup as it was, and wrote nowhere else.
	if b, err := os.ReadFile(filepath.Join(backup, "SHA256SUMS")); err != nil || !bytes.Equal(b, sums) {
		t.Errorf("SHA256SUMS after the refusals: %v", err)
	}
	for _, p := range []string{filepath.Join(data, "backup"), filepath.Join(dir, "b2"), filepath.Join(dir, "nothing")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a refused backup left %s", p)
		}
	}
}

// TestStorageBackupPostgres backs up the data directory of a server on
// PostgreSQL: the files are copied, the database is left to pg_dump, and
// the URL with its password shows nowhere. Nothing connects to the
// database.
func TestStorageBackupPostgres(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"secret", "samtal.db"} {
		if err := os.WriteFile(filepath.Join(data, name), []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "samtal.toml")
	toml := fmt.Sprintf("data_dir = %q\nstorage = \"postgres://u:hunter2@db.invalid/x\"\n\n[[host]]\ndomain = \"example.org\"\n", data)
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup")
	var out, errOut bytes.Buffer
	if code := run([]string{"storage", "backup", "--config", cfg, "--to", backup}, nil, &out, &errOut); code != 0 {
		t.Fatalf("storage backup = %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "pg_dump") || !strings.Contains(out.String(), "pg_restore") {
		t.Errorf("output %q does not name pg_dump and pg_restore", out.String())
	}
	if strings.Contains(out.String()+errOut.String(), "hunter2") {
		t.Errorf("the output shows the password: %q", out.String()+errOut.String())
	}
	if b, err := os.ReadFile(filepath.Join(backup, "secret")); err != nil || string(b) != "secret" {
		t.Errorf("secret in the backup = %q, %v", b, err)
	}
	// A SQLite file left from before the move to PostgreSQL.
	if _, err := os.Stat(filepath.Join(backup, "samtal.db")); err == nil {
		t.Errorf("the backup holds the unused samtal.db")
	}
}

// TestStorageBackupWhileWriting backs up a store while another
// connection writes to it without pause: the snapshot passes SQLite's
// integrity check and holds the writes of a moment, whole, in order.
func TestStorageBackupWhileWriting(t *testing.T) {
	ctx := t.Context()
	dir, data, src := openLive(t)
	user := func(i int) string { return fmt.Sprintf("u%04d@example.org", i) }
	// Large enough to span pages, so that a torn copy would show.
	stanza := func(i int) string {
		return fmt.Sprintf("<message><body>%d %s</body></message>", i, strings.Repeat("x", 4000))
	}

	// Each step writes an account, then a message for it: a snapshot
	// holds the accounts of the steps before some moment, and the
	// messages of all of them but maybe the last.
	const steps = 3000
	started, stop := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	written := 0
	go func() {
		defer close(done)
		for i := range steps {
			select {
			case <-stop:
				return
			default:
			}
			if err := src.Accounts().Create(ctx, storage.Account{User: user(i)}); err != nil {
				done <- err
				return
			}
			if err := src.Offline().Push(ctx, user(i), stanza(i), 0); err != nil {
				done <- err
				return
			}
			written = i + 1
			if i == 20 {
				close(started)
			}
		}
	}()
	<-started
	backup := filepath.Join(dir, "backup")
	var out, errOut bytes.Buffer
	code := run([]string{"storage", "backup", "--data-dir", data, "--to", backup}, nil, &out, &errOut)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code != 0 || !strings.Contains(out.String(), "integrity checked") {
		t.Fatalf("storage backup = %d: %s%s", code, out.String(), errOut.String())
	}

	path := filepath.Join(backup, "samtal.db")
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity check of the backup: %q, %v", res, err)
	}
	db.Close()

	cp, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	users, err := cp.Accounts().List(ctx, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the backup holds %d accounts of the %d written", len(users), written)
	if len(users) < 21 {
		t.Errorf("the backup holds %d accounts, want at least the 21 written before it", len(users))
	}
	for i, u := range users {
		if u != user(i) {
			t.Fatalf("account %d in the backup is %s, want %s: not the writes of one moment", i, u, user(i))
		}
		msgs, err := cp.Offline().List(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		last := i == len(users)-1
		switch {
		case len(msgs) == 0 && last:
		case len(msgs) != 1:
			t.Errorf("%s has %d messages in the backup, want 1", u, len(msgs))
		case msgs[0].Stanza != stanza(i):
			t.Errorf("%s's message in the backup is not whole: %d bytes", u, len(msgs[0].Stanza))
		}
	}
}
