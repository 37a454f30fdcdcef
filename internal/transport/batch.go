package transport

import "context"

// Batch lets the goroutine that reads one stream write what it queues
// for other streams itself, once it has worked through what it read,
// instead of starting a writer goroutine for each of them. A message
// forwarded to a session whose queue is idle would otherwise cost a
// goroutine's start, a hand-off to it and often a thread woken to run
// it; at a few thousand messages a second, each arriving alone, that
// was a tenth of the CPU per message and much of the latency that the
// server added to a message. Deferring the writes to the moment the
// reader would wait keeps what the writer goroutine gave: everything a
// peer sent in one read leaves for each recipient in one write.
//
// A Batch belongs to one goroutine. It holds a queue from AppendBatched
// until Flush, and no writer runs for that queue meanwhile: the owner
// must call Flush before anything that may wait (a read from its peer,
// storage, a sleep) and before it ends. Flush never waits for a peer
// that does not read (nowait.go): what the socket does not take at
// once is left to the queue's writer goroutine.
type Batch struct {
	qs []*Queue
}

// Flush writes the queues held, each in one write.
func (b *Batch) Flush() {
	if b == nil || len(b.qs) == 0 {
		return
	}
	for i, q := range b.qs {
		b.qs[i] = nil
		q.writeBatched()
	}
	b.qs = b.qs[:0]
}

type batchKey struct{}

// WithBatch returns ctx carrying b, for the calls the goroutine that owns
// b makes (see BatchOf).
func WithBatch(ctx context.Context, b *Batch) context.Context {
	return context.WithValue(ctx, batchKey{}, b)
}

// BatchOf returns the Batch ctx carries, or nil. Only the goroutine that
// owns it may append with it, and only while the call that was given ctx
// runs.
func BatchOf(ctx context.Context) *Batch {
	b, _ := ctx.Value(batchKey{}).(*Batch)
	return b
}
