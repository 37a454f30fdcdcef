package muc

import "samtal.org/samtal/internal/jid"

// Release ends a room's life on this server without ending the room:
// in a cluster, another node took the room over (it holds the room's
// lease). The occupants this room knew are told that it shut down
// (status 332, XEP-0045 §14.2), so that they join it again where it now
// runs, and the room goes idle here; its stored state stays as it is.
func (s *Service) Release(roomJID jid.JID) {
	s.mu.Lock()
	live := s.live[roomJID.Local()] != nil
	s.mu.Unlock()
	if !live {
		return
	}
	s.post(roomJID, event{fn: func(r *room) {
		r.shutdown()
		clear(r.occ)
		clear(r.sessions)
		r.emptyAt = r.s.now()
	}})
}

// Active reports whether a room is running on this server now (it has a
// goroutine: occupants, or stanzas recently).
func (s *Service) Active(roomJID jid.JID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live[roomJID.Local()] != nil
}
