package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MsgOptions shape the 1:1 messaging scenario.
type MsgOptions struct {
	Pairs    int           // sender/receiver pairs, each two accounts
	Rate     float64       // offered messages per second in all; 0: saturation
	Window   int           // at saturation: messages in flight per pair
	Duration time.Duration // measured time, after a warm-up
	Warmup   time.Duration
	Drain    time.Duration // how long to wait for the last messages
	Body     int           // body length in bytes
	Name     string        // scenario name in the result
	// Placement says which servers each pair's sender and receiver use
	// when there are several.
	Placement Placement
}

// Placement places a message pair's two sessions on the servers of a
// cluster.
type Placement int

const (
	// Cross puts pair i's sender on server i and its receiver on server
	// i+1 (modulo the number of servers): with several servers every
	// message crosses from one node to another.
	Cross Placement = iota
	// Same puts both sessions of pair i on server i: the nodes share the
	// store and the cluster's bus, but no message crosses.
	Same
)

// ParsePlacement reads "cross" or "same".
func ParsePlacement(s string) (Placement, error) {
	switch s {
	case "cross":
		return Cross, nil
	case "same":
		return Same, nil
	}
	return 0, fmt.Errorf("bench: placement %q is neither cross nor same", s)
}

func (p Placement) String() string {
	if p == Same {
		return "same"
	}
	return "cross"
}

// PlacePair returns the servers (indexes among n) of pair i's sender and
// receiver. The pairs go round the servers in turn, so that each server
// holds as many senders as receivers, give or take one.
func PlacePair(p Placement, i, n int) (sender, receiver int) {
	if n <= 1 {
		return 0, 0
	}
	sender = i % n
	if p == Same {
		return sender, sender
	}
	return sender, (i + 1) % n
}

