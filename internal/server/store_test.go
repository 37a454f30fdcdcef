package server

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/storage/sqlite"
)

// TestOpenStoreKind checks that the storage key picks the backend, and
// that a PostgreSQL that cannot be reached fails without showing the
// password of its URL.
func TestOpenStoreKind(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	s, err := OpenAdminStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*sqlite.Store); !ok {
		t.Errorf("storage \"\" opened a %T, want SQLite", s)
	}
	s.Close()

	// Port 1 on loopback: nothing listens, the connection is refused.
	cfg.Storage = "postgres://samtal:hunter2@127.0.0.1:1/samtal?connect_timeout=5"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	s, err = OpenStore(ctx, cfg, nil, nil)
	if err == nil {
		s.Close()
		t.Fatal("OpenStore of an unreachable PostgreSQL succeeded")
	}
	t.Logf("OpenStore = %v", err)
	if !strings.HasPrefix(err.Error(), "postgres:") {
		t.Errorf("OpenStore = %v, want an error from the PostgreSQL backend", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("OpenStore = %v: the error shows the password", err)
	}
}

// tempStore opens a SQLite store in a temporary directory, closed when
// the test ends.
func tempStore(t *testing.T) *sqlite.Store {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "samtal.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}
