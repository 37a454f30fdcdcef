// Package router decides where a stanza goes (RFC 6120 §10): to a local
// user (handed to the local delivery service, which applies RFC 6121), to a
// component or internal service by its domain, or to a remote domain. It
// also keeps the table of bound resources of local users, which delivery,
// presence broadcast and resource binding all read.
package router

import (
	"context"
	"errors"
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// Session is a bound client resource as the router sees it.
type Session interface {
	// JID returns the session's full JID.
	JID() jid.JID
	// Send queues an element for the client. It never blocks: a session
	// that cannot keep up closes itself.
	Send(el *xmlel.Element)
	// CloseWithError ends the session's stream with a stream error, for
	// example conflict when a new bind takes its resource (RFC 6120
	// §7.7.2.2) or not-authorized when its account is removed.
	CloseWithError(e stream.Error)
}

// RawSender is implemented by a session that takes a stanza as bytes: a
// message forwarded as its sender wrote it, without an element tree. The
// bytes are in the content namespace of a client stream (jabber:client)
// and are the session's to keep. ctx is the sending stream's: the
// session may write the bytes from its goroutine through the batch it
// carries (transport.BatchOf).
type RawSender interface {
	SendRaw(ctx context.Context, b []byte)
}

// Proxy is implemented by a session that stands in for a resource bound
// on another node of a cluster: what happens at the resource's own
// presence (its offline messages) is that node's to do.
type Proxy interface {
	// Node names the node the resource is bound on.
	Node() string
}

// Pacer is implemented by a session whose outgoing queue is bounded: a
// client stream that ends when its client reads too slowly. Whoever has
// much to send at once (a backlog of offline messages) asks it for room
// and sends at the pace its client reads, instead of overflowing the
// queue. A session that does not implement it always has room: its Send
// waits by itself, or nothing bounds it.
type Pacer interface {
	// Room reports what the session takes now without coming near its
	// bounds.
	Room() Room
}

// Room is what a session takes now (see Pacer).
type Room struct {
	// Bytes and Stanzas are how much more the session takes now, about
	// (the size of stanzas as serialized); both are positive when it
	// takes anything.
	Bytes, Stanzas int
	// Ready, when the session takes nothing now, is closed once it may
	// again: its queue drained below a low-water mark, or it is ending.
	Ready <-chan struct{}
	// Gone reports that the session ended or is ending: it takes
	// nothing more.
	Gone bool
}

// Unbounded is the room of a session that nothing bounds.
var Unbounded = Room{Bytes: math.MaxInt, Stanzas: math.MaxInt}

// RoomOf returns the room a session has now: Unbounded unless it is a
// Pacer.
func RoomOf(s Session) Room {
	if p, ok := s.(Pacer); ok {
		return p.Room()
	}
	return Unbounded
}

// Handler receives stanzas for a domain.
type Handler interface {
	Handle(ctx context.Context, st *stanza.Stanza)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, st *stanza.Stanza)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, st *stanza.Stanza) { f(ctx, st) }

// Resource is the router's record of one bound resource.
type Resource struct {
	Session    Session
	Priority   int
	Available  bool           // sent available presence and not unavailable since
	Interested bool           // requested the roster (RFC 6121 §1.3)
	Blocklist  bool           // requested the blocklist (XEP-0191 §3.2)
	Presence   *xmlel.Element // last available presence broadcast, or nil
	Since      time.Time      // when it last became available
}

// ErrConflict is returned by Bind when the resource is taken and the policy
// is to refuse the new bind.
var ErrConflict = errors.New("router: resource conflict")

// ErrTooManySessions is returned by Bind when the account already has as
// many sessions as it may.
var ErrTooManySessions = errors.New("router: too many sessions")

// Router routes stanzas. It is safe for concurrent use.
type Router struct {
	// domains is read for every stanza routed and changes only when a
	// component or service comes or goes: it is replaced, never changed,
	// so that routing takes no lock (a read lock is a write to memory
	// that every core routing a stanza shares).
	domains atomic.Pointer[domainTable]
	domMu   sync.Mutex // held while replacing domains

	local  Handler // local users and host domains
	remote Handler // anything else (federation); nil bounces

	// watch, when set, hears of every change to the table (cluster mode
	// mirrors it to the other nodes). Set before serving.
	watch func(Change)

	// bindWithin is how soon after beginning a session binds, or zero
	// (SetBindWithin).
	bindWithin time.Duration

	// table holds the bound resources, by account, in shards (see
	// table.go); it is apart from the fields above, which every stanza
	// reads, because its locks are written to by every lookup.
	table *table
}

// domainTable is what the router knows of domains: the local hosts, and
// the components and internal services.
type domainTable struct {
	hosts    map[string]bool
	handlers map[string]Handler
}

