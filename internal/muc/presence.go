package muc

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"samtal.org/samtal/internal/archive"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// maxSessions bounds the sessions one user has in a room under one nick.
const maxSessions = 10

// presenceOpts is what a room presence says beyond the occupant's own
// presence.
type presenceOpts struct {
	id      string // the id attribute
	aff     affiliation
	role    role
	nick    string // new nickname (303)
	actor   string // nickname of who kicked or banned
	reason  string
	codes   []int
	destroy *xmlel.Element
	status  []xmlel.Node // the occupant's words on leaving
}

// presenceEl builds a presence from an occupant's JID: its own presence
// (or exit status) and the muc#user extension with its affiliation and
// role, its real JID when real is not zero, and the status codes.
func (r *room) presenceEl(o *occupant, typ string, real jid.JID, opts presenceOpts) *xmlel.Element {
	el := xmlel.New("", stanza.Presence, "type", typ, "id", opts.id)
	if typ == "" && o.pres != nil {
		el.Children = append(el.Children, o.pres.Children...)
	}
	if typ == "unavailable" {
		el.Children = append(el.Children, opts.status...)
	}
	item := xmlel.New(NSUser, "item", "affiliation", opts.aff.String(), "role", opts.role.String(), "nick", opts.nick)
	if !real.IsZero() {
		item.SetAttr("jid", real.String())
	}
	if opts.actor != "" {
		item.Append(xmlel.New(NSUser, "actor", "nick", opts.actor))
	}
	if opts.reason != "" {
		item.Append(xmlel.TextElement(NSUser, "reason", opts.reason))
	}
	x := xmlel.New(NSUser, "x").Append(item)
	codes := slices.Clone(opts.codes)
	slices.Sort(codes)
	for _, c := range slices.Compact(codes) {
		x.Append(xmlel.New(NSUser, "status", "code", strconv.Itoa(c)))
	}
	x.Append(opts.destroy)
	el.Append(x)
	// XEP-0421 §5: every presence the room sends carries the occupant-id.
	return el.Append(xmlel.New(NSOccupant, "occupant-id", "id", o.id))
}

// occupantPresence is presenceEl with the occupant's real JID (its first
// session) when withJID.
func (r *room) occupantPresence(o *occupant, typ string, withJID bool, opts presenceOpts) *xmlel.Element {
	var real jid.JID
	if withJID && len(o.sessions) > 0 {
		real = o.sessions[0]
	}
	return r.presenceEl(o, typ, real, opts)
}

// broadcasts reports whether presence of an occupant with role rl goes to
// the others (muc#roomconfig_presencebroadcast).
func (r *room) broadcasts(rl role) bool { return r.bcast[rl] }

// broadcastPresence sends o's presence to every occupant: its own
// sessions get status 110 and selfCodes on top of opts.codes, and real
// JIDs go to those allowed to see them (§7.2.3, §7.2.4). selfID, when
// set, is reflected to the session it came from.
func (r *room) broadcastPresence(o *occupant, typ string, opts presenceOpts, selfCodes []int, selfFrom jid.JID, selfID string) {
	from := r.occupantJID(o.nick)
	var withJID, without *xmlel.Element
	if r.broadcasts(o.role) {
		for _, other := range r.occ {
			if other == o {
				continue
			}
			see := seesJIDs(&r.cfg, other.role)
			var el *xmlel.Element
			switch {
			case see && withJID == nil:
				withJID = r.occupantPresence(o, typ, true, opts)
				el = withJID
			case see:
				el = withJID
			case without == nil:
				without = r.occupantPresence(o, typ, false, opts)
				el = without
			default:
				el = without
			}
			for _, full := range other.sessions {
				r.sendCopy(el, from, full)
			}
		}
	}
	r.selfPresence(o, typ, opts, selfCodes, selfFrom, selfID)
}

