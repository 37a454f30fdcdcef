package durable

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNoHoldIsHandledAtOnce(t *testing.T) {
	var n atomic.Int64
	tr := NewTracker(func(k int) { n.Add(int64(k)) })
	ctx := tr.Context(context.Background())
	if !Tracked(ctx) || Tracked(context.Background()) {
		t.Fatal("Tracked is wrong")
	}
	for range 3 {
		tr.Done(true)
	}
	if n.Load() != 3 {
		t.Fatalf("handled %d, want 3", n.Load())
	}
	if !tr.Wait(time.Millisecond) {
		t.Fatal("Wait with nothing pending")
	}
}

// TestInOrder checks that a stanza counts only after the stanzas before
// it, whatever order their writes finish in.
func TestInOrder(t *testing.T) {
	var n atomic.Int64
	tr := NewTracker(func(k int) { n.Add(int64(k)) })
	ctx := tr.Context(context.Background())

	r1 := Hold(ctx) // stanza 1: two writes
	r1b := Hold(ctx)
	tr.Done(true)
	tr.Done(true)   // stanza 2: none, behind 1
	r3 := Hold(ctx) // stanza 3: one write
	tr.Done(true)
	tr.Done(true) // stanza 4: none
	if n.Load() != 0 {
		t.Fatalf("handled %d before any write finished", n.Load())
	}
	r3()
	r3() // a second release counts once
	if n.Load() != 0 {
		t.Fatalf("handled %d with stanza 1 pending", n.Load())
	}
	r1()
	if n.Load() != 0 {
		t.Fatalf("handled %d with one of stanza 1's writes pending", n.Load())
	}
	if tr.Wait(time.Millisecond) {
		t.Fatal("Wait reported idle with stanza 1 pending")
	}
	r1b()
	if n.Load() != 4 {
		t.Fatalf("handled %d, want 4", n.Load())
	}
	if !tr.Wait(time.Second) {
		t.Fatal("Wait: still pending")
	}
	tr.Done(true) // stanza 5: nothing pending again
	if n.Load() != 5 {
		t.Fatalf("handled %d, want 5", n.Load())
	}
}

func TestHoldWithoutTracker(t *testing.T) {
	Hold(context.Background())() // does nothing, does not panic
}

// TestConcurrentReleases releases holds from many goroutines while the
// stream goes on, and checks the count never runs ahead of the stanzas
// whose writes finished in order.
func TestConcurrentReleases(t *testing.T) {
	const stanzas = 2000
	var mu sync.Mutex
	var count int
	var finished [stanzas]atomic.Bool
	tr := NewTracker(func(k int) {
		mu.Lock()
		count += k
		c := count
		mu.Unlock()
		for i := range c {
			if !finished[i].Load() {
				t.Errorf("stanza %d counted before its write finished", i)
				return
			}
		}
	})
	ctx := tr.Context(context.Background())
	var wg sync.WaitGroup
	for i := range stanzas {
		if i%3 != 0 {
			release := Hold(ctx)
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i%7) * 10 * time.Microsecond)
				finished[i].Store(true)
				release()
			}()
		} else {
			finished[i].Store(true)
		}
		tr.Done(true)
	}
	wg.Wait()
	if !tr.Wait(5 * time.Second) {
		t.Fatal("still pending")
	}
	mu.Lock()
	defer mu.Unlock()
	if count != stanzas {
		t.Fatalf("handled %d, want %d", count, stanzas)
	}
}
