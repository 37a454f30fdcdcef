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