// selfPresence sends o's presence to its own sessions with status 110.
func (r *room) selfPresence(o *occupant, typ string, opts presenceOpts, selfCodes []int, selfFrom jid.JID, selfID string) {
	from := r.occupantJID(o.nick)
	for _, full := range o.sessions {
		so := opts
		so.codes = append(append(slices.Clone(opts.codes), 110), selfCodes...)
		if full.Equal(selfFrom) {
			so.id = selfID
		}
		var real jid.JID
		if seesJIDs(&r.cfg, o.role) {
			real = full
		}
		r.send(r.presenceEl(o, typ, real, so), from, full)
	}
}

// handlePresence handles presence to the room or an occupant JID.
func (r *room) handlePresence(st *stanza.Stanza) {
	from := st.From
	o := r.sessions[from]
	switch st.Type() {
	case "":
		if st.To.Resource() == "" {
			// §7.2.1: no nickname.
			r.bounce(st, stanza.E(stanza.JIDMalformed))
			return
		}
		switch {
		case o == nil:
			r.join(st)
		case st.To.Resource() != o.nick:
			r.changeNick(st, o)
		case st.El.Child(NS, "x") != nil:
			// §7.2.1, §17.3 rule 3: a join from a session that is in the
			// room is a request to synchronize again.
			changed := presenceChanged(o.pres, st.El)
			o.pres = cleanPresence(st.El)
			if changed {
				r.broadcastPresence(o, "", presenceOpts{aff: r.affOf(o.bare), role: o.role}, nil, zeroJID, "")
			}
			r.welcome(o, from, st, nil)
		default:
			// §7.7: a change of availability.
			o.pres = cleanPresence(st.El)
			r.broadcastPresence(o, "", presenceOpts{aff: r.affOf(o.bare), role: o.role}, nil, from, st.ID())
		}
	case "unavailable":
		// §17.3 rule 5: unavailable presence from a non-occupant is
		// ignored.
		if o == nil {
			return
		}
		var status []xmlel.Node
		for _, c := range st.El.Elements() {
			if c.Space == "" && c.Local == "status" {
				status = append(status, c)
			}
		}
		r.removeSession(o, from, presenceOpts{status: status})
	case "error":
		if o != nil && ghostError(st) {
			r.removeSession(o, from, presenceOpts{codes: []int{333}})
		}
	}
	// Probes and subscriptions mean nothing to a room (§17.3 rule 4
	// allows handling probes; this service ignores them).
}

var zeroJID jid.JID

// ghostError reports whether an error stanza from an occupant says that
// its session is gone, so that the occupant is a ghost (§11.1).
func ghostError(st *stanza.Stanza) bool {
	e, ok := stanza.ParseError(st.El)
	if !ok {
		return false
	}
	switch e.Condition {
	case stanza.Gone, stanza.ItemNotFound, stanza.RecipientUnavailable, stanza.Redirect,
		stanza.RemoteServerNotFound, stanza.RemoteServerTimeout, stanza.ServiceUnavailable:
		return true
	}
	return false
}

// cleanPresence keeps what a room reflects of an occupant's presence:
// everything but the MUC elements, which only the room writes (§17.3
// rule 6), and occupant-ids (XEP-0421 §5).
func cleanPresence(el *xmlel.Element) *xmlel.Element {
	out := &xmlel.Element{Local: stanza.Presence}
	for _, n := range el.Children {
		if c, ok := n.(*xmlel.Element); ok {
			switch {
			case c.Space == NS, c.Space == NSUser, c.Space == NSOccupant:
				continue
			}
		}
		out.Children = append(out.Children, n)
	}
	return out
}

// presenceChanged reports whether a new presence says something else than
// the one kept.
func presenceChanged(old *xmlel.Element, el *xmlel.Element) bool {
	if old == nil {
		return true
	}
	return cleanPresence(el).String() != old.String()
}

// validNick reports whether a nickname may be used (§15.1: not empty, not
// only spaces or invisible characters).
func validNick(nick string) bool {
	if nick == "" || len(nick) > maxNickBytes || !utf8.ValidString(nick) {
		return false
	}
	for _, c := range nick {
		if !unicode.IsSpace(c) && unicode.IsGraphic(c) && !unicode.Is(unicode.Cf, c) {
			return true
		}
	}
	return false
}

