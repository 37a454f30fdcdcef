package e2e

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rss returns the resident set size of the server process, from
// /proc/PID/status.
func (s *Server) rss(t *testing.T) int64 {
	t.Helper()
	r, err := s.readRSS()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readRSS is rss for a goroutine other than the test's, which may not
// end the test.
func (s *Server) readRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

const mib = 1 << 20

// memoryBound is how far above its baseline the server's RSS may stay
// once a flood is over.
const memoryBound = 64 * mib

// settle waits until the server's RSS is back under baseline+bound, and
// returns the last reading.
func (s *Server) settle(t *testing.T, baseline int64) int64 {
	t.Helper()
	// A pause for the connections to close and the runtime's
	// background scavenger to return what it can.
	time.Sleep(2 * time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := s.rss(t)
		if r < baseline+memoryBound || time.Now().After(deadline) {
			return r
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// watchPeak samples the server's RSS until stop is closed and returns the
// highest reading. It stops early, keeping what it read, if the server
// is gone.
func (s *Server) watchPeak(stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		for {
			r, err := s.readRSS()
			if err != nil {
				out <- peak
				return
			}
			peak = max(peak, r)
			select {
			case <-stop:
				out <- peak
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return out
}

// tlsLogin logs a client in over STARTTLS with PLAIN and binds a
// resource, from the loopback address 127.0.0.n; it returns the
// connection, with everything up to the bind result read.
func tlsLogin(addr string, n int, user, pw string) (net.Conn, error) {
	c, err := dialFrom(n, addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	tc, r, err := startTLS(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	auth := "\x00" + user + "\x00" + pw
	if _, err := io.WriteString(tc, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+b64([]byte(auth))+"</auth>"); err != nil {
		c.Close()
		return nil, err
	}
	if err := readUntil(r, "<success"); err != nil {
		c.Close()
		return nil, fmt.Errorf("auth: %w", err)
	}
	if _, err := io.WriteString(tc, streamHeader+"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"); err != nil {
		c.Close()
		return nil, err
	}
	if err := readUntil(r, "</iq>"); err != nil {
		c.Close()
		return nil, fmt.Errorf("bind: %w", err)
	}
	_ = tc.SetDeadline(time.Time{})
	return &bufConn{tc, r}, nil
}

// bufConn reads through the bufio.Reader that negotiation used.
type bufConn struct {
	*tls.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// TestMemoryBoundedUnderFloods measures the server's resident memory
// before and after floods: big stanzas near the limit from many
// connections, a message flood at a client that does not read, many
// unauthenticated connections, and roster pushes to many resources.
// Once each flood is over, the memory must come back near the baseline.
// The client that did not read gets what its queue could not hold from
// offline storage.
func TestMemoryBoundedUnderFloods(t *testing.T) {
	s := StartServer(t, Options{LogLevel: "info", Limits: `max_stanza_bytes = 262144
read_rate = 4194304
read_burst = 4194304
unauth_per_ip = 20
unauth_total = 2000
stanza_rate = 10000
auth_failures_per_ip = 100000`})
	const pw = "pw-flood"
	users := []string{"f0", "f1", "f2", "f3", "slow", "pusher"}
	for _, u := range users {
		s.AddUser(u, pw)
	}
	// Warm up: one login, so that the baseline includes what any use
	// of the server allocates once.
	c, err := tlsLogin(s.C2S, 1, "f0", pw)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	time.Sleep(time.Second)
	baseline := s.rss(t)
	baseG := goroutines(t, s.Admin)
	t.Logf("baseline RSS %.1f MiB, %d goroutines", float64(baseline)/mib, baseG)

	flood := func(name string, run func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			stop := make(chan struct{})
			peak := s.watchPeak(stop)
			start := time.Now()
			func() {
				defer close(stop) // a flood that fails stops the sampling too
				run(t)
			}()
			p := <-peak
			after := s.settle(t, baseline)
			t.Logf("%s: %.1fs, peak RSS %.1f MiB, after %.1f MiB (baseline %.1f MiB)", name, time.Since(start).Seconds(),
				float64(p)/mib, float64(after)/mib, float64(baseline)/mib)
			// Every connection's goroutines are gone.
			g := goroutines(t, s.Admin)
			for deadline := time.Now().Add(20 * time.Second); g > baseG+5 && time.Now().Before(deadline); {
				time.Sleep(200 * time.Millisecond)
				g = goroutines(t, s.Admin)
			}
			if g > baseG+5 {
				t.Errorf("%d goroutines after the flood, %d before", g, baseG)
			}
			if after >= baseline+memoryBound {
				t.Errorf("RSS stays at %.1f MiB after the flood, more than %d MiB above the baseline of %.1f MiB",
					float64(after)/mib, memoryBound/mib, float64(baseline)/mib)
			}
		})
	}

	flood("big stanzas", func(t *testing.T) {
		// 40 sessions (4 accounts, 10 each) send 5 stanzas of 250 KB.
		big := "<iq type='set' id='big'><query xmlns='urn:example:flood'>" + strings.Repeat("x", 250<<10) + "</query></iq>"
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := tlsLogin(s.C2S, 10+i%10, fmt.Sprintf("f%d", i%4), pw)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				go io.Copy(io.Discard, c)
				for range 5 {
					if _, err := io.WriteString(c, big); err != nil {
						t.Error(err)
						return
					}
				}
				time.Sleep(500 * time.Millisecond)
			}()
		}
		wg.Wait()
	})

	flood("slow reader", func(t *testing.T) {
		slow, err := tlsLogin(s.C2S, 2, "slow", pw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(slow, "<presence/>"); err != nil {
			t.Fatal(err)
		}
		// It reads nothing more; 4 senders send it messages of 8 KB, in
		// rounds of 50 each, until the server ends its stream: how much
		// that takes depends on the kernel's socket buffers, which hold
		// several MB on loopback before the server's queue
		// (out_queue_bytes, 1 MiB) even starts to fill.
		body := strings.Repeat("y", 8<<10)
		const perRound, maxRounds = 50, 15
		var senders []net.Conn
		var pongs []chan error
		for i := range 4 {
			c, err := tlsLogin(s.C2S, 20+i, fmt.Sprintf("f%d", i), pw)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			pong := make(chan error, maxRounds)
			go func() {
				r := bufio.NewReader(c)
				for {
					err := awaitTail(r, "id='flooded'")
					pong <- err
					if err != nil {
						return
					}
				}
			}()
			senders, pongs = append(senders, c), append(pongs, pong)
		}
		violations := func() int {
			return int(metric(t, s.Admin, `samtal_c2s_stream_errors_total{condition="policy-violation"}`))
		}
		offlinePushes := func() int {
			return int(metric(t, s.Admin, `samtal_storage_seconds_count{op="offline.push"}`))
		}
		before, pushedBefore := violations(), offlinePushes()
		start := time.Now()
		total, rounds := 0, 0
		for rounds < maxRounds && violations() == before {
			var wg sync.WaitGroup
			for i, c := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range perRound {
						m := fmt.Sprintf("<message to='slow@localhost' type='chat'><body>flood %d-%d %s</body></message>", i, rounds*perRound+j, body)
						if _, err := io.WriteString(c, m); err != nil {
							t.Error(err)
							return
						}
					}
					// A session handles its stanzas in order: once the
					// server answers this ping, it has routed every
					// message before it. Waiting for a fixed time
					// instead raced with the archive, which writes each
					// message twice (sender's and recipient's) before it
					// goes on, so that the server routed the flood well
					// after the senders were done writing.
					if _, err := io.WriteString(c, "<iq type='get' id='flooded'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
						t.Error(err)
						return
					}
					select {
					case err := <-pongs[i]:
						if err != nil {
							t.Errorf("sender %d: %v", i, err)
						}
					case <-time.After(2 * time.Minute):
						t.Errorf("sender %d: no answer to its ping within two minutes", i)
					}
				}()
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			rounds++
			total += len(senders) * perRound
		}
		t.Logf("the server routed %d messages (%.1f MB) in %.1fs", total, float64(total*len(body))/1e6, time.Since(start).Seconds())
		// The server ended the slow reader's stream.
		got, closed := readAll(slow, 20*time.Second)
		slow.Close()
		if !closed || !strings.Contains(string(got), "policy-violation") {
			t.Errorf("the slow reader's stream did not end with policy-violation (read %d bytes, closed %v)", len(got), closed)
		}
		// Every message it did not read goes to offline storage, as it
		// has no other resource: those its session held when it ended
		// are handed back then, and those that came after it ended went
		// there directly (when the queue overflows while the kernel
		// still takes bytes, the writer sends the stream error and
		// closes at once, and the session ends while the senders are
		// still at it). Wait for all of them, so that the login below
		// does not race with the last ones.
		read := floodBodies(got)
		want := total - len(read)
		if err := poll(time.Minute, func() error {
			if n := offlinePushes() - pushedBefore; n < want {
				return fmt.Errorf("%d messages in offline storage, want %d", n, want)
			}
			return nil
		}); err != nil {
			t.Fatalf("a minute after the stream ended: %v (%d handed back)", err,
				int(metric(t, s.Admin, `samtal_c2s_undelivered_total{kind="message"}`)))
		}
		// Offline delivery goes at the pace the client reads: one login
		// gets the whole backlog, larger than the out-queue as it is,
		// and its stream does not end.
		ended := violations()
		seen := collectBodies(t, s, "slow", pw, "flood ", total-len(read))
		if n := violations(); n != ended {
			t.Errorf("the login that got the backlog from offline storage ended with policy-violation too (%d streams)", n-ended)
		}
		t.Logf("the slow reader read %d messages before its stream ended and finds %d in offline storage", len(read), len(seen))
		if len(seen) == 0 {
			t.Error("none of the messages its queue could not hold went to offline storage")
		}
		if len(read)+len(seen) != total {
			t.Errorf("%d messages read and %d from offline storage, want %d in all", len(read), len(seen), total)
		}
		for b, n := range seen {
			if n != 1 {
				t.Errorf("%.20q arrived %d times", b, n)
			}
			if read[floodID(b)] {
				t.Errorf("%.20q arrived on the stream and again from offline storage", b)
			}
		}
	})

	flood("unauthenticated connections", func(t *testing.T) {
		// 1,500 connections from 75 addresses that send a stream header
		// and then nothing, held for a while.
		var mu sync.Mutex
		var conns []net.Conn
		var wg sync.WaitGroup
		for ip := range 75 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					c, err := dialFrom(100+ip, s.C2S)
					if err != nil {
						return
					}
					_, _ = io.WriteString(c, streamHeader)
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		time.Sleep(2 * time.Second)
		t.Logf("%d connections open", len(conns))
		if len(conns) < 1400 {
			t.Errorf("only %d connections could be opened", len(conns))
		}
		for _, c := range conns {
			c.Close()
		}
	})

	flood("roster pushes", func(t *testing.T) {
		// 10 resources of one account; one of them adds 500 contacts
		// and removes them again: 10,000 pushes.
		var conns []net.Conn
		for i := range 10 {
			c, err := tlsLogin(s.C2S, 30, "pusher", pw)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			if i > 0 {
				go io.Copy(io.Discard, c)
			}
		}
		c := conns[0]
		_, _ = io.WriteString(c, "<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>")
		done := make(chan error, 1)
		go func() {
			// Count the results of the sets.
			r := bufio.NewReader(c)
			n := 0
			for n < 1000 {
				line, err := r.ReadString('>')
				if err != nil {
					done <- err
					return
				}
				if strings.Contains(line, "type='result'") && strings.Contains(line, "id='s") {
					n++
				}
			}
			done <- nil
		}()
		for i := range 500 {
			fmt.Fprintf(c, "<iq type='set' id='s%d'><query xmlns='jabber:iq:roster'><item jid='contact%d@example.net' name='Contact %d'><group>Flood</group></item></query></iq>", i, i, i)
		}
		for i := range 500 {
			fmt.Fprintf(c, "<iq type='set' id='s-%d'><query xmlns='jabber:iq:roster'><item jid='contact%d@example.net' subscription='remove'/></query></iq>", i, i)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("roster sets: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("the roster sets were not all answered within a minute")
		}
		for _, c := range conns {
			c.Close()
		}
	})
}

// awaitTail reads r until s has passed, keeping only the last bytes
// read: what comes before may be large.
func awaitTail(br *bufio.Reader, s string) error {
	tail := make([]byte, 0, 2*len(s))
	for {
		b, err := br.ReadByte()
		if err != nil {
			return fmt.Errorf("waiting for %q: %w", s, err)
		}
		if len(tail) == cap(tail) {
			tail = append(tail[:0], tail[len(tail)-len(s)+1:]...)
		}
		tail = append(tail, b)
		if strings.HasSuffix(string(tail), s) {
			return nil
		}
	}
}

// floodID returns the "flood i-j" that starts a flood message's body.
func floodID(body string) string {
	id, _, _ := strings.Cut(body, " y")
	return id
}

// floodBodies returns the flood messages whose whole body is in a raw
// stream.
func floodBodies(raw []byte) map[string]bool {
	ids := map[string]bool{}
	for _, part := range strings.Split(string(raw), "<body>")[1:] {
		if b, _, ok := strings.Cut(part, "</body>"); ok {
			ids[floodID(b)] = true
		}
	}
	return ids
}
