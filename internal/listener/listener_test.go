package listener

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeListener returns the results in order, then net.ErrClosed.
type fakeListener struct {
	results []error // nil: a connection
	conns   int
}

func (l *fakeListener) Accept() (net.Conn, error) {
	if len(l.results) == 0 {
		return nil, net.ErrClosed
	}
	err := l.results[0]
	l.results = l.results[1:]
	if err != nil {
		return nil, err
	}
	l.conns++
	c, _ := net.Pipe()
	return c, nil
}

func (l *fakeListener) Close() error   { return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

var errTemporary = errors.New("too many open files")

func TestAccept(t *testing.T) {
	tests := []struct {
		name        string
		results     []error
		stopAfter   int // handle returns false at this connection; 0 never
		wantHandled int
		wantFailed  int
	}{
		{"until closed", []error{nil, nil, nil}, 0, 3, 0},
		{"failures in between", []error{errTemporary, nil, errTemporary, errTemporary, nil}, 0, 2, 3},
		{"handle stops", []error{nil, nil, nil}, 2, 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln := &fakeListener{results: tc.results}
			var handled, failed int
			Accept(t.Context(), ln, Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond},
				func(error) { failed++ },
				func(c net.Conn) bool {
					c.Close()
					handled++
					return handled != tc.stopAfter
				})
			if handled != tc.wantHandled || failed != tc.wantFailed {
				t.Errorf("Accept handled %d, failed %d, want %d, %d", handled, failed, tc.wantHandled, tc.wantFailed)
			}
		})
	}
}

// TestAcceptShutdown checks that an Accept error after ctx ends stops the
// loop at once, without a pause or a report.
func TestAcceptShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ln := &fakeListener{results: []error{errTemporary, nil}}
	Accept(ctx, ln, Backoff{Min: time.Hour, Max: time.Hour},
		func(error) { t.Error("failed called after shutdown") },
		func(net.Conn) bool { t.Error("handle called after shutdown"); return true })
}

// TestBackoff checks that the pauses double from Min up to Max.
func TestBackoff(t *testing.T) {
	ln := &fakeListener{results: []error{errTemporary, errTemporary, errTemporary, errTemporary}}
	start := time.Now()
	Accept(t.Context(), ln, Backoff{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}, nil,
		func(net.Conn) bool { return true })
	// 10 + 20 + 20 + 20 ms.
	if d := time.Since(start); d < 70*time.Millisecond || d > 2*time.Second {
		t.Errorf("four failures took %v, want about 70ms", d)
	}
}

func TestWait(t *testing.T) {
	var wg sync.WaitGroup
	release := make(chan struct{})
	wg.Go(func() { <-release })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	Wait(ctx, &wg) // returns when ctx ends
	if ctx.Err() == nil {
		t.Error("Wait returned before the group was done or ctx ended")
	}
	close(release)
	Wait(t.Context(), &wg) // returns when the group is done
}

// TestListenNoKeepalive: accepted connections carry no TCP keepalive (the
// protocols ping idle peers themselves).
func TestListenNoKeepalive(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	raw, err := a.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	on := -1
	var serr error
	if err := raw.Control(func(fd uintptr) {
		on, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	if on != 0 {
		t.Errorf("SO_KEEPALIVE = %d on an accepted connection, want 0", on)
	}
}
