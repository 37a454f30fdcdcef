package bench

import "testing"

func TestPlacePair(t *testing.T) {
	for _, tc := range []struct {
		p          Placement
		i, n, s, r int
	}{
		{Cross, 0, 1, 0, 0}, // one server: nothing can cross
		{Cross, 5, 1, 0, 0},
		{Same, 3, 0, 0, 0},
		{Cross, 0, 3, 0, 1},
		{Cross, 1, 3, 1, 2},
		{Cross, 2, 3, 2, 0},
		{Cross, 3, 3, 0, 1},
		{Cross, 1, 2, 1, 0},
		{Same, 0, 3, 0, 0},
		{Same, 4, 3, 1, 1},
	} {
		s, r := PlacePair(tc.p, tc.i, tc.n)
		if s != tc.s || r != tc.r {
			t.Errorf("PlacePair(%v, pair %d, %d servers) = %d, %d; want %d, %d", tc.p, tc.i, tc.n, s, r, tc.s, tc.r)
		}
	}
}

// TestPlacePairBalance checks what the cluster benchmark relies on: with
// cross every pair spans two servers, with same none does, and either
// way every server holds as many senders and receivers as the others,
// give or take one.
func TestPlacePairBalance(t *testing.T) {
	for _, p := range []Placement{Cross, Same} {
		for n := 1; n <= 4; n++ {
			for pairs := 1; pairs <= 13; pairs++ {
				senders, receivers := make([]int, n), make([]int, n)
				for i := range pairs {
					s, r := PlacePair(p, i, n)
					if s < 0 || s >= n || r < 0 || r >= n {
						t.Fatalf("PlacePair(%v, %d, %d) = %d, %d: out of range", p, i, n, s, r)
					}
					if cross := s != r; cross != (p == Cross && n > 1) {
						t.Errorf("PlacePair(%v, %d, %d) = %d, %d", p, i, n, s, r)
					}
					senders[s]++
					receivers[r]++
				}
				for _, c := range [][]int{senders, receivers} {
					lo, hi := c[0], c[0]
					for _, v := range c {
						lo, hi = min(lo, v), max(hi, v)
					}
					if hi-lo > 1 {
						t.Errorf("%v, %d pairs on %d servers: sessions per server %v", p, pairs, n, c)
					}
				}
			}
		}
	}
}

func TestParsePlacement(t *testing.T) {
	for s, want := range map[string]Placement{"cross": Cross, "same": Same} {
		if p, err := ParsePlacement(s); err != nil || p != want || p.String() != s {
			t.Errorf("ParsePlacement(%q) = %v, %v", s, p, err)
		}
	}
	for _, s := range []string{"", "Cross", "other"} {
		if _, err := ParsePlacement(s); err == nil {
			t.Errorf("ParsePlacement(%q) accepted", s)
		}
	}
}

func TestEnvTargetRoundRobin(t *testing.T) {
	a, b, c := &Target{Addr: "a:1"}, &Target{Addr: "b:1"}, &Target{Addr: "c:1"}
	e := &Env{Targets: []*Target{a, b, c}}
	for k, want := range []*Target{a, b, c, a, b, c, a} {
		if got := e.target(k); got != want {
			t.Errorf("target(%d) = %s, want %s", k, got.Addr, want.Addr)
		}
	}
	one := &Env{Targets: []*Target{a}}
	for k := range 4 {
		if one.target(k) != a {
			t.Errorf("one server: target(%d) = %s", k, one.target(k).Addr)
		}
	}
}
