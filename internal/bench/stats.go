package bench

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Latencies collects durations from many goroutines.
type Latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

// Add merges a goroutine's samples.
func (l *Latencies) Add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

// Quantiles returns the p50, p99 and p99.9 of the samples, in
// microseconds; zero without samples.
func (l *Latencies) Quantiles() (p50, p99, p999 float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.all) == 0 {
		return 0, 0, 0
	}
	slices.Sort(l.all)
	q := func(f float64) float64 {
		i := int(f * float64(len(l.all)-1))
		return float64(l.all[i]) / float64(time.Microsecond)
	}
	return q(0.50), q(0.99), q(0.999)
}

// Count returns the number of samples.
func (l *Latencies) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

// ProcStat is a snapshot of a process (a server, or the generator) from
// /proc.
type ProcStat struct {
	// User and Sys are the CPU time of the process's own code and of
	// the kernel working for it (system calls, the network stack of
	// loopback, page faults). Servers that make the same system calls
	// differ in User.
	User, Sys time.Duration
	RSS       int64 // resident set, bytes
	FDs       int
}

// CPU is the process's user and system time together.
func (ps ProcStat) CPU() time.Duration { return ps.User + ps.Sys }

// clockTick is USER_HZ, 100 on every Linux architecture Go supports.
const clockTick = 100

// ReadProc reads a process's CPU time and resident set size.
func ReadProc(pid int) (ProcStat, error) {
	var ps ProcStat
	if pid <= 0 {
		return ps, fmt.Errorf("bench: no server PID")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ps, fmt.Errorf("bench: unreadable /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return ps, fmt.Errorf("bench: short /proc/%d/stat", pid)
	}
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	ps.User = time.Duration(ut) * time.Second / clockTick
	ps.Sys = time.Duration(st) * time.Second / clockTick
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			ps.RSS = kb * 1024
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		ps.FDs = len(ents)
	}
	return ps, nil
}

// ProcTree is ReadProc summed over pid and its descendants (ejabberd
// runs helper processes beside the Erlang VM; most servers are one
// process and this is the same as ReadProc).
func ProcTree(pid int) (ProcStat, error) {
	ps, err := ReadProc(pid)
	if err != nil {
		return ps, err
	}
	for _, c := range children(pid) {
		if cs, err := ProcTree(c); err == nil {
			ps.add(cs)
		}
	}
	return ps, nil
}

// ProcTrees is ProcTree summed over several servers (the nodes of a
// cluster on one machine). It fails if any of them cannot be read: a sum
// that left out a node would look like a cheaper server.
func ProcTrees(pids []int) (ProcStat, error) {
	var sum ProcStat
	if len(pids) == 0 {
		return sum, fmt.Errorf("bench: no server PID")
	}
	for _, pid := range pids {
		ps, err := ProcTree(pid)
		if err != nil {
			return sum, err
		}
		sum.add(ps)
	}
	return sum, nil
}

func (ps *ProcStat) add(o ProcStat) {
	ps.User += o.User
	ps.Sys += o.Sys
	ps.RSS += o.RSS
	ps.FDs += o.FDs
}

func children(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}
