package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"samtal.org/samtal/internal/storage"
)

// TestBackup snapshots an open store into a file whose name needs
// quoting in SQL, reads the snapshot back as a store, and checks what
// Backup refuses.
func TestBackup(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src := open(t, filepath.Join(dir, "samtal.db"), Options{})
	defer closeStore(t, src)
	if err := src.Accounts().Create(ctx, storage.Account{User: "juliet@example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := src.Offline().Push(ctx, "juliet@example.org", "<message><body>kept</body></message>", 0); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(dir, `it's "the" backup.db`)
	schema, err := Backup(ctx, filepath.Join(dir, "samtal.db"), dst)
	if err != nil {
		t.Fatalf("Backup = %v", err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if want := ms[len(ms)-1].Version; schema != want {
		t.Errorf("Backup = schema %d, want %d", schema, want)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the snapshot: %v, %v, want mode 0600", fi, err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(dst + suffix); err == nil {
			t.Errorf("the check left %s beside the snapshot", suffix)
		}
	}
	cp := open(t, dst, Options{})
	if msgs, err := cp.Offline().List(ctx, "juliet@example.org"); err != nil || len(msgs) != 1 || msgs[0].Stanza != "<message><body>kept</body></message>" {
		t.Errorf("List in the snapshot = %v, %v, want the message", msgs, err)
	}
	closeStore(t, cp)

	if _, err := Backup(ctx, filepath.Join(dir, "samtal.db"), dst); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Backup onto an existing file = %v, want fs.ErrExist", err)
	}
	missing := filepath.Join(dir, "missing.db")
	if _, err := Backup(ctx, missing, filepath.Join(dir, "other.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Backup of a missing file = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("Backup created the missing source")
	}
	if _, err := os.Stat(filepath.Join(dir, "other.db")); err == nil {
		t.Errorf("a failed Backup left its target")
	}
}

// TestCheckSnapshot checks that the check of a snapshot finds a damaged
// file and one whose migrations are not the source's.
func TestCheckSnapshot(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src := open(t, filepath.Join(dir, "samtal.db"), Options{})
	for i := range 50 {
		if err := src.Accounts().Create(ctx, storage.Account{User: fmt.Sprintf("u%d@example.org", i)}); err != nil {
			t.Fatal(err)
		}
	}
	closeStore(t, src)
	dst := filepath.Join(dir, "backup.db")
	schema, err := Backup(ctx, filepath.Join(dir, "samtal.db"), dst)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var all []int
	for _, m := range ms {
		all = append(all, m.Version)
	}
	if err := checkSnapshot(ctx, dst, all); err != nil {
		t.Fatalf("checkSnapshot of a good snapshot = %v", err)
	}
	if err := checkSnapshot(ctx, dst, append(all, schema+1)); err == nil || !strings.Contains(err.Error(), "migrations") {
		t.Errorf("checkSnapshot with another schema = %v, want the migrations named", err)
	}

	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	// Every page after the first two: the file's header stays readable,
	// the b-trees do not.
	for i := 2 * 4096; i < len(b); i++ {
		b[i] = 0x5a
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkSnapshot(ctx, dst, all); err == nil {
		t.Errorf("checkSnapshot of a damaged file = nil, want an error")
	}
}
