// Package listener runs the accept loop that the client (RFC 6120),
// server-to-server and component (XEP-0114) services share: accept until
// the listener is closed or the service shuts down, and back off after
// a failed Accept instead of spinning.
package listener

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// Backoff bounds the pause after a failed Accept (out of file
// descriptors and the like): the first pause is Min, each following one
// doubles, up to Max; an accepted connection starts over.
type Backoff struct {
	Min, Max time.Duration
}

// Doubling is the backoff of net/http's server: 5 ms doubling to 1 s.
var Doubling = Backoff{Min: 5 * time.Millisecond, Max: time.Second}

// Listen opens a TCP listener for XML streams or IRC. Its connections
// carry no TCP keepalive: each of these protocols pings a silent peer
// itself (the idle timeouts), at an interval an operator sets, where Go's
// default would probe every connection after 15 s of silence and so wake
// a phone's radio four times a minute. It also saves the system calls
// that set keepalive up on every accepted connection.
func Listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(context.Background(), "tcp", addr)
}

// Accept accepts connections on ln and hands each to handle, in the
// calling goroutine, until ln is closed, ctx ends, or handle returns
// false. After a failed Accept it tells failed (when not nil) and pauses
// as b says. handle owns the connection; it should start the
// connection's goroutine and return.
func Accept(ctx context.Context, ln net.Listener, b Backoff, failed func(error), handle func(net.Conn) bool) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, b.Min), b.Max)
			if failed != nil {
				failed(err)
			}
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !handle(c) {
			return
		}
	}
}

// Wait waits until wg, which counts a service's accept loops and the
// connections they started, is done, or until ctx ends: a shutdown
// waits for its streams to close, but not forever.
func Wait(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
