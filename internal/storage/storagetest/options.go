package storagetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/storage"
)

// The options every backend takes in its own Options type: an observer of
// operations and a clock. Each backend's test opens a store with the
// option set and passes it here; the test closes the store.

// Observe checks that a store opened with observe reports every operation
// by its name, a failed one too, with a duration that is not negative.
func Observe(t *testing.T, open func(observe func(op string, d time.Duration)) storage.Store) {
	var (
		mu  sync.Mutex
		ops []string
	)
	s := open(func(op string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		ops = append(ops, op)
		if d < 0 {
			t.Errorf("Observe(%q, %v): negative duration", op, d)
		}
	})
	defer closeStore(t, s)
	ctx := t.Context()
	if err := s.Accounts().Create(ctx, storage.Account{User: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	_ = s.Offline().Push(ctx, "nobody@example.org", "<message/>", 0) // fails; still observed
	if _, _, err := s.Roster().Items(ctx, "a@example.org"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"accounts.create", "offline.push", "roster.items"}; !slices.Equal(ops, want) {
		t.Errorf("observed %q, want %q", ops, want)
	}
}

// Clock checks that a store opened with clock stamps what it stores with
// that clock's time, to the microsecond, and that expiry compares at the
// same precision.
func Clock(t *testing.T, open func(clock func() time.Time) storage.Store) {
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 3, 4, 5, 6789, time.UTC)
	s := open(func() time.Time { return now })
	defer closeStore(t, s)
	if err := s.Accounts().Create(ctx, storage.Account{User: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Offline().Push(ctx, "a@example.org", "<message/>", 0); err != nil {
		t.Fatal(err)
	}
	a, err := s.Accounts().Get(ctx, "a@example.org")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.Offline().List(ctx, "a@example.org")
	if err != nil {
		t.Fatal(err)
	}
	want := now.Truncate(time.Microsecond)
	if !a.Created.Equal(want) || !msgs[0].Stored.Equal(want) {
		t.Errorf("Created %v, Stored %v, want %v", a.Created, msgs[0].Stored, want)
	}
	// Expire rounds up to the stored precision: a message stored at
	// 6µs is before 6.001µs.
	if n, err := s.Offline().Expire(ctx, want.Add(time.Nanosecond)); err != nil || n != 1 {
		t.Errorf("Expire(just after) = %d, %v, want 1", n, err)
	}
}

func closeStore(t *testing.T, s storage.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
}
