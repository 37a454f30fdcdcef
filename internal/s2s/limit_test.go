package s2s

import "testing"

// TestInboundPerDomain checks the bound on the inbound streams of one
// peer domain (max_connections_per_domain): past it a stream is refused,
// other domains are not affected, and a stream that ends frees its place.
func TestInboundPerDomain(t *testing.T) {
	s := &Service{cfg: Config{MaxConnsPerDomain: 2}, in: map[*inConn]struct{}{}, bidi: map[pair]*inConn{}, inDomains: map[string]int{}}
	a, b, c := &inConn{}, &inConn{}, &inConn{}
	for _, step := range []struct {
		c      *inConn
		remote string
		want   bool
	}{
		{a, "peer.example", true},
		{b, "peer.example", true},
		{c, "peer.example", false},
		{c, "other.example", true},
	} {
		if got := s.addInbound(step.c, step.remote); got != step.want {
			t.Fatalf("addInbound(%s) = %v, want %v", step.remote, got, step.want)
		}
	}
	s.removeInbound(a, []string{"peer.example"})
	if !s.addInbound(a, "peer.example") {
		t.Error("a place freed by an ended stream is refused")
	}
}
