package im

import (
	"context"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// Hooks let other services see the messages and presence of local users
// without the IM core knowing them: the archive (XEP-0313) stamps and
// stores messages, carbons (XEP-0280) copy them to the user's other
// devices, PEP (XEP-0163) follows presence and entity capabilities. Hooks
// run in the order they were added, in the goroutine that routes the
// stanza, so they must not block for long.
type Hooks struct {
	// MessageSent sees a message a local user's session sent, before it
	// is routed; it may change st.El. Returning false stops the message
	// (the hook has handled it).
	MessageSent func(ctx context.Context, sess router.Session, st *stanza.Stanza) bool
	// MessageArrived sees a message for a local user, after blocking and
	// before delivery; it may change st.El (a stanza-id, say). Returning
	// false stops it.
	MessageArrived func(ctx context.Context, st *stanza.Stanza) bool
	// MessageDelivered learns which sessions got a message for a local
	// user; none means it was stored offline or dropped.
	MessageDelivered func(ctx context.Context, st *stanza.Stanza, to []router.Session)
	// RawMessage sees a message that a local session sends to local
	// sessions and that could travel as the bytes its sender wrote
	// (Service.Forward), with to the sessions it would reach. It reports
	// whether that is fine: the hook would neither change, stop, store
	// nor copy it. It may note what it needs of the message. False sends
	// the message down the tree path, where MessageSent, MessageArrived
	// and MessageDelivered see it; hooks that have one of those and no
	// RawMessage keep every message there.
	RawMessage func(ctx context.Context, m *stanza.Outline, sender router.Session, to []router.Session) bool
	// PresenceSent sees the broadcast presence of a local resource; el is
	// nil when the resource became unavailable. initial is true for the
	// first available presence of the session. It may add to el before
	// it goes out (XEP-0398 puts the avatar hash in it).
	PresenceSent func(ctx context.Context, full jid.JID, el *xmlel.Element, initial bool)
	// PresenceDirected sees presence that a local resource directs to one
	// entity (RFC 6121 §4.6), such as a room join, before it is routed;
	// it may change st.El.
	PresenceDirected func(ctx context.Context, st *stanza.Stanza)
	// PresenceArrived sees available or unavailable presence that others
	// sent to a local user.
	PresenceArrived func(ctx context.Context, st *stanza.Stanza)
	// SessionEnded learns that a bound session ended, after it was
	// unbound and its unavailable presence went out: per-session state
	// (carbons, archive queries) can go.
	SessionEnded func(ctx context.Context, sess router.Session)
	// OfflineMessage sees each stored offline message before it is sent
	// to a session that just became available; returning false keeps it
	// from that session (the session already has it, from the archive).
	// The message is removed from offline storage either way. A large
	// backlog goes at the pace the session takes it, so the hook may run
	// on the delivery's own goroutine, after the presence was handled.
	OfflineMessage func(ctx context.Context, sess router.Session, el *xmlel.Element) bool
	// IQResponse sees an iq result or error addressed to a host or to a
	// user's bare JID, which the server would otherwise drop: responses
	// to requests a service sent. Returning true means it was expected.
	IQResponse func(ctx context.Context, st *stanza.Stanza) bool
	// BlocklistChanged learns that a user's blocklist changed here, after
	// the new one is stored: cluster mode tells the other nodes, whose
	// cached copy must go (ForgetBlocklist).
	BlocklistChanged func(ctx context.Context, user jid.JID)
	// Blocked sees the items of a user's block command (XEP-0191 §3.3)
	// that carry more than a JID, such as the abuse reports of XEP-0377,
	// once the block is stored and the answer sent; user is the bare
	// JID that blocked. The items belong to the request: the hook reads
	// them and keeps nothing of them.
	Blocked func(ctx context.Context, user jid.JID, items []*xmlel.Element)
	// ServerMessage sees a message addressed to a host itself, which the
	// server would otherwise ignore (RFC 6120 §10.3.1), such as a report
	// that another server forwards. Returning true means it was handled.
	ServerMessage func(ctx context.Context, st *stanza.Stanza) bool
}

// AddHooks registers hooks; call it before the server serves.
func (s *Service) AddHooks(h Hooks) { s.hooks = append(s.hooks, h) }

func (s *Service) messageSent(ctx context.Context, sess router.Session, st *stanza.Stanza) bool {
	for _, h := range s.hooks {
		if h.MessageSent != nil && !h.MessageSent(ctx, sess, st) {
			return false
		}
	}
	return true
}

// rawOK asks the hooks whether a message may travel as bytes (see
// Hooks.RawMessage).
func (s *Service) rawOK(ctx context.Context, m *stanza.Outline, sender router.Session, to []router.Session) bool {
	for _, h := range s.hooks {
		if h.RawMessage != nil {
			if !h.RawMessage(ctx, m, sender, to) {
				return false
			}
			continue
		}
		if h.MessageSent != nil || h.MessageArrived != nil || h.MessageDelivered != nil {
			return false
		}
	}
	return true
}

func (s *Service) messageArrived(ctx context.Context, st *stanza.Stanza) bool {
	for _, h := range s.hooks {
		if h.MessageArrived != nil && !h.MessageArrived(ctx, st) {
			return false
		}
	}
	return true
}

func (s *Service) messageDelivered(ctx context.Context, st *stanza.Stanza, to []router.Session) {
	for _, h := range s.hooks {
		if h.MessageDelivered != nil {
			h.MessageDelivered(ctx, st, to)
		}
	}
}

func (s *Service) presenceSent(ctx context.Context, full jid.JID, el *xmlel.Element, initial bool) {
	for _, h := range s.hooks {
		if h.PresenceSent != nil {
			h.PresenceSent(ctx, full, el, initial)
		}
	}
}

func (s *Service) presenceDirected(ctx context.Context, st *stanza.Stanza) {
	for _, h := range s.hooks {
		if h.PresenceDirected != nil {
			h.PresenceDirected(ctx, st)
		}
	}
}

func (s *Service) presenceArrived(ctx context.Context, st *stanza.Stanza) {
	for _, h := range s.hooks {
		if h.PresenceArrived != nil {
			h.PresenceArrived(ctx, st)
		}
	}
}

func (s *Service) sessionEnded(ctx context.Context, sess router.Session) {
	for _, h := range s.hooks {
		if h.SessionEnded != nil {
			h.SessionEnded(ctx, sess)
		}
	}
}

func (s *Service) offlineMessage(ctx context.Context, sess router.Session, el *xmlel.Element) bool {
	for _, h := range s.hooks {
		if h.OfflineMessage != nil && !h.OfflineMessage(ctx, sess, el) {
			return false
		}
	}
	return true
}

func (s *Service) blocklistChanged(ctx context.Context, user jid.JID) {
	for _, h := range s.hooks {
		if h.BlocklistChanged != nil {
			h.BlocklistChanged(ctx, user)
		}
	}
}

func (s *Service) iqResponse(ctx context.Context, st *stanza.Stanza) {
	for _, h := range s.hooks {
		if h.IQResponse != nil && h.IQResponse(ctx, st) {
			return
		}
	}
}

func (s *Service) blocked(ctx context.Context, user jid.JID, items []*xmlel.Element) {
	for _, h := range s.hooks {
		if h.Blocked != nil {
			h.Blocked(ctx, user, items)
		}
	}
}

func (s *Service) serverMessage(ctx context.Context, st *stanza.Stanza) {
	for _, h := range s.hooks {
		if h.ServerMessage != nil && h.ServerMessage(ctx, st) {
			return
		}
	}
}
