package turn

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	pion "github.com/pion/turn/v5"

	"samtal.org/samtal/internal/certs"
	"samtal.org/samtal/internal/transport"
)

const testSecret = "0123456789abcdef0123456789abcdef"

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// startServer runs a server on loopback with UDP, TCP and TLS listeners.
func startServer(t testing.TB, allow []netip.Prefix, perUser, total int) *Server {
	return startServerRate(t, allow, perUser, total, 1<<20)
}

func startServerRate(t testing.TB, allow []netip.Prefix, perUser, total, rate int) *Server {
	t.Helper()
	certPEM, keyPEM, err := certs.SelfSigned([]string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	relayIP := netip.MustParseAddr("127.0.0.1")
	s, err := Start(Config{
		UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}, TLS: []string{"127.0.0.1:0"},
		TLSConfig:       &tls.Config{Certificates: []tls.Certificate{cert}},
		RelayIP:         relayIP,
		RelayMinPort:    49152,
		RelayMaxPort:    65535,
		Realm:           "localhost",
		Secret:          testSecret,
		UserAllocations: perUser, TotalAllocations: total,
		AllocationRate:   rate,
		ConnectionsPerIP: 20,
		Policy:           NewPolicy(allow, nil, []netip.Addr{relayIP}, 49152, 65535),
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// dial returns a TURN client of the server over network ("udp", "tcp"
// or "tls"), listening.
func dial(t testing.TB, s *Server, network, username, password string) *pion.Client {
	t.Helper()
	var conn net.PacketConn
	var addr string
	switch network {
	case "udp":
		addr = s.UDPAddrs()[0].String()
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	case "tcp":
		addr = s.TCPAddrs()[0].String()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn = pion.NewSTUNConn(c)
	case "tls":
		addr = s.TLSAddrs()[0].String()
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		conn = pion.NewSTUNConn(c)
	}
	cl, err := pion.NewClient(&pion.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: username, Password: password, Realm: "localhost",
		RTO: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Close()
		conn.Close()
	})
	return cl
}

// exchange sends a datagram through relay to a peer and one back, and
// fails the test unless both arrive.
func exchange(t *testing.T, relay net.PacketConn) {
	t.Helper()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	buf := make([]byte, 1500)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	// The first datagram also creates the permission: send until one
	// arrives.
	var n int
	var from net.Addr
	for i := 0; ; i++ {
		if _, err := relay.WriteTo([]byte("to the peer"), peer.LocalAddr()); err != nil {
			t.Fatalf("relay write: %v", err)
		}
		_ = peer.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, from, err = peer.ReadFrom(buf)
		if err == nil {
			break
		}
		if i == 5 {
			t.Fatalf("peer got nothing through the relay: %v", err)
		}
	}
	if string(buf[:n]) != "to the peer" || from.String() != relay.LocalAddr().String() {
		t.Fatalf("peer got %q from %v, want %q from the relay %v", buf[:n], from, "to the peer", relay.LocalAddr())
	}
	if _, err := peer.WriteTo([]byte("to the client"), from); err != nil {
		t.Fatal(err)
	}
	_ = relay.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err = relay.ReadFrom(buf)
	if err != nil {
		t.Fatalf("client got nothing back through the relay: %v", err)
	}
	if string(buf[:n]) != "to the client" || from.String() != peer.LocalAddr().String() {
		t.Fatalf("client got %q from %v, want %q from %v", buf[:n], from, "to the client", peer.LocalAddr())
	}
}

func TestRelay(t *testing.T) {
	s := startServer(t, loopback, 10, 100)
	user, pass := Credentials(testSecret, "u1", time.Now().Add(time.Hour))
	for _, network := range []string{"udp", "tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			cl := dial(t, s, network, user, pass)
			mapped, err := cl.SendBindingRequest()
			if err != nil {
				t.Fatalf("STUN binding: %v", err)
			}
			if !strings.HasPrefix(mapped.String(), "127.0.0.1:") {
				t.Errorf("mapped address %v, want 127.0.0.1:*", mapped)
			}
			relay, err := cl.Allocate()
			if err != nil {
				t.Fatalf("allocate: %v", err)
			}
			defer relay.Close()
			exchange(t, relay)
		})
	}
}

