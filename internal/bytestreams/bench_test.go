package bytestreams

import (
	"io"
	"testing"

	"samtal.org/samtal/internal/jid"
)

// BenchmarkStream measures the throughput of one activated stream with
// no rate bound.
func BenchmarkStream(b *testing.B) {
	p, out := testProxy(b, Config{Rate: 1 << 30})
	h := Hash("bench", jid.MustParse(initiator), jid.MustParse(target))
	tc, _ := socks(b, p, h)
	ic, _ := socks(b, p, h)
	if res := activate(b, p, out, initiator, "bench", target); res.Attr("type") != "result" {
		b.Fatalf("activation: %v", res)
	}
	chunk := make([]byte, 64<<10)
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for b.Loop() {
		go ic.Write(chunk)
		if _, err := io.ReadFull(tc, buf); err != nil {
			b.Fatal(err)
		}
	}
}