func (o *MsgOptions) defaults() {
	if o.Pairs <= 0 {
		o.Pairs = 20
	}
	if o.Window <= 0 {
		o.Window = 32
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Warmup <= 0 {
		o.Warmup = time.Second
	}
	if o.Drain <= 0 {
		o.Drain = 5 * time.Second
	}
	if o.Body <= 0 {
		o.Body = 64
	}
	if o.Name == "" {
		o.Name = "msg-saturate"
		if o.Rate > 0 {
			o.Name = "msg-rate"
		}
	}
}

type pair struct {
	from, to *Conn
	sent     atomic.Int64
	recv     atomic.Int64
	wake     chan struct{}
	lat      []time.Duration
}

// Messages runs 1:1 messaging: each pair's sender sends chat messages
// to its receiver's full JID, either as fast as the window allows
// (saturation) or at a fixed total rate. It reports delivered
// messages per second, latency percentiles (send to receipt, measured
// on one clock), losses, stanza errors and the server's CPU time per
// delivered message.
func (e *Env) Messages(ctx context.Context, o MsgOptions) *Result {
	o.defaults()
	r := newResult(e, o.Name)
	if err := e.Provision(ctx, 0, 2*o.Pairs); err != nil {
		r.Skipped = err.Error()
		return r
	}
	// Session 2i is pair i's sender, 2i+1 its receiver.
	conns, err := e.loginEach(ctx, 2*o.Pairs, func(k int) (string, string, *Target) {
		s, rc := PlacePair(o.Placement, k/2, len(e.Targets))
		if k%2 == 1 {
			s = rc
		}
		return e.User(k), "bench", e.Targets[s]
	})
	if err != nil {
		r.Skipped = err.Error()
		return r
	}
	defer closeAll(conns)
	pairs := make([]*pair, o.Pairs)
	for i := range pairs {
		pairs[i] = &pair{from: conns[2*i], to: conns[2*i+1], wake: make(chan struct{}, 1)}
	}
	body := strings.Repeat("x", o.Body)
	if o.Body > 20 {
		body = "Art thou not Romeo, and a Montague? " + body
		body = body[:o.Body]
	}

	run := randomHex(4) + "."
	if err := reachable(ctx, pairs, run); err != nil {
		r.Skipped = err.Error()
		return r
	}
	var errs errSample
	var stanzaErrs atomic.Int64
	t0 := time.Now()
	measureFrom := t0.Add(o.Warmup)
	var lats Latencies
	var rwg sync.WaitGroup
	for _, p := range pairs {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			defer func() { lats.Add(p.lat) }()
			for {
				el, err := p.to.Next()
				if err != nil {
					if ctx.Err() == nil && !isClosed(err) {
						errs.add(fmt.Errorf("receiver: %w", err))
					}
					return
				}
				if el.Local != "message" || el.Space != "" {
					continue
				}
				if el.Attr("type") == "error" {
					stanzaErrs.Add(1)
					continue
				}
				// id: run.seq.ns; messages of an earlier run may still
				// arrive and are not counted.
				rest, ok := strings.CutPrefix(el.Attr("id"), run)
				if !ok {
					continue
				}
				_, ns, ok := strings.Cut(rest, ".")
				if !ok {
					continue
				}
				sent, err := strconv.ParseInt(ns, 10, 64)
				if err != nil {
					continue
				}
				now := time.Since(t0)
				if time.Duration(sent) >= o.Warmup {
					p.lat = append(p.lat, now-time.Duration(sent))
				}
				p.recv.Add(1)
				select {
				case p.wake <- struct{}{}:
				default:
				}
			}
		}()
	}

	stop := t0.Add(o.Warmup + o.Duration)
	var swg sync.WaitGroup
	for _, p := range pairs {
		swg.Add(1)
		go func() {
			defer swg.Done()
			to := escape(p.to.JID)
			msg := func(b []byte, seq int64) []byte {
				b = append(b, "<message type='chat' to='"...)
				b = append(b, to...)
				b = append(b, "' id='"...)
				b = append(b, run...)
				b = strconv.AppendInt(b, seq, 10)
				b = append(b, '.')
				b = strconv.AppendInt(b, int64(time.Since(t0)), 10)
				b = append(b, "'><body>"...)
				b = append(b, body...)
				return append(b, "</body></message>"...)
			}
			if o.Rate > 0 {
				e.sendAtRate(ctx, p, msg, o.Rate/float64(o.Pairs), stop, &errs)
				return
			}
			for ctx.Err() == nil && time.Now().Before(stop) {
				n := int64(o.Window) - (p.sent.Load() - p.recv.Load())
				if n <= 0 {
					select {
					case <-p.wake:
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
				p.from.QueueFunc(func(b []byte) []byte {
					for range n {
						b = msg(b, p.sent.Add(1))
					}
					return b
				})
				if err := p.from.Flush(); err != nil {
					errs.add(fmt.Errorf("sender: %w", err))
					return
				}
			}
		}()
	}

	// Snapshot at the end of the warm-up and at the end of the run.
	total := func() (s, rc int64) {
		for _, p := range pairs {
			s += p.sent.Load()
			rc += p.recv.Load()
		}
		return s, rc
	}
	sleepUntil(ctx, measureFrom)
	_, recv0 := total()
	meter := e.startMeter()
	sleepUntil(ctx, stop)
	_, recv1 := total()
	elapsed := time.Since(measureFrom)
	swg.Wait()
	// Drain: wait for what is in flight.
	drainEnd := time.Now().Add(o.Drain)
	for time.Now().Before(drainEnd) && ctx.Err() == nil {
		if s, rc := total(); rc >= s {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	sent, recv := total()
	meter.stop(r, float64(recv-recv0), "msg")
	closeAll(conns)
	rwg.Wait()

	r.Metrics["pairs"] = float64(o.Pairs)
	if n := len(e.Targets); n > 1 {
		r.Metrics["servers"] = float64(n)
		crossing := 0
		for i := range o.Pairs {
			if s, rc := PlacePair(o.Placement, i, n); s != rc {
				crossing++
			}
		}
		r.Metrics["pairs_across_servers"] = float64(crossing)
	}
	if o.Rate > 0 {
		r.Metrics["offered_per_s"] = o.Rate
	} else {
		r.Metrics["window"] = float64(o.Window)
	}
	r.Metrics["sent"] = float64(sent)
	r.Metrics["delivered"] = float64(recv)
	r.Metrics["lost"] = float64(sent - recv)
	r.Metrics["stanza_errors"] = float64(stanzaErrs.Load())
	r.Metrics["msgs_per_s"] = float64(recv1-recv0) / elapsed.Seconds()
	p50, p99, p999 := lats.Quantiles()
	r.Metrics["p50_us"], r.Metrics["p99_us"], r.Metrics["p999_us"] = p50, p99, p999
	r.Metrics["errors"] = float64(errs.n.Load())
	r.Errors = errs.list()
	return r
}

// sendAtRate sends p's share of the offered rate until stop, each
// message stamped with the time it is written.
func (e *Env) sendAtRate(ctx context.Context, p *pair, msg func([]byte, int64) []byte, rate float64, stop time.Time, errs *errSample) {
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	// Spread the pairs' phases so that they do not all send at once.
	start = start.Add(time.Duration(randInt(int64(interval))))
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(stop) {
			return
		}
		due := int64(now.Sub(start)/interval) + 1
		if n := due - p.sent.Load(); n > 0 {
			p.from.QueueFunc(func(b []byte) []byte {
				for range n {
					b = msg(b, p.sent.Add(1))
				}
				return b
			})
			if err := p.from.Flush(); err != nil {
				errs.add(fmt.Errorf("sender: %w", err))
				return
			}
		}
		next := start.Add(time.Duration(p.sent.Load()) * interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
}

func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}

// reachable returns once every pair's receiver got a message from its
// sender. A receiver's session is not at once reachable from every
// sender: in a cluster the sender's node learns of a session on another
// node a moment after its login, and a message sent before then is
// stored offline, as for a resource not connected (RFC 6121 §8.5.3.2.1),
// which the measurement would count as lost. Each sender sends a probe
// every probeEvery until its receiver reads one, for at most probeFor.
func reachable(ctx context.Context, pairs []*pair, run string) error {
	const (
		probeEvery = 250 * time.Millisecond
		probeFor   = 15 * time.Second
	)
	prefix := "probe." + run
	var wg sync.WaitGroup
	errs := make([]error, len(pairs))
	for i, p := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.to.SetReadDeadline(time.Time{})
			deadline := time.Now().Add(probeFor)
			to := escape(p.to.JID)
			for try := 0; ctx.Err() == nil; try++ {
				if time.Now().After(deadline) {
					errs[i] = fmt.Errorf("%s did not get what %s sent for %v", p.to.JID, p.from.JID, probeFor)
					return
				}
				probe := fmt.Sprintf("<message type='chat' to='%s' id='%s%d'><body>probe</body></message>", to, prefix, try)
				if err := p.from.Send([]byte(probe)); err != nil {
					errs[i] = fmt.Errorf("sender: %w", err)
					return
				}
				p.to.SetReadDeadline(time.Now().Add(probeEvery))
				for {
					el, err := p.to.Next()
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						break // send another
					}
					if err != nil {
						errs[i] = fmt.Errorf("receiver: %w", err)
						return
					}
					if el.Local == "message" && el.Space == "" && strings.HasPrefix(el.Attr("id"), prefix) {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}
