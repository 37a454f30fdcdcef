package im

import (
	"context"
	"slices"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlstream"
)

// Offline delivery (XEP-0160 §2): when a resource sends non-negative
// available presence, the messages stored for the user go to it, oldest
// first, and are removed from storage once handed to its session.
//
// A backlog can be far larger than a session's outgoing queue, which
// ends the stream of a client that reads too slowly (out_queue_bytes):
// handed over all at once, a few thousand messages would end the stream
// of a client on a slow link at every login. So the backlog goes in
// pages, each sent as far as the session has room (router.Pacer) and
// removed from storage as far as it was sent; when the session has no
// room, the delivery waits on a goroutine of its own for the session's
// queue to drain, holding no lock and neither the core nor the router.
// Each login therefore gets its whole backlog, at the pace its client
// reads.
//
// One delivery runs per user at a time, so that two resources do not
// get the same messages: a resource that becomes available while one
// runs waits for its turn and gets what is left. A delivery stops when
// its resource goes or is no longer available; the rest stays stored
// for the next available presence. What the session was given and its
// client did not get (a connection lost mid-backlog) comes back to the
// core as undelivered (Undelivered) and is stored again: after the rest,
// each message with its delay stamp of first storage (XEP-0203).

// offlinePage is how many stored messages one read takes.
const offlinePage = 100

// maxOfflineWaiting bounds the resources of a user that wait for their
// turn; past it a resource gets its backlog at its next available
// presence.
const maxOfflineWaiting = 32

// offlineRun is the delivery of a user's offline messages to one
// resource.
type offlineRun struct {
	full  jid.JID
	after int64                    // the ID of the last message handed over and removed
	page  []storage.OfflineMessage // read and not handed over yet
}

// deliverOffline sends a newly available resource what waited for the
// user (XEP-0160 §2), at the pace its session takes it.
func (s *Service) deliverOffline(ctx context.Context, full jid.JID) {
	user := full.Bare()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if waiting, busy := s.offline[user]; busy {
		if !slices.Contains(waiting, full) && len(waiting) < maxOfflineWaiting {
			s.offline[user] = append(waiting, full)
		}
		s.mu.Unlock()
		return
	}
	s.offline[user] = nil
	s.mu.Unlock()
	s.runOffline(ctx, &offlineRun{full: full})
}

// offlineCatchUp runs the delivery for a message just stored for user
// when one of the user's resources here is available by now. It found
// none when the message was routed; a resource that became available
// meanwhile may have read the storage before the message was in it, and
// would not see it before its next available presence. Storing, then
// looking at the resources here, while a resource becomes available,
// then reads the storage, one of the two sees the message; one delivery
// per user at a time (deliverOffline) hands it over once. A resource on
// another node of a cluster (router.Proxy) is left to its node, whose
// delivery this node cannot take turns with.
func (s *Service) offlineCatchUp(ctx context.Context, user jid.JID) {
	for _, r := range s.router.Resources(user) {
		if _, elsewhere := r.Session.(router.Proxy); elsewhere || !r.Available || r.Priority < 0 {
			continue
		}
		s.deliverOffline(ctx, r.Session.JID())
		return
	}
}

// runOffline delivers as long as the session has room, from the
// caller's goroutine; when it must wait for room, it goes on in a
// goroutine of its own. Then the next resource that waits gets its turn.
func (s *Service) runOffline(ctx context.Context, r *offlineRun) {
	user := r.full.Bare()
	for r != nil {
		if wait := s.offlineStep(ctx, r); wait != nil {
			s.offlineLater(r, wait)
			return
		}
		r = s.nextOffline(user)
	}
}

// offlineLater goes on with r once wait is closed, on a goroutine that
// Close stops and waits for.
func (s *Service) offlineLater(r *offlineRun, wait <-chan struct{}) {
	user := r.full.Bare()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		delete(s.offline, user)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for r != nil {
			select {
			case <-wait:
			case <-s.ctx.Done():
				s.mu.Lock()
				delete(s.offline, user)
				s.mu.Unlock()
				return
			}
			if wait = s.offlineStep(s.ctx, r); wait == nil {
				if r = s.nextOffline(user); r != nil {
					wait = ready
				}
			}
		}
	}()
}

// ready is a channel that is always closed.
var ready = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// nextOffline returns the delivery for the user's next waiting resource,
// or nil when none waits: the user's delivery is over.
func (s *Service) nextOffline(user jid.JID) *offlineRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	waiting := s.offline[user]
	if len(waiting) == 0 || s.closed {
		delete(s.offline, user)
		return nil
	}
	s.offline[user] = waiting[1:]
	return &offlineRun{full: waiting[0]}
}

// offlineStep sends r's resource stored messages while its session has
// room, and removes from storage what it sent. It returns a channel to
// wait on when the session must drain first, or nil when the delivery to
// this resource is over: nothing is left, or the resource went or is no
// longer available (the rest stays stored).
func (s *Service) offlineStep(ctx context.Context, r *offlineRun) (wait <-chan struct{}) {
	user := r.full.Bare().String()
	for {
		// The session is looked up anew each time: a stream resumed on
		// another connection (XEP-0198 §5) is another session value.
		res, ok := s.router.Resource(r.full)
		if !ok || !res.Available || res.Priority < 0 {
			return nil
		}
		sess := res.Session
		room := router.RoomOf(sess)
		if room.Gone {
			return nil
		}
		if room.Bytes <= 0 || room.Stanzas <= 0 {
			return room.Ready // nil, from a session that breaks its promise: give up
		}
		if len(r.page) == 0 {
			page, err := s.store.Offline().ListAfter(ctx, user, r.after, offlinePage)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("im: offline load failed", "err", err)
				}
				return nil
			}
			if len(page) == 0 {
				return nil
			}
			r.page = page
		}
		// At least one message, however large: a session gives room
		// only well under its bound, which a stanza cannot pass.
		n, size := 0, 0
		for n < len(r.page) && n < room.Stanzas && (n == 0 || size+len(r.page[n].Stanza) <= room.Bytes) {
			m := r.page[n]
			n++
			size += len(m.Stanza)
			el, err := xmlstream.ParseStored(m.Stanza)
			if err != nil {
				s.log.Error("im: stored offline message unreadable", "id", m.ID, "err", err)
				continue
			}
			if s.offlineMessage(ctx, sess, el) {
				sess.Send(el)
			}
		}
		last := r.page[n-1].ID
		clear(r.page[:n])
		if r.page = r.page[n:]; len(r.page) == 0 {
			r.page = nil
		}
		// What was handed over is removed even when the service is
		// closing: left stored, it would come a second time.
		if err := s.store.Offline().Delete(context.WithoutCancel(ctx), user, last); err != nil {
			// Kept, it would be delivered again after the rest; stop
			// here, and the next login gets it once more rather than
			// never.
			s.log.Error("im: offline delete failed", "err", err)
			return nil
		}
		r.after = last
	}
}

// Close stops the deliveries of offline messages that wait for room and
// waits for them to end: what they did not hand over stays stored. Call
// it after the sessions ended and before the store closes.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}
