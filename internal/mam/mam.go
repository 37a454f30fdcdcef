// Package mam keeps the message archive of every local user (XEP-0313,
// Message Archive Management): it archives the messages a user sends and
// receives, stamps each with its archive ID (XEP-0359 stanza-id), answers
// the user's queries with result set paging (XEP-0059), keeps the user's
// archiving preferences (XEP-0441) and the archive metadata, and removes
// what is older than the retention period.
//
// It plugs into the IM core through hooks (see the methods named after
// them) and into the iq mux for the urn:xmpp:mam:2 namespace; the wire
// format it shares with room archives is in package archive.
//
// # What is archived
//
// Messages of type chat or normal (or none) that carry something a
// client shows or needs to sync between devices: a body, an end-to-end
// encrypted payload (OMEMO, both eu.siacs.conversations.axolotl and
// urn:xmpp:omemo:2; OpenPGP), chat markers, delivery receipts,
// retractions, reactions, call signalling (XEP-0353) and invitations.
// Chat states alone are not archived (§6.1.1: state changes, not
// content), nor messages with a no-store or no-permanent-store hint
// (XEP-0334), nor group chat messages (their room keeps them), nor
// headlines and errors. A store hint archives a message that would not
// be otherwise.
//
// A message between two resources of one user is archived once, when it
// arrives (§6.1.1: only once per archive).
package mam

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"time"

	"samtal.org/samtal/internal/archive"
	"samtal.org/samtal/internal/durable"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// NS is the namespace of Message Archive Management.
const NS = archive.NS

// Config configures the archive.
type Config struct {
	// Default is the archiving policy of users who set no preferences:
	// storage.ArchiveAlways, ArchiveRoster or ArchiveNever.
	Default string
	// DefaultPage is the page size of a query that asks for none.
	DefaultPage int
	// MaxPage is the largest page a query gets, whatever it asks.
	MaxPage int
	// MaxPageBytes bounds the archived messages of one page, in bytes
	// of XML; <= 0 does not. A page keeps at least one message.
	MaxPageBytes int
	// Retention is how long a message stays in the archive.
	Retention time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validate reports every problem of c.
func (c Config) Validate() error {
	var errs []error
	switch c.Default {
	case storage.ArchiveAlways, storage.ArchiveRoster, storage.ArchiveNever:
	default:
		errs = append(errs, fmt.Errorf("mam: unknown default policy %q", c.Default))
	}
	if c.MaxPage <= 0 || c.DefaultPage <= 0 || c.DefaultPage > c.MaxPage {
		errs = append(errs, fmt.Errorf("mam: page sizes %d (default) and %d (max) must be positive, default at most max", c.DefaultPage, c.MaxPage))
	}
	if c.Retention <= 0 {
		errs = append(errs, errors.New("mam: retention must be positive"))
	}
	return errors.Join(errs...)
}

// Roster is what the archive reads of rosters, for the "roster" policy.
// storage.Roster has it.
type Roster interface {
	Item(ctx context.Context, user, contact string) (storage.RosterItem, error)
}

// Limits on what one user can make the server keep in memory or store.
const (
	// maxServed bounds the archive IDs remembered per session to keep
	// offline messages it already has from being sent again.
	maxServed = 10000
	// maxPrefsJIDs bounds the always and never lists together.
	maxPrefsJIDs = 1000
)

// Service is the archive. It is safe for concurrent use.
type Service struct {
	cfg    Config
	store  storage.Archive
	roster Roster
	router *router.Router
	log    *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	sessions map[jid.JID]*session // by full JID

	// prefsCache keeps users' preferences read from the store for
	// prefsTTL: every archived message needs them, and most users never
	// set any. A change through this node takes effect at once; one made
	// on another node of a cluster within prefsTTL.
	prefsMu    sync.Mutex
	prefsCache map[string]cachedPrefs
}

type cachedPrefs struct {
	p   storage.ArchivePrefs
	set bool // stored; otherwise the default applies
	at  time.Time
}

const (
	prefsTTL = 10 * time.Second
	// prefsCacheMax bounds the cache; past it, it starts over.
	prefsCacheMax = 100_000
)

// session is what the archive remembers of a session: the archive IDs
// it fetched before it became available, so that offline delivery skips
// them (§6.1.1).
type session struct {
	sess      router.Session
	available bool
	served    map[string]bool
}

// New returns the archive service and registers its requests in mux.
func New(cfg Config, store storage.Archive, roster Roster, r *router.Router, mux *iq.Mux, log *slog.Logger) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{
		cfg: cfg, store: store, roster: roster, router: r, log: log, now: cfg.Now,
		sessions: make(map[jid.JID]*session), prefsCache: make(map[string]cachedPrefs),
	}
	mux.Handle(iq.Account, NS, s.handle)
	// §7: an archive that supports before-id, after-id, ids, flipped
	// pages and metadata advertises #extended; include-groupchat is
	// understood (group chat messages are never in a user's archive).
	// XEP-0359 §5: the archive, which the 'by' of its stanza-ids names,
	// follows the stanza-id rules.
	mux.AddFeature(iq.Account, NS, archive.NSExtended, archive.NSGroupchatField, archive.NSStanzaID)
	return s
}

