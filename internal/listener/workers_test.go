package listener

import (
	"sync"
	"testing"
	"time"
)

// TestWorkers: a worker that finished waits and takes the next job; no
// more than the bound wait; they leave after the linger time.
func TestWorkers(t *testing.T) {
	// A linger no loaded machine reaches while the jobs below run: a
	// worker that left by its timer would make the next job start one,
	// which is not what this part checks.
	w := NewWorkers(2, time.Hour)
	var wg sync.WaitGroup
	job := func() { wg.Add(1); w.Go(func() { wg.Done() }) }

	// Four jobs at once: four workers, of which two wait afterwards.
	block := make(chan struct{})
	for range 4 {
		wg.Add(1)
		w.Go(func() { defer wg.Done(); <-block })
	}
	close(block)
	wg.Wait()
	waitFor(t, func() bool { return w.Idle() == 2 }, "two idle workers")
	if n := w.started.Load(); n != 4 {
		t.Fatalf("%d workers started for four jobs at once, want 4", n)
	}

	// The next jobs, one after the other, go to the waiting workers.
	for range 10 {
		job()
		wg.Wait()
		waitFor(t, func() bool { return w.Idle() == 2 }, "the worker back to waiting")
	}
	// A worker counts as waiting a moment before it can take a job, so
	// one in that moment may miss a job (another starts); without reuse,
	// each of the ten jobs would have started one.
	if n := w.started.Load(); n > 6 {
		t.Errorf("%d workers started for 4 + 10 jobs, want about 4: the waiting ones take the jobs", n)
	}

	// After the linger time, none waits, and a job starts a worker again.
	w = NewWorkers(2, 300*time.Millisecond)
	block = make(chan struct{})
	for range 2 {
		wg.Add(1)
		w.Go(func() { defer wg.Done(); <-block })
	}
	close(block)
	wg.Wait()
	waitFor(t, func() bool { return w.Idle() == 2 }, "two idle workers")
	waitFor(t, func() bool { return w.Idle() == 0 }, "idle workers to leave")
	before := w.started.Load()
	job()
	wg.Wait()
	if n := w.started.Load(); n != before+1 {
		t.Errorf("%d workers started after the others left, want 1", n-before)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
