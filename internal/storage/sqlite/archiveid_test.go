package sqlite

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"samtal.org/samtal/internal/storage"
)

// TestArchiveIDs checks the IDs the store derives (archiveid.go): the
// stored id grows with seq, the ID survives a reopening (the key is
// kept), a seq is never given twice even after the newest messages are
// deleted, and an ID the store made can be imported back only where its
// message is gone.
func TestArchiveIDs(t *testing.T) {
	ctx := t.Context()
	const alice, bob = "alice@example.org", "bob@example.org"
	path := filepath.Join(t.TempDir(), "samtal.db")
	s := open(t, path, Options{})
	for _, u := range []string{alice, bob} {
		if err := s.Accounts().Create(ctx, storage.Account{User: u}); err != nil {
			t.Fatal(err)
		}
	}
	add := func(s *Store, user string) string {
		m, err := s.Archive().Append(ctx, user, storage.ArchivedMessage{With: bob, Stanza: "<message><body>x</body></message>"})
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	a1, a2 := add(s, alice), add(s, alice)
	var stored []string
	rows, err := s.r.QueryContext(ctx, "SELECT id FROM archive ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, id)
	}
	rows.Close()
	if len(stored) != 2 || !strings.HasPrefix(stored[0], nativePrefix) || !slices.IsSorted(stored) {
		t.Fatalf("stored ids %q: want growing native ids", stored)
	}
	if strings.Contains(a1, stored[0][1:]) || len(a1) != 22 {
		t.Fatalf("ID %q shows its stored id %q", a1, stored[0])
	}

	closeStore(t, s)
	s = open(t, path, Options{})
	p, err := s.Archive().Query(ctx, alice, storage.ArchiveQuery{AfterID: a1, Max: 10})
	if err != nil || len(p.Messages) != 1 || p.Messages[0].ID != a2 {
		t.Fatalf("after %s, reopened: %v, %v", a1, p.Messages, err)
	}
	// Delete the newest message's archive: its seq is not given again.
	if _, err := s.Archive().DeleteAll(ctx, alice); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)
	s = open(t, path, Options{})
	if a3 := add(s, alice); a3 == a1 || a3 == a2 {
		t.Fatalf("ID %s given twice", a3)
	}

	// An export of bob's message imported into alice's archive keeps
	// its ID, which finds it there; into bob's own archive, where it
	// still is, it is taken.
	b1 := add(s, bob)
	imp := s.Archive().(storage.ArchiveImporter)
	err = imp.Import(ctx, bob, []storage.ArchivedMessage{{ID: b1, With: alice, Stanza: "<message/>"}})
	if !errors.Is(err, storage.ErrExists) {
		t.Errorf("import of %s where it is: %v, want ErrExists", b1, err)
	}
	if err := imp.Import(ctx, alice, []storage.ArchivedMessage{{ID: b1, With: bob, Stanza: "<message/>"}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []storage.ArchiveQuery{{IDs: []string{b1}, Max: 5}, {Before: b1, Max: 5}} {
		if _, err := s.Archive().Query(ctx, alice, q); err != nil {
			t.Errorf("alice's query %+v: %v", q, err)
		}
	}
	p, err = s.Archive().Query(ctx, alice, storage.ArchiveQuery{IDs: []string{b1}, Max: 5})
	if err != nil || len(p.Messages) != 1 || p.Messages[0].ID != b1 {
		t.Errorf("alice's imported %s: %v, %v", b1, p.Messages, err)
	}
	closeStore(t, s)
}
