package e2e

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClusterThroughput measures one-to-one message throughput through
// one node and through a cluster of three, with the same clients and
// the same PostgreSQL store: pairs of raw-socket clients spread over the
// nodes, each sender sending as fast as the server reads, each receiver
// on another node than its sender (every message crosses nodes) or on
// the same one (the nodes share only the store). It is a
// measurement, not a check: it runs only with SAMTAL_BENCH=1, and
// BENCHMARKS.md has its numbers.
//
//	SAMTAL_BENCH=1 go test ./test/e2e -run TestClusterThroughput -v
func TestClusterThroughput(t *testing.T) {
	if os.Getenv("SAMTAL_BENCH") == "" {
		t.Skip("a measurement: set SAMTAL_BENCH=1")
	}
	const pairs, perSender = 50, 200
	for _, tc := range []struct {
		nodes int
		cross bool
	}{{1, false}, {3, true}, {3, false}} {
		t.Run(fmt.Sprintf("nodes=%d,cross=%v", tc.nodes, tc.cross), func(t *testing.T) {
			rate, fwd := clusterThroughput(t, tc.nodes, tc.cross, pairs, perSender)
			t.Logf("%d node(s), receivers on other nodes %v: %d pairs x %d messages: %.0f messages/s (%.0f forwarded between nodes)",
				tc.nodes, tc.cross, pairs, perSender, rate, fwd)
		})
	}
}

func clusterThroughput(t *testing.T, n int, crossing bool, pairs, perSender int) (rate, cross float64) {
	var nodes []*Server
	if n == 1 {
		nodes = []*Server{StartServer(t, Options{
			Top:    fmt.Sprintf("sasl_channel_binding = false\nstorage = %q", pg.Database(t)),
			Limits: "stanza_rate = 100000\nunauth_per_ip = 1000\nsessions_per_account = 10",
		})}
	} else {
		nodes = startClusterWith(t, n, "stanza_rate = 100000\nunauth_per_ip = 1000")
	}
	const pw = "bench-password"
	for i := range pairs {
		nodes[0].AddUser(fmt.Sprintf("s%d", i), pw)
		nodes[0].AddUser(fmt.Sprintf("r%d", i), pw)
	}
	type pair struct{ s, r *raw }
	ps := make([]pair, pairs)
	for i := range ps {
		sn, rn := nodes[i%n], nodes[i%n]
		if crossing {
			rn = nodes[(i+1)%n]
		}
		ps[i].s = dialRaw(t, sn.C2S)
		ps[i].s.login("localhost", fmt.Sprintf("s%d", i), pw)
		ps[i].r = dialRaw(t, rn.C2S)
		ps[i].r.login("localhost", fmt.Sprintf("r%d", i), pw)
		ps[i].r.send("<presence/>")
		for _, c := range []*raw{ps[i].s, ps[i].r} {
			_ = c.conn.SetDeadline(time.Now().Add(5 * time.Minute))
		}
	}
	time.Sleep(2 * time.Second) // presence and the directory settle

	var got atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 2*pairs)
	start := time.Now()
	for i, p := range ps {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for got := 0; got < perSender; {
				el, err := p.r.r.Next()
				if err != nil {
					errs <- fmt.Errorf("receiver %d after %d: %w", i, got, err)
					return
				}
				if el.Local == "message" && el.ChildText("", "body") != "" {
					got++
				}
			}
			got.Add(int64(perSender))
		}()
		go func() {
			defer wg.Done()
			var b strings.Builder
			for j := range perSender {
				fmt.Fprintf(&b, "<message to='r%d@localhost' type='chat' id='m%d'><body>message %d of a benchmark, of about the size of a short chat line</body></message>", i, j, j)
				if b.Len() > 8192 || j == perSender-1 {
					if _, err := p.s.conn.Write([]byte(b.String())); err != nil {
						errs <- fmt.Errorf("sender %d: %w", i, err)
						return
					}
					b.Reset()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n > 1 {
		for _, s := range nodes {
			cross += metric(t, s.Admin, `samtal_cluster_forwarded_total{kind="deliver"}`)
		}
	}
	return float64(got.Load()) / elapsed.Seconds(), cross
}