// reservedBy returns the bare JID that reserved a nickname with its
// affiliation, "" when none did.
func (r *room) reservedBy(nick string) string { return r.reservedWith(nil, nick) }

// reservedWith is reservedBy with the planned changes of a request made
// first.
func (r *room) reservedWith(planned map[string]affEntry, nick string) string {
	f := foldNick(nick)
	reserves := func(e affEntry) bool { return e.nick != "" && e.aff >= affMember && foldNick(e.nick) == f }
	for j, e := range planned {
		if reserves(e) {
			return j
		}
	}
	for j, e := range r.affs {
		if _, ok := planned[j]; !ok && reserves(e) {
			return j
		}
	}
	return ""
}

// join handles available presence from a session that is not in the
// room: it creates the room or enters it (§7.2, §10.1).
func (r *room) join(st *stanza.Stanza) {
	from, nick := st.From, st.To.Resource()
	x := st.El.Child(NS, "x")
	if x == nil {
		// §7.2.22: presence without <x/> from a non-occupant is a
		// groupchat 1.0 join or a lost client; it is told it is not in
		// the room (110, 307, 333).
		if r.state == stateOpen {
			el := xmlel.New("", stanza.Presence, "type", "unavailable").Append(
				xmlel.New(NSUser, "x").Append(
					xmlel.New(NSUser, "item", "affiliation", "none", "role", "none").Append(
						xmlel.TextElement(NSUser, "reason", "You are not in the room.")),
					xmlel.New(NSUser, "status", "code", "110"),
					xmlel.New(NSUser, "status", "code", "307"),
					xmlel.New(NSUser, "status", "code", "333")))
			r.send(el, st.To, from)
			return
		}
		r.bounce(st, stanza.E(stanza.ItemNotFound))
		return
	}
	if !validNick(nick) {
		r.bounce(st, stanza.E(stanza.JIDMalformed).WithText("invalid nickname"))
		return
	}
	created := false
	switch r.state {
	case stateGone:
		r.bounce(st, stanza.E(stanza.ItemNotFound))
		return
	case stateAbsent:
		if !r.create(st) {
			return
		}
		created = true
	case stateLocked:
		// §7.2.11: a locked room does not exist yet for anyone but its
		// owner.
		if r.affOf(from) != affOwner {
			r.bounce(st, stanza.E(stanza.ItemNotFound))
			return
		}
	}
	aff := r.affOf(from)
	if cond := checkEnter(&r.cfg, aff, x.ChildText(NS, "password")); cond != "" && !created {
		r.bounce(st, stanza.E(cond))
		return
	}
	o := r.occupantByNick(nick)
	if o != nil {
		// §7.2.10: the same user under the same nick enters from another
		// resource; anyone else conflicts.
		if !o.bare.Equal(from.Bare()) || o.nick != nick || len(o.sessions) >= maxSessions {
			r.bounce(st, stanza.E(stanza.Conflict))
			return
		}
	} else {
		if by := r.reservedBy(nick); by != "" && by != from.Bare().String() {
			r.bounce(st, stanza.E(stanza.Conflict))
			return
		}
		if len(r.occ) >= r.cfg.MaxUsers && aff < affAdmin {
			// §7.2.9: the room is full.
			r.bounce(st, stanza.Error{Type: stanza.Wait, Condition: stanza.ServiceUnavailable})
			return
		}
	}
	var selfCodes []int
	if created {
		selfCodes = append(selfCodes, 201)
	}
	r.enter(st, o, selfCodes)
}

