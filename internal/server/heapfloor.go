package server

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// With Go's default GOGC=100 the collector runs whenever the heap has
// doubled since the last collection. A server with few sessions has a
// live heap of a few MiB, so a stream of messages (a few hundred bytes of
// garbage each) made it collect hundreds of times a second; at 40
// sessions forwarding messages as fast as they could, collecting took
// more CPU than parsing. keepHeapFloor raises GOGC while the live heap is
// small so that collections come at most about every gcInterval: the heap
// may grow by what the process allocates in that time, up to heapFloor,
// beyond the live heap before a collection. It leaves GOGC at 100 once
// the live heap is as large as that room, when collections are rare
// anyway. A larger floor was slower
// again: 40 sessions forwarding messages at saturation (about 200 MB/s of
// garbage) took 3.9 µs of CPU per message with GOGC=1600 (a 64 MiB goal),
// 3.85 with GOGC=800 (32 MiB), 4.0 with GOGC=400 (16 MiB) and 5.8 at the
// default (a 4 MiB goal), since memory handed out fresh costs page faults
// and cache misses that memory reused soon does not.
//
// The floor follows the rate of allocation rather than always being
// heapFloor: at 5,000 messages a second (4 MB/s) a fixed 32 MiB floor
// meant a heap that kept growing into memory never touched before, a
// page fault for every 4 KiB allocated (0.18 per message), which cost a
// fifth of the CPU per message and of the p99 latency, while the
// default's one collection a second cost nothing measurable.
//
// While sessions arrive in a burst (a reconnect storm after a restart,
// hundreds of logins a second) the live heap grows by the sessions'
// state, about 8 KiB each, among about ten times as much garbage from
// their handshakes. Every collection frees that garbage and leaves holes
// in the spans the new sessions' state shares with it; those spans stay
// in memory for as long as one session in them stays. With GOGC=100 the
// last collections of a burst free up to a whole live heap of such
// holes: 10,000 idle sessions held 15.0 KiB each after their logins with
// GOGC=100, and 11.1 and 12.5 with GOGC=25. So while the live heap grows,
// over a growthWindow, by growthBytes or more and by more than a
// growthShare of what was allocated meanwhile, the tuner collects at
// growthPercent. The window matters: sessions logging in and out at a
// high rate make the live heap between two collections move by their
// handshakes in flight, and collecting at GOGC=25 on that noise cost a
// third more CPU per login. A steady load, or logins that leave, do not
// make the heap grow over a second; only sessions that stay do.
//
// An operator who sets GOGC (or wants another trade-off) keeps it: the
// floor is kept only when GOGC is not in the environment. GOMEMLIMIT
// still bounds the heap either way, since the runtime collects harder
// near the limit whatever GOGC says.
const (
	heapFloor  = 32 << 20
	gcInterval = 150 * time.Millisecond // 32 MiB at 200 MB/s
	// scanRef is the most a collection may scan (live heap, stacks and
	// globals) for collections to come every gcInterval: a server with
	// a few sessions, where gcInterval was measured best.
	scanRef      = 2 << 20
	gcPercent    = 100   // GOGC's default, once the live heap is as large as the floor
	gcPercentCap = 10000 // for a live heap close to nothing
	// growthShare: the live heap grew by more than 1/growthShare of the
	// bytes allocated in the window (logins that stay keep about a tenth
	// of what they allocate).
	growthShare   = 32
	growthPercent = 25
	growthWindow  = time.Second
	growthBytes   = 4 << 20 // 500 sessions
	// growthMin: a small heap may still grow this much between
	// collections while it takes in sessions: a quarter of a few MiB
	// would mean a collection for every few logins.
	growthMin = 1 << 20
)

var heapFloorOnce sync.Once

// keepHeapFloor starts tuning GOGC for the process, once.
func keepHeapFloor() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	heapFloorOnce.Do(func() {
		t := &gcTuner{sample: []metrics.Sample{
			{Name: "/gc/heap/live:bytes"},
			{Name: "/gc/scan/stack:bytes"},
			{Name: "/gc/scan/globals:bytes"},
			{Name: "/gc/heap/allocs:bytes"},
		}, percent: gcPercent}
		t.tune()
		t.arm()
	})
}

