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

	"samtal.org/samtal/internal/xmlel"
)

// MUCOptions shape the group chat fan-out scenario.
type MUCOptions struct {
	Service   string // the group chat service's domain; "" is conference.<domain>
	Room      string // the room's local part
	Occupants int
	Senders   int // the first occupants also send
	Window    int // messages in flight per sender (counted by its own echo)
	From      int // first account index
	Duration  time.Duration
	Warmup    time.Duration
	Drain     time.Duration
	// Name is the scenario's name in the result, "muc" by default: a
	// run with another room size names itself (muc-1000).
	Name string
}

// MUC joins occupants to one room (XEP-0045 §7.2, accepting the default
// configuration of a new room, §10.1.2) and has senders post groupchat
// messages, each sender keeping a window of its messages in flight until
// the room reflects them back (§7.4). It reports stanzas delivered to
// occupants per second, latency, and losses.
func (e *Env) MUC(ctx context.Context, o MUCOptions) *Result {
	if o.Service == "" {
		o.Service = "conference." + e.Targets[0].Domain
	}
	if o.Room == "" {
		o.Room = "benchroom"
	}
	if o.Occupants <= 0 {
		o.Occupants = 50
	}
	if o.Senders <= 0 {
		o.Senders = 2
	}
	o.Senders = min(o.Senders, o.Occupants)
	if o.Window <= 0 {
		o.Window = 8
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Warmup <= 0 {
		o.Warmup = time.Second
	}
	if o.Drain <= 0 {
		// A sender's window counts only its own echo, so a server that
		// reflects to the sender first can fall behind with the other
		// occupants by far more than the window: what is delivered
		// late is not lost, and waiting ends as soon as all is in.
		o.Drain = 30 * time.Second
	}
	if o.Name == "" {
		o.Name = "muc"
	}
	r := newResult(e, o.Name)
	if err := e.Provision(ctx, o.From, o.From+o.Occupants); err != nil {
		r.Skipped = err.Error()
		return r
	}
	conns, err := e.loginMany(ctx, o.From, o.From+o.Occupants, "muc")
	if err != nil {
		r.Skipped = err.Error()
		return r
	}
	defer closeAll(conns)
	room := o.Room + "@" + o.Service
	// The first occupant creates the room alone, then the others join.
	if err := join(conns[0], room, "n0"); err != nil {
		r.Skipped = "group chat: " + err.Error()
		return r
	}
	var jerrs errSample
	var wg sync.WaitGroup
	sem := make(chan struct{}, e.parallel())
	for i := 1; i < len(conns); i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			jerrs.add(join(conns[i], room, "n"+strconv.Itoa(i)))
		}()
	}
	wg.Wait()
	if jerrs.n.Load() > 0 {
		r.Skipped = fmt.Sprintf("%d joins failed: %v", jerrs.n.Load(), jerrs.list())
		return r
	}
	e.logf("muc: %d occupants in %s", len(conns), room)

	type sender struct {
		sent, echoed atomic.Int64
		wake         chan struct{}
	}
	senders := make([]*sender, o.Senders)
	for i := range senders {
		senders[i] = &sender{wake: make(chan struct{}, 1)}
	}
	var delivered atomic.Int64
	var errs errSample
	var lats Latencies
	t0 := time.Now()
	var rwg sync.WaitGroup
	for k, c := range conns {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			var mine []time.Duration
			defer func() { lats.Add(mine) }()
			for {
				el, err := c.Next()
				if err != nil {
					if ctx.Err() == nil && !isClosed(err) {
						errs.add(fmt.Errorf("occupant: %w", err))
					}
					return
				}
				if el.Local != "message" || el.Space != "" || el.Attr("type") != "groupchat" {
					continue
				}
				// Body: S<sender>.<seq>.<ns since start>
				f := strings.Split(strings.TrimPrefix(el.ChildText("", "body"), "S"), ".")
				if len(f) != 3 {
					continue
				}
				si, err1 := strconv.Atoi(f[0])
				ns, err2 := strconv.ParseInt(f[2], 10, 64)
				if err1 != nil || err2 != nil || si < 0 || si >= len(senders) {
					continue
				}
				delivered.Add(1)
				if time.Duration(ns) >= o.Warmup {
					mine = append(mine, time.Since(t0)-time.Duration(ns))
				}
				if si == k {
					senders[si].echoed.Add(1)
					select {
					case senders[si].wake <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	stop := t0.Add(o.Warmup + o.Duration)
	var swg sync.WaitGroup
	for i, s := range senders {
		swg.Add(1)
		go func() {
			defer swg.Done()
			c := conns[i]
			for ctx.Err() == nil && time.Now().Before(stop) {
				n := int64(o.Window) - (s.sent.Load() - s.echoed.Load())
				if n <= 0 {
					select {
					case <-s.wake:
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
				c.QueueFunc(func(b []byte) []byte {
					for range n {
						seq := s.sent.Add(1)
						b = append(b, "<message type='groupchat' to='"...)
						b = append(b, room...)
						b = append(b, "'><body>S"...)
						b = strconv.AppendInt(b, int64(i), 10)
						b = append(b, '.')
						b = strconv.AppendInt(b, seq, 10)
						b = append(b, '.')
						b = strconv.AppendInt(b, int64(time.Since(t0)), 10)
						b = append(b, "</body></message>"...)
					}
					return b
				})
				if err := c.Flush(); err != nil {
					errs.add(fmt.Errorf("sender: %w", err))
					return
				}
			}
		}()
	}
	sentTotal := func() (n int64) {
		for _, s := range senders {
			n += s.sent.Load()
		}
		return n
	}
	sleepUntil(ctx, t0.Add(o.Warmup))
	d0 := delivered.Load()
	meter := e.startMeter()
	m0 := time.Now()
	sleepUntil(ctx, stop)
	d1 := delivered.Load()
	elapsed := time.Since(m0)
	swg.Wait()
	want := sentTotal() * int64(o.Occupants)
	drainEnd := time.Now().Add(o.Drain)
	for time.Now().Before(drainEnd) && delivered.Load() < want && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	d2 := delivered.Load()
	meter.stop(r, float64(d2-d0), "stanza")
	closeAll(conns)
	rwg.Wait()
	r.Metrics["occupants"] = float64(o.Occupants)
	r.Metrics["senders"] = float64(o.Senders)
	r.Metrics["sent"] = float64(sentTotal())
	r.Metrics["delivered"] = float64(d2)
	r.Metrics["lost"] = float64(want - d2)
	r.Metrics["stanzas_per_s"] = float64(d1-d0) / elapsed.Seconds()
	p50, p99, p999 := lats.Quantiles()
	r.Metrics["p50_us"], r.Metrics["p99_us"], r.Metrics["p999_us"] = p50, p99, p999
	r.Metrics["errors"] = float64(errs.n.Load())
	r.Errors = errs.list()
	return r
}

// join enters a room and waits for the self-presence (status 110); a new
// room (status 201) is unlocked by accepting its default configuration.
func join(c *Conn, room, nick string) error {
	full := room + "/" + nick
	req := "<presence to='" + escape(full) + "'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>"
	if err := c.Send([]byte(req)); err != nil {
		return err
	}
	// A server without the service may drop the presence silently.
	c.SetReadDeadline(time.Now().Add(min(c.t.timeout(), 15*time.Second)))
	defer c.SetReadDeadline(time.Time{})
	for {
		el, err := c.Next()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return errors.New("no answer to the join presence")
			}
			return err
		}
		if el.Is(nsStream, "error") {
			return streamErr(el)
		}
		if el.Local != "presence" || el.Space != "" || el.Attr("from") != full {
			continue
		}
		if el.Attr("type") == "error" {
			return errors.New("join refused: " + errCondition(el))
		}
		x := el.Child(nsMUCUser, "x")
		if x == nil || !hasStatus(x, "110") {
			continue
		}
		if !hasStatus(x, "201") {
			return nil
		}
		// XEP-0045 §10.1.2: create an instant room.
		res, err := c.request("<iq type='set' id='own1' to='"+escape(room)+"'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>", "own1")
		if err != nil {
			return err
		}
		if res.Attr("type") != "result" {
			return errors.New("room configuration refused: " + errCondition(res))
		}
		return nil
	}
}

func hasStatus(x *xmlel.Element, code string) bool {
	for _, s := range x.Elements() {
		if s.Local == "status" && s.Attr("code") == code {
			return true
		}
	}
	return false
}
