package ircgw

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/router"
)

// TestRoom checks that an IRC connection tells a sender with a backlog
// how much it takes: room while its queue is under a quarter of
// out_queue_bytes, then a channel that closes once the client has read
// it back down, and that it is gone once closed.
func TestRoom(t *testing.T) {
	r := router.New([]string{"example.org"})
	svc := New(Config{Hosts: []string{"example.org"}, OutQueueBytes: 4000, AuthTimeout: 5 * time.Second},
		r, nil, nil, &testCore{}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { svc.Close(context.Background()) })
	srv, cli := net.Pipe()
	defer cli.Close()
	s := newSession(svc, srv, false, func() {})
	var _ router.Pacer = s
	s.q.Start()
	room := s.Room()
	if room.Bytes != 2000 || room.Stanzas <= 0 {
		t.Fatalf("Room() of an empty queue = %+v, want 2000 bytes (half the bound)", room)
	}
	line := strings.Repeat("x", 499) + "\n"
	for range 4 { // the client does not read
		s.q.Append(func(b []byte) []byte { return append(b, line...) })
	}
	room = s.Room()
	if room.Bytes > 0 || room.Ready == nil || room.Gone {
		t.Fatalf("Room() with 2000 bytes queued = %+v, want none and a channel", room)
	}
	select {
	case <-room.Ready:
		t.Fatal("ready before the client read anything")
	case <-time.After(20 * time.Millisecond):
	}
	go io.Copy(io.Discard, cli)
	select {
	case <-room.Ready:
	case <-time.After(5 * time.Second):
		t.Fatal("not ready after the client read the queue")
	}
	if room := s.Room(); room.Bytes <= 0 {
		t.Errorf("Room() after the client read = %+v, want room", room)
	}
	s.closeWith("test")
	if room := s.Room(); !room.Gone {
		t.Errorf("Room() of a closed connection = %+v, want Gone", room)
	}
}
