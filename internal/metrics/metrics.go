// Package metrics is a small Prometheus registry: counters, gauges and
// histograms with fixed label names, written in the Prometheus text
// exposition format (version 0.0.4). samtal needs only these, so it does
// without a client library.
package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds metric families in registration order.
type Registry struct {
	mu       sync.Mutex
	families []family
}

type family interface {
	write(w io.Writer)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

func (r *Registry) add(f family) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.families = append(r.families, f)
}

// Write writes every family in the text format.
func (r *Registry) Write(w io.Writer) {
	r.mu.Lock()
	fs := append([]family(nil), r.families...)
	r.mu.Unlock()
	for _, f := range fs {
		f.write(w)
	}
}

// Handler serves the registry at /metrics.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		r.Write(w)
	})
}

// vec is the label bookkeeping shared by every metric kind.
type vec[T any] struct {
	name, help, kind string
	labels           []string
	// children maps a key (the label values joined) to its *T. A
	// sync.Map reads without writing to memory the cores share: with a
	// read lock, every core counting a stanza wrote to one cache line.
	children sync.Map
	mu       sync.Mutex // held while adding a child and reading order
	order    []string   // the keys, sorted
	newChild func() *T
}

func (v *vec[T]) with(values ...string) *T {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s wants %d label values, got %d", v.name, len(v.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	if c, ok := v.children.Load(key); ok {
		return c.(*T)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c, ok := v.children.Load(key); ok {
		return c.(*T)
	}
	c := v.newChild()
	v.children.Store(key, c)
	v.order = append(v.order, key)
	sort.Strings(v.order)
	return c
}

func (v *vec[T]) header(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", v.name, v.help, v.name, v.kind)
}

// each calls f with each child and its key, in the order of the keys.
func (v *vec[T]) each(f func(key string, c *T)) {
	v.mu.Lock()
	keys := slices.Clone(v.order)
	v.mu.Unlock()
	for _, key := range keys {
		c, _ := v.children.Load(key)
		f(key, c.(*T))
	}
}

func (v *vec[T]) labelString(key, extra string) string {
	if len(v.labels) == 0 && extra == "" {
		return ""
	}
	var parts []string
	if len(v.labels) > 0 {
		for i, val := range strings.Split(key, "\xff") {
			parts = append(parts, fmt.Sprintf("%s=%q", v.labels[i], val))
		}
	}
	if extra != "" {
		parts = append(parts, extra)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Counter is a monotonically increasing value.
type Counter struct{ v atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Value returns the count.
func (c *Counter) Value() uint64 { return c.v.Load() }

// CounterVec is a counter family.
type CounterVec struct{ vec[Counter] }

// NewCounter registers a counter family with the given label names.
func (r *Registry) NewCounter(name, help string, labels ...string) *CounterVec {
	c := &CounterVec{vec[Counter]{name: name, help: help, kind: "counter", labels: labels,
		newChild: func() *Counter { return new(Counter) }}}
	r.add(c)
	return c
}

// With returns the counter for the label values.
func (c *CounterVec) With(values ...string) *Counter { return c.with(values...) }

func (c *CounterVec) write(w io.Writer) {
	c.header(w)
	c.each(func(k string, x *Counter) { fmt.Fprintf(w, "%s%s %d\n", c.name, c.labelString(k, ""), x.Value()) })
}

// Gauge is a value that goes up and down.
type Gauge struct{ v atomic.Int64 }

// Add adds n (which may be negative).
func (g *Gauge) Add(n int64) { g.v.Add(n) }

// Set sets the value.
func (g *Gauge) Set(n int64) { g.v.Store(n) }

// Value returns the value.
func (g *Gauge) Value() int64 { return g.v.Load() }

// GaugeVec is a gauge family.
type GaugeVec struct{ vec[Gauge] }

// NewGauge registers a gauge family.
func (r *Registry) NewGauge(name, help string, labels ...string) *GaugeVec {
	g := &GaugeVec{vec[Gauge]{name: name, help: help, kind: "gauge", labels: labels,
		newChild: func() *Gauge { return new(Gauge) }}}
	r.add(g)
	return g
}

// With returns the gauge for the label values.
func (g *GaugeVec) With(values ...string) *Gauge { return g.with(values...) }

func (g *GaugeVec) write(w io.Writer) {
	g.header(w)
	g.each(func(k string, x *Gauge) { fmt.Fprintf(w, "%s%s %d\n", g.name, g.labelString(k, ""), x.Value()) })
}

// GaugeFunc is a gauge read from a function at scrape time.
type gaugeFunc struct {
	name, help string
	f          func() float64
}

// NewGaugeFunc registers a gauge whose value f computes at scrape time.
func (r *Registry) NewGaugeFunc(name, help string, f func() float64) {
	r.add(&gaugeFunc{name: name, help: help, f: f})
}

func (g *gaugeFunc) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", g.name, g.help, g.name, g.name, g.f())
}

// Histogram counts observations in cumulative buckets.
type Histogram struct {
	bounds []float64
	counts []atomic.Uint64
	sum    atomic.Uint64 // float64 bits
	count  atomic.Uint64
}

// Observe records one value.
func (h *Histogram) Observe(x float64) {
	for i, b := range h.bounds {
		if x <= b {
			h.counts[i].Add(1)
			break
		}
	}
	h.count.Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+x)) {
			return
		}
	}
}

// ObserveDuration records d in seconds.
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(d.Seconds()) }

// HistogramVec is a histogram family.
type HistogramVec struct{ vec[Histogram] }

// DefaultBuckets suit latencies from 100µs to 10s.
var DefaultBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}

// NewHistogram registers a histogram family.
func (r *Registry) NewHistogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	h := &HistogramVec{vec[Histogram]{name: name, help: help, kind: "histogram", labels: labels,
		newChild: func() *Histogram {
			return &Histogram{bounds: buckets, counts: make([]atomic.Uint64, len(buckets))}
		}}}
	r.add(h)
	return h
}

// With returns the histogram for the label values.
func (h *HistogramVec) With(values ...string) *Histogram { return h.with(values...) }

func (h *HistogramVec) write(w io.Writer) {
	h.header(w)
	h.each(func(key string, x *Histogram) {
		var cum uint64
		for i, b := range x.bounds {
			cum += x.counts[i].Load()
			fmt.Fprintf(w, "%s_bucket%s %d\n", h.name, h.labelString(key, fmt.Sprintf("le=%q", fmt.Sprint(b))), cum)
		}
		fmt.Fprintf(w, "%s_bucket%s %d\n", h.name, h.labelString(key, `le="+Inf"`), x.count.Load())
		fmt.Fprintf(w, "%s_sum%s %g\n", h.name, h.labelString(key, ""), math.Float64frombits(x.sum.Load()))
		fmt.Fprintf(w, "%s_count%s %d\n", h.name, h.labelString(key, ""), x.count.Load())
	})
}
