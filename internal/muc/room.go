package muc

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// roomState is where a room is in its life.
type roomState int

const (
	stateAbsent roomState = iota // not stored, not created
	stateLocked                  // created, waiting for its configuration (§10.1.1)
	stateOpen
	stateGone // destroyed, or failed to load
)

// occupant is one nickname in the room: one user, with one or more of
// their sessions (§7.2.10 allows a user several resources under one
// nick).
type occupant struct {
	nick     string
	bare     jid.JID
	id       string // occupant-id (XEP-0421)
	role     role
	sessions []jid.JID      // full JIDs, in the order they joined
	pres     *xmlel.Element // last available presence, cleaned of MUC elements
}

// affEntry is one affiliation in the room's lists.
type affEntry struct {
	aff    affiliation
	nick   string
	reason string
}

// subject is the room's subject (§8.1).
type subject struct {
	text string
	nick string
	at   time.Time // zero: never set
}

// histEntry is one message of the discussion history.
type histEntry struct {
	id     string // stanza-id
	stored time.Time
	nick   string
	sender jid.JID        // real bare JID
	el     *xmlel.Element // the message as the room reflected it, no 'to'
}

// pendingIQ is a request the room forwarded from one occupant to another,
// waiting for its answer.
type pendingIQ struct {
	from    jid.JID // the requester's full JID
	id      string  // the requester's id
	target  jid.JID // where the room sent it
	nick    string  // the occupant JID the request was to
	expires time.Time
}

// room is one room, owned by the goroutine that runs it. Only info and
// mbox are touched by others.
type room struct {
	s    *Service
	jid  jid.JID
	mbox mailbox
	info atomic.Pointer[roomInfo]

	// Owned by run.
	ctx      context.Context // for storage calls and routing
	state    roomState
	cfg      roomConfig // set with setConfig
	bcast    [roleModerator + 1]bool
	affs     map[string]affEntry // by bare JID (or domain)
	occ      map[string]*occupant
	sessions map[jid.JID]*occupant
	voice    map[jid.JID]role // roles given in a moderated room, kept across visits (§5.1)
	subj     subject
	vcard    string
	avatar   string // SHA-1 of the vCard photo, hex; "" for none
	history  []histEntry
	pending  map[string]pendingIQ
	invites  map[jid.JID]jid.JID   // invitee bare JID -> inviter, for declines
	regs     map[string]regRequest // registrations awaiting approval, by bare JID
	creator  jid.JID
	lockedAt time.Time
	emptyAt  time.Time // when the last occupant left
	created  time.Time
}

func newRoom(s *Service, j jid.JID) *room {
	return &room{
		s:        s,
		jid:      j,
		mbox:     mailbox{wake: make(chan struct{}, 1)},
		ctx:      context.WithoutCancel(s.ctx),
		affs:     make(map[string]affEntry),
		occ:      make(map[string]*occupant),
		sessions: make(map[jid.JID]*occupant),
		voice:    make(map[jid.JID]role),
		pending:  make(map[string]pendingIQ),
		invites:  make(map[jid.JID]jid.JID),
		regs:     make(map[string]regRequest),
	}
}

// run is the room's goroutine: it loads the room, then handles its
// mailbox until the room is idle and empty, or the service closes.
func (r *room) run() {
	defer r.s.wg.Done()
	r.load()
	r.publish()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	var buf []event
	for {
		select {
		case <-r.s.ctx.Done():
			r.shutdown()
			return
		case <-r.mbox.wake:
		case <-tick.C:
			r.tick()
		}
		buf = r.mbox.take(buf)
		for i := range buf {
			r.handleEvent(buf[i])
			buf[i] = event{}
		}
		r.publish()
		if r.idle() && r.s.retire(r) {
			return
		}
	}
}