// Change is one change to the table of bound resources: a resource bound,
// taken over, updated (presence, interest) or, with Gone, unbound.
// Resource is a copy of the record after the change (with Gone, its last
// record).
type Change struct {
	JID      jid.JID
	Resource Resource
	Gone     bool
}

// SetWatcher makes the router call f after every change to the table of
// bound resources, each account's changes in their order. f runs under
// the lock of the account's part of the table, and may run for two
// accounts at once: it may only record the change (under a lock of its
// own that it holds for no more than that) and must not call back into
// the router.
// Set it before the server serves.
func (r *Router) SetWatcher(f func(Change)) { r.watch = f }

// changed tells the watcher about the resource of full; the lock of
// full's shard is held.
func (r *Router) changed(full jid.JID, res *Resource, gone bool) {
	if r.watch != nil {
		r.watch(Change{JID: full, Resource: *res, Gone: gone})
	}
}

// New returns a router for the given local host domains.
func New(hosts []string) *Router {
	r := &Router{table: newTable()}
	t := &domainTable{hosts: make(map[string]bool, len(hosts)), handlers: make(map[string]Handler)}
	for _, h := range hosts {
		t.hosts[h] = true
	}
	r.domains.Store(t)
	return r
}

// SetLocal sets the handler for stanzas to local hosts and their users.
func (r *Router) SetLocal(h Handler) { r.local = h }

// SetRemote sets the handler for stanzas to domains that are not served
// here.
func (r *Router) SetRemote(h Handler) { r.remote = h }

// IsLocal reports whether domain is one of the server's hosts.
func (r *Router) IsLocal(domain string) bool {
	return r.domains.Load().hosts[domain]
}

// Hosts returns the local host domains.
func (r *Router) Hosts() []string {
	hosts := r.domains.Load().hosts
	out := make([]string, 0, len(hosts))
	for h := range hosts {
		out = append(out, h)
	}
	return out
}

// AddDomain routes every stanza for domain to h (components and internal
// services such as the group chat service).
func (r *Router) AddDomain(domain string, h Handler) {
	r.changeHandlers(func(hs map[string]Handler) { hs[domain] = h })
}

// RemoveDomain stops routing domain to its handler.
func (r *Router) RemoveDomain(domain string, h Handler) {
	r.changeHandlers(func(hs map[string]Handler) {
		if hs[domain] == h {
			delete(hs, domain)
		}
	})
}

// changeHandlers replaces the domain table by one with change applied to
// a copy of its handlers.
func (r *Router) changeHandlers(change func(map[string]Handler)) {
	r.domMu.Lock()
	defer r.domMu.Unlock()
	old := r.domains.Load()
	t := &domainTable{hosts: old.hosts, handlers: maps.Clone(old.handlers)}
	change(t.handlers)
	r.domains.Store(t)
}

// HasDomain reports whether a component or service serves domain.
func (r *Router) HasDomain(domain string) bool {
	_, ok := r.domains.Load().handlers[domain]
	return ok
}

// Route delivers a stanza whose from and to are set and prepared.
func (r *Router) Route(ctx context.Context, st *stanza.Stanza) {
	d := st.To.Domain()
	t := r.domains.Load()
	local := t.hosts[d]
	h := t.handlers[d]
	switch {
	case local:
		r.local.Handle(ctx, st)
	case h != nil:
		h.Handle(ctx, st)
	case r.remote != nil:
		r.remote.Handle(ctx, st)
	default:
		r.Bounce(ctx, st, stanza.E(stanza.RemoteServerNotFound))
	}
}

// Bounce answers st with a stanza error, routed back to its sender.
// Errors are not answered (RFC 6120 §8.3.1), nor are iq results, which
// end their exchange (RFC 6120 §8.2.3), nor is presence other than
// subscription requests, which the sender would not expect.
func (r *Router) Bounce(ctx context.Context, st *stanza.Stanza, e stanza.Error) {
	switch {
	case st.Kind() == stanza.Presence && st.Type() != "subscribe":
		return
	case st.Kind() == stanza.IQ && st.Type() == "result":
		return
	}
	el := stanza.ErrorReply(st.El, e)
	if el == nil || st.From.IsZero() {
		return
	}
	r.Route(ctx, &stanza.Stanza{El: el, From: st.To, To: st.From})
}

// Bind registers a session under its full JID. If the resource is in use,
// replace decides: true ends the old session (it is returned), false
// refuses with ErrConflict. max > 0 limits the sessions of one account.
// A session that began before its account was revoked is refused with a
// *RevokedError (Revoke).
func (r *Router) Bind(s Session, replace bool, max int) (old Session, err error) {
	full := s.JID()
	bare := full.Bare()
	sh := r.table.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if err := refused(sh, bare, s); err != nil {
		return nil, err
	}
	res := sh.accounts[bare]
	if res == nil {
		res = make(map[string]*Resource)
		sh.accounts[bare] = res
	}
	if prev, ok := res[full.Resource()]; ok {
		if !replace {
			return nil, ErrConflict
		}
		old = prev.Session
	} else if max > 0 && len(res) >= max {
		return nil, ErrTooManySessions
	} else {
		r.table.added()
	}
	res[full.Resource()] = &Resource{Session: s}
	r.changed(full, res[full.Resource()], false)
	return old, nil
}

