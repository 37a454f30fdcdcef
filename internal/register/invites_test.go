package register

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok := NewToken()
		if len(tok) != 26 || strings.Trim(tok, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("NewToken() = %q, want 26 characters of lowercase base32", tok)
		}
		if seen[tok] {
			t.Fatalf("NewToken() = %q twice", tok)
		}
		seen[tok] = true
	}
}

func TestMemoryInvites(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMemoryInvites(func() time.Time { return now })
	a, _ := m.Create(ctx, "a.lit", time.Hour)
	b, _ := m.Create(ctx, "a.lit", 2*time.Hour)
	tests := []struct {
		name        string
		token, host string
		advance     time.Duration
		want        bool
	}{
		{"other host", a, "b.lit", 0, false},
		{"unknown", "x" + a, "a.lit", 0, false},
		{"too long", strings.Repeat("a", maxToken+1), "a.lit", 0, false},
		{"empty", "", "a.lit", 0, false},
		{"valid", a, "a.lit", 0, true},
		{"spent", a, "a.lit", 0, false},
		{"expired", b, "a.lit", 2 * time.Hour, false},
	}
	for _, tc := range tests {
		now = now.Add(tc.advance)
		got, err := m.Use(ctx, tc.token, tc.host)
		if err != nil || got != tc.want {
			t.Errorf("%s: Use = %v, %v, want %v", tc.name, got, err, tc.want)
		}
	}
	if len(m.tokens) != 0 {
		t.Errorf("%d tokens kept, want none", len(m.tokens))
	}
}

func TestMemoryInvitesOnce(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryInvites(nil)
	tok, _ := m.Create(ctx, "a.lit", time.Hour)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if ok, _ := m.Use(ctx, tok, "a.lit"); ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent Uses succeeded, want 1", wins.Load())
	}
}
