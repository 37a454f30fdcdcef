package transport

import "time"

// Bucket is a token bucket that makes its taker sleep while it is in
// debt: a peer sending faster than a rate slows only its own reader. Its
// zero value is a full bucket. It is not safe for concurrent use.
type Bucket struct {
	tokens float64
	last   time.Time // when tokens were last counted; zero: never
}

// Take takes n tokens at now, when what costs them arrived (a time the
// caller has already read, so that the clock is not read again per
// token), refilling at rate per second up to burst, and sleeps while the
// bucket is in debt. Callers that take for several items of one read
// pass the same now; after a sleep, now may be earlier than the last
// count, and no refill is counted for it.
func (b *Bucket) Take(now time.Time, n, rate, burst float64) {
	b.TakeAfter(now, n, rate, burst, nil)
}

// TakeAfter is Take that calls before, if not nil, when it is about to
// sleep: a taker that holds work for others does it first.
func (b *Bucket) TakeAfter(now time.Time, n, rate, burst float64, before func()) {
	switch {
	case b.last.IsZero():
		b.tokens, b.last = burst, now
	case now.After(b.last):
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
		b.last = now
	}
	b.tokens -= n
	if b.tokens < 0 {
		if before != nil {
			before()
		}
		time.Sleep(time.Duration(-b.tokens / rate * float64(time.Second)))
		b.tokens = 0
		b.last = time.Now()
	}
}
