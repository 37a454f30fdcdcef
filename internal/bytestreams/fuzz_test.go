package bytestreams

import (
	"io"
	"net"
	"testing"
	"time"

	"samtal.org/samtal/internal/jid"
)

// FuzzNegotiate feeds the SOCKS5 handshake arbitrary bytes: it must end
// (the peer closes after its input) without a panic, and file a
// connection under a stream only for a well-formed CONNECT to a SHA-1.
func FuzzNegotiate(f *testing.F) {
	hash := Hash("sid", jid.MustParse("a@example.org/r"), jid.MustParse("b@example.org/r"))
	f.Add(append(append([]byte{5, 1, 0, 5, 1, 0, 3, 40}, hash...), 0, 0))
	f.Add([]byte{5, 2, 0, 2, 5, 3, 0, 3, 1, 'x', 0, 0})
	f.Add([]byte{5, 1, 2})
	f.Add([]byte{4, 1, 0})
	f.Add([]byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80})
	f.Fuzz(func(t *testing.T, in []byte) {
		p := &Proxy{
			cfg:     Config{MaxStreams: 2, WaitTimeout: time.Minute},
			waiting: make(map[string]*stream),
			active:  make(map[*stream]bool),
		}
		server, client := net.Pipe()
		go io.Copy(io.Discard, client) //nolint:errcheck // drains the replies until the pipe closes
		go func() {
			client.Write(in) //nolint:errcheck // the server may stop reading
			client.Close()
		}()
		filed := p.negotiate(server, func() {})
		server.Close()
		for _, s := range p.waiting {
			s.timer.Stop()
			if !filed {
				t.Fatalf("negotiate(%x) filed a stream but reported false", in)
			}
		}
		if filed && len(p.waiting) != 1 {
			t.Fatalf("negotiate(%x) = true with %d streams waiting", in, len(p.waiting))
		}
	})
}
