package ircgw

import (
	"sync"
	"time"
)

// maxAuthFailures is how many failed logins one connection may have
// before it is closed, as a client stream is after three (RFC 6120
// §6.4.5 lets the server choose).
const maxAuthFailures = 3

// penalty slows down answers to an address that keeps failing to log
// in: after limit failures each further one waits twice as long as the
// last, up to half a minute. Failures are forgotten after ten quiet
// minutes. A password guesser gets few guesses, and each PLAIN guess
// costs the server a key derivation.
type penalty struct {
	mu    sync.Mutex
	limit int
	fails map[string]*strikes
}

type strikes struct {
	n    int
	last time.Time
}

func newPenalty(limit int) *penalty {
	return &penalty{limit: limit, fails: make(map[string]*strikes)}
}

// fail records a failure and returns how long to wait before answering.
func (p *penalty) fail(ip string) time.Duration {
	if p.limit <= 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if len(p.fails) > 100000 {
		for k, v := range p.fails {
			if now.Sub(v.last) > 10*time.Minute {
				delete(p.fails, k)
			}
		}
	}
	st := p.fails[ip]
	if st == nil || now.Sub(st.last) > 10*time.Minute {
		st = &strikes{}
		p.fails[ip] = st
	}
	st.n++
	st.last = now
	if st.n <= p.limit {
		return 0
	}
	return min(time.Second<<min(st.n-p.limit-1, 5), 30*time.Second)
}

func (p *penalty) succeed(ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.fails, ip)
}
