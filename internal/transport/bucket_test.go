package transport

import (
	"testing"
	"time"
)

// TestBucket checks the refill, the burst cap, and that a taker in debt
// sleeps for the debt.
func TestBucket(t *testing.T) {
	var b Bucket
	t0 := time.Now()
	b.Take(t0, 10, 100, 10) // a fresh bucket is full: no sleep
	if b.tokens != 0 {
		t.Fatalf("tokens %v after taking the burst, want 0", b.tokens)
	}
	b.Take(t0.Add(50*time.Millisecond), 5, 100, 10) // refilled 5
	if b.tokens != 0 {
		t.Fatalf("tokens %v, want 0", b.tokens)
	}
	b.Take(t0.Add(time.Hour), 0, 100, 10) // the refill stops at the burst
	if b.tokens != 10 {
		t.Fatalf("tokens %v after an hour, want the burst 10", b.tokens)
	}
	// An earlier time (items of a read from before a sleep) refills
	// nothing.
	b.Take(t0, 0, 100, 10)
	if b.tokens != 10 || !b.last.Equal(t0.Add(time.Hour)) {
		t.Fatalf("an earlier time changed the bucket: %v at %v", b.tokens, b.last)
	}
	var d Bucket
	start := time.Now()
	d.Take(start, 10+5, 100, 10) // 5 tokens in debt at 100/s: 50 ms
	if slept := time.Since(start); slept < 45*time.Millisecond {
		t.Fatalf("slept %v for a debt of 50 ms", slept)
	}
}
