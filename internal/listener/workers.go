package listener

import (
	"sync/atomic"
	"time"
)

// Workers runs the first part of each accepted connection (the TLS
// handshake, SASL) on goroutines that, once done, wait a moment for the
// next connection instead of ending. The handshake's cryptography grows a
// goroutine's stack to tens of kilobytes, one copy per doubling; a worker
// that served one connection still has that stack for the next, so a
// stream of logins stops paying for the copies. A worker leaves once it
// has waited the linger time of NewWorkers, or at once when its idle bound
// is reached: a quiet server holds none.
type Workers struct {
	jobs    chan func()
	idle    atomic.Int32
	started atomic.Int64 // workers started, for the tests
	max     int32
	linger  time.Duration
}

// NewWorkers returns workers of which at most idle wait for a connection
// at once, each for at most linger.
func NewWorkers(idle int, linger time.Duration) *Workers {
	return &Workers{jobs: make(chan func()), max: int32(idle), linger: linger}
}

// Go runs f on a waiting worker, or on a new one if none waits.
func (w *Workers) Go(f func()) {
	select {
	case w.jobs <- f:
	default:
		w.started.Add(1)
		go w.run(f)
	}
}

// Idle returns the number of workers waiting for a connection.
func (w *Workers) Idle() int { return int(w.idle.Load()) }

func (w *Workers) run(f func()) {
	var t *time.Timer
	for {
		f()
		if w.idle.Add(1) > w.max {
			w.idle.Add(-1)
			return
		}
		if t == nil {
			t = time.NewTimer(w.linger)
		} else {
			t.Reset(w.linger)
		}
		select {
		case f = <-w.jobs:
			w.idle.Add(-1)
			t.Stop()
		case <-t.C:
			w.idle.Add(-1)
			return
		}
	}
}
