package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"samtal.org/samtal/internal/xmlstream"
)

// Offline delivery of a backlog far larger than a session's out-queue
// (out_queue_bytes, 1 MiB by default) to a client on a slow link: the
// server sends it at the pace the client reads, so that the client gets
// all of it in one session, instead of losing its stream with
// policy-violation and getting a little more at each login.

const (
	backlogCount = 5000
	backlogPad   = 1000 // bytes of padding in each body: about 1 KiB per message
)

// backlogLimits lets one sender store the backlog quickly.
const backlogLimits = `offline_messages = 20000
read_rate = 8388608
read_burst = 8388608
stanza_rate = 100000`

// backlogSenders is how many accounts send the backlog at once: the
// store commits their messages together, which is much quicker than one
// after the other. Message i comes from sender i mod backlogSenders.
const backlogSenders = 4

// storeBacklog sends n messages of about 1 KiB to user, who is offline,
// from the accounts sender0, sender1, ..., and returns once the server
// has handled (stored) them. Bodies are "backlog NNNN yyy...".
func storeBacklog(t *testing.T, s *Server, pw, user string, n int) {
	t.Helper()
	pad := strings.Repeat("y", backlogPad)
	var wg sync.WaitGroup
	for k := range backlogSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tlsLogin(s.C2S, 3+k, fmt.Sprintf("sender%d", k), pw)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			w := bufio.NewWriterSize(c, 64<<10)
			for i := k; i < n; i += backlogSenders {
				fmt.Fprintf(w, "<message to='%s@localhost' type='chat' id='b%d'><body>backlog %04d %s</body></message>", user, i, i, pad)
			}
			// A session handles its stanzas in order: the answer to
			// this ping comes once every message before it is stored.
			io.WriteString(w, "<iq type='get' id='stored'><ping xmlns='urn:xmpp:ping'/></iq>")
			if err := w.Flush(); err != nil {
				t.Error(err)
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
			if err := awaitTail(bufio.NewReader(c), "id='stored'"); err != nil {
				t.Errorf("storing the backlog: %v", err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// backlogOrder checks the backlog as a client receives it: each message
// once, and each sender's in the order it sent them.
type backlogOrder struct {
	seen map[int]bool
	last [backlogSenders]int
}

func newBacklogOrder() *backlogOrder {
	o := &backlogOrder{seen: map[int]bool{}}
	for k := range o.last {
		o.last[k] = k - backlogSenders
	}
	return o
}

// add records the message with body b, or says what is wrong with it.
func (o *backlogOrder) add(b string) error {
	f := strings.Fields(b)
	if len(f) < 2 {
		return fmt.Errorf("%.20q is not a backlog message", b)
	}
	i, err := strconv.Atoi(f[1])
	if err != nil || i < 0 {
		return fmt.Errorf("%.20q is not a backlog message", b)
	}
	if o.seen[i] {
		return fmt.Errorf("message %d arrived twice", i)
	}
	if k := i % backlogSenders; i != o.last[k]+backlogSenders {
		return fmt.Errorf("message %d after %d from the same sender: want each once, in order", i, o.last[k])
	}
	o.seen[i] = true
	o.last[i%backlogSenders] = i
	return nil
}

// slowConn is a client's TCP connection that, once slow is set, reads at
// most rate bytes a second, in small reads, as over a slow link.
type slowConn struct {
	net.Conn
	slow atomic.Bool
	rate int
}

func (c *slowConn) Read(b []byte) (int, error) {
	if !c.slow.Load() {
		return c.Conn.Read(b)
	}
	n, err := c.Conn.Read(b[:min(len(b), 4096)])
	time.Sleep(time.Duration(n) * time.Second / time.Duration(c.rate))
	return n, err
}

// dialSlow connects with a small receive buffer, so that the kernel
// holds little of what the server sends beyond what the client read.
func dialSlow(t *testing.T, addr string, rate int) (*raw, *slowConn) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sc := &slowConn{Conn: c, rate: rate}
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, conn: sc, r: xmlstream.NewReader(sc, xmlstream.Limits{})}, sc
}

func policyViolations(t *testing.T, s *Server) float64 {
	return metric(t, s.Admin, `samtal_c2s_stream_errors_total{condition="policy-violation"}`)
}

// TestOfflineBacklogSlowReader stores 5,000 messages of about 1 KiB
// (about 6 MB on the wire, six times out_queue_bytes) for a user, who
// then logs in once, without stream management, on a connection with a
// small receive buffer that reads 2 MB/s: every message arrives once and
// in order in that one session, its stream never ends, and no stream of
// the server ends with policy-violation. A second login finds nothing
// left. Then slixmpp, with stream management, does the same on a
// throttled link.
func TestOfflineBacklogSlowReader(t *testing.T) {
	s := StartServer(t, Options{LogLevel: "info", Top: "sasl_channel_binding = false", Limits: backlogLimits})
	const pw = "pw-backlog"
	for _, u := range []string{"slow", "slix"} {
		s.AddUser(u, pw)
	}
	for k := range backlogSenders {
		s.AddUser(fmt.Sprintf("sender%d", k), pw)
	}
	before := policyViolations(t, s)

	t.Run("raw", func(t *testing.T) {
		start := time.Now()
		storeBacklog(t, s, pw, "slow", backlogCount)
		t.Logf("stored %d messages in %.1fs", backlogCount, time.Since(start).Seconds())

		c, sc := dialSlow(t, s.C2S, 2<<20)
		c.login("localhost", "slow", pw)
		start = time.Now()
		sc.slow.Store(true)
		c.send("<presence/>")
		order := newBacklogOrder()
		next, wire := 0, 0
		for next < backlogCount {
			el, err := c.r.Next()
			if err != nil {
				t.Fatalf("after %d of %d messages: %v", next, backlogCount, err)
			}
			if el.Is(xStream, "error") {
				t.Fatalf("after %d of %d messages the stream ended: %v", next, backlogCount, el)
			}
			b := el.ChildText("", "body")
			if !strings.HasPrefix(b, "backlog ") {
				continue
			}
			wire += len(el.String())
			if err := order.add(b); err != nil {
				t.Fatalf("after %d messages: %v", next, err)
			}
			next++
		}
		took := time.Since(start)
		t.Logf("one login got all %d messages (%.1f MB) in %.1fs, %.1f MB/s", backlogCount, float64(wire)/1e6, took.Seconds(), float64(wire)/1e6/took.Seconds())
		// Nothing more: no copy of any.
		_ = c.conn.SetReadDeadline(time.Now().Add(time.Second))
		for {
			el, err := c.r.Next()
			if err != nil {
				break
			}
			if b := el.ChildText("", "body"); strings.HasPrefix(b, "backlog ") {
				t.Fatalf("after the backlog, again: %.20q", b)
			}
		}
		_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
		c.send("</stream:stream>")
		if got := collectBodies(t, s, "slow", pw, "backlog ", 0); len(got) != 0 {
			t.Errorf("the next login got %d more of the backlog", len(got))
		}
		if n := policyViolations(t, s); n != before {
			t.Errorf("%v streams ended with policy-violation", n-before)
		}
	})

	t.Run("slixmpp", func(t *testing.T) {
		storeBacklog(t, s, pw, "slix", backlogCount)
		s.SlixWith(t, []string{"--count", strconv.Itoa(backlogCount), "--senders", strconv.Itoa(backlogSenders)}, "offline_backlog", pw, "slix")
		if n := policyViolations(t, s); n != before {
			t.Errorf("%v streams ended with policy-violation", n-before)
		}
	})
}