// create makes a new room with the requester as its owner, locked until
// configured (§10.1.1); it reports false, having answered, when the user
// may not.
func (r *room) create(st *stanza.Stanza) bool {
	user := st.From.Bare()
	if f := r.s.cfg.MayCreate; f != nil && !f(user) {
		r.bounce(st, stanza.E(stanza.NotAllowed))
		return false
	}
	owned, err := r.s.rooms.CountOwned(r.ctx, user.String())
	if err != nil {
		r.s.log.Error("muc: counting rooms failed", "err", err)
		r.bounce(st, stanza.E(stanza.InternalServerError))
		return false
	}
	if owned+r.s.ownedTemporary(user) >= r.s.cfg.MaxRoomsPerUser {
		r.bounce(st, stanza.E(stanza.NotAllowed).WithText("you have as many rooms as you may"))
		return false
	}
	r.setConfig(r.s.defaultConfig())
	r.state = stateLocked
	r.lockedAt = r.s.now()
	r.created = r.s.now()
	r.creator = user
	r.affs[user.String()] = affEntry{aff: affOwner}
	return true
}

// enter adds a session to the room, as a new occupant or as another
// session of o, and sends it the room (§7.2.3).
func (r *room) enter(st *stanza.Stanza, o *occupant, selfCodes []int) {
	from := st.From
	aff := r.affOf(from)
	fresh := o == nil
	if fresh {
		rl := defaultRole(aff, r.cfg.Moderated)
		if v, ok := r.voice[from.Bare()]; ok && r.cfg.Moderated && aff < affAdmin {
			rl = v
		}
		o = &occupant{nick: st.To.Resource(), bare: from.Bare(), id: r.s.occupantID(r.jid, from), role: rl}
		r.occ[foldNick(o.nick)] = o
	}
	o.sessions = append(o.sessions, from)
	r.sessions[from] = o
	changed := presenceChanged(o.pres, st.El)
	o.pres = cleanPresence(st.El)
	r.emptyAt = time.Time{}
	if fresh || changed {
		// The others learn of the new occupant (or its new presence); the
		// new session hears of itself in welcome, after the others.
		opts := presenceOpts{aff: aff, role: o.role}
		if r.broadcasts(o.role) {
			var withJID, without *xmlel.Element
			for _, other := range r.occ {
				if other == o {
					continue
				}
				var el *xmlel.Element
				if seesJIDs(&r.cfg, other.role) {
					if withJID == nil {
						withJID = r.presenceEl(o, "", from, opts)
					}
					el = withJID
				} else {
					if without == nil {
						without = r.presenceEl(o, "", zeroJID, opts)
					}
					el = without
				}
				for _, full := range other.sessions {
					r.sendCopy(el, r.occupantJID(o.nick), full)
				}
			}
		}
		// Other sessions of the same occupant see the new presence too.
		if !fresh {
			for _, full := range o.sessions[:len(o.sessions)-1] {
				so := opts
				so.codes = []int{110}
				r.send(r.presenceEl(o, "", full, so), r.occupantJID(o.nick), full)
			}
		}
	}
	r.welcome(o, from, st, selfCodes)
}

// welcome sends a session that entered what §7.1 orders: the presence of
// the others, its own presence, the history, then the subject.
func (r *room) welcome(o *occupant, to jid.JID, st *stanza.Stanza, selfCodes []int) {
	see := seesJIDs(&r.cfg, o.role)
	for _, other := range r.occ {
		if other == o || !r.broadcasts(other.role) {
			continue
		}
		el := r.occupantPresence(other, "", see, presenceOpts{aff: r.affOf(other.bare), role: other.role})
		r.send(el, r.occupantJID(other.nick), to)
	}
	codes := slices.Clone(selfCodes)
	if r.cfg.WhoIs == whoisAnyone {
		codes = append(codes, 100) // §7.2.4
	}
	if r.cfg.archiving() {
		codes = append(codes, 170) // §7.2.12
	}
	codes = append(codes, 110)
	var real jid.JID
	if see {
		real = to
	}
	self := r.presenceEl(o, "", real, presenceOpts{id: st.ID(), aff: r.affOf(o.bare), role: o.role, codes: codes})
	r.send(self, r.occupantJID(o.nick), to)
	r.sendHistory(to, st.El.Child(NS, "x"), see)
	r.sendSubject(to)
}

