package mam

import (
	"context"

	"samtal.org/samtal/internal/archive"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/xmlel"
)

// A client that fetches its archive before it sends initial presence
// would get the same messages again as offline messages: the archive
// remembers what such a session fetched, and OfflineMessage keeps those
// from it (§6.1.1 allows it, and suggests it).

// served records the archive IDs a session fetched, while it is not
// available.
func (s *Service) served(sess router.Session, ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.sessionLocked(sess)
	if st.available {
		return
	}
	for _, id := range ids {
		if len(st.served) >= maxServed {
			return // beyond that, the client gets duplicates, which it can tell by ID
		}
		st.served[id] = true
	}
}

// sessionLocked returns the state of sess, new if what is kept under its
// JID belongs to an older session. s.mu is held.
func (s *Service) sessionLocked(sess router.Session) *session {
	full := sess.JID()
	st := s.sessions[full]
	if st == nil || st.sess != sess {
		st = &session{sess: sess, served: make(map[string]bool)}
		s.sessions[full] = st
	}
	return st
}

// PresenceSent is the im hook for the presence of a local resource: once
// available, a session's later queries are not remembered; once
// unavailable again, it starts afresh.
func (s *Service) PresenceSent(_ context.Context, full jid.JID, el *xmlel.Element, initial bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.sessions[full]
	switch {
	case st == nil:
	case el == nil:
		st.available = false
		clear(st.served)
	case initial:
		// What was fetched stays for the offline delivery that follows.
		st.available = true
	}
}

// OfflineMessage is the im hook for offline delivery: it keeps from a
// session the archived messages it already fetched.
func (s *Service) OfflineMessage(_ context.Context, sess router.Session, el *xmlel.Element) bool {
	by := sess.JID().Bare().String()
	var id string
	for _, c := range el.Elements() {
		if c.Is(archive.NSStanzaID, "stanza-id") && c.Attr("by") == by {
			id = c.Attr("id")
		}
	}
	if id == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.sessions[sess.JID()]
	return st == nil || st.sess != sess || !st.served[id]
}

// SessionEnded is the im hook for sessions that end: their state goes.
func (s *Service) SessionEnded(_ context.Context, sess router.Session) {
	full := sess.JID()
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.sessions[full]; st != nil && (st.sess == sess || s.router.Session(full) == nil) {
		delete(s.sessions, full)
	}
}
