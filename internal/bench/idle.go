package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// IdleOptions shape the idle-sessions scenario.
type IdleOptions struct {
	Sessions int           // sessions held at once
	From     int           // first account index
	Hold     time.Duration // how long they are held once all are up
	Settle   time.Duration // wait before reading the server's memory
	Presence bool          // send initial presence after binding, as clients do
	// PerAccount > 1 binds that many resources of each account, so that
	// fewer accounts need to exist: session i uses account
	// From+i/PerAccount.
	PerAccount int
	// Procs > 1 spreads the sessions over that many child processes
	// (each process has its own open-file limit); Child makes the
	// command line of one child holding sessions [from, to).
	Procs int
	Child func(from, to int) *exec.Cmd
	// Name is the scenario's name in the result, "idle" by default: a
	// burst of sessions run only to measure what comes after it has
	// another.
	Name string
}

// Hold logs in sessions [from, to) (numbered as IdleOptions says), sends
// presence if asked, answers pings, and returns the sessions.
func (e *Env) Hold(ctx context.Context, from, to, perAccount int, presence bool) ([]*Conn, error) {
	conns, err := e.loginSessions(ctx, from, to, perAccount)
	if err != nil {
		return nil, err
	}
	for _, c := range conns {
		if presence {
			_ = c.Send([]byte("<presence/>"))
		}
		go c.idleReader()
	}
	return conns, nil
}

// idleReader reads and discards, answering XEP-0199 pings so that a
// server that probes idle clients keeps them.
// loginSessions logs in sessions [from, to): session i is account
// e.first+i/perAccount with resource idle<i%perAccount>.
func (e *Env) loginSessions(ctx context.Context, from, to, perAccount int) ([]*Conn, error) {
	if perAccount < 1 {
		perAccount = 1
	}
	return e.loginEach(ctx, to-from, func(k int) (string, string, *Target) {
		i := from + k
		return e.User(e.First + i/perAccount), "idle" + strconv.Itoa(i%perAccount), e.target(i)
	})
}

func (c *Conn) idleReader() {
	for {
		el, err := c.r.Next()
		if err != nil {
			return
		}
		if el.Local == "iq" && el.Space == "" && el.Attr("type") == "get" && el.Child("urn:xmpp:ping", "ping") != nil {
			resp := "<iq type='result' id='" + escape(el.Attr("id")) + "'"
			if f := el.Attr("from"); f != "" {
				resp += " to='" + escape(f) + "'"
			}
			_ = c.Send([]byte(resp + "/>"))
		}
	}
}

// Idle holds many authenticated TLS sessions and reports what each
// costs the server in resident memory, then closes them all at once
// (a burst of sessions that come and go) and reports the memory left.
func (e *Env) Idle(ctx context.Context, o IdleOptions) *Result {
	if o.Sessions <= 0 {
		o.Sessions = 1000
	}
	if o.Settle <= 0 {
		o.Settle = 5 * time.Second
	}
	if o.Name == "" {
		o.Name = "idle"
	}
	r := newResult(e, o.Name)
	e.First = o.From
	if o.PerAccount < 1 {
		o.PerAccount = 1
	}
	if err := e.Provision(ctx, o.From, o.From+(o.Sessions+o.PerAccount-1)/o.PerAccount); err != nil {
		r.Skipped = err.Error()
		return r
	}
	time.Sleep(o.Settle)
	before, berr := ProcTrees(e.PIDs)
	t0 := time.Now()
	var release func()
	if o.Procs > 1 && o.Child != nil {
		rel, err := e.holdInChildren(ctx, o)
		if err != nil {
			r.Skipped = err.Error()
			return r
		}
		release = rel
	} else {
		conns, err := e.Hold(ctx, 0, o.Sessions, o.PerAccount, o.Presence)
		if err != nil {
			r.Skipped = err.Error()
			return r
		}
		release = func() { closeAll(conns) }
	}
	up := time.Since(t0)
	e.logf("idle: %d sessions up in %v", o.Sessions, up.Round(time.Millisecond))
	time.Sleep(o.Settle)
	held, herr := ProcTrees(e.PIDs)
	var late ProcStat
	var lerr error
	if o.Hold > 0 {
		// Sessions that stay idle: what the server holds once its
		// collector has run (Go forces a collection every two minutes
		// and shrinks goroutine stacks then).
		sleepUntil(ctx, time.Now().Add(o.Hold))
		late, lerr = ProcTrees(e.PIDs)
	}
	release()
	time.Sleep(o.Settle)
	after, aerr := ProcTrees(e.PIDs)
	r.Metrics["sessions"] = float64(o.Sessions)
	r.Metrics["sessions_per_account"] = float64(o.PerAccount)
	r.Metrics["setup_per_s"] = float64(o.Sessions) / up.Seconds()
	if berr == nil && herr == nil {
		r.Metrics["rss_before_mib"] = float64(before.RSS) / (1 << 20)
		r.Metrics["rss_held_mib"] = float64(held.RSS) / (1 << 20)
		r.Metrics["kib_per_session"] = float64(held.RSS-before.RSS) / 1024 / float64(o.Sessions)
		r.Metrics["server_fds_held"] = float64(held.FDs)
	}
	if o.Hold > 0 && berr == nil && lerr == nil {
		r.Metrics["hold_s"] = o.Hold.Seconds()
		r.Metrics["rss_held_late_mib"] = float64(late.RSS) / (1 << 20)
		r.Metrics["kib_per_session_late"] = float64(late.RSS-before.RSS) / 1024 / float64(o.Sessions)
	}
	if aerr == nil && berr == nil {
		r.Metrics["rss_after_close_mib"] = float64(after.RSS) / (1 << 20)
		r.Metrics["server_fds_after_close"] = float64(after.FDs)
	}
	return r
}

// holdInChildren starts o.Procs children, each holding its share, and
// waits until every one reports that its sessions are up. The returned
// function ends them.
func (e *Env) holdInChildren(ctx context.Context, o IdleOptions) (func(), error) {
	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
	}
	var kids []child
	stopAll := func() {
		for _, k := range kids {
			k.stdin.Close()
		}
		for _, k := range kids {
			done := make(chan struct{})
			go func() { _ = k.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = k.cmd.Process.Kill()
				<-done
			}
		}
	}
	ready := make(chan error, o.Procs)
	per := (o.Sessions + o.Procs - 1) / o.Procs
	for i := range o.Procs {
		from := i * per
		to := min(from+per, o.Sessions)
		if from >= to {
			ready <- nil
			continue
		}
		cmd := o.Child(from, to)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			stopAll()
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			stopAll()
			return nil, err
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			stopAll()
			return nil, err
		}
		kids = append(kids, child{cmd, stdin})
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "ready") {
					ready <- nil
					_, _ = io.Copy(io.Discard, stdout)
					return
				}
				if strings.HasPrefix(line, "error") {
					ready <- fmt.Errorf("bench: child: %s", line)
					_, _ = io.Copy(io.Discard, stdout)
					return
				}
			}
			ready <- fmt.Errorf("bench: child ended before its sessions were up")
		}()
	}
	var first error
	for range o.Procs {
		select {
		case err := <-ready:
			if err != nil && first == nil {
				first = err
			}
		case <-ctx.Done():
			first = ctx.Err()
		}
		if first != nil {
			break
		}
	}
	if first != nil {
		stopAll()
		return nil, first
	}
	var once sync.Once
	return func() { once.Do(stopAll) }, nil
}
