package muc

import (
	"slices"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// owner answers the muc#owner namespace (§10): the configuration form,
// its submission or cancellation, and destruction.
func (r *room) owner(st *stanza.Stanza) (*xmlel.Element, error) {
	q := st.Payload()
	if q.Local != "query" {
		return nil, stanza.E(stanza.BadRequest)
	}
	if r.affOf(st.From) != affOwner {
		// §10.2: "If the <user@host> of the 'from' address does not
		// match the bare JID of a room owner, the service MUST return a
		// forbidden error". The host's administrators are owners (see
		// affWith).
		return nil, stanza.E(stanza.Forbidden)
	}
	if st.Type() == "get" {
		owners, admins := r.affList(affOwner), r.affList(affAdmin)
		return xmlel.New(NSOwner, "query").Append(r.cfg.form(r.jid, owners, admins, r.s.cfg.MaxOccupants)), nil
	}
	if d := q.Child(NSOwner, "destroy"); d != nil {
		return nil, r.destroy(d)
	}
	x := q.Child(dataform.NS, "x")
	if x == nil {
		return nil, stanza.E(stanza.BadRequest)
	}
	f, err := dataform.Parse(x)
	if err != nil {
		return nil, stanza.E(stanza.BadRequest)
	}
	switch f.Type {
	case dataform.TypeCancel:
		if r.state == stateLocked {
			// §10.1.1 step 6: a cancelled creation destroys the room.
			return nil, r.destroy(nil)
		}
		// §10.2: a cancelled change leaves the configuration as it was.
		return nil, nil
	case dataform.TypeSubmit:
		return nil, r.configure(st, f)
	}
	return nil, stanza.E(stanza.BadRequest)
}

// affList returns the bare JIDs with an affiliation, sorted.
func (r *room) affList(a affiliation) []string {
	var out []string
	for k, e := range r.affs {
		if e.aff == a {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// configure applies a submitted configuration form (§10.1.3, §10.2). An
// empty form accepts the current configuration: for a new room, that
// makes it an instant room (§10.1.2).
func (r *room) configure(st *stanza.Stanza, f dataform.Form) error {
	old := r.cfg
	nc := r.cfg
	ch, err := nc.apply(f, r.s.cfg.MaxOccupants)
	if err != nil {
		return err
	}
	actor := r.sessions[st.From]
	if ch.hasOwners && len(ch.owners) == 0 {
		// A room always has an owner (§10): an empty list is a client
		// that did not send the list back, not a request to leave the
		// room to no one.
		ch.hasOwners = false
	}
	if len(ch.owners) > maxAffiliations || len(ch.admins) > maxAffiliations {
		return stanza.E(stanza.PolicyViolation).WithText("too many affiliations")
	}
	wasLocked := r.state == stateLocked
	r.reply(st, nil, nil)
	r.setConfig(nc)
	if wasLocked {
		r.unlock()
	} else if nc.Persistent != old.Persistent {
		r.setPersistent(old.Persistent)
	}
	r.save()
	// The owner and admin lists of the form are complete lists (§10.2
	// note): who is missing loses the affiliation, to none. The owners
	// go first, and an owner on the admin list stays an owner: else a
	// JID on both lists, or the only owner on the admin list of a form
	// without an owner list, would leave the room without an owner
	// (§10: "Every room MUST have at least one owner").
	apply := func(list []jid.JID, a affiliation) {
		want := map[string]bool{}
		for _, j := range list {
			want[j.String()] = true
			e := r.affs[j.String()]
			if e.aff == a || a == affAdmin && e.aff == affOwner {
				continue
			}
			r.setAffiliation(j, affEntry{aff: a, nick: e.nick}, actor, "")
		}
		for _, k := range r.affList(a) {
			if !want[k] {
				if j, err := jid.Parse(k); err == nil {
					r.setAffiliation(j, affEntry{aff: affNone}, actor, "")
				}
			}
		}
	}
	if ch.hasOwners {
		apply(ch.owners, affOwner)
	}
	if ch.hasAdmins {
		apply(ch.admins, affAdmin)
	}
	if nc.MembersOnly && !old.MembersOnly {
		// §10.2: non-members leave a room that became members-only (322).
		for _, o := range r.occupantList() {
			if r.affOf(o.bare) < affMember {
				r.removeOccupant(o, presenceOpts{codes: []int{322}})
			}
		}
	}
	if nc.WhoIs != old.WhoIs {
		// Occupants learn the real JIDs they may now see, or stop seeing
		// them in what follows.
		for _, o := range r.occupantList() {
			r.broadcastPresence(o, "", presenceOpts{aff: r.affOf(o.bare), role: o.role}, nil, zeroJID, "")
		}
	}
	if !wasLocked {
		r.announceConfig(old, nc)
	}
	return errReplied
}

// occupantList returns the occupants, so that the room can change while
// going through them.
func (r *room) occupantList() []*occupant {
	out := make([]*occupant, 0, len(r.occ))
	for _, o := range r.occ {
		out = append(out, o)
	}
	return out
}

// announceConfig tells the occupants of a configuration change (§10.2.1):
// the privacy-related status codes, or 104 for anything else.
func (r *room) announceConfig(old, nc roomConfig) {
	var codes []int
	if old.archiving() != nc.archiving() {
		codes = append(codes, map[bool]int{true: 170, false: 171}[nc.archiving()])
	}
	if old.WhoIs != nc.WhoIs {
		codes = append(codes, map[bool]int{true: 172, false: 173}[nc.WhoIs == whoisAnyone])
	}
	if len(codes) == 0 {
		codes = []int{104}
	}
	x := xmlel.New(NSUser, "x")
	for _, c := range codes {
		x.Append(xmlel.New(NSUser, "status", "code", itoa(c)))
	}
	el := xmlel.New("", stanza.Message, "type", "groupchat", "id", newID()).Append(x)
	for _, o := range r.occ {
		for _, full := range o.sessions {
			r.sendCopy(el, r.jid, full)
		}
	}
}

// destroy ends the room (§10.9): every occupant gets one unavailable
// presence with <destroy/> and its alternate venue, and what was stored
// of the room goes.
func (r *room) destroy(d *xmlel.Element) error {
	dx := xmlel.New(NSUser, "destroy")
	if d != nil {
		if alt := d.Attr("jid"); alt != "" {
			j, err := jid.Parse(alt)
			if err != nil {
				return stanza.E(stanza.JIDMalformed)
			}
			dx.SetAttr("jid", j.String())
		}
		if reason := d.ChildText(NSOwner, "reason"); reason != "" {
			dx.Append(xmlel.TextElement(NSUser, "reason", reason))
		}
		if pw := d.ChildText(NSOwner, "password"); pw != "" {
			dx.Append(xmlel.TextElement(NSUser, "password", pw))
		}
	}
	for _, o := range r.occ {
		for _, full := range o.sessions {
			el := r.presenceEl(o, "unavailable", zeroJID, presenceOpts{aff: affNone, role: roleNone, destroy: dx})
			r.send(el, r.occupantJID(o.nick), full)
		}
	}
	if r.cfg.Persistent && r.state == stateOpen {
		r.cfg.Persistent = false
		r.setPersistent(true)
	}
	r.reset()
	return nil
}

// reset forgets everything of a destroyed room: the next join creates a
// new one.
func (r *room) reset() {
	clear(r.occ)
	clear(r.sessions)
	clear(r.affs)
	clear(r.voice)
	clear(r.pending)
	clear(r.invites)
	clear(r.regs)
	r.history = nil
	r.setConfig(roomConfig{})
	r.subj = subject{}
	r.vcard, r.avatar = "", ""
	r.creator = jid.JID{}
	r.state = stateAbsent
}
