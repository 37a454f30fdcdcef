package server

import (
	"testing"
	"time"
)

func TestShouldTrim(t *testing.T) {
	for _, tc := range []struct {
		name               string
		free, live, recent uint64
		want               bool
	}{
		{"little free", 1 << 20, 0, 0, false},
		{"after a burst", 64 << 20, 70 << 20, 1 << 20, true},
		{"during a burst", 64 << 20, 70 << 20, 40 << 20, false},
		// 5,000 msg/s of 800 bytes: the heap floor's garbage is reused.
		{"steady load", 24 << 20, 2 << 20, 4 << 20, false},
		{"small beside the live heap", 20 << 20, 1 << 30, 0, false},
		{"large heap, large free", 600 << 20, 1 << 30, 10 << 20, true},
		// 10,000 idle sessions after their logins: 11 MB not given back
		// were 1.1 KiB a session.
		{"idle sessions after a burst", 11 << 20, 80 << 20, 64 << 10, true},
		{"idle sessions, a light load", 11 << 20, 80 << 20, 1 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := shouldTrim(tc.free, tc.live, tc.recent); got != tc.want {
				t.Errorf("shouldTrim(%d, %d, %d) = %v, want %v", tc.free, tc.live, tc.recent, got, tc.want)
			}
		})
	}
}

func TestFloorPercent(t *testing.T) {
	for _, tc := range []struct {
		live, roots uint64
		want        int
	}{
		{0, 0, gcPercentCap},
		{2 << 20, 0, 1600},       // goal 2 + 32 MiB
		{1 << 20, 1 << 20, 1600}, // goal 1 + 2×16 = 33 MiB
		{8 << 20, 0, 400},        // goal 8 + 32 MiB
		// What a burst of 10,000 sessions left: 9 MiB live, and 32 MiB
		// of room above them, not 23.
		{9 << 20, 0, 350},
		{15 << 20, 0, 210},       // rounded down
		{32 << 20, 0, gcPercent}, // as large as the floor: the default
		{16 << 20, 16 << 20, gcPercent},
		{1 << 30, 0, gcPercent},
		{1000, 0, gcPercentCap},
	} {
		if got := floorPercent(tc.live, tc.roots, heapFloor); got != tc.want {
			t.Errorf("floorPercent(%d, %d, heapFloor) = %d, want %d", tc.live, tc.roots, got, tc.want)
		}
	}
}

func TestFloorFollowsAllocation(t *testing.T) {
	for _, tc := range []struct {
		name      string
		allocated uint64
		elapsed   time.Duration
		scan      uint64
		want      uint64
	}{
		{"saturation", 200 << 20, time.Second, 0, 30 << 20},
		{"faster still", 2 << 30, time.Second, 0, heapFloor},
		{"5,000 messages a second", 4 << 20, time.Second, 0, 629145},
		{"idle", 1 << 20, 2 * time.Minute, 0, 1310},
		{"no time", 1 << 20, 0, 0, heapFloor},
		{"a few sessions", 40 << 20, time.Second, scanRef, 6 << 20},
		// Twice as much to scan: collections half as often.
		{"a larger live heap", 40 << 20, time.Second, 2 * scanRef, 12 << 20},
		// After a burst of 10,000 sessions, 9 MiB live.
		{"after a burst", 70 << 20, time.Second, 9 << 20, heapFloor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := floorFor(tc.allocated, tc.elapsed, tc.scan); got != tc.want {
				t.Errorf("floorFor(%d, %v, %d) = %d, want %d", tc.allocated, tc.elapsed, tc.scan, got, tc.want)
			}
		})
	}
	// A floor under what the collector scans is GOGC's default:
	// 5,000 messages a second with 2 MiB live collect every half second.
	if got := floorPercent(2<<20, 0, floorFor(4<<20, time.Second, 2<<20)); got != gcPercent {
		t.Errorf("floorPercent at 4 MB/s = %d, want %d", got, gcPercent)
	}
	if got := floorPercent(2<<20, 0, floorFor(200<<20, time.Second, 2<<20)); got != 1500 {
		t.Errorf("floorPercent at 200 MB/s = %d, want 1500", got)
	}
}

func TestGrowthPercent(t *testing.T) {
	for _, tc := range []struct {
		name            string
		grew, allocated uint64
		want            bool
	}{
		// 800 logins a second that stay: 8 KiB kept of 74 KiB each.
		{"a burst of sessions", 6400 << 10, 59 << 20, true},
		{"a steady load", 0, 200 << 20, false},
		{"a steady load, a little noise", 256 << 10, 32 << 20, false},
		// 16 logins in flight at the end of the window, none before.
		{"logins that leave", 1300 << 10, 74 << 20, false},
		{"growth beside a large allocation", 5 << 20, 400 << 20, false},
		{"nothing allocated", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := grows(tc.grew, tc.allocated); got != tc.want {
				t.Errorf("grows(%d, %d) = %v, want %v", tc.grew, tc.allocated, got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		live, roots uint64
		want        int
	}{
		{80 << 20, 5 << 20, growthPercent},
		{2 << 20, 0, 50},       // the heap may still grow by growthMin
		{1 << 20, 1 << 20, 50}, // stacks count as what is scanned
		{0, 0, gcPercentCap},
	} {
		if got := growthPercentFor(tc.live, tc.roots); got != tc.want {
			t.Errorf("growthPercentFor(%d, %d) = %d, want %d", tc.live, tc.roots, got, tc.want)
		}
	}
}
