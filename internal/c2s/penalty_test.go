package c2s

import (
	"fmt"
	"testing"
	"time"
)

func TestPenaltyBacksOff(t *testing.T) {
	now := time.Unix(1e9, 0)
	p := newPenalty(3)
	p.now = func() time.Time { return now }
	var got []time.Duration
	for range 10 {
		got = append(got, p.fail("juliet@example.org"))
	}
	want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delays = %v, want %v", got, want)
	}
	if d := p.fail("romeo@example.org"); d != 0 {
		t.Errorf("another key waits %v after its first failure, want 0", d)
	}
	// Ten quiet minutes forget the failures.
	now = now.Add(penaltyForget + time.Second)
	if d := p.fail("juliet@example.org"); d != 0 {
		t.Errorf("after a quiet while the first failure waits %v, want 0", d)
	}
	// A success forgets them at once.
	for range 5 {
		p.fail("juliet@example.org")
	}
	p.succeed("juliet@example.org")
	if d := p.fail("juliet@example.org"); d != 0 {
		t.Errorf("after a success the first failure waits %v, want 0", d)
	}
}

func TestPenaltyOff(t *testing.T) {
	p := newPenalty(0)
	for range 20 {
		if d := p.fail("k"); d != 0 {
			t.Fatalf("a penalty with no limit waits %v", d)
		}
	}
	if d := newPenalty(1).fail(""); d != 0 {
		t.Errorf("the empty key waits %v", d)
	}
}

// TestPenaltyBounded checks that failures for ever new made-up accounts
// do not grow the memory without bound.
func TestPenaltyBounded(t *testing.T) {
	p := newPenalty(5)
	for i := range penaltyKeys + 5000 {
		p.fail(fmt.Sprintf("user%d@example.org", i))
	}
	if n := p.len(); n > penaltyKeys {
		t.Errorf("%d keys remembered, want at most %d", n, penaltyKeys)
	}
}

func TestAccountKey(t *testing.T) {
	s := &Session{host: "example.org"}
	for _, tc := range []struct{ user, want string }{
		{"Juliet", "juliet@example.org"},
		{"juliet@example.org", "juliet@example.org"},
		{"juliet@example.org/balcony", "juliet@example.org"},
		{"juliet@elsewhere.example", ""},
		{"", ""},
		{"a@b@c", ""},
	} {
		if got := s.accountKey(tc.user); got != tc.want {
			t.Errorf("accountKey(%q) = %q, want %q", tc.user, got, tc.want)
		}
	}
}
