package bytestreams

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// testProxy runs a proxy for example.org whose answers land in the
// returned channel.
func testProxy(t testing.TB, cfg Config) (*Proxy, chan *stanza.Stanza) {
	t.Helper()
	out := make(chan *stanza.Stanza, 10)
	r := router.New([]string{"example.org"})
	r.SetLocal(router.HandlerFunc(func(_ context.Context, st *stanza.Stanza) { out <- st }))
	r.SetRemote(router.HandlerFunc(func(_ context.Context, st *stanza.Stanza) { out <- st }))
	cfg.Listen = []string{"127.0.0.1:0"}
	if cfg.Rate == 0 {
		cfg.Rate = 10 << 20
	}
	if cfg.MaxDuration == 0 {
		cfg.MaxDuration = time.Minute
	}
	if cfg.StreamsPerUser == 0 {
		cfg.StreamsPerUser = 5
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = 10
	}
	p, err := New(cfg, r, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.AddDomain(Domain("example.org"), p)
	t.Cleanup(p.Close)
	return p, out
}

// request sends an iq to the proxy and returns the answer.
func request(t testing.TB, p *Proxy, out chan *stanza.Stanza, from, typ, payload string) *xmlel.Element {
	t.Helper()
	el, err := xmlstream.Parse([]byte("<iq type='"+typ+"' id='r1' from='"+from+"' to='proxy.example.org'>"+payload+"</iq>"), xmlstream.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	p.Handle(context.Background(), &stanza.Stanza{El: el, From: jid.MustParse(from), To: jid.MustParse("proxy.example.org")})
	select {
	case st := <-out:
		if st.To.String() != from {
			t.Fatalf("answer to %v, want %s", st.To, from)
		}
		return st.El
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
		return nil
	}
}

func condition(el *xmlel.Element) string {
	if el.Attr("type") != "error" {
		return ""
	}
	for _, c := range el.Child("", "error").Elements() {
		if c.Space == stanza.NSStanzas {
			return c.Local
		}
	}
	return "?"
}

// socks opens a SOCKS5 connection to the proxy for a destination and
// returns it with the reply code.
func socks(t testing.TB, p *Proxy, dst string) (net.Conn, byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addrs()[0].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte{5, 1, 0})
	var m [2]byte
	if _, err := io.ReadFull(c, m[:]); err != nil || m != [2]byte{5, 0} {
		t.Fatalf("method reply %v, %v", m, err)
	}
	req := append([]byte{5, 1, 0, 3, byte(len(dst))}, dst...)
	c.Write(append(req, 0, 0))
	rep := make([]byte, 5+len(dst)+2)
	if _, err := io.ReadFull(c, rep[:2]); err != nil {
		t.Fatalf("reply: %v", err)
	}
	if rep[1] == 0 {
		if _, err := io.ReadFull(c, rep[2:]); err != nil {
			t.Fatalf("reply: %v", err)
		}
		if !bytes.Equal(rep[5:5+len(dst)], []byte(dst)) {
			t.Errorf("bound address %q, want %q", rep[5:5+len(dst)], dst)
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, rep[1]
}

const (
	initiator = "romeo@example.org/orchard"
	target    = "juliet@example.org/balcony"
)

func activate(t testing.TB, p *Proxy, out chan *stanza.Stanza, from, sid, to string) *xmlel.Element {
	t.Helper()
	return request(t, p, out, from, "set", "<query xmlns='http://jabber.org/protocol/bytestreams' sid='"+sid+"'><activate>"+to+"</activate></query>")
}

func TestDiscovery(t *testing.T) {
	p, out := testProxy(t, Config{})
	res := request(t, p, out, initiator, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	id := res.Child(stanza.NSDiscoInfo, "query").Child(stanza.NSDiscoInfo, "identity")
	if id == nil || id.Attr("category") != "proxy" || id.Attr("type") != "bytestreams" {
		t.Errorf("disco#info = %v, want the proxy/bytestreams identity", res)
	}
	res = request(t, p, out, initiator, "get", "<query xmlns='http://jabber.org/protocol/bytestreams'/>")
	sh := res.Child(NS, "query").Child(NS, "streamhost")
	if sh == nil || sh.Attr("jid") != "proxy.example.org" || sh.Attr("host") != "127.0.0.1" || sh.Attr("port") != strconv.Itoa(p.Addrs()[0].(*net.TCPAddr).Port) {
		t.Errorf("streamhost = %v", res)
	}
	res = request(t, p, out, "mallory@elsewhere.example/x", "get", "<query xmlns='http://jabber.org/protocol/bytestreams'/>")
	if condition(res) != "forbidden" {
		t.Errorf("streamhost for a remote user = %v, want forbidden", res)
	}
	res = request(t, p, out, initiator, "get", "<vCard xmlns='vcard-temp'/>")
	if condition(res) != "service-unavailable" {
		t.Errorf("unknown request = %v, want service-unavailable", res)
	}
}

func TestStream(t *testing.T) {
	p, out := testProxy(t, Config{})
	hash := Hash("s1", jid.MustParse(initiator), jid.MustParse(target))
	tc, rep := socks(t, p, hash)
	if rep != 0 {
		t.Fatalf("target connect: reply %d", rep)
	}
	// Activation with only the target connected is not allowed (§5.3.3).
	if c := condition(activate(t, p, out, initiator, "s1", target)); c != "not-allowed" {
		t.Errorf("activation with one side: %s, want not-allowed", c)
	}
	ic, rep := socks(t, p, hash)
	if rep != 0 {
		t.Fatalf("initiator connect: reply %d", rep)
	}
	// A third connection to the same stream is refused: no multicast.
	if _, rep := socks(t, p, hash); rep != repNotAllowed {
		t.Errorf("third connection: reply %d, want %d", rep, repNotAllowed)
	}
	// Bytes sent before activation wait (§7: ignored, not dropped).
	ic.Write([]byte("early "))
	// Only the initiator can activate: anyone else's JID makes another
	// hash.
	if c := condition(activate(t, p, out, "mallory@example.org/x", "s1", target)); c != "item-not-found" {
		t.Errorf("activation by another user: %s, want item-not-found", c)
	}
	if res := activate(t, p, out, initiator, "s1", target); res.Attr("type") != "result" {
		t.Fatalf("activation: %v", res)
	}
	data := bytes.Repeat([]byte("0123456789"), 10000)
	go func() {
		ic.Write(data)
		ic.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(tc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append([]byte("early "), data...)) {
		t.Errorf("target got %d bytes, want %d", len(got), len(data)+6)
	}
	// The other way round, and the end.
	tc.Write([]byte("thanks"))
	tc.(*net.TCPConn).CloseWrite()
	back, err := io.ReadAll(ic)
	if err != nil || string(back) != "thanks" {
		t.Errorf("initiator got %q, %v", back, err)
	}
	// A second activation of a stream that ran finds nothing.
	if c := condition(activate(t, p, out, initiator, "s1", target)); c != "item-not-found" {
		t.Errorf("second activation: %s, want item-not-found", c)
	}
}

func TestRefusedConnections(t *testing.T) {
	p, _ := testProxy(t, Config{})
	for _, dst := range []string{"example.org", "zz" + Hash("s", jid.MustParse(initiator), jid.MustParse(target))[2:]} {
		if _, rep := socks(t, p, dst); rep != repNotAllowed {
			t.Errorf("destination %q: reply %d, want %d", dst, rep, repNotAllowed)
		}
	}
	// A client that offers only authentication methods is refused.
	c, err := net.Dial("tcp", p.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{5, 1, 2})
	var m [2]byte
	if _, err := io.ReadFull(c, m[:]); err != nil || m != [2]byte{5, 0xff} {
		t.Errorf("method reply %v, %v, want 05 ff", m, err)
	}
}

func TestLimits(t *testing.T) {
	p, out := testProxy(t, Config{Rate: 100_000, MaxDuration: 3 * time.Second, WaitTimeout: 300 * time.Millisecond, StreamsPerUser: 1})
	// A connection whose stream is never activated is closed.
	lone, _ := socks(t, p, Hash("lone", jid.MustParse(initiator), jid.MustParse(target)))
	_ = lone.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := lone.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("unactivated connection read: %v, want EOF after the wait timeout", err)
	}

	open := func(sid string) (net.Conn, net.Conn) {
		h := Hash(sid, jid.MustParse(initiator), jid.MustParse(target))
		tc, _ := socks(t, p, h)
		ic, _ := socks(t, p, h)
		return tc, ic
	}
	tc, ic := open("s1")
	if res := activate(t, p, out, initiator, "s1", target); res.Attr("type") != "result" {
		t.Fatalf("activation: %v", res)
	}
	// One stream per user here: a second waits its turn.
	open("s2")
	if c := condition(activate(t, p, out, initiator, "s2", target)); c != "resource-constraint" {
		t.Errorf("second stream of a user with a quota of 1: %s, want resource-constraint", c)
	}
	// 250 kB at 100 kB/s (a burst of 100 kB) take at least 1.5 s.
	start := time.Now()
	go ic.Write(make([]byte, 250_000))
	n, _ := io.ReadFull(tc, make([]byte, 250_000))
	if n != 250_000 {
		t.Fatalf("target got %d bytes", n)
	}
	if d := time.Since(start); d < 1400*time.Millisecond {
		t.Errorf("250 kB arrived in %v at 100 kB/s", d)
	}
	// The stream ends at max_duration even while both sides hold it.
	_ = tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := tc.Read(make([]byte, 1)); err == nil {
		t.Error("stream outlived max_duration")
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("stream lasted %v with max_duration 3s", d)
	}
}
