package turn

import (
	"net"
	"testing"
	"time"
)

// BenchmarkRelayRoundTrip measures one datagram from a TURN client to a
// peer through a UDP relay and the peer's answer back.
func BenchmarkRelayRoundTrip(b *testing.B) {
	s := startServerRate(b, loopback, 10, 100, 0)
	user, pass := Credentials(testSecret, "u1", time.Now().Add(time.Hour))
	cl := dial(b, s, "udp", user, pass)
	relay, err := cl.Allocate()
	if err != nil {
		b.Fatal(err)
	}
	defer relay.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer peer.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := peer.ReadFrom(buf)
			if err != nil {
				return
			}
			peer.WriteTo(buf[:n], from)
		}
	}()
	msg := make([]byte, 160) // an Opus frame of 20 ms at 64 kbit/s
	buf := make([]byte, 1500)
	// Warm up: the permission and the channel binding.
	for range 20 {
		relay.WriteTo(msg, peer.LocalAddr())
		relay.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		relay.ReadFrom(buf)
	}
	b.SetBytes(int64(2 * len(msg)))
	b.ResetTimer()
	for b.Loop() {
		relay.WriteTo(msg, peer.LocalAddr())
		relay.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := relay.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
	}
}
