package c2s

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/router"
)

func closedNow(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestRoomPacesSlowReader sends a backlog twenty times the size of a
// session's queue to a client that reads slowly, at the pace Room sets:
// the stream stays open and the client reads everything, in order.
func TestRoomPacesSlowReader(t *testing.T) {
	const limit = 4000
	svc, core := testService(t, Config{OutQueueBytes: limit})
	s, client := boundSession(t, svc)
	defer client.Close()
	var _ router.Pacer = s

	const n = 800 // of about 100 bytes each
	read := make(chan []string, 1)
	go func() {
		var bodies []string
		r := bufio.NewReaderSize(client, 64)
		for i := 0; len(bodies) < n; i++ {
			if i%50 == 0 {
				time.Sleep(time.Millisecond) // a slow reader
			}
			part, err := r.ReadString('>')
			if err != nil {
				break
			}
			if b, ok := strings.CutSuffix(part, "</body>"); ok {
				bodies = append(bodies, b)
			}
		}
		read <- bodies
		io.Copy(io.Discard, client)
	}()
	waits := 0
	for i := 0; i < n; {
		room := s.Room()
		if room.Gone {
			t.Fatalf("the session went after %d messages", i)
		}
		if room.Bytes <= 0 {
			if room.Ready == nil {
				t.Fatalf("Room() = %+v: no room and nothing to wait for", room)
			}
			waits++
			select {
			case <-room.Ready:
			case <-time.After(10 * time.Second):
				t.Fatalf("no room after 10s, %d messages sent", i)
			}
			continue
		}
		if room.Bytes > limit/2 {
			t.Fatalf("Room() = %d bytes, more than half the queue's %d", room.Bytes, limit)
		}
		for sent := 0; sent < room.Bytes && i < n; i++ {
			m := msg(fmt.Sprintf("m%03d", i))
			sent += 100
			s.Send(m)
		}
	}
	var got []string
	select {
	case got = <-read:
	case <-time.After(20 * time.Second):
		t.Fatal("the client did not read everything within 20s")
	}
	if s.q.Closing() {
		t.Fatal("the stream of the slow reader closed")
	}
	if len(got) != n {
		t.Fatalf("the client read %d messages, want %d", len(got), n)
	}
	for i, b := range got {
		if want := fmt.Sprintf("m%03d", i); !strings.HasSuffix(b, want) {
			t.Fatalf("message %d is %q, want %s: out of order", i, b, want)
		}
	}
	if waits == 0 {
		t.Error("the sender never had to wait: the test proved nothing")
	}
	core.mu.Lock()
	defer core.mu.Unlock()
	if len(core.undelivered) != 0 {
		t.Errorf("%d messages handed back", len(core.undelivered))
	}
}

// TestRoomWaitsForAcks checks that with stream management a sender is
// held once a quarter of max_unacked waits for the client's
// acknowledgement, and woken when the client acknowledges enough.
func TestRoomWaitsForAcks(t *testing.T) {
	svc, _ := testService(t, Config{OutQueueBytes: 1 << 20, MaxUnacked: 20, AckEvery: 100, AckDelay: time.Hour})
	s, client := boundSession(t, svc)
	defer client.Close()
	go io.Copy(io.Discard, client)
	b := s.box
	b.mu.Lock()
	b.sm = true
	b.mu.Unlock()
	if r := s.Room(); r.Stanzas != 10 {
		t.Fatalf("Room() = %+v with nothing unacknowledged, want 10 stanzas (half of max_unacked)", r)
	}
	for i := range 8 {
		s.Send(msg(fmt.Sprint(i)))
	}
	r := s.Room()
	if r.Stanzas > 0 || r.Ready == nil || r.Gone {
		t.Fatalf("Room() = %+v with 8 of 20 unacknowledged, want none and a channel", r)
	}
	b.mu.Lock()
	b.ack(2) // 6 left: still over a quarter
	b.mu.Unlock()
	if closedNow(r.Ready) {
		t.Fatal("woken with 6 of 20 unacknowledged")
	}
	b.mu.Lock()
	b.ack(3) // 5 left
	b.mu.Unlock()
	if !closedNow(r.Ready) {
		t.Fatal("not woken with 5 of 20 unacknowledged")
	}
	if r := s.Room(); r.Stanzas != 5 {
		t.Errorf("Room() = %+v with 5 unacknowledged, want 5 stanzas", r)
	}
}

// TestRoomDetachedAndEnded checks that a session waiting to be resumed
// takes nothing, and that its end wakes the sender and tells it so.
func TestRoomDetachedAndEnded(t *testing.T) {
	svc, _ := testService(t, Config{MaxUnacked: 100})
	b := detachedBox(t, svc)
	r := b.owner.Room()
	if r.Bytes > 0 || r.Ready == nil || r.Gone {
		t.Fatalf("Room() of a detached session = %+v, want none and a channel", r)
	}
	b.end()
	if !closedNow(r.Ready) {
		t.Fatal("the end of the session did not wake the sender")
	}
	if r := b.owner.Room(); !r.Gone {
		t.Errorf("Room() of an ended session = %+v, want Gone", r)
	}
}
