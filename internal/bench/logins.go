package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// LoginOptions shape the login scenario.
type LoginOptions struct {
	Parallel int           // logins in progress at once; 1 is sequential
	Accounts int           // distinct accounts logged in, in turn
	Duration time.Duration // how long to log in
	Max      int           // stop after this many logins; 0: no limit
	Name     string        // the scenario's name in the result; "" names it by Parallel
}

// Logins measures full logins per second: TCP connect, STARTTLS, SASL,
// stream restart, bind, then a closing tag; or, with Target.SASL2 and a
// server that offers it, SASL2 with Bind 2 and no restart. With Parallel
// 1 it is the latency of one login end to end; with more, the server's
// capacity.
func (e *Env) Logins(ctx context.Context, o LoginOptions) *Result {
	if o.Parallel <= 0 {
		o.Parallel = 1
	}
	if o.Accounts <= 0 {
		o.Accounts = 50
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	name := "login-parallel"
	if o.Parallel == 1 {
		name = "login-sequential"
	}
	if o.Name != "" {
		name = o.Name
	}
	r := newResult(e, name)
	if err := e.Provision(ctx, 0, o.Accounts); err != nil {
		r.Skipped = err.Error()
		return r
	}
	// Warm the client's SCRAM key cache, so that the generator does not
	// spend the run on PBKDF2.
	for i := range o.Accounts {
		if c, err := e.target(i).Login(ctx, e.User(i), e.Password, ""); err == nil {
			c.Close()
		}
	}
	var errs errSample
	var done, next, modern atomic.Int64
	var lats Latencies
	stop := time.Now().Add(o.Duration)
	meter := e.startMeter()
	t0 := time.Now()
	var wg sync.WaitGroup
	for range o.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			defer func() { lats.Add(mine) }()
			for ctx.Err() == nil && time.Now().Before(stop) {
				i := next.Add(1)
				if o.Max > 0 && i > int64(o.Max) {
					return
				}
				start := time.Now()
				c, err := e.target(int(i)).Login(ctx, e.User(int(i)%o.Accounts), e.Password, "")
				if err != nil {
					errs.add(err)
					continue
				}
				mine = append(mine, time.Since(start))
				done.Add(1)
				if c.SASL2 {
					modern.Add(1)
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	meter.stop(r, float64(done.Load()), "login")
	r.Metrics["parallel"] = float64(o.Parallel)
	r.Metrics["logins"] = float64(done.Load())
	r.Metrics["logins_per_s"] = float64(done.Load()) / elapsed.Seconds()
	if n := done.Load(); n > 0 {
		r.Metrics["sasl2_share"] = float64(modern.Load()) / float64(n)
	}
	p50, p99, _ := lats.Quantiles()
	r.Metrics["p50_us"], r.Metrics["p99_us"] = p50, p99
	r.Metrics["errors"] = float64(errs.n.Load())
	r.Errors = errs.list()
	return r
}
