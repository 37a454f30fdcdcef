package main

import (
	"flag"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

func TestServerList(t *testing.T) {
	parse := func(args ...string) ([]string, error) {
		fs := flag.NewFlagSet("msg", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		addr := fs.String("addr", "127.0.0.1:5222", "")
		servers := fs.String("servers", "", "")
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		return serverList(fs, *addr, *servers)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"127.0.0.1:5222"}}, // one server, as always
		{[]string{"-addr", "127.0.0.1:7000"}, []string{"127.0.0.1:7000"}},
		{[]string{"-servers", "127.0.0.1:1,127.0.0.1:2, 127.0.0.1:3"}, []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}},
		{[]string{"-servers", "127.0.0.1:1"}, []string{"127.0.0.1:1"}},
	} {
		got, err := parse(tc.args...)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%v: %v, %v; want %v", tc.args, got, err, tc.want)
		}
	}
	for _, args := range [][]string{
		{"-addr", "127.0.0.1:1", "-servers", "127.0.0.1:2"},
		{"-servers", "127.0.0.1:1,"},
		{"-servers", "127.0.0.1"},
	} {
		if got, err := parse(args...); err == nil {
			t.Errorf("%v accepted: %v", args, got)
		}
	}
}

func TestPIDList(t *testing.T) {
	for in, want := range map[string][]int{"": nil, "0": nil, "42": {42}, "1,2, 3": {1, 2, 3}} {
		if got, err := pidList(in); err != nil || !slices.Equal(got, want) {
			t.Errorf("pidList(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "1,,2", "-3", "1,0"} {
		if got, err := pidList(in); err == nil {
			t.Errorf("pidList(%q) = %v, accepted", in, got)
		}
	}
}

func TestTableRatio(t *testing.T) {
	in := `{"server":"one","scenario":"msg-saturate","metrics":{"msgs_per_s":1000,"lost":0}}
{"server":"three","scenario":"msg-saturate","metrics":{"msgs_per_s":500,"lost":0}}
`
	var first, each strings.Builder
	if err := table(strings.NewReader(in), &first, []string{"-order", "one,three"}); err != nil {
		t.Fatal(err)
	}
	if err := table(strings.NewReader(in), &each, []string{"-order", "one,three", "-ratio", "each"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first.String(), "| one/three |") || !strings.Contains(first.String(), "| 1000 | 500 | 2.00 |") {
		t.Errorf("-ratio first:\n%s", first.String())
	}
	if !strings.Contains(each.String(), "| three/one |") || !strings.Contains(each.String(), "| 1000 | 500 | 0.50 |") {
		t.Errorf("-ratio each:\n%s", each.String())
	}
	// A row no server has a value for is left out.
	if strings.Contains(first.String(), "beside the server") || strings.Contains(first.String(), "fixed rate") {
		t.Errorf("rows without values:\n%s", first.String())
	}
	if err := table(strings.NewReader(in), io.Discard, []string{"-ratio", "sideways"}); err == nil {
		t.Error("-ratio sideways accepted")
	}
}

// TestTableMedian: a scenario run several times shows each metric's
// median; a skipped run does not count, and a scenario that never ran
// says why.
func TestTableMedian(t *testing.T) {
	in := `{"server":"one","scenario":"msg-saturate","metrics":{"msgs_per_s":900}}
{"server":"one","scenario":"msg-saturate","metrics":{"msgs_per_s":1200}}
{"server":"one","scenario":"msg-saturate","metrics":{"msgs_per_s":1000}}
{"server":"two","scenario":"msg-saturate","metrics":{"msgs_per_s":400}}
{"server":"two","scenario":"msg-saturate","skipped":"no room","metrics":{}}
{"server":"two","scenario":"msg-saturate","metrics":{"msgs_per_s":600}}
{"server":"two","scenario":"muc","skipped":"no group chat","metrics":{}}
`
	tableShows(t, in, "one,two", "| 1000 | 500 | 2.00 |", "| n/a |", "muc on two: not run: no group chat")
}

// tableShows checks that the table of in, with its servers in order,
// has every one of wants.
func tableShows(t *testing.T, in, order string, wants ...string) {
	t.Helper()
	var out strings.Builder
	if err := table(strings.NewReader(in), &out, []string{"-order", order}); err != nil {
		t.Fatal(err)
	}
	for _, want := range wants {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
}

// TestTableOver: a row over another scenario divides each server's
// median by its own median there, and says nothing for a server that
// lacks either.
func TestTableOver(t *testing.T) {
	in := `{"server":"one","scenario":"msg-before-burst","metrics":{"msgs_per_s":1000}}
{"server":"one","scenario":"msg-after-burst","metrics":{"msgs_per_s":900}}
{"server":"two","scenario":"msg-before-burst","metrics":{"msgs_per_s":500}}
{"server":"two","scenario":"msg-after-burst","metrics":{"msgs_per_s":100}}
{"server":"three","scenario":"msg-after-burst","metrics":{"msgs_per_s":300}}
`
	tableShows(t, in, "one,two,three", "| messages/s after the burst / before it (one process, minutes apart) | 0.90 | 0.20 | – | 4.50 | – |")
}

// TestTablePaired: a paired row is the median of each round's ratio,
// not the ratio of the medians, and leaves out a round where either
// side did not run.
func TestTablePaired(t *testing.T) {
	in := `{"server":"one","scenario":"msg-after-burst-control","metrics":{"msgs_per_s":1000}}
{"server":"one","scenario":"msg-after-burst","metrics":{"msgs_per_s":900}}
{"server":"one","scenario":"msg-after-burst-control","metrics":{"msgs_per_s":400}}
{"server":"one","scenario":"msg-after-burst","metrics":{"msgs_per_s":400}}
{"server":"one","scenario":"msg-after-burst-control","metrics":{"msgs_per_s":800}}
{"server":"one","scenario":"msg-after-burst","metrics":{"msgs_per_s":600}}
{"server":"two","scenario":"msg-after-burst-control","metrics":{"msgs_per_s":100}}
{"server":"two","scenario":"msg-after-burst","metrics":{"msgs_per_s":50}}
{"server":"two","scenario":"msg-after-burst-control","skipped":"no"}
{"server":"two","scenario":"msg-after-burst","metrics":{"msgs_per_s":1}}
`
	// one: rounds 0.90, 1.00, 0.75, where the medians' ratio would be
	// 600/800; two: only the first round counts.
	tableShows(t, in, "one,two", "| messages/s after the burst / the untouched process's (median of the rounds) | 0.90 | 0.50 | 1.80 |")
}

// TestLighterGC: the rate scenarios collect at generatorGCPercent, idle
// and an operator's GOGC keep theirs. An empty GOGC is no setting, for
// lighterGC as for the runtime.
func TestLighterGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, c := range []struct {
		scenario string
		env      string
		want     int
	}{
		{"login", "", generatorGCPercent},
		{"msg", "", generatorGCPercent},
		{"idle", "", 100},
		{"login", "150", 100},
	} {
		t.Setenv("GOGC", c.env)
		debug.SetGCPercent(100)
		lighterGC(c.scenario)
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("%s with GOGC=%q: GC percent %d, want %d", c.scenario, c.env, got, c.want)
		}
	}
}