// handleEvent handles one event; a panic is logged and costs only that
// event.
func (r *room) handleEvent(ev event) {
	defer func() {
		if p := recover(); p != nil {
			r.s.log.Error("muc: room panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if ev.fn != nil {
		ev.fn(r)
		return
	}
	r.handle(ev.st)
}

// load reads the room from storage.
func (r *room) load() {
	stored, err := r.s.rooms.Get(r.ctx, r.jid.String())
	if errors.Is(err, storage.ErrNotFound) {
		r.state = stateAbsent
		return
	}
	if err != nil {
		r.s.log.Error("muc: loading a room failed", "err", err)
		r.state = stateGone
		return
	}
	cfg, err := r.s.decodeConfig(stored.Config)
	if err != nil {
		r.s.log.Error("muc: stored room configuration unreadable", "err", err)
		r.state = stateGone
		return
	}
	affs, err := r.s.rooms.Affiliations(r.ctx, r.jid.String())
	if err != nil {
		r.s.log.Error("muc: loading room affiliations failed", "err", err)
		r.state = stateGone
		return
	}
	r.setConfig(cfg)
	r.cfg.Persistent = true
	for _, a := range affs {
		aff, ok := parseAffiliation(a.Affiliation)
		if !ok || aff == affNone {
			continue
		}
		r.affs[a.JID] = affEntry{aff: aff, nick: a.Nick, reason: a.Reason}
	}
	r.subj = subject{text: stored.Subject, nick: stored.SubjectNick, at: stored.SubjectTime}
	r.vcard = stored.VCard
	r.avatar = avatarHash(stored.VCard)
	r.created = stored.Created
	r.state = stateOpen
	r.emptyAt = r.s.now()
	if r.cfg.archiving() {
		msgs, err := r.s.archive.Last(r.ctx, r.jid.String(), r.s.cfg.HistoryMax)
		if err != nil {
			r.s.log.Error("muc: loading room history failed", "err", err)
		}
		for _, m := range msgs {
			el, err := xmlstream.ParseStored(m.Stanza)
			if err != nil || isSubjectChange(el) {
				// §7.2.15: subject changes are archived, but they are
				// not discussion history.
				continue
			}
			sender, _ := jid.Parse(m.Sender)
			r.history = append(r.history, histEntry{id: m.ID, stored: m.Stored, nick: m.Nick, sender: sender, el: el})
		}
	}
}

// publish updates what the service reads of the room.
func (r *room) publish() {
	n := len(r.occ)
	info := &roomInfo{
		name:       r.cfg.Name,
		public:     r.cfg.Public,
		listed:     r.state == stateOpen && r.cfg.Public,
		persistent: r.cfg.Persistent && r.state != stateGone && r.state != stateAbsent,
		occupants:  n,
		creator:    r.creator,
	}
	if old := r.info.Load(); old != nil && *old == *info {
		return
	}
	r.info.Store(info)
}

// idle reports whether the room's goroutine may end: nothing is left to
// keep in memory.
func (r *room) idle() bool {
	if len(r.occ) > 0 {
		return false
	}
	switch r.state {
	case stateAbsent, stateGone:
		return true
	case stateLocked:
		// The creator left before configuring: §10.1.1 lets the room go.
		r.reset()
		return true
	}
	if !r.cfg.Persistent {
		// §7.14: a temporary room ends with its last occupant.
		r.reset()
		return true
	}
	// Registration requests keep the room loaded: they live only here
	// (see requestApproval).
	return len(r.pending) == 0 && len(r.regs) == 0 && r.s.now().Sub(r.emptyAt) >= idleUnload
}

// tick does what time brings: forwarded requests and registration
// requests time out, and a room whose creator never configured it takes
// the default configuration.
func (r *room) tick() {
	now := r.s.now()
	for id, p := range r.pending {
		if now.After(p.expires) {
			delete(r.pending, id)
		}
	}
	for k, p := range r.regs {
		if now.After(p.expires) {
			delete(r.regs, k)
		}
	}
	if r.state == stateLocked && now.Sub(r.lockedAt) >= lockTimeout {
		r.unlock()
	}
	if r.cfg.archiving() || len(r.history) > 0 {
		r.trimHistory()
	}
}

// shutdown tells every occupant that the service goes away (§11.2,
// status 332).
func (r *room) shutdown() {
	for _, o := range r.occ {
		for _, full := range o.sessions {
			el := r.occupantPresence(o, "unavailable", true, presenceOpts{codes: []int{110, 332}, role: roleNone, aff: r.affOf(o.bare)})
			r.send(el, r.occupantJID(o.nick), full)
		}
	}
}

// send routes a new stanza from the room (or an occupant JID) to to.
func (r *room) send(el *xmlel.Element, from, to jid.JID) {
	el.SetAttr("from", from.String())
	el.SetAttr("to", to.String())
	r.s.router.Route(r.ctx, &stanza.Stanza{El: el, From: from, To: to})
}

// sendCopy routes a shallow copy of el to to, so that one element serves
// many recipients.
func (r *room) sendCopy(el *xmlel.Element, from, to jid.JID) {
	r.send(el.ShallowCopy(), from, to)
}

// reply answers a request with a result or error from the room.
func (r *room) reply(st *stanza.Stanza, payload *xmlel.Element, err error) {
	el := st.Answer(payload, err, func(err error) { r.s.log.Error("muc: room request failed", "err", err) })
	if el == nil || st.From.IsZero() {
		return
	}
	r.s.router.Route(r.ctx, &stanza.Stanza{El: el, From: st.To, To: st.From})
}

// bounce answers st with an error, by the room (XEP-0045 examples put
// the room JID in 'by').
func (r *room) bounce(st *stanza.Stanza, e stanza.Error) {
	if st.Type() == "error" {
		return
	}
	if e.By == "" {
		e.By = r.jid.String()
	}
	el := stanza.ErrorReply(st.El, e)
	if el == nil || st.From.IsZero() {
		return
	}
	if st.Kind() == stanza.Presence {
		// §7.2: presence errors carry the <x/> of the request.
		el.Children = append([]xmlel.Node{xmlel.New(NS, "x")}, el.Children...)
	}
	r.s.router.Route(r.ctx, &stanza.Stanza{El: el, From: st.To, To: st.From})
}

// occupantJID returns room@service/nick.
func (r *room) occupantJID(nick string) jid.JID {
	j, err := jid.New(r.jid.Local(), r.jid.Domain(), nick)
	if err != nil {
		return r.jid // nicknames are checked on entry; not reached
	}
	return j
}

// affOf returns the affiliation of a user: of the bare JID, else of its
// domain (§9.2: a ban of a domain covers its users).
func (r *room) affOf(j jid.JID) affiliation { return r.affWith(nil, j) }

// affWith is affOf with the planned changes of a request (by bare JID or
// domain) made first. The host's administrators are owners whatever the
// lists say (Config.Admins): no change to the lists demotes or bans them,
// and a domain's ban does not cover them.
func (r *room) affWith(planned map[string]affEntry, j jid.JID) affiliation {
	if r.s.isAdmin(j) {
		return affOwner
	}
	return r.listedAff(planned, j)
}

// listedAff is affWith without the administrators' standing: what the
// room's lists give a user. A change to the lists starts from it, so that
// an administrator's acting as owner is never written down as an owner
// entry of theirs.
func (r *room) listedAff(planned map[string]affEntry, j jid.JID) affiliation {
	if e, ok := r.entry(planned, j.Bare().String()); ok {
		return e.aff
	}
	if j.Local() != "" {
		if e, ok := r.entry(planned, j.Domain()); ok {
			return e.aff
		}
	}
	return affNone
}

// entry returns the affiliation entry of a bare JID or domain, and
// whether it has one, with planned changes made first.
func (r *room) entry(planned map[string]affEntry, key string) (affEntry, bool) {
	if e, ok := planned[key]; ok {
		return e, e.aff != affNone
	}
	e, ok := r.affs[key]
	return e, ok
}

// owners counts the owners on the list. The host's administrators are
// not on it: a room keeps an owner of its own, and one whose owners'
// accounts were all removed has none until an administrator names one.
func (r *room) owners() int {
	n := 0
	for _, e := range r.affs {
		if e.aff == affOwner {
			n++
		}
	}
	return n
}

// occupantByNick returns the occupant with a nickname.
func (r *room) occupantByNick(nick string) *occupant { return r.occ[foldNick(nick)] }

// occupantsOf returns the occupants that are sessions of a bare JID.
func (r *room) occupantsOf(bare jid.JID) []*occupant {
	var out []*occupant
	for _, o := range r.occ {
		if o.bare.Equal(bare) {
			out = append(out, o)
		}
	}
	return out
}

// save writes the room's state when the room is persistent.
func (r *room) save() {
	if !r.cfg.Persistent || r.state == stateGone || r.state == stateAbsent {
		return
	}
	err := r.s.rooms.Put(r.ctx, storage.Room{
		JID: r.jid.String(), Config: r.cfg.encode(),
		Subject: r.subj.text, SubjectNick: r.subj.nick, SubjectTime: r.subj.at,
		VCard: r.vcard,
	})
	if err != nil {
		r.s.log.Error("muc: saving a room failed", "err", err)
	}
}

// saveAff writes one affiliation when the room is persistent.
func (r *room) saveAff(key string, e affEntry) {
	if !r.cfg.Persistent || r.state == stateAbsent || r.state == stateGone {
		return
	}
	a := storage.RoomAffiliation{JID: key, Affiliation: e.aff.String(), Nick: e.nick, Reason: e.reason}
	if e.aff == affNone {
		a.Affiliation = ""
	}
	if err := r.s.rooms.SetAffiliation(r.ctx, r.jid.String(), a); err != nil {
		r.s.log.Error("muc: saving an affiliation failed", "err", err)
	}
}

// setPersistent stores a room that became persistent, or forgets one
// that became temporary (with its archive).
func (r *room) setPersistent(was bool) {
	switch {
	case r.cfg.Persistent && !was:
		r.save()
		for k, e := range r.affs {
			r.saveAff(k, e)
		}
	case !r.cfg.Persistent && was:
		if err := r.s.rooms.Delete(r.ctx, r.jid.String()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			r.s.log.Error("muc: forgetting a room failed", "err", err)
		}
	}
}

// setConfig changes the configuration and what is derived from it.
func (r *room) setConfig(c roomConfig) {
	r.cfg = c
	for rl := roleVisitor; rl <= roleModerator; rl++ {
		r.bcast[rl] = c.PresenceBroadcast[rl.String()]
	}
	r.bcast[roleNone] = true
}

// forget takes away the affiliation of a removed account.
func (r *room) forget(user jid.JID) {
	if _, ok := r.affs[user.String()]; !ok {
		return
	}
	r.setAffiliation(user, affEntry{aff: affNone}, nil, "")
}

// unlock opens a new room with its configuration (§10.1.2, §10.1.3).
func (r *room) unlock() {
	if r.state != stateLocked {
		return
	}
	r.state = stateOpen
	if r.cfg.Persistent {
		r.setPersistent(false)
	}
}