// sendSubject sends the current subject (§7.2.15): from the occupant JID
// of who set it, empty when there is none.
func (r *room) sendSubject(to jid.JID) {
	from := r.jid
	if r.subj.nick != "" {
		from = r.occupantJID(r.subj.nick)
	}
	el := xmlel.New("", stanza.Message, "type", "groupchat", "id", newID()).
		Append(xmlel.TextElement("", "subject", r.subj.text))
	if !r.subj.at.IsZero() {
		el.Append(xmlel.New(stanza.NSDelay, "delay", "from", r.jid.String(), "stamp", archive.FormatTime(r.subj.at)))
	}
	r.send(el, from, to)
}

// removeSession takes one session out of the room: the occupant leaves
// when it was its last (§7.14), and the others see it go.
func (r *room) removeSession(o *occupant, full jid.JID, opts presenceOpts) {
	if len(o.sessions) <= 1 {
		r.removeOccupant(o, opts)
		return
	}
	delete(r.sessions, full)
	o.sessions = slices.DeleteFunc(o.sessions, func(j jid.JID) bool { return j.Equal(full) })
	opts.aff, opts.role = r.affOf(o.bare), roleNone
	opts.codes = append(opts.codes, 110)
	var real jid.JID
	if seesJIDs(&r.cfg, o.role) {
		real = full
	}
	r.send(r.presenceEl(o, "unavailable", real, opts), r.occupantJID(o.nick), full)
}

// removeOccupant takes an occupant out of the room with all its
// sessions, telling everyone with unavailable presence (role none) and
// the codes of opts.
func (r *room) removeOccupant(o *occupant, opts presenceOpts) {
	opts.aff = r.affOf(o.bare)
	opts.role = roleNone
	leaving := o.role
	r.broadcastLeave(o, leaving, opts)
	for _, full := range o.sessions {
		delete(r.sessions, full)
	}
	delete(r.occ, foldNick(o.nick))
	if r.cfg.Moderated && o.role != roleModerator {
		// §5.1: roles in moderated rooms are kept across visits.
		if o.role != defaultRole(r.affOf(o.bare), true) {
			r.voice[o.bare] = o.role
		} else {
			delete(r.voice, o.bare)
		}
		if len(r.voice) > maxAffiliations {
			clear(r.voice)
		}
	}
	if len(r.occ) == 0 {
		r.emptyAt = r.s.now()
	}
}

// broadcastLeave sends the unavailable presence of an occupant that
// leaves.
func (r *room) broadcastLeave(o *occupant, leaving role, opts presenceOpts) {
	from := r.occupantJID(o.nick)
	if r.broadcasts(leaving) {
		var withJID, without *xmlel.Element
		for _, other := range r.occ {
			if other == o {
				continue
			}
			var el *xmlel.Element
			if seesJIDs(&r.cfg, other.role) {
				if withJID == nil {
					withJID = r.occupantPresence(o, "unavailable", true, opts)
				}
				el = withJID
			} else {
				if without == nil {
					without = r.occupantPresence(o, "unavailable", false, opts)
				}
				el = without
			}
			for _, full := range other.sessions {
				r.sendCopy(el, from, full)
			}
		}
	}
	for _, full := range o.sessions {
		so := opts
		so.codes = append(slices.Clone(opts.codes), 110)
		var real jid.JID
		if seesJIDs(&r.cfg, leaving) {
			real = full
		}
		r.send(r.presenceEl(o, "unavailable", real, so), from, full)
	}
}

// changeNick handles presence to another nickname from an occupant
// (§7.6).
func (r *room) changeNick(st *stanza.Stanza, o *occupant) {
	nick := st.To.Resource()
	if !validNick(nick) {
		r.bounce(st, stanza.E(stanza.JIDMalformed).WithText("invalid nickname"))
		return
	}
	if other := r.occupantByNick(nick); other != nil && other != o {
		r.bounce(st, stanza.E(stanza.Conflict))
		return
	}
	if by := r.reservedBy(nick); by != "" && by != o.bare.String() {
		r.bounce(st, stanza.E(stanza.Conflict))
		return
	}
	aff := r.affOf(o.bare)
	// The old nickname goes with status 303 and the new one in the item;
	// the new one comes with the occupant's presence.
	// The 303 presence of a nick change is a leave that keeps the role
	// (§7.6 examples keep it).
	r.broadcastLeave(o, o.role, presenceOpts{aff: aff, role: o.role, nick: nick, codes: []int{303}})
	delete(r.occ, foldNick(o.nick))
	o.nick = nick
	r.occ[foldNick(nick)] = o
	o.pres = cleanPresence(st.El)
	r.broadcastPresence(o, "", presenceOpts{aff: aff, role: o.role}, nil, st.From, st.ID())
}

