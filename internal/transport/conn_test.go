package transport

import (
	"errors"
	"net"
	"testing"
	"time"
)

// A peer that trickles bytes keeps an idle timer from firing, but not the
// expiry: the time to authenticate is counted from the connection.
func TestExpiry(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	c := Wrap(server, ConnConfig{Idle: time.Second})
	c.SetExpiry(time.Now().Add(300 * time.Millisecond))
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if _, err := client.Write([]byte{'<'}); err != nil {
					return
				}
			}
		}
	}()
	start := time.Now()
	buf := make([]byte, 16)
	for {
		_, err := c.Read(buf)
		if err == nil {
			if time.Since(start) > 2*time.Second {
				t.Fatal("reads go on past the expiry")
			}
			continue
		}
		if !errors.Is(err, ErrExpired) {
			t.Fatalf("Read = %v, want ErrExpired", err)
		}
		break
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > time.Second {
		t.Errorf("expired after %v, want about 300ms", d)
	}
	// Without the expiry, the trickle keeps the connection.
	c.SetExpiry(time.Time{})
	deadline := time.Now().Add(400 * time.Millisecond)
	for time.Now().Before(deadline) {
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("Read after the expiry was removed: %v", err)
		}
	}
}

// A silent peer still meets the idle timeout first when it is shorter.
func TestIdleBeforeExpiry(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	c := Wrap(server, ConnConfig{Idle: 100 * time.Millisecond})
	c.SetExpiry(time.Now().Add(time.Minute))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrIdle) {
		t.Fatalf("Read = %v, want ErrIdle", err)
	}
}
