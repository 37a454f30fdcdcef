package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Env is what every scenario shares.
type Env struct {
	// Targets are the servers, one or the nodes of a cluster. Connections
	// are spread over them in turn (connection k goes to Targets[k mod
	// len]), except the message scenario's, which MsgOptions.Placement
	// places by pair.
	Targets  []*Target
	Users    string // account name pattern with one %d, e.g. "bench%d"
	Password string
	Register bool // create the accounts a scenario uses by in-band registration first
	// PIDs are the servers' processes, for CPU time and memory, summed
	// over all of them; none: not measured.
	PIDs []int
	// AuxPIDs are processes the servers depend on, such as a database
	// or a cluster's message bus: their CPU time is reported apart
	// (aux_cpu_s, aux_cpu_us_per_<unit>), so that the servers' own cost
	// stays comparable with a server that has none.
	AuxPIDs  []int
	Label    string
	Log      io.Writer // progress; nil: silent
	Parallel int       // connections opened at once while setting up
	First    int       // idle: the account index that session 0 uses
}

// target returns the server of connection k: the servers in turn.
func (e *Env) target(k int) *Target { return e.Targets[k%len(e.Targets)] }

// User returns the i-th account's local part.
func (e *Env) User(i int) string { return fmt.Sprintf(e.Users, i) }

func (e *Env) logf(format string, args ...any) {
	if e.Log != nil {
		fmt.Fprintf(e.Log, "[%s] "+format+"\n", append([]any{e.Label}, args...)...)
	}
}

func (e *Env) parallel() int {
	if e.Parallel <= 0 {
		return 16
	}
	return e.Parallel
}

// Result is one scenario's measurements; samtal-bench prints it as one
// JSON line.
type Result struct {
	Server   string             `json:"server"`
	Scenario string             `json:"scenario"`
	Metrics  map[string]float64 `json:"metrics"`
	Skipped  string             `json:"skipped,omitempty"` // why the scenario could not run
	Errors   []string           `json:"errors,omitempty"`  // a sample of what went wrong
}

func newResult(e *Env, scenario string) *Result {
	return &Result{Server: e.Label, Scenario: scenario, Metrics: map[string]float64{}}
}

// JSON returns the result as one line.
func (r *Result) JSON() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// String formats the result for a person.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s:", r.Server, r.Scenario)
	if r.Skipped != "" {
		fmt.Fprintf(&b, " skipped (%s)", r.Skipped)
	}
	keys := make([]string, 0, len(r.Metrics))
	for k := range r.Metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%.6g", k, r.Metrics[k])
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "\n  error: %s", e)
	}
	return b.String()
}

// errSample keeps the first few distinct errors and counts all.
type errSample struct {
	mu    sync.Mutex
	n     atomic.Int64
	first []string
}

func (s *errSample) add(err error) {
	if err == nil {
		return
	}
	s.n.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := err.Error()
	if len(s.first) < 5 && !contains(s.first, msg) {
		s.first = append(s.first, msg)
	}
}

func (s *errSample) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.first...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// procMeter measures the server processes (and those they depend on)
// over a span.
type procMeter struct {
	pids, aux      []int
	start, auxFrom ProcStat
	ok, auxOK      bool
	// gen is the load generator itself (this process and its
	// children): what it spends per unit is the other half of the
	// machine when it shares the cores with the server.
	gen   ProcStat
	genOK bool
}

func (e *Env) startMeter() *procMeter {
	m := &procMeter{pids: e.PIDs, aux: e.AuxPIDs}
	if ps, err := ProcTree(os.Getpid()); err == nil {
		m.gen, m.genOK = ps, true
	}
	if len(m.pids) > 0 {
		ps, err := ProcTrees(m.pids)
		m.start, m.ok = ps, err == nil
	}
	if len(m.aux) > 0 {
		ps, err := ProcTrees(m.aux)
		m.auxFrom, m.auxOK = ps, err == nil
	}
	return m
}

// stop adds server CPU seconds, CPU per unit (µs) and RSS to r.
func (m *procMeter) stop(r *Result, units float64, unitName string) {
	perUnit := func(name string, d time.Duration) {
		if units > 0 {
			r.Metrics[name+"_us_per_"+unitName] = d.Seconds() * 1e6 / units
		}
	}
	if m.auxOK {
		if ps, err := ProcTrees(m.aux); err == nil {
			cpu := ps.CPU() - m.auxFrom.CPU()
			r.Metrics["aux_cpu_s"] = cpu.Seconds()
			perUnit("aux_cpu", cpu)
		}
	}
	if m.genOK {
		if ps, err := ProcTree(os.Getpid()); err == nil {
			perUnit("gen_cpu", ps.CPU()-m.gen.CPU())
		}
	}
	if !m.ok {
		return
	}
	ps, err := ProcTrees(m.pids)
	if err != nil {
		return
	}
	cpu := ps.CPU() - m.start.CPU()
	r.Metrics["server_cpu_s"] = cpu.Seconds()
	perUnit("server_cpu", cpu)
	perUnit("server_user", ps.User-m.start.User)
	perUnit("server_sys", ps.Sys-m.start.Sys)
	r.Metrics["server_rss_mib"] = float64(ps.RSS) / (1 << 20)
}

// Provision creates accounts [from, to) by in-band registration, in
// parallel; existing accounts are fine.
func (e *Env) Provision(ctx context.Context, from, to int) error {
	if !e.Register {
		return nil
	}
	var errs errSample
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range min(e.parallel(), to-from) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				var err error
				for try := 0; try < 3; try++ {
					err = e.target(i).Register(ctx, e.User(i), e.Password)
					if err == nil || errors.Is(err, ErrConflict) {
						err = nil
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				errs.add(err)
			}
		}()
	}
	wg.Wait()
	if n := errs.n.Load(); n > 0 {
		return fmt.Errorf("bench: %d registrations failed, first: %v", n, errs.list())
	}
	return ctx.Err()
}

// loginMany logs in accounts [from, to) with resource res, in parallel,
// the k-th on the servers' k-th in turn.
func (e *Env) loginMany(ctx context.Context, from, to int, res string) ([]*Conn, error) {
	return e.loginEach(ctx, to-from, func(k int) (string, string, *Target) { return e.User(from + k), res, e.target(k) })
}

// loginEach logs in n sessions, session k as who(k) on the server it
// names, in parallel. A failed login is retried once.
func (e *Env) loginEach(ctx context.Context, n int, who func(k int) (user, resource string, t *Target)) ([]*Conn, error) {
	conns := make([]*Conn, n)
	var errs errSample
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(e.parallel(), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				user, res, t := who(i)
				c, err := t.Login(ctx, user, e.Password, res)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					c, err = t.Login(ctx, user, e.Password, res)
				}
				conns[i] = c
				errs.add(err)
			}
		}()
	}
	wg.Wait()
	if errs.n.Load() > 0 || ctx.Err() != nil {
		closeAll(conns)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("bench: %d logins failed, first: %v", errs.n.Load(), errs.list())
	}
	return conns, nil
}

func closeAll(conns []*Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}
