package server

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The Go runtime keeps the memory a burst freed (the garbage of a wave
// of logins, the stacks their TLS handshakes grew) and gives it back to
// the system only slowly, keeping up to about twice the live heap: after
// 3,000 logins samtal held 40 KiB per idle session, of which 7 KiB were
// live. trimMemory gives freed memory back once the burst is over: when
// the free memory is more than trimFree and an eighth of what is live,
// and the last second allocated little beside it. (With half of what is
// live, 10,000 idle sessions kept 30 MB, 3 KiB a session, that the
// runtime would not give back.) What the burst left counts whether or
// not a collection has found it yet: memory in heap objects beyond the
// live heap of the last collection is garbage, or new since then. At most
// once per trimGap, since each time costs a garbage collection.
const (
	trimEvery = time.Second
	trimGap   = 2 * time.Second
	// trimFree is the least free memory worth a collection.
	trimFree = 8 << 20
	// trimHorizon: memory that the last second's rate of allocation
	// would take less than this many seconds to fill again is not given
	// back. A steady load is not a burst that ended: at 5,000 messages
	// a second (4 MB/s of garbage) samtal gave the heap floor's garbage
	// back every five seconds, each time a forced collection and then a
	// page fault for every page it allocated again, which doubled the
	// p99 latency.
	trimHorizon = 30
)

// trimMemory checks the runtime's memory every trimEvery until ctx ends.
func trimMemory(ctx context.Context) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	var last time.Time
	var allocs uint64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			metrics.Read(samples)
			free, objects, live := samples[0].Value.Uint64(), samples[1].Value.Uint64(), samples[3].Value.Uint64()
			if objects > live {
				free += objects - live // not collected yet
			}
			recent := samples[2].Value.Uint64() - allocs
			allocs = samples[2].Value.Uint64()
			if now.Sub(last) >= trimGap && shouldTrim(free, live, recent) {
				debug.FreeOSMemory()
				last = time.Now()
			}
		}
	}
}

// shouldTrim decides from the free (not yet returned, or not yet
// collected) and live heap bytes, and the bytes allocated in the last
// trimEvery: a server still in its burst, or under a steady load, would
// soon need the memory again.
func shouldTrim(free, live, recent uint64) bool {
	return free >= trimFree && free >= live/8 && recent*trimHorizon < free
}