func TestCredentialsRefused(t *testing.T) {
	s := startServer(t, loopback, 10, 100)
	expiredUser, expiredPass := Credentials(testSecret, "u1", time.Now().Add(-time.Minute))
	user, _ := Credentials(testSecret, "u1", time.Now().Add(time.Hour))
	otherUser, otherPass := Credentials("another secret of 32 characters.", "u1", time.Now().Add(time.Hour))
	cases := []struct{ name, user, pass string }{
		{"expired", expiredUser, expiredPass},
		{"wrong password", user, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		{"other secret", otherUser, otherPass},
		{"not a REST username", "alice", Password(testSecret, "alice")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := dial(t, s, "udp", tc.user, tc.pass)
			if relay, err := cl.Allocate(); err == nil {
				relay.Close()
				t.Fatal("allocation succeeded, want refused")
			}
		})
	}
	if n := s.Allocations(); n != 0 {
		t.Errorf("allocations = %d after refusals, want 0", n)
	}
}

func TestDeniedPeers(t *testing.T) {
	s := startServer(t, nil, 10, 100) // the default policy
	user, pass := Credentials(testSecret, "u1", time.Now().Add(time.Hour))
	cl := dial(t, s, "udp", user, pass)
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	// CreatePermission for loopback is refused (403), so nothing can be
	// sent there. No datagram leaves for the private addresses: the
	// request for their permission is all that is sent, to the server.
	for _, a := range []string{peer.LocalAddr().String(), "10.0.0.1:9", "169.254.169.254:80", "[::1]:9"} {
		addr, err := net.ResolveUDPAddr("udp", a)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.CreatePermission(addr); err == nil {
			t.Errorf("CreatePermission(%s) succeeded, want refused", a)
		}
	}
	// Writing through the relay gets nothing to the peer.
	_, _ = relay.WriteTo([]byte("let me in"), peer.LocalAddr()) // fails once the permission is refused
	_ = peer.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, _, err := peer.ReadFrom(make([]byte, 100)); err == nil {
		t.Errorf("a loopback peer got %d bytes through the relay", n)
	}
}

func TestQuota(t *testing.T) {
	s := startServer(t, loopback, 2, 3)
	alloc := func(user string) (net.PacketConn, error) {
		u, p := Credentials(testSecret, user, time.Now().Add(time.Hour))
		return dial(t, s, "udp", u, p).Allocate()
	}
	a1, err := alloc("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alloc("alice"); err != nil {
		t.Fatal(err)
	}
	if r, err := alloc("alice"); err == nil {
		r.Close()
		t.Fatal("third allocation of a user with a quota of 2 succeeded")
	} else if !strings.Contains(err.Error(), "486") {
		t.Errorf("third allocation: %v, want 486 Allocation Quota Reached", err)
	}
	if _, err := alloc("bob"); err != nil {
		t.Fatal(err)
	}
	if r, err := alloc("carol"); err == nil {
		r.Close()
		t.Fatal("allocation over the total quota of 3 succeeded")
	}
	if n := s.Allocations(); n != 3 {
		t.Errorf("allocations = %d, want 3", n)
	}
	// A freed allocation gives its place back.
	a1.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.Allocations() != 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r, err := alloc("carol")
	if err != nil {
		t.Fatalf("allocation after one was freed: %v", err)
	}
	r.Close()
}

func TestRateLimit(t *testing.T) {
	b := newBucket(1000)
	if !b.take(600) || !b.take(400) {
		t.Fatal("a full bucket refused its burst")
	}
	if b.take(100) {
		t.Fatal("an empty bucket gave 100 bytes")
	}
	b.last = b.last.Add(-200 * time.Millisecond)
	if !b.take(150) {
		t.Error("200 ms at 1000 B/s did not give 150 bytes")
	}
	var none *bucket
	if !none.take(1 << 30) {
		t.Error("no bucket limited")
	}
}

// TestConnectionLimit checks that a peer cannot hold more TCP connections
// than connections_per_ip.
func TestConnectionLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{Listener: ln, gate: transport.NewGate(2, 100)}
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	for range 2 {
		select {
		case c := <-accepted:
			defer c.Close()
		case <-time.After(5 * time.Second):
			t.Fatal("a connection within the limit was not accepted")
		}
	}
	// The third is closed by the server.
	_ = clients[2].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := clients[2].Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("third connection read: %v, want EOF", err)
	}
	select {
	case <-accepted:
		t.Error("the third connection was accepted")
	default:
	}
}
