package s2s

import (
	"errors"
	"testing"
)

// TestInboundPerDomain checks the bound on the inbound streams of one
// peer domain (max_connections_per_domain): past it a stream is refused,
// other domains are not affected, a stream counts once however many
// local domains it authenticated for, and a stream that ends frees its
// place.
func TestInboundPerDomain(t *testing.T) {
	s := &Service{cfg: Config{MaxConnsPerDomain: 2}, in: map[*inConn]struct{}{}, bidi: map[pair]*inConn{}, inDomains: map[string]int{}}
	a, b, c, d := &inConn{}, &inConn{}, &inConn{}, &inConn{}
	for _, ic := range []*inConn{a, b, c, d} {
		s.in[ic] = struct{}{}
	}
	for _, step := range []struct {
		c      *inConn
		remote string
		want   bool
	}{
		{a, "peer.example", true},
		{a, "peer.example", true},
		{b, "peer.example", true},
		{c, "peer.example", false},
		{c, "other.example", true},
	} {
		if err := s.addInbound(step.c, step.remote); (err == nil) != step.want {
			t.Fatalf("addInbound(%s) = %v, want success %v", step.remote, err, step.want)
		}
	}
	s.removeInbound(a)
	if err := s.addInbound(d, "peer.example"); err != nil {
		t.Errorf("a place freed by an ended stream is refused: %v", err)
	}
}

// TestInboundEndedNotCounted checks that a stream that ended counts for
// no domain: a dialback verification that answers after the stream is
// gone must not take a place of its domain for ever, nor make the
// stream a route for stanzas.
func TestInboundEndedNotCounted(t *testing.T) {
	s := &Service{cfg: Config{MaxConnsPerDomain: 1}, in: map[*inConn]struct{}{}, bidi: map[pair]*inConn{}, inDomains: map[string]int{}}
	a := &inConn{}
	s.in[a] = struct{}{}
	s.removeInbound(a)
	if err := s.addInbound(a, "peer.example"); !errors.Is(err, errClosed) {
		t.Errorf("addInbound after the end = %v, want %v", err, errClosed)
	}
	s.addBidi(a, pair{"local.example", "peer.example"})
	if len(s.inDomains) != 0 || len(s.bidi) != 0 {
		t.Errorf("an ended stream left counts %v and routes %v", s.inDomains, s.bidi)
	}
}