// Namespaces of payloads that decide whether a message is archived.
const (
	nsHints     = "urn:xmpp:hints"
	nsOMEMO     = "eu.siacs.conversations.axolotl"
	nsOMEMO2    = "urn:xmpp:omemo:2"
	nsOpenPGP   = "urn:xmpp:openpgp:0"
	nsLegacyPGP = "jabber:x:encrypted"
	nsMarkers   = "urn:xmpp:chat-markers:0"
	nsReceipts  = "urn:xmpp:receipts"
	nsRetract   = "urn:xmpp:message-retract:1"
	nsRetract0  = "urn:xmpp:message-retract:0"
	nsFasten    = "urn:xmpp:fasten:0"
	nsReactions = "urn:xmpp:reactions:0"
	nsJMI       = "urn:xmpp:jingle-message:0"
	nsJMI1      = "urn:xmpp:jingle-message:1"
	nsConfInv   = "jabber:x:conference"
	nsMUCUser   = "http://jabber.org/protocol/muc#user"
)

// Archivable reports whether a message belongs in a user's archive (see
// the package documentation).
func Archivable(el *xmlel.Element) bool {
	worth, _ := archivable(el.Attr("type"), stanza.NamesOf(el).Children(), func() bool {
		muc := el.Child(nsMUCUser, "x")
		return muc != nil && muc.Child(nsMUCUser, "invite") != nil
	})
	return worth
}

// archivable is Archivable from a message's type and its children's
// names. invite tells whether its MUC user <x/> holds an invitation;
// without it (nil), such a message is not decided: known is false.
func archivable(typ string, children iter.Seq2[string, string], invite func() bool) (worth, known bool) {
	switch typ {
	case "", "normal", "chat":
	default:
		return false, true
	}
	for space, local := range children {
		switch space {
		case nsHints:
			switch local {
			case "no-store", "no-permanent-store":
				return false, true
			case "store":
				worth = true
			}
		case "":
			worth = worth || local == "body"
		case nsOMEMO, nsOMEMO2:
			worth = worth || local == "encrypted"
		case nsOpenPGP, nsLegacyPGP, nsReactions, nsJMI, nsJMI1, nsConfInv, nsRetract, nsRetract0, nsFasten:
			worth = true
		case nsMarkers:
			worth = worth || local == "received" || local == "displayed" || local == "acknowledged"
		case nsReceipts:
			worth = worth || local == "received"
		case nsMUCUser:
			if local == "x" {
				if invite == nil {
					return false, false
				}
				worth = worth || invite()
			}
		}
	}
	return worth, true
}

// MessageSent is the im hook for messages a user's session sends: it
// archives the message in the sender's archive and stamps it with a
// stanza-id, which the user's other devices see in their carbon copies.
// AfterSent must remove the stamp before the message leaves (§3.5).
func (s *Service) MessageSent(ctx context.Context, sess router.Session, st *stanza.Stanza) bool {
	user := sess.JID().Bare()
	if st.To.Bare().Equal(user) {
		return true // archived once, when it arrives
	}
	s.archive(ctx, user, st.To, st.El)
	return true
}

// RawMessage is the im hook for a message that could travel as the bytes
// its sender wrote (im.Hooks.RawMessage): fine when neither party's
// archive keeps it and it carries no stanza-id for the archive to check
// (XEP-0359 §4 rule 2).
func (s *Service) RawMessage(ctx context.Context, m *stanza.Outline, _ router.Session, _ []router.Session) bool {
	if m.Has(archive.NSStanzaID, "stanza-id") {
		return false
	}
	worth, known := archivable(m.Type, m.Kids.Children(), nil)
	if !known {
		return false
	}
	if !worth {
		return true
	}
	// Kept, or not known to be left out: the tree path decides (and
	// logs an unreadable preference).
	keeps := func(owner, with jid.JID) bool {
		ok, err := s.wanted(ctx, owner, with)
		return ok || err != nil
	}
	sender, user := m.From.Bare(), m.To.Bare()
	if !user.Equal(sender) && keeps(sender, m.To) {
		return false // a message to oneself is archived once, when it arrives (MessageSent)
	}
	return !keeps(user, m.From)
}

// AfterSent is the im hook that runs after the hooks that copy an
// outgoing message (carbons): it removes the sender's stanza-id, which
// the contact may not see (§3.5), and any that the client put there.
func (s *Service) AfterSent(_ context.Context, sess router.Session, st *stanza.Stanza) bool {
	stripStanzaIDs(st.El, sess.JID().Bare())
	return true
}

// RawAfterSent is AfterSent's im hook for a message that could travel as
// the bytes its sender wrote: fine without a stanza-id to remove.
func (s *Service) RawAfterSent(_ context.Context, m *stanza.Outline, _ router.Session, _ []router.Session) bool {
	return !m.Has(archive.NSStanzaID, "stanza-id")
}

