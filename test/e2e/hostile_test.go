package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The hostile tests use several loopback source addresses, so that the
// per-IP limits do not simply refuse the load, and a short auth_timeout.
const (
	hostileAuthTimeout = 3 * time.Second
	hostileLimits      = `auth_timeout = "3s"
unauth_per_ip = 6
auth_failures_per_ip = 1000
max_stanza_bytes = 65536`
	streamHeader = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
)

// dialFrom connects to addr from a loopback source address 127.0.0.n.
func dialFrom(n int, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(n))}}
	return d.Dial("tcp", addr)
}

// metric reads one sample from the admin endpoint's /metrics, 0 when it
// is not there; name includes the labels as the exposition writes them.
func metric(t *testing.T, admin, name string) float64 {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s %q: %v", name, v, err)
			}
			return f
		}
	}
	return 0
}

// goroutines reads samtal_goroutines from the admin endpoint.
func goroutines(t *testing.T, admin string) int {
	t.Helper()
	n := int(metric(t, admin, "samtal_goroutines"))
	if n == 0 {
		t.Fatal("no samtal_goroutines in /metrics")
	}
	return n
}

// readAll reads what the server sends until it closes the connection, or
// until limit passes; closed reports whether the server closed it.
func readAll(c net.Conn, limit time.Duration) (got []byte, closed bool) {
	_ = c.SetReadDeadline(time.Now().Add(limit))
	var buf bytes.Buffer
	_, err := io.Copy(&buf, c)
	return buf.Bytes(), err == nil || !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// startTLS sends a header, asks for STARTTLS and returns the TLS
// connection with a new header sent and the features read.
func startTLS(c net.Conn) (*tls.Conn, *bufio.Reader, error) {
	if _, err := io.WriteString(c, streamHeader+"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
		return nil, nil, err
	}
	if err := readUntil(bufio.NewReader(c), "<proceed"); err != nil {
		return nil, nil, err
	}
	tc := tls.Client(c, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		return nil, nil, err
	}
	if _, err := io.WriteString(tc, streamHeader); err != nil {
		return nil, nil, err
	}
	r := bufio.NewReader(tc)
	return tc, r, readUntil(r, "</stream:features>")
}

// readUntil reads until s has been seen.
func readUntil(r *bufio.Reader, s string) error {
	var seen []byte
	for !bytes.Contains(seen, []byte(s)) {
		b, err := r.ReadByte()
		if err != nil {
			return fmt.Errorf("waiting for %q after %q: %w", s, seen, err)
		}
		seen = append(seen, b)
	}
	return nil
}

// hostile is one kind of bad connection; it returns an error when the
// server did not answer it as it should.
type hostile struct {
	name string
	run  func(c net.Conn) error
}

var hostiles = []hostile{
	{"connect and close", func(c net.Conn) error { return nil }},
	{"garbage", func(c net.Conn) error {
		b := make([]byte, 512)
		_, _ = rand.Read(b)
		_, _ = c.Write(b)
		if _, closed := readAll(c, 5*time.Second); !closed {
			return fmt.Errorf("garbage: connection still open")
		}
		return nil
	}},
	{"half a header", func(c net.Conn) error {
		_, _ = io.WriteString(c, streamHeader[:60])
		start := time.Now()
		got, closed := readAll(c, hostileAuthTimeout+4*time.Second)
		if !closed {
			return fmt.Errorf("half header: still open after %v", time.Since(start))
		}
		if !bytes.Contains(got, []byte("connection-timeout")) {
			return fmt.Errorf("half header: got %q, want connection-timeout", got)
		}
		return nil
	}},
	{"oversized stanza", func(c net.Conn) error {
		_, _ = io.WriteString(c, streamHeader+"<message><body>"+strings.Repeat("x", 70000)+"</body></message>")
		got, _ := readAll(c, 5*time.Second)
		if !bytes.Contains(got, []byte("policy-violation")) {
			return fmt.Errorf("oversized: got %q, want policy-violation", got)
		}
		return nil
	}},
	{"wrong password PLAIN", func(c net.Conn) error {
		tc, r, err := startTLS(c)
		if err != nil {
			return err
		}
		auth := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00wrong"))
		_, _ = io.WriteString(tc, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+auth+"</auth>")
		return readUntil(r, "<not-authorized")
	}},
	{"wrong password SCRAM", func(c net.Conn) error {
		tc, r, err := startTLS(c)
		if err != nil {
			return err
		}
		nonce := base64.RawStdEncoding.EncodeToString([]byte(time.Now().String()))
		first := base64.StdEncoding.EncodeToString([]byte("n,,n=alice,r=" + nonce))
		_, _ = io.WriteString(tc, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>"+first+"</auth>")
		line, err := r.ReadString('>')
		for err == nil && !strings.HasPrefix(line, "<challenge") {
			line, err = r.ReadString('>')
		}
		if err != nil {
			return fmt.Errorf("scram: no challenge: %w", err)
		}
		text, err := r.ReadString('<')
		if err != nil {
			return err
		}
		serverFirst, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(text, "<"))
		if err != nil {
			return fmt.Errorf("scram: challenge %q: %w", text, err)
		}
		var serverNonce string
		for _, f := range strings.Split(string(serverFirst), ",") {
			if v, ok := strings.CutPrefix(f, "r="); ok {
				serverNonce = v
			}
		}
		proof := make([]byte, 32)
		_, _ = rand.Read(proof)
		final := base64.StdEncoding.EncodeToString([]byte("c=biws,r=" + serverNonce + ",p=" + base64.StdEncoding.EncodeToString(proof)))
		_, _ = io.WriteString(tc, "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"+final+"</response>")
		return readUntil(r, "<not-authorized")
	}},
	{"slowloris", func(c net.Conn) error {
		// A byte at a time, faster than any idle timer but far too slow
		// to finish the header in time.
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < len(streamHeader) && time.Since(start) < 3*hostileAuthTimeout; i++ {
				if _, err := c.Write([]byte{streamHeader[i]}); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
		got, closed := readAll(c, 3*hostileAuthTimeout)
		d := time.Since(start)
		c.Close()
		<-done
		if !closed {
			return fmt.Errorf("slowloris: still open after %v", d)
		}
		if d > hostileAuthTimeout+2*time.Second {
			return fmt.Errorf("slowloris: closed only after %v, auth_timeout is %v", d, hostileAuthTimeout)
		}
		if !bytes.Contains(got, []byte("connection-timeout")) {
			return fmt.Errorf("slowloris: got %q, want connection-timeout", got)
		}
		return nil
	}},
}

// TestHostileConnections sends 1,000 bad connections of every kind from
// several source addresses and checks that the server afterwards serves a
// fresh login and that its goroutines return to where they were.
func TestHostileConnections(t *testing.T) {
	s := StartServer(t, Options{Limits: hostileLimits})
	s.AddUser("alice", "secret-a")
	time.Sleep(500 * time.Millisecond)
	before := goroutines(t, s.Admin)

	const (
		total   = 1000
		workers = 24
		sources = 12 // 127.0.0.10 .. 127.0.0.21: two workers per address
	)
	// Weights: the slow kinds are few, so the run stays short.
	kinds := []int{0, 0, 0, 1, 1, 1, 3, 3, 4, 4, 5, 5}
	var (
		next   atomic.Int64
		counts [7]atomic.Int64
		mu     sync.Mutex
		fails  []string
		wg     sync.WaitGroup
	)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := 10 + w%sources
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				k := kinds[i%len(kinds)]
				switch {
				case i%50 == 7:
					k = 2 // half a header: 20 of them
				case i%100 == 42:
					k = 6 // slowloris: 10 of them
				}
				counts[k].Add(1)
				c, err := dialFrom(src, s.C2S)
				if err != nil {
					mu.Lock()
					fails = append(fails, fmt.Sprintf("dial: %v", err))
					mu.Unlock()
					continue
				}
				err = hostiles[k].run(c)
				c.Close()
				if err != nil {
					mu.Lock()
					fails = append(fails, fmt.Sprintf("%s from 127.0.0.%d: %v", hostiles[k].name, src, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for k, h := range hostiles {
		t.Logf("%-22s %4d", h.name, counts[k].Load())
	}
	t.Logf("%d hostile connections in %v", total, elapsed.Round(time.Millisecond))
	if len(fails) > 0 {
		if len(fails) > 10 {
			fails = append(fails[:10], fmt.Sprintf("... and %d more", len(fails)-10))
		}
		t.Errorf("%d connections were not answered as they should:\n%s", len(fails), strings.Join(fails, "\n"))
	}

	// A fresh login works, from an address that was busy.
	c := dialRaw(t, s.C2S)
	c.login("localhost", "alice", "secret-a")
	c.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	if el := c.next(); el.Attr("type") != "result" || el.Attr("id") != "p1" {
		t.Errorf("ping after the storm: %v", el)
	}
	c.conn.Close()

	// Goroutines come back to where they were within a few seconds.
	deadline := time.Now().Add(5 * time.Second)
	after := goroutines(t, s.Admin)
	for after > before+2 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		after = goroutines(t, s.Admin)
	}
	t.Logf("goroutines: %d before, %d after", before, after)
	if after > before+2 {
		t.Errorf("goroutines: %d before, %d five seconds after the storm", before, after)
	}
}

// Connections beyond unauth_per_ip from one address get a stream header
// and a policy-violation stream error; other addresses are not affected,
// and the slots come back when the connections go.
func TestUnauthPerIP(t *testing.T) {
	s := StartServer(t, Options{Limits: hostileLimits})
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 6 {
		c, err := dialFrom(30, s.C2S)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, streamHeader)
		if err := readUntil(bufio.NewReader(c), "</stream:features>"); err != nil {
			t.Fatalf("connection within the limit: %v", err)
		}
		held = append(held, c)
	}
	c, err := dialFrom(30, s.C2S)
	if err != nil {
		t.Fatal(err)
	}
	got, closed := readAll(c, 5*time.Second)
	c.Close()
	if !closed || !bytes.Contains(got, []byte("<stream:stream")) || !bytes.Contains(got, []byte("policy-violation")) {
		t.Errorf("connection over the limit got %q (closed %v), want a header and policy-violation", got, closed)
	}
	other, err := dialFrom(31, s.C2S)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(other, streamHeader)
	if err := readUntil(bufio.NewReader(other), "</stream:features>"); err != nil {
		t.Errorf("another address was refused too: %v", err)
	}
	other.Close()
	for _, c := range held {
		c.Close()
	}
	held = nil
	// The server notices the closes in its own time; give it a few
	// seconds on a busy machine.
	var lastErr error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		c, err := dialFrom(30, s.C2S)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, streamHeader)
		lastErr = readUntil(bufio.NewReader(c), "</stream:features>")
		c.Close()
		if lastErr == nil {
			return
		}
	}
	t.Errorf("after the connections closed, the address is still refused: %v", lastErr)
}

// A connection that opens its stream and then waits is closed with
// connection-timeout after auth_timeout.
func TestAuthTimeout(t *testing.T) {
	s := StartServer(t, Options{Limits: hostileLimits})
	c := dialRaw(t, s.C2S)
	start := time.Now()
	c.open("localhost")
	c.next() // features
	if got := c.streamError(); got != "connection-timeout" {
		t.Errorf("stream error %s, want connection-timeout", got)
	}
	if d := time.Since(start); d < hostileAuthTimeout-500*time.Millisecond || d > hostileAuthTimeout+2*time.Second {
		t.Errorf("closed after %v, auth_timeout is %v", d, hostileAuthTimeout)
	}
}
