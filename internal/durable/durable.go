// Package durable lets a stream count a stanza as handled only once the
// writes its handling started are durable, without waiting for them
// before it reads the next stanza.
//
// XEP-0198 §4: a server's 'h' counts the stanzas it handled; a client
// forgets what is acknowledged, so an acknowledged message must survive a
// crash. Waiting for the storage before reading on would make a busy
// stream as slow as the disk (one fsync per stanza); instead the stream
// reads on, the writes finish in the background (batched, see the
// archive's group commit), and a Tracker advances the count in order as
// they complete.
//
// A write that must be durable before its stanza counts calls Hold with
// the context its handling was given and releases the hold once the
// write is done. A context without a tracker means that nobody can wait
// for the write: Tracked reports it, and the writer then writes before
// it returns, as it would without this package.
package durable

import (
	"context"
	"sync"
	"time"
)

// Tracker counts a stream's stanzas as handled, in order, once the holds
// taken while handling them are released.
type Tracker struct {
	handled func(n int) // called with how many stanzas became handled, in order

	mu sync.Mutex
	// pending are the groups of stanzas not handled yet, oldest first.
	// A group completes when its holds are released and every group
	// before it completed; stanzas sealed with no hold behind a pending
	// group join that group, as they complete with it.
	pending []*group
	cur     *group        // the open stanza's group, once it took a hold
	idle    chan struct{} // closed when pending empties; nil while empty
}

type group struct {
	holds   int
	stanzas int
	sealed  bool // the last of its stanzas finished its handling
}

// NewTracker returns a tracker that calls handled, never with the
// tracker's lock held, as stanzas become handled. Calls are serialized
// in the order of the stanzas only as far as the caller needs them to
// be: each call adds to a count.
func NewTracker(handled func(n int)) *Tracker {
	return &Tracker{handled: handled}
}

type key struct{}

// Context returns ctx for handling t's stream's stanzas; Done must be
// called when each one's handling returns. Stanzas of one stream are
// handled one at a time.
func (t *Tracker) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, key{}, t)
}

// Tracked reports whether a hold taken with ctx is waited for.
func Tracked(ctx context.Context) bool {
	_, ok := ctx.Value(key{}).(*Tracker)
	return ok
}

// Hold marks a write started while handling the current stanza of ctx's
// stream: the stanza does not count as handled before release is
// called. release may be called from any goroutine, once. Without a
// tracker in ctx, release does nothing.
func Hold(ctx context.Context) (release func()) {
	t, ok := ctx.Value(key{}).(*Tracker)
	if !ok {
		return func() {}
	}
	t.mu.Lock()
	g := t.cur
	if g == nil {
		g = &group{}
		t.cur = g
		t.pending = append(t.pending, g)
		if t.idle == nil {
			t.idle = make(chan struct{})
		}
	}
	g.holds++
	t.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { t.release(g) }) }
}

// Done ends the handling of the current stanza: it is handled now if it
// took no hold and nothing before it is pending, or later, when its
// holds and those before it are released. A stanza that does not count
// (its handling failed and ends the stream) passes counted false: its
// holds are still waited for.
func (t *Tracker) Done(counted bool) {
	c := 0
	if counted {
		c = 1
	}
	t.mu.Lock()
	g := t.cur
	t.cur = nil
	switch {
	case g != nil:
		g.stanzas += c
		g.sealed = true
	case len(t.pending) == 0:
		t.mu.Unlock()
		if c > 0 {
			t.handled(c)
		}
		return
	default:
		// Behind a pending group: it completes with that group.
		t.pending[len(t.pending)-1].stanzas += c
	}
	n := t.complete()
	t.mu.Unlock()
	if n > 0 {
		t.handled(n)
	}
}

func (t *Tracker) release(g *group) {
	t.mu.Lock()
	g.holds--
	n := t.complete()
	t.mu.Unlock()
	if n > 0 {
		t.handled(n)
	}
}

// complete removes the groups at the head that are done and returns how
// many stanzas they held. t.mu is held.
func (t *Tracker) complete() int {
	n := 0
	for len(t.pending) > 0 {
		g := t.pending[0]
		if g.holds > 0 || !g.sealed {
			break
		}
		n += g.stanzas
		t.pending[0] = nil
		t.pending = t.pending[1:]
	}
	if len(t.pending) == 0 {
		t.pending = nil
		if t.idle != nil {
			close(t.idle)
			t.idle = nil
		}
	}
	return n
}

// Wait waits until no stanza is pending, or at most d, and reports
// whether none is. A stream that is resumed elsewhere waits so that the
// count it reports includes what its old connection handled.
func (t *Tracker) Wait(d time.Duration) bool {
	t.mu.Lock()
	idle := t.idle
	t.mu.Unlock()
	if idle == nil {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-idle:
		return true
	case <-timer.C:
		return false
	}
}
