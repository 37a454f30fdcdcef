package transport

import (
	"errors"
	"net"
	"testing"
	"time"

	"samtal.org/samtal/internal/conntest"
)

// A quiet peer makes Read return ErrQuiet; a parked connection resumes
// when the peer speaks, when it is closed here, and at its idle time,
// and the next Read goes on where the stream was. A pipe cannot park.
func TestQuietPark(t *testing.T) {
	wait := func(t *testing.T, resumed chan struct{}, what string) {
		t.Helper()
		select {
		case <-resumed:
		case <-time.After(5 * time.Second):
			t.Fatalf("parked connection not resumed %s", what)
		}
	}
	t.Run("input", func(t *testing.T) {
		client, server := conntest.TCPPair(t)
		c := Wrap(server, ConnConfig{Idle: time.Minute})
		c.SetQuiet(50 * time.Millisecond)
		buf := make([]byte, 16)
		if _, err := c.Read(buf); !errors.Is(err, ErrQuiet) {
			t.Fatalf("Read = %v, want ErrQuiet", err)
		}
		var ne net.Error
		if !errors.As(ErrQuiet, &ne) || !ne.Timeout() {
			t.Error("ErrQuiet is not a timeout net.Error: TLS would fail for good on it")
		}
		resumed := make(chan struct{})
		if !c.Park(func() { close(resumed) }) {
			t.Skip("parking is not available here")
		}
		select {
		case <-resumed:
			t.Fatal("resumed without input")
		case <-time.After(100 * time.Millisecond):
		}
		client.Write([]byte("<x/>"))
		wait(t, resumed, "on input")
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != "<x/>" {
			t.Fatalf("Read after parking = %q, %v", buf[:n], err)
		}
	})
	t.Run("close", func(t *testing.T) {
		_, server := conntest.TCPPair(t)
		c := Wrap(server, ConnConfig{})
		resumed := make(chan struct{})
		if !c.Park(func() { close(resumed) }) {
			t.Skip("parking is not available here")
		}
		c.Close()
		wait(t, resumed, "on close")
	})
	t.Run("idle", func(t *testing.T) {
		_, server := conntest.TCPPair(t)
		c := Wrap(server, ConnConfig{Idle: 200 * time.Millisecond})
		resumed := make(chan struct{})
		start := time.Now()
		if !c.Park(func() { close(resumed) }) {
			t.Skip("parking is not available here")
		}
		wait(t, resumed, "at the idle time")
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("resumed after %v, before the idle time", d)
		}
	})
	t.Run("pipe", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		if Wrap(a, ConnConfig{}).Park(func() {}) {
			t.Error("a pipe was parked")
		}
	})
}

// Without idle time, quiet time or expiry, a deadline set for an
// earlier one is removed: it must not end a read later.
func TestDeadlineRemoved(t *testing.T) {
	client, server := conntest.TCPPair(t)
	c := Wrap(server, ConnConfig{})
	c.SetExpiry(time.Now().Add(50 * time.Millisecond))
	c.SetExpiry(time.Time{})
	c.SetQuiet(30 * time.Millisecond)
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrQuiet) {
		t.Fatalf("Read = %v, want ErrQuiet", err)
	}
	c.SetQuiet(0)
	go func() {
		time.Sleep(200 * time.Millisecond)
		client.Write([]byte("x"))
	}()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatalf("Read = %v, want the byte sent after the old deadline", err)
	}
}
