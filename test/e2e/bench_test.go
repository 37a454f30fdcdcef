package e2e

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchSmoke runs samtal-bench against samtal for a few seconds per
// scenario: the load generator must work end to end (STARTTLS, SCRAM,
// in-band registration, bind) and no message may be lost. It asserts
// correctness only, never a rate: benchmarks are not timed assertions.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	bin := buildBench(t)
	s := StartServer(t, Options{
		Registration: "open",
		Top:          "scram_iterations = 4096",
		Limits:       "stanza_rate = 100000\nread_rate = 10000000\nread_burst = 10000000\nunauth_per_ip = 200",
	})
	pid := s.cmd.Process.Pid
	run := func(scenario string, args ...string) map[string]float64 {
		t.Helper()
		return runBench(t, bin, scenario, append([]string{"-addr", s.C2S, "-domain", s.Domain, "-ca", s.CA(),
			"-register", "-pid", strconv.Itoa(pid), "-label", "samtal"}, args...)...)
	}

	for _, m := range []map[string]float64{
		run("msg", "-pairs", "4", "-window", "8", "-duration", "2s", "-mech", "SCRAM-SHA-256"),
		run("msg", "-pairs", "4", "-rate", "400", "-duration", "2s", "-mech", "SCRAM-SHA-1"),
	} {
		if m["delivered"] == 0 || m["lost"] != 0 || m["stanza_errors"] != 0 {
			t.Errorf("messages: delivered %v, lost %v, stanza errors %v", m["delivered"], m["lost"], m["stanza_errors"])
		}
		// The server's CPU is its user and system time, each read
		// from /proc; the generator's is its own.
		user, sys, cpu := m["server_user_us_per_msg"], m["server_sys_us_per_msg"], m["server_cpu_us_per_msg"]
		if cpu <= 0 || user <= 0 || math.Abs(user+sys-cpu) > 1e-6*cpu {
			t.Errorf("server CPU per message %v, user %v + system %v", cpu, user, sys)
		}
		if m["gen_cpu_us_per_msg"] <= 0 {
			t.Errorf("generator CPU per message %v", m["gen_cpu_us_per_msg"])
		}
	}
	if m := run("login", "-parallel", "2", "-accounts", "4", "-duration", "1s"); m["logins"] == 0 || m["sasl2_share"] != 0 {
		t.Errorf("RFC 6120 logins: %v, of which %v by SASL2", m["logins"], m["sasl2_share"])
	}
	// Where the server offers SASL2 and Bind 2, -sasl2 logs in with them.
	if m := run("login", "-parallel", "2", "-accounts", "4", "-duration", "1s", "-sasl2"); m["logins"] == 0 || m["sasl2_share"] != 1 || m["errors"] != 0 {
		t.Errorf("SASL2 logins: %v, of which %v by SASL2, %v errors", m["logins"], m["sasl2_share"], m["errors"])
	}
	m := run("idle", "-n", "40", "-from", "100", "-procs", "2", "-settle", "1s")
	if m["sessions"] != 40 || m["server_fds_held"] < 40 {
		t.Errorf("idle: %v sessions, server held %v descriptors", m["sessions"], m["server_fds_held"])
	}
}

// buildBench builds samtal-bench for a test.
func buildBench(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "samtal-bench")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/samtal-bench")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building samtal-bench: %v\n%s", err, out)
	}
	return bin
}

// runBench runs one samtal-bench scenario, bounded in time, and returns
// its metrics; the scenario must have run without an error.
func runBench(t *testing.T, bin, scenario string, args ...string) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := append([]string{scenario, "-json", "-q", "-timeout", "90s"}, args...)
	cmd := exec.CommandContext(ctx, bin, a...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("samtal-bench %s: %v\n%s", scenario, err, out)
	}
	var r struct {
		Scenario string
		Metrics  map[string]float64
		Skipped  string
		Errors   []string
	}
	line := strings.TrimSpace(string(out))
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("samtal-bench %s printed %q: %v", scenario, line, err)
	}
	t.Logf("%s: %v", scenario, line)
	if r.Skipped != "" {
		t.Fatalf("%s did not run: %s", scenario, r.Skipped)
	}
	if len(r.Errors) > 0 || r.Metrics["errors"] != 0 {
		t.Fatalf("%s: errors %v", scenario, r.Errors)
	}
	return r.Metrics
}

// TestBoundSmoke runs samtal-bench's messages against xmpp-bound, the
// measuring stick of BENCHMARKS.md: it must carry the generator's
// messages without losing one, or the bound it measures means nothing.
func TestBoundSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	bin := buildBench(t)
	bound := filepath.Join(t.TempDir(), "xmpp-bound")
	if out, err := exec.Command("go", "build", "-o", bound, "../../cmd/xmpp-bound").CombinedOutput(); err != nil {
		t.Fatalf("building xmpp-bound: %v\n%s", err, out)
	}
	ca := newPKI(t, "bound test CA")
	cert, key := ca.issue(t, "localhost")
	addr := freeAddr(t)
	cmd := exec.Command(bound, "-addr", addr, "-cert", cert, "-key", key)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitListening(t, addr)
	m := runBench(t, bin, "msg", "-addr", addr, "-domain", "localhost", "-ca", ca.CA, "-mech", "PLAIN",
		"-pid", strconv.Itoa(cmd.Process.Pid), "-label", "bound", "-pairs", "4", "-window", "8", "-duration", "2s")
	if m["delivered"] == 0 || m["lost"] != 0 || m["stanza_errors"] != 0 {
		t.Errorf("bound: delivered %v, lost %v, stanza errors %v", m["delivered"], m["lost"], m["stanza_errors"])
	}
}

// waitListening waits until something accepts connections on addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}