// gcTuner sets GOGC after each collection from the live heap that
// collection found, so the heap goal follows the live heap at once: a
// tuner driven by a timer could leave a high GOGC in place while a burst
// of logins grew the live heap, and let the heap grow to many times it.
type gcTuner struct {
	sample  []metrics.Sample
	percent int
	// allocs and at are the bytes ever allocated at the last tune, and
	// when: the rate of allocation between two collections.
	allocs uint64
	at     time.Time
	// from is the live heap, the bytes ever allocated and the time at
	// the start of the growth window; growing is what the last window
	// found.
	from    heapAt
	growing bool
}

// heapAt is the live heap and the bytes ever allocated at a time.
type heapAt struct {
	live, allocs uint64
	at           time.Time
}

// sentinel is an object whose collection tells the tuner that a
// collection happened. The pointer keeps it out of the tiny allocator,
// whose objects share memory and may never be collected alone.
type sentinel struct{ _ *int }

// arm makes the next collection run tune and arm again.
func (t *gcTuner) arm() {
	runtime.AddCleanup(&sentinel{}, func(t *gcTuner) {
		t.tune()
		t.arm()
	}, t)
}

func (t *gcTuner) tune() {
	metrics.Read(t.sample)
	live := t.sample[0].Value.Uint64()
	roots := t.sample[1].Value.Uint64() + t.sample[2].Value.Uint64()
	allocs, now := t.sample[3].Value.Uint64(), time.Now()
	var floor uint64
	if !t.at.IsZero() {
		floor = floorFor(allocs-t.allocs, now.Sub(t.at), live+roots)
	}
	t.allocs, t.at = allocs, now
	switch {
	case t.from.at.IsZero():
		t.from = heapAt{live, allocs, now}
	case now.Sub(t.from.at) >= growthWindow:
		t.growing = grows(live-min(live, t.from.live), allocs-t.from.allocs)
		t.from = heapAt{live, allocs, now}
	}
	p := floorPercent(live, roots, floor)
	if t.growing {
		p = min(p, growthPercentFor(live, roots))
	}
	if p != t.percent {
		t.percent = p
		debug.SetGCPercent(p)
	}
}

// grows says whether a live heap that grew by grew bytes in a
// growthWindow while allocated bytes were allocated is taking in a burst
// of sessions.
func grows(grew, allocated uint64) bool {
	return grew >= growthBytes && grew >= allocated/growthShare
}

// growthPercentFor is the GOGC while the live heap takes in a burst of
// sessions: growthPercent, or what lets the heap grow by growthMin.
func growthPercentFor(live, roots uint64) int {
	scan := max(live+roots, 1)
	return int(max(growthPercent, min(growthMin*100/scan, gcPercentCap)))
}

// floorFor is the room above the live heap a collection may wait for
// when allocated bytes were allocated in elapsed and a collection scans
// scan bytes: what the process allocates in gcInterval at that rate, at
// most heapFloor. Beyond scanRef the interval stretches with scan: a
// collection's cost grows with what it scans, and collections every
// gcInterval on a larger live heap took a larger share of the CPU. What
// a burst of 10,000 sessions left behind when they were gone (9 MiB live:
// the runtime's descriptors for their goroutines, which it never frees,
// and tables grown to their number) made each collection under a load of
// messages cost 13 ms instead of 4, and at the same interval collections
// took 91 ms of CPU a second against 20 before the burst.
func floorFor(allocated uint64, elapsed time.Duration, scan uint64) uint64 {
	if elapsed <= 0 {
		return heapFloor
	}
	interval := float64(gcInterval) * max(1, float64(scan)/scanRef)
	f := float64(allocated) * interval / float64(elapsed)
	return uint64(min(f, heapFloor))
}

// floorPercent is the GOGC that lets a heap with live bytes live grow by
// floor beyond them before the next collection, and never less than
// GOGC's default. The runtime's goal is live + (live + roots) * GOGC/100,
// roots being the goroutine stacks and globals it scans. The floor is
// room on top of the live heap, not a goal for the whole heap, so that
// what a burst of sessions leaves behind when they are gone does not
// take the room a load of messages afterwards collects in.
func floorPercent(live, roots, floor uint64) int {
	scan := live + roots
	if scan >= floor {
		return gcPercent
	}
	if scan == 0 {
		return gcPercentCap
	}
	p := int(floor*100/scan) / 10 * 10 // steps of 10, fewer changes
	return min(max(p, gcPercent), gcPercentCap)
}
