package server

import "testing"

func TestShouldTrim(t *testing.T) {
	for _, tc := range []struct {
		name               string
		free, live, recent uint64
		want               bool
	}{
		{"little free", 1 << 20, 0, 0, false},
		{"after a burst", 64 << 20, 70 << 20, 1 << 20, true},
		{"during a burst", 64 << 20, 70 << 20, 40 << 20, false},
		{"small beside the live heap", 20 << 20, 1 << 30, 0, false},
		{"large heap, large free", 600 << 20, 1 << 30, 10 << 20, true},
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
		{2 << 20, 0, 1500},       // goal 32 MiB
		{1 << 20, 1 << 20, 1550}, // goal 1 + 2×15.5 = 32 MiB
		{8 << 20, 0, 300},        // goal 32 MiB
		{15 << 20, 0, 110},       // just below half the floor: rounded down
		{16 << 20, 0, gcPercent}, // half the floor or more: the default
		{8 << 20, 8 << 20, gcPercent},
		{1 << 30, 0, gcPercent},
		{1000, 0, gcPercentCap},
	} {
		if got := floorPercent(tc.live, tc.roots); got != tc.want {
			t.Errorf("floorPercent(%d, %d) = %d, want %d", tc.live, tc.roots, got, tc.want)
		}
	}
}
