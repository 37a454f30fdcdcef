package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"samtal.org/samtal/internal/xmlel"
)

// MAMOptions shape the archive-query scenario.
type MAMOptions struct {
	Queriers int // accounts that query their archives, in parallel
	Stored   int // messages put in each archive first
	Page     int // RSM max per query
	From     int // first account index (the queriers, then one feeder)
	Duration time.Duration
	// Background messaging while the queries run (at a fixed rate).
	BackgroundRate  float64
	BackgroundPairs int
}

// MAM fills each querier's archive (XEP-0313) with messages, then has
// the queriers page through their archives back to front in a closed
// loop while 1:1 messages flow in the background. It reports queries per
// second, their latency, and the messages returned.
func (e *Env) MAM(ctx context.Context, o MAMOptions) *Result {
	if o.Queriers <= 0 {
		o.Queriers = 8
	}
	if o.Stored <= 0 {
		o.Stored = 200
	}
	if o.Page <= 0 {
		o.Page = 20
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	r := newResult(e, "mam")
	if err := e.Provision(ctx, o.From, o.From+o.Queriers+1); err != nil {
		r.Skipped = err.Error()
		return r
	}
	conns, err := e.loginMany(ctx, o.From, o.From+o.Queriers+1, "mam")
	if err != nil {
		r.Skipped = err.Error()
		return r
	}
	defer closeAll(conns)
	qs, feeder := conns[:o.Queriers], conns[o.Queriers]
	bare, _, _ := strings.Cut(qs[0].JID, "/")
	res, err := qs[0].request("<iq type='get' id='disco1' to='"+escape(bare)+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", "disco1")
	if err != nil {
		r.Skipped = "disco: " + err.Error()
		return r
	}
	if !hasFeature(res, nsMAM) {
		r.Skipped = "the server does not announce " + nsMAM
		return r
	}
	// Ask for every message to be archived (XEP-0313 §6), whatever
	// the server's default.
	for i, q := range qs {
		id := "prefs" + strconv.Itoa(i)
		res, err := q.request("<iq type='set' id='"+id+"'><prefs xmlns='urn:xmpp:mam:2' default='always'/></iq>", id)
		if err != nil {
			r.Skipped = "archive preferences: " + err.Error()
			return r
		}
		if res.Attr("type") != "result" {
			r.Skipped = "archive preferences refused: " + errCondition(res)
			return r
		}
	}
	// Fill the archives: the feeder sends Stored messages to each
	// querier, which reads them all before the queries start.
	for _, q := range qs {
		to := escape(q.JID)
		feeder.QueueFunc(func(b []byte) []byte {
			for i := range o.Stored {
				b = append(b, "<message type='chat' to='"...)
				b = append(b, to...)
				b = append(b, "' id='f"...)
				b = strconv.AppendInt(b, int64(i), 10)
				b = append(b, "'><body>archived message "...)
				b = strconv.AppendInt(b, int64(i), 10)
				b = append(b, "</body></message>"...)
			}
			return b
		})
	}
	if err := feeder.Flush(); err != nil {
		r.Skipped = "feeding: " + err.Error()
		return r
	}
	for _, q := range qs {
		q.SetReadDeadline(time.Now().Add(30 * time.Second))
		got := 0
		for got < o.Stored {
			el, err := q.Next()
			if err != nil {
				r.Skipped = "feeding: " + err.Error()
				return r
			}
			if el.Local == "message" && el.Attr("type") == "chat" {
				got++
			}
		}
		q.SetReadDeadline(time.Time{})
	}
	// Archiving may be asynchronous: give it a moment.
	time.Sleep(time.Second)

	var bg *Result
	var bgwg sync.WaitGroup
	if o.BackgroundRate > 0 {
		bgwg.Add(1)
		go func() {
			defer bgwg.Done()
			bg = e.Messages(ctx, MsgOptions{Pairs: max(o.BackgroundPairs, 1), Rate: o.BackgroundRate, Duration: o.Duration, Name: "mam-background"})
		}()
		time.Sleep(2 * time.Second) // the background's logins and warm-up
	}

	var errs errSample
	var queries, returned atomic.Int64
	var lats Latencies
	stop := time.Now().Add(o.Duration)
	meter := e.startMeter()
	t0 := time.Now()
	var wg sync.WaitGroup
	for qi, q := range qs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			defer func() { lats.Add(mine) }()
			before := "" // RSM cursor: page backwards, wrap at the start
			for n := 0; ctx.Err() == nil && time.Now().Before(stop); n++ {
				id := "q" + strconv.Itoa(qi) + "-" + strconv.Itoa(n)
				start := time.Now()
				items, first, complete, err := q.mamPage(id, o.Page, before)
				if err != nil {
					errs.add(err)
					return
				}
				mine = append(mine, time.Since(start))
				queries.Add(1)
				returned.Add(int64(items))
				before = first
				if complete || first == "" {
					before = ""
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	meter.stop(r, float64(queries.Load()), "query")
	bgwg.Wait()
	r.Metrics["queriers"] = float64(o.Queriers)
	r.Metrics["queries"] = float64(queries.Load())
	r.Metrics["queries_per_s"] = float64(queries.Load()) / elapsed.Seconds()
	r.Metrics["messages_returned"] = float64(returned.Load())
	p50, p99, p999 := lats.Quantiles()
	r.Metrics["p50_us"], r.Metrics["p99_us"], r.Metrics["p999_us"] = p50, p99, p999
	r.Metrics["errors"] = float64(errs.n.Load())
	r.Errors = errs.list()
	if bg != nil {
		for _, k := range []string{"msgs_per_s", "lost", "p99_us"} {
			r.Metrics["background_"+k] = bg.Metrics[k]
		}
		if bg.Skipped != "" {
			r.Errors = append(r.Errors, "background: "+bg.Skipped)
		}
	}
	return r
}

// mamPage runs one archive query (XEP-0313 §4, RSM paging backwards) and
// returns the results counted, the RSM first ID and whether the archive
// start was reached.
func (c *Conn) mamPage(id string, max int, before string) (items int, first string, complete bool, err error) {
	req := "<iq type='set' id='" + id + "'><query xmlns='urn:xmpp:mam:2' queryid='" + id +
		"'><set xmlns='http://jabber.org/protocol/rsm'><max>" + strconv.Itoa(max) + "</max><before>" +
		escape(before) + "</before></set></query></iq>"
	if err := c.Send([]byte(req)); err != nil {
		return 0, "", false, err
	}
	c.SetReadDeadline(time.Now().Add(c.t.timeout()))
	defer c.SetReadDeadline(time.Time{})
	for {
		el, err := c.Next()
		if err != nil {
			return items, "", false, err
		}
		switch {
		case el.Local == "message" && el.Space == "":
			if res := el.Child(nsMAM, "result"); res != nil && res.Attr("queryid") == id {
				items++
			}
		case el.Local == "iq" && el.Space == "" && el.Attr("id") == id:
			if el.Attr("type") != "result" {
				return items, "", false, errors.New("archive query refused: " + errCondition(el))
			}
			fin := el.Child(nsMAM, "fin")
			if fin == nil {
				return items, "", false, fmt.Errorf("archive result without <fin/>")
			}
			if set := fin.Child("http://jabber.org/protocol/rsm", "set"); set != nil {
				first = strings.TrimSpace(set.ChildText("http://jabber.org/protocol/rsm", "first"))
			}
			return items, first, fin.Attr("complete") == "true", nil
		}
	}
}

// hasFeature reports whether a disco#info result lists a feature.
func hasFeature(res *xmlel.Element, ns string) bool {
	q := res.Child(nsDisco, "query")
	if q == nil {
		return false
	}
	for _, f := range q.Elements() {
		if f.Local == "feature" && f.Attr("var") == ns {
			return true
		}
	}
	return false
}
