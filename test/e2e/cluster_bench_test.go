package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestClusterBenchSmoke runs samtal-bench against a cluster of three
// nodes for a few seconds, as bench/cluster.sh does for its numbers: the
// sessions spread over the nodes (-servers), each message pair placed
// across two nodes or on one (-placement), the nodes' CPU summed (-pid).
// It checks that nothing is lost and nothing fails, and that the
// placement is the one asked for: with cross the nodes forward every
// message to each other, with same none. It never asserts a rate.
func TestClusterBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	bin := buildBench(t)
	nodes := startClusterWith(t, 3, "stanza_rate = 100000\nread_rate = 10000000\nread_burst = 10000000\nunauth_per_ip = 200")
	const pairs = 4
	for i := range 2 * pairs {
		nodes[0].AddUser(fmt.Sprintf("bench%d", i), "bench-password")
	}
	for i := 100; i < 106; i++ {
		nodes[0].AddUser(fmt.Sprintf("bench%d", i), "bench-password")
	}
	var addrs, pids []string
	for _, n := range nodes {
		addrs = append(addrs, n.C2S)
		pids = append(pids, strconv.Itoa(n.cmd.Process.Pid))
	}
	run := func(scenario string, args ...string) map[string]float64 {
		t.Helper()
		return runBench(t, bin, scenario, append([]string{"-servers", strings.Join(addrs, ","), "-domain", "localhost",
			"-ca", nodes[0].CA(), "-pid", strings.Join(pids, ","), "-label", "cluster"}, args...)...)
	}
	forwarded := func() float64 {
		var sum float64
		for _, n := range nodes {
			sum += metric(t, n.Admin, `samtal_cluster_forwarded_total{kind="deliver"}`)
		}
		return sum
	}

	for _, tc := range []struct {
		placement string
		args      []string
		across    float64 // pairs whose two sessions are on different nodes
	}{
		{"cross", []string{"-window", "8"}, pairs},
		{"same", []string{"-window", "8"}, 0},
		{"cross", []string{"-rate", "100"}, pairs},
	} {
		before := forwarded()
		m := run("msg", append([]string{"-placement", tc.placement, "-pairs", strconv.Itoa(pairs), "-duration", "2s"}, tc.args...)...)
		fwd := forwarded() - before
		if m["delivered"] == 0 || m["lost"] != 0 || m["stanza_errors"] != 0 {
			t.Errorf("%s %v: delivered %v, lost %v, stanza errors %v", tc.placement, tc.args, m["delivered"], m["lost"], m["stanza_errors"])
		}
		if m["servers"] != 3 || m["pairs_across_servers"] != tc.across {
			t.Errorf("%s: servers %v, pairs across servers %v, want 3 and %v", tc.placement, m["servers"], m["pairs_across_servers"], tc.across)
		}
		// Every message of a crossing pair goes through NATS to the
		// receiver's node; with same, none does.
		if tc.across > 0 && fwd < m["delivered"] || tc.across == 0 && fwd != 0 {
			t.Errorf("%s: the nodes forwarded %v messages for %v delivered", tc.placement, fwd, m["delivered"])
		}
		if m["server_cpu_s"] <= 0 {
			t.Errorf("%s: no server CPU time read from the nodes %v", tc.placement, pids)
		}
	}
	// Logins and idle sessions go round the nodes, the idle ones from
	// child processes that get the same -servers.
	if m := run("login", "-parallel", "2", "-accounts", "4", "-duration", "1s"); m["logins"] == 0 {
		t.Errorf("no login succeeded")
	}
	if m := run("idle", "-n", "12", "-from", "100", "-per-account", "2", "-procs", "2", "-settle", "1s"); m["sessions"] != 12 || m["server_fds_held"] < 12 {
		t.Errorf("idle: %v sessions, the nodes held %v descriptors", m["sessions"], m["server_fds_held"])
	}
}