// MessageArrived is the im hook for messages to a local user: it drops
// stanza-ids that claim to come from the user's archive (XEP-0359 §4
// rule 2), archives the message and stamps it with its archive ID.
func (s *Service) MessageArrived(ctx context.Context, st *stanza.Stanza) bool {
	user := st.To.Bare()
	stripStanzaIDs(st.El, user)
	s.archive(ctx, user, st.From, st.El)
	return true
}

// archive stores a message in user's archive when it belongs there, and
// adds the stanza-id to el.
func (s *Service) archive(ctx context.Context, user, with jid.JID, el *xmlel.Element) {
	if with.IsZero() || !Archivable(el) {
		return
	}
	ok, err := s.wanted(ctx, user, with)
	if err != nil {
		s.log.Error("mam: preferences unreadable", "err", err)
		return
	}
	if !ok {
		return
	}
	stored := el.ShallowCopy()
	stripStanzaIDs(stored, user)
	// The store names the message (storage.Archive.Append).
	m := storage.ArchivedMessage{With: with.String(), Stanza: stored.String()}
	if durable.Tracked(ctx) {
		// The stream waits for the write before it acknowledges the
		// stanza (XEP-0198), not before it delivers it: the ID is known
		// at once, and a query waits for what was enqueued before it.
		release := durable.Hold(ctx)
		id := s.store.Enqueue(ctx, user.String(), m, func(_ storage.ArchivedMessage, err error) {
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				s.log.Error("mam: archiving failed", "err", err)
			}
			release()
		})
		if id != "" {
			el.Append(xmlel.New(archive.NSStanzaID, "stanza-id", "by", user.String(), "id", id))
		}
		return
	}
	m, err = s.store.Append(ctx, user.String(), m)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) { // no such account: delivery bounces it
			s.log.Error("mam: archiving failed", "err", err)
		}
		return
	}
	el.Append(xmlel.New(archive.NSStanzaID, "stanza-id", "by", user.String(), "id", m.ID))
}

// stripStanzaIDs removes the stanza-ids of user's archive from el.
func stripStanzaIDs(el *xmlel.Element, user jid.JID) {
	by := user.String()
	el.RemoveChildren(func(c *xmlel.Element) bool {
		return c.Is(archive.NSStanzaID, "stanza-id") && c.Attr("by") == by
	})
}

// wanted applies the user's preferences (XEP-0441) to a message with a
// party.
func (s *Service) wanted(ctx context.Context, user, with jid.JID) (bool, error) {
	prefs, err := s.prefs(ctx, user)
	if err != nil {
		return false, err
	}
	full, bare := with.String(), with.Bare().String()
	match := func(list []string) bool {
		for _, j := range list {
			if j == full || j == bare {
				return true
			}
		}
		return false
	}
	switch {
	case match(prefs.Never):
		return false, nil
	case match(prefs.Always):
		return true, nil
	}
	switch prefs.Default {
	case storage.ArchiveAlways:
		return true, nil
	case storage.ArchiveRoster:
		if with.Bare().Equal(user) {
			return true, nil
		}
		_, err := s.roster.Item(ctx, user.String(), bare)
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	return false, nil
}

// prefs returns the user's preferences, or the default ones.
func (s *Service) prefs(ctx context.Context, user jid.JID) (storage.ArchivePrefs, error) {
	key := user.String()
	now := s.now()
	s.prefsMu.Lock()
	c, ok := s.prefsCache[key]
	s.prefsMu.Unlock()
	if !ok || now.Sub(c.at) >= prefsTTL || now.Before(c.at) {
		p, err := s.store.Prefs(ctx, key)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			c = cachedPrefs{at: now}
		case err != nil:
			return p, err
		default:
			c = cachedPrefs{p: p, set: true, at: now}
		}
		s.prefsMu.Lock()
		if len(s.prefsCache) >= prefsCacheMax {
			clear(s.prefsCache)
		}
		s.prefsCache[key] = c
		s.prefsMu.Unlock()
	}
	if !c.set {
		return storage.ArchivePrefs{Default: s.cfg.Default}, nil
	}
	return c.p, nil
}

// forgetPrefs drops the cached preferences of user, after a change.
func (s *Service) forgetPrefs(user jid.JID) {
	s.prefsMu.Lock()
	delete(s.prefsCache, user.String())
	s.prefsMu.Unlock()
}

// newID returns a random (version 4) UUID: IDs of stanzas the archive
// sends, and archive IDs where the store has no scheme of its own.
var newID = storage.NewID

// Expire removes the messages older than the retention period from every
// archive and returns how many.
func (s *Service) Expire(ctx context.Context) (int64, error) {
	return s.store.Expire(ctx, s.now().Add(-s.cfg.Retention))
}

// Empty removes every message of user's archive, at the user's request,
// and returns how many there were.
func (s *Service) Empty(ctx context.Context, user jid.JID) (int64, error) {
	return s.store.DeleteAll(ctx, user.Bare().String())
}