// updateOccupant tells everyone of an occupant's new affiliation or role
// (§9.3, §8.3 ...), with an actor and a reason.
func (r *room) updateOccupant(o *occupant, actor, reason string) {
	r.broadcastPresence(o, "", presenceOpts{aff: r.affOf(o.bare), role: o.role, actor: actor, reason: reason}, nil, zeroJID, "")
}

// historyParams reads <history/> (§7.2.15).
type historyParams struct {
	maxChars   int // -1: no limit
	maxStanzas int
	since      time.Time
}

func (r *room) historyParams(x *xmlel.Element) historyParams {
	limit := min(r.cfg.MaxHistoryFetch, r.s.cfg.HistoryMax)
	p := historyParams{maxChars: -1, maxStanzas: min(limit, r.s.cfg.HistoryDefault)}
	// Never older than the archive keeps messages.
	p.since = r.s.now().Add(-r.s.cfg.ArchiveRetention)
	h := x.Child(NS, "history")
	if h == nil {
		return p
	}
	p.maxStanzas = limit
	num := func(name string) (int, bool) {
		v := strings.TrimSpace(h.Attr(name))
		if v == "" {
			return 0, false
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, false
		}
		return n, true
	}
	if n, ok := num("maxstanzas"); ok {
		p.maxStanzas = min(n, limit)
	}
	if n, ok := num("maxchars"); ok {
		p.maxChars = n
	}
	if n, ok := num("seconds"); ok {
		if t := r.s.now().Add(-time.Duration(n) * time.Second); t.After(p.since) {
			p.since = t
		}
	}
	if v := h.Attr("since"); v != "" {
		if t, err := archive.ParseTime(v); err == nil && t.After(p.since) {
			p.since = t
		}
	}
	return p
}

// sendHistory sends the discussion history (§7.2.14, §7.2.15): the
// largest number of the newest messages that meets every limit, each
// stamped with the time the room received it.
func (r *room) sendHistory(to jid.JID, x *xmlel.Element, seeJIDs bool) {
	p := r.historyParams(x)
	if p.maxStanzas == 0 || p.maxChars == 0 || len(r.history) == 0 {
		return
	}
	start := len(r.history)
	for start > 0 && len(r.history)-start < p.maxStanzas && !r.history[start-1].stored.Before(p.since) {
		start--
	}
	var out []*xmlel.Element
	chars := 0
	for i := len(r.history) - 1; i >= start; i-- {
		h := r.history[i]
		el := h.el.ShallowCopy()
		el.SetAttr("to", to.String())
		el.Append(xmlel.New(stanza.NSDelay, "delay", "from", r.jid.String(), "stamp", archive.FormatTime(h.stored)))
		if p.maxChars > 0 {
			// §7.2.15: maxchars counts the characters of the complete
			// stanzas, and only complete stanzas are sent.
			chars += utf8.RuneCountInString(el.String())
			if chars > p.maxChars {
				break
			}
		}
		out = append(out, el)
	}
	slices.Reverse(out)
	for _, el := range out {
		from, _ := jid.Parse(el.Attr("from"))
		r.s.router.Route(r.ctx, &stanza.Stanza{El: el, From: from, To: to})
	}
}

// trimHistory drops messages older than the archive retention, so that
// memory holds no more than storage does.
func (r *room) trimHistory() {
	cut := r.s.now().Add(-r.s.cfg.ArchiveRetention)
	i := 0
	for i < len(r.history) && r.history[i].stored.Before(cut) {
		i++
	}
	if i > 0 {
		r.history = slices.Delete(r.history, 0, i)
	}
}
