package abuse

import (
	"sync"
	"time"
)

// limiter is a token bucket per key (a reporter, a remote domain): burst
// reports at once, then one per every. A bucket is kept as the time at
// which it will be full again (the generic cell rate algorithm), so a
// full bucket is one whose time has passed and may be forgotten.
//
// Its map is bounded: a new key finds room by forgetting full buckets,
// and when every bucket is in use it is refused rather than let in by
// forgetting one that is not, which would give a flood of new keys a way
// around the limit.
type limiter struct {
	burst int
	every time.Duration
	max   int

	mu   sync.Mutex
	full map[string]time.Time // key -> when its bucket is full again
}

func newLimiter(burst int, every time.Duration, max int) *limiter {
	return &limiter{burst: burst, every: every, max: max, full: make(map[string]time.Time)}
}

// allow takes a token from key's bucket at now and reports whether there
// was one.
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.full[key]
	if !ok && len(l.full) >= l.max {
		l.sweep(now)
		if len(l.full) >= l.max {
			return false
		}
	}
	if t.Before(now) {
		t = now
	}
	// The bucket holds burst tokens; each taken one is back after every.
	if t.Sub(now) > time.Duration(l.burst-1)*l.every {
		return false
	}
	l.full[key] = t.Add(l.every)
	return true
}

// sweep forgets the buckets that are full at now: they limit nothing.
func (l *limiter) sweep(now time.Time) {
	for k, t := range l.full {
		if !t.After(now) {
			delete(l.full, k)
		}
	}
}
