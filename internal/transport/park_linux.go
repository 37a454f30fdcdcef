package transport

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A parked connection has no goroutine: one poller goroutine waits on
// every parked connection at once with epoll (level-triggered, one shot)
// and starts the connection's resume function on a new goroutine when
// input comes, when the connection is closed (here or by the peer), or
// when the idle time is up. Go's own poller keeps its registration of
// the socket; a socket may be in several epoll sets.
type poller struct {
	once sync.Once
	epfd int
	err  error

	mu     sync.Mutex
	parked map[uint32]*parking
	next   uint32
}

type parking struct {
	c      *Conn
	id     uint32
	resume func()
	done   atomic.Bool

	mu    sync.Mutex
	timer *time.Timer // the idle timer; set after the epoll registration
}

var thePoller poller

func (p *poller) start() error {
	p.once.Do(func() {
		p.epfd, p.err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if p.err != nil {
			return
		}
		p.parked = make(map[uint32]*parking)
		go p.loop()
	})
	return p.err
}

func (p *poller) loop() {
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			// Nothing sensible is left to do; parked connections still
			// wake on close and at their idle time.
			return
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			pk := p.parked[uint32(ev.Fd)]
			p.mu.Unlock()
			if pk != nil {
				pk.wake()
			}
		}
	}
}

// wake resumes a parked connection once, whatever woke it first.
func (pk *parking) wake() {
	if !pk.done.CompareAndSwap(false, true) {
		return
	}
	thePoller.mu.Lock()
	delete(thePoller.parked, pk.id)
	thePoller.mu.Unlock()
	pk.mu.Lock()
	t := pk.timer
	pk.mu.Unlock()
	if t != nil {
		t.Stop()
	}
	pk.c.parkMu.Lock()
	if pk.c.park == pk {
		pk.c.park = nil
	}
	pk.c.parkMu.Unlock()
	go pk.resume()
}

// Park arranges for resume to run on a new goroutine once the peer has
// sent something, closed the connection, or stayed silent for the idle
// time, or once the connection is closed here; the caller's goroutine
// can then end. Call it only after Read returned ErrQuiet. It reports
// false when the connection cannot be parked; the caller then waits
// itself (WaitReadable).
func (c *Conn) Park(resume func()) bool {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil || thePoller.start() != nil {
		return false
	}
	p := &thePoller
	p.mu.Lock()
	p.next++
	pk := &parking{c: c, id: p.next, resume: resume}
	p.parked[pk.id] = pk
	p.mu.Unlock()

	c.parkMu.Lock()
	if c.closed {
		c.parkMu.Unlock()
		pk.wake()
		return true
	}
	c.park = pk
	c.parkMu.Unlock()

	c.mu.Lock()
	idle := c.cfg.Idle
	c.mu.Unlock()
	if idle > 0 {
		// The timer may fire, or epoll may wake the connection, before
		// the timer is stored: wake stops what it finds, and what it
		// could not find is stopped here.
		t := time.AfterFunc(time.Until(c.lastData.Add(idle)), pk.wake)
		pk.mu.Lock()
		pk.timer = t
		pk.mu.Unlock()
		if pk.done.Load() {
			t.Stop()
		}
	}
	var ctlErr error
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(pk.id)}
	// c.polled is under parkMu: the connection may wake, resume and park
	// again on another goroutine before Control returns.
	c.parkMu.Lock()
	cerr := rc.Control(func(fd uintptr) {
		op := syscall.EPOLL_CTL_MOD
		if !c.polled {
			op = syscall.EPOLL_CTL_ADD
		}
		ctlErr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
		if ctlErr == syscall.ENOENT && op == syscall.EPOLL_CTL_MOD {
			ctlErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		} else if ctlErr == syscall.EEXIST && op == syscall.EPOLL_CTL_ADD {
			ctlErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		}
		c.polled = ctlErr == nil
	})
	c.parkMu.Unlock()
	if cerr != nil || ctlErr != nil {
		// Closed meanwhile, or epoll refused: resume now; the read
		// tells what happened.
		pk.wake()
	}
	return true
}

// closedNow resumes a parked connection once it is closed, so that its
// session ends now rather than at its idle time.
func (c *Conn) closedNow() {
	c.parkMu.Lock()
	c.closed = true
	pk := c.park
	c.parkMu.Unlock()
	if pk != nil {
		pk.wake()
	}
}