// Unbind removes the session if it is still the one bound to its JID. It
// returns the resource's last record, so that the caller can tell those
// who saw it available that it is gone, and reports whether the session
// was bound (false when a newer session took its resource).
func (r *Router) Unbind(s Session) (last Resource, ok bool) {
	full := s.JID()
	bare := full.Bare()
	sh := r.table.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	res := sh.accounts[bare]
	if res == nil || res[full.Resource()] == nil || res[full.Resource()].Session != s {
		return Resource{}, false
	}
	last = *res[full.Resource()]
	delete(res, full.Resource())
	r.table.bound.Add(-1)
	if len(res) == 0 {
		delete(sh.accounts, bare)
	}
	r.changed(full, &last, true)
	return last, true
}

// Rebind hands the resource bound by old to s, which must have the same
// full JID, keeping its presence, priority and interest: a stream resumed
// on a new connection (XEP-0198 §5) takes over its session without the
// resource going offline in between. It reports false when old is no
// longer bound, or when s began before its account was revoked (Revoke).
func (r *Router) Rebind(old, s Session) bool {
	full := s.JID()
	if !old.JID().Equal(full) {
		return false
	}
	sh := r.table.shard(full.Bare())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	res := sh.accounts[full.Bare()][full.Resource()]
	if res == nil || res.Session != old || refused(sh, full.Bare(), s) != nil {
		return false
	}
	res.Session = s
	r.changed(full, res, false)
	return true
}

// IsBound reports whether a resource is bound under full.
func (r *Router) IsBound(full jid.JID) bool {
	sh := r.table.shard(full.Bare())
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	_, ok := sh.accounts[full.Bare()][full.Resource()]
	return ok
}

// Session returns the session bound to a full JID, or nil.
func (r *Router) Session(full jid.JID) Session {
	sh := r.table.shard(full.Bare())
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if res := sh.accounts[full.Bare()][full.Resource()]; res != nil {
		return res.Session
	}
	return nil
}

// Resource returns a copy of the record of the resource bound to a full
// JID.
func (r *Router) Resource(full jid.JID) (Resource, bool) {
	sh := r.table.shard(full.Bare())
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if res := sh.accounts[full.Bare()][full.Resource()]; res != nil {
		return *res, true
	}
	return Resource{}, false
}

// Resources returns a snapshot of the resources bound for a bare JID.
func (r *Router) Resources(bare jid.JID) []Resource {
	sh := r.table.shard(bare)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	res := sh.accounts[bare]
	if len(res) == 0 {
		return nil
	}
	out := make([]Resource, 0, len(res))
	for _, v := range res {
		out = append(out, *v)
	}
	return out
}

// SetPresence records the availability of a resource. A nil presence
// marks it unavailable. It returns what was recorded before: whether the
// resource was available, and its priority then.
func (r *Router) SetPresence(full jid.JID, presence *xmlel.Element, priority int) (wasAvailable bool, oldPriority int) {
	sh := r.table.shard(full.Bare())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	res := sh.accounts[full.Bare()][full.Resource()]
	if res == nil {
		return false, 0
	}
	wasAvailable, oldPriority = res.Available, res.Priority
	if presence != nil && !res.Available {
		res.Since = time.Now()
	}
	res.Available = presence != nil
	res.Presence = presence
	res.Priority = priority
	r.changed(full, res, false)
	return wasAvailable, oldPriority
}

// SetInterested marks a resource as having requested the roster.
func (r *Router) SetInterested(full jid.JID) {
	sh := r.table.shard(full.Bare())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if res := sh.accounts[full.Bare()][full.Resource()]; res != nil && !res.Interested {
		res.Interested = true
		r.changed(full, res, false)
	}
}

// SetBlocklistInterested marks a resource as having requested the
// blocklist, after which it gets blocklist pushes (XEP-0191 §3.3).
func (r *Router) SetBlocklistInterested(full jid.JID) {
	sh := r.table.shard(full.Bare())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if res := sh.accounts[full.Bare()][full.Resource()]; res != nil && !res.Blocklist {
		res.Blocklist = true
		r.changed(full, res, false)
	}
}

// Count returns the number of bound sessions.
func (r *Router) Count() int { return int(r.table.bound.Load()) }

// Peak returns the most resources bound at once since the router began.
func (r *Router) Peak() int { return int(r.table.peak.Load()) }

// Each calls f for every bound session; f must not call back into r.
func (r *Router) Each(f func(Session)) {
	r.table.each(func(res map[string]*Resource) {
		for _, v := range res {
			f(v.Session)
		}
	})
}
