package muc

import (
	"errors"

	"samtal.org/samtal/internal/archive"
	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// Namespaces that decide what a room keeps of a message.
const (
	nsHints      = "urn:xmpp:hints"
	nsChatStates = "http://jabber.org/protocol/chatstates"
)

// maxInvitesPerMessage bounds the invitations in one message.
const maxInvitesPerMessage = 10

// handle handles one stanza for the room or one of its occupant JIDs.
func (r *room) handle(st *stanza.Stanza) {
	switch st.Kind() {
	case stanza.Presence:
		r.handlePresence(st)
	case stanza.Message:
		r.handleMessage(st)
	case stanza.IQ:
		r.handleIQ(st)
	}
}

// handleMessage handles a message to the room or to an occupant.
func (r *room) handleMessage(st *stanza.Stanza) {
	if st.Type() == "error" {
		// §11.1: a delivery error from an occupant's session means a
		// ghost, which leaves (333).
		if o := r.sessions[st.From]; o != nil && ghostError(st) {
			r.removeSession(o, st.From, presenceOpts{codes: []int{333}})
		}
		return
	}
	if r.state == stateAbsent || r.state == stateGone {
		// §17.2 rule 3.
		r.bounce(st, stanza.E(stanza.ItemNotFound))
		return
	}
	if st.To.Resource() != "" {
		r.privateMessage(st)
		return
	}
	o := r.sessions[st.From]
	if st.Type() == "groupchat" {
		r.groupchat(st, o)
		return
	}
	if x := st.El.Child(NSUser, "x"); x != nil {
		switch {
		case x.Child(NSUser, "invite") != nil:
			r.invite(st, o, x)
			return
		case x.Child(NSUser, "decline") != nil:
			r.decline(st, x)
			return
		}
	}
	if form := st.El.Child(dataform.NS, "x"); form != nil {
		f, err := dataform.Parse(form)
		switch {
		case err != nil:
		case f.Type == dataform.TypeCancel:
			// An admin skips a registration request with the cancel
			// button (§9.9): a cancelled form (XEP-0004 §3.1) names
			// no request and changes nothing.
			return
		case f.FormType() == formRequest:
			r.voiceRequest(st, o, f)
			return
		case f.FormType() == formRegister:
			r.answerRegistration(st, f)
			return
		}
	}
	if st.Type() != "headline" {
		// §17.2 rule 1: messages to all occupants are of type groupchat.
		r.bounce(st, stanza.E(stanza.BadRequest).WithText("send messages to the room with type groupchat"))
	}
}

// isSubjectChange reports whether a message changes the subject (§8.1):
// a <subject/> with no <body/> and no <thread/>.
func isSubjectChange(el *xmlel.Element) bool {
	return el.Child("", "subject") != nil && el.Child("", "body") == nil && el.Child("", "thread") == nil
}

// reflected builds the message a room sends out for one an occupant
// sent: from its occupant JID, with the sender's id (§7.4, stable_id),
// its occupant-id and a stanza-id by the room (XEP-0359), without the
// elements of those namespaces the sender might have forged.
func (r *room) reflected(st *stanza.Stanza, o *occupant, sid string) *xmlel.Element {
	id := st.ID()
	if id == "" {
		id = newID()
	}
	el := xmlel.New("", stanza.Message, "type", "groupchat", "id", id, "from", r.occupantJID(o.nick).String())
	if lang := st.El.Lang(); lang != "" {
		el.Attrs = append(el.Attrs, xmlel.Attr{Space: xmlel.NSXML, Local: "lang", Value: lang})
	}
	for _, n := range st.El.Children {
		if c, ok := n.(*xmlel.Element); ok {
			switch {
			case c.Space == NSOccupant, c.Space == NSUser:
				continue
			case c.Is(NSStanzaID, "stanza-id") && c.Attr("by") == r.jid.String():
				// XEP-0359 §5: the room replaces a stanza-id in its name.
				continue
			}
		}
		el.Children = append(el.Children, n)
	}
	el.Append(xmlel.New(NSOccupant, "occupant-id", "id", o.id))
	el.Append(xmlel.New(NSStanzaID, "stanza-id", "id", sid, "by", r.jid.String()))
	return el
}

// groupchat handles a message to all occupants (§7.4) or a subject
// change (§8.1).
func (r *room) groupchat(st *stanza.Stanza, o *occupant) {
	if o == nil {
		// §7.4: not an occupant.
		r.bounce(st, stanza.E(stanza.NotAcceptable).WithText("you are not in the room"))
		return
	}
	subjectChange := isSubjectChange(st.El)
	if subjectChange && !canChangeSubject(&r.cfg, o.role) {
		r.bounce(st, stanza.E(stanza.Forbidden).WithText("you may not change the subject"))
		return
	}
	if !subjectChange && !canSpeak(o.role) {
		// §7.4: visitors have no voice.
		r.bounce(st, stanza.E(stanza.Forbidden).WithText("you have no voice in this room"))
		return
	}
	sid := newID()
	el := r.reflected(st, o, sid)
	now := r.s.now()
	if subjectChange {
		r.subj = subject{text: st.El.ChildText("", "subject"), nick: o.nick, at: now}
		r.save()
	} else if id, legacy := retractTarget(st.El); id != "" {
		r.selfRetract(o, id, st.ID(), legacy)
	}
	if keep, permanent := worthKeeping(el); keep {
		if permanent && r.cfg.archiving() {
			r.archiveMessage(storage.RoomMessage{ID: sid, Nick: o.nick, Sender: o.bare.String(), Stanza: el.String()},
				"muc: archiving a message failed")
		}
		if !subjectChange {
			// §7.2.15: subject changes are not discussion history.
			r.remember(histEntry{id: sid, stored: now, nick: o.nick, sender: o.bare, el: el})
		}
	}
	from := r.occupantJID(o.nick)
	for _, other := range r.occ {
		for _, full := range other.sessions {
			r.sendCopy(el, from, full)
		}
	}
}

// archiveMessage hands a message to the room's archive without waiting
// for the write, which every occupant would wait for with the room. The
// archive's reads see the message all the same: a retraction right after
// it, or a query, finds it. A failure is logged with logMsg, never the
// message.
func (r *room) archiveMessage(m storage.RoomMessage, logMsg string) {
	r.s.archive.Enqueue(r.ctx, r.jid.String(), m, func(_ storage.RoomMessage, err error) {
		if err != nil {
			r.s.log.Error(logMsg, "err", err)
		}
	})
}

// worthKeeping reports whether a message goes into the history and, when
// permanent, the archive (XEP-0313 §6.1.2: messages with a body and
// subject changes; XEP-0424: retractions; XEP-0334 hints decide the
// rest).
func worthKeeping(el *xmlel.Element) (keep, permanent bool) {
	permanent = true
	for _, c := range el.Elements() {
		switch {
		case c.Space == nsHints && c.Local == "no-store":
			return false, false
		case c.Space == nsHints && c.Local == "no-permanent-store":
			permanent = false
		case c.Space == "" && (c.Local == "body" || c.Local == "subject"):
			keep = true
		case c.Space == nsHints && c.Local == "store":
			keep = true
		case c.Is(NSRetract, "retract"), c.Is(NSFasten, "apply-to"):
			keep = true
		}
	}
	return keep, keep && permanent
}

// remember adds a message to the in-memory history.
func (r *room) remember(h histEntry) {
	max := r.s.cfg.HistoryMax
	if len(r.history) >= max {
		n := len(r.history) - max + 1
		copy(r.history, r.history[n:])
		clear(r.history[len(r.history)-n:])
		r.history = r.history[:len(r.history)-n]
	}
	r.history = append(r.history, h)
}

// privateMessage handles a message to an occupant JID (§7.5).
func (r *room) privateMessage(st *stanza.Stanza) {
	o := r.sessions[st.From]
	if o == nil {
		r.bounce(st, stanza.E(stanza.NotAcceptable).WithText("you are not in the room"))
		return
	}
	if st.Type() == "groupchat" {
		r.bounce(st, stanza.E(stanza.BadRequest))
		return
	}
	target := r.occupantByNick(st.To.Resource())
	if target == nil {
		r.bounce(st, stanza.E(stanza.ItemNotFound))
		return
	}
	if !canSendPM(&r.cfg, o.role) {
		r.bounce(st, stanza.E(stanza.Forbidden).WithText("private messages are not allowed here"))
		return
	}
	el := st.El.ShallowCopy()
	el.RemoveChildren(func(c *xmlel.Element) bool { return c.Space == NSOccupant })
	if el.Child(NSUser, "x") == nil {
		// §7.5: the room adds <x/> so that carbons (XEP-0280) know the
		// message for a private message.
		el.Append(xmlel.New(NSUser, "x"))
	}
	el.Append(xmlel.New(NSOccupant, "occupant-id", "id", o.id))
	from := r.occupantJID(o.nick)
	// §7.2.10: to every session of the occupant, as RECOMMENDED.
	for _, full := range target.sessions {
		r.sendCopy(el, from, full)
	}
}

// invite forwards mediated invitations (§7.8.2).
func (r *room) invite(st *stanza.Stanza, o *occupant, x *xmlel.Element) {
	if o == nil {
		r.bounce(st, stanza.E(stanza.NotAcceptable).WithText("you are not in the room"))
		return
	}
	aff := r.affOf(o.bare)
	if !canInvite(&r.cfg, aff, o.role) {
		// §9.5: a member without the right to invite gets forbidden.
		r.bounce(st, stanza.E(stanza.Forbidden))
		return
	}
	var invitees []jid.JID
	var reasons []string
	for _, inv := range x.Elements() {
		if !inv.Is(NSUser, "invite") {
			continue
		}
		to, err := jid.Parse(inv.Attr("to"))
		if err != nil || len(invitees) >= maxInvitesPerMessage {
			r.bounce(st, stanza.E(stanza.JIDMalformed))
			return
		}
		if r.s.ours(to) {
			// §7.8.2: "If the inviter supplies a non-existent JID, the
			// room SHOULD return an <item-not-found/> error". The
			// service, its rooms and their occupants are no users, and
			// the invitation would only come back to the service as an
			// error.
			r.bounce(st, stanza.E(stanza.ItemNotFound).WithText("invitations are for users, not for this service"))
			return
		}
		if r.cfg.MembersOnly && r.affOf(to) == affNone {
			if to.Local() == "" {
				// An invitation makes its invitee a member, and a
				// domain's affiliation is every user's there (§9.2):
				// one member must not open the room to a server.
				r.bounce(st, stanza.E(stanza.NotAcceptable).WithText("only a user can be invited into a members-only room"))
				return
			}
			if len(r.affs)+len(invitees) >= maxAffiliations {
				r.bounce(st, stanza.E(stanza.NotAllowed).WithText("the room's member list is full"))
				return
			}
		}
		invitees = append(invitees, to)
		reasons = append(reasons, inv.ChildText(NSUser, "reason"))
	}
	for i, to := range invitees {
		if r.cfg.MembersOnly && r.affOf(to) == affNone {
			// §9.5: in a members-only room an invitation makes the
			// invitee a member (the inviter may add members).
			r.setAffiliation(to.Bare(), affEntry{aff: affMember}, nil, "")
		}
		inv := xmlel.New(NSUser, "invite", "from", st.From.Bare().String())
		if reasons[i] != "" {
			inv.Append(xmlel.TextElement(NSUser, "reason", reasons[i]))
		}
		ux := xmlel.New(NSUser, "x").Append(inv)
		if r.cfg.PasswordProtected {
			ux.Append(xmlel.TextElement(NSUser, "password", r.cfg.Password))
		}
		msg := xmlel.New("", stanza.Message, "id", st.ID()).Append(ux)
		r.send(msg, r.jid, to)
		if len(r.invites) < maxInvites {
			r.invites[to.Bare()] = st.From
		}
	}
}

// decline tells an inviter that the invitation was declined (§7.8.2),
// if the room forwarded one from it to the decliner.
func (r *room) decline(st *stanza.Stanza, x *xmlel.Element) {
	inviter, ok := r.invites[st.From.Bare()]
	if !ok {
		return // no invitation to decline: nothing to forward, nor to spam
	}
	delete(r.invites, st.From.Bare())
	d := xmlel.New(NSUser, "decline", "from", st.From.Bare().String())
	if reason := x.Child(NSUser, "decline").ChildText(NSUser, "reason"); reason != "" {
		d.Append(xmlel.TextElement(NSUser, "reason", reason))
	}
	msg := xmlel.New("", stanza.Message, "id", st.ID()).Append(xmlel.New(NSUser, "x").Append(d))
	r.send(msg, r.jid, inviter)
}

// voiceRequest handles a visitor's request for voice (§7.13), sent on to
// the moderators as an approval form (§8.6), and a moderator's answer.
func (r *room) voiceRequest(st *stanza.Stanza, o *occupant, f dataform.Form) {
	if o == nil {
		r.bounce(st, stanza.E(stanza.NotAcceptable).WithText("you are not in the room"))
		return
	}
	if _, ok := f.Field("muc#request_allow"); ok {
		r.voiceApproval(st, o, f)
		return
	}
	if f.Value("muc#role") != "participant" || o.role != roleVisitor {
		return
	}
	for _, m := range r.occ {
		if m.role != roleModerator {
			continue
		}
		form := dataform.Form{Type: dataform.TypeForm, Title: "Voice request", Fields: []dataform.Field{
			{Var: dataform.FormTypeVar, Type: dataform.Hidden, Values: []string{formRequest}},
			{Var: "muc#role", Type: dataform.ListSingle, Label: "Requested role", Values: []string{"participant"}},
			{Var: "muc#jid", Type: dataform.JIDSingle, Label: "User ID", Values: []string{o.sessions[0].String()}},
			{Var: "muc#roomnick", Type: dataform.TextSingle, Label: "Room nickname", Values: []string{o.nick}},
			{Var: "muc#request_allow", Type: dataform.Boolean, Label: "Grant voice to this person?", Values: []string{"false"}},
		}}
		for _, full := range m.sessions {
			r.send(xmlel.New("", stanza.Message, "id", newID()).Append(form.Element()), r.jid, full)
		}
	}
}

// voiceApproval grants voice when a moderator approves a request (§8.6).
func (r *room) voiceApproval(st *stanza.Stanza, o *occupant, f dataform.Form) {
	allow, ok := dataform.ParseBool(f.Value("muc#request_allow"))
	if !ok || !allow {
		return
	}
	target := r.occupantByNick(f.Value("muc#roomnick"))
	if target == nil || target.role != roleVisitor {
		return
	}
	if cond := checkRoleChange(r.affOf(o.bare), o.role, r.affOf(target.bare), target.role, roleParticipant); cond != "" {
		r.bounce(st, stanza.E(cond))
		return
	}
	target.role = roleParticipant
	r.updateOccupant(target, o.nick, "")
}

// retractTarget returns the stanza-id a message retracts (XEP-0424): the
// id of <retract/>, or of the older <apply-to/> form; legacy reports the
// older form.
func retractTarget(el *xmlel.Element) (id string, legacy bool) {
	if c := el.Child(NSRetract, "retract"); c != nil {
		return c.Attr("id"), false
	}
	if a := el.Child(NSFasten, "apply-to"); a != nil && a.Child(NSRetract0, "retract") != nil {
		return a.Attr("id"), true
	}
	return "", false
}

// findMessage returns a kept message by stanza-id: from the history, else
// from the archive.
func (r *room) findMessage(id string) (histEntry, bool, error) {
	for _, h := range r.history {
		if h.id == id {
			return h, true, nil
		}
	}
	if !r.cfg.archiving() {
		return histEntry{}, false, nil
	}
	m, err := r.s.archive.Get(r.ctx, r.jid.String(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return histEntry{}, false, nil
	}
	if err != nil {
		return histEntry{}, false, err
	}
	el, err := xmlstream.ParseStored(m.Stanza)
	if err != nil {
		return histEntry{}, false, err
	}
	sender, _ := jid.Parse(m.Sender)
	return histEntry{id: m.ID, stored: m.Stored, nick: m.Nick, sender: sender, el: el}, true, nil
}

// replaceMessage puts a tombstone in place of a kept message, in the
// history and the archive.
func (r *room) replaceMessage(id string, tomb *xmlel.Element) error {
	for i := range r.history {
		if r.history[i].id == id {
			r.history[i].el = tomb
		}
	}
	if !r.cfg.archiving() {
		return nil
	}
	err := r.s.archive.Replace(r.ctx, r.jid.String(), id, tomb.String())
	if errors.Is(err, storage.ErrNotFound) {
		return nil // only in memory
	}
	return err
}

// tombstone returns what is kept of a retracted message: its addressing,
// its occupant-id and stanza-id, and what retracted it (XEP-0424 §5,
// XEP-0425 §5).
func tombstone(orig *xmlel.Element, retracted *xmlel.Element) *xmlel.Element {
	t := xmlel.New("", stanza.Message, "type", orig.Attr("type"), "id", orig.Attr("id"), "from", orig.Attr("from"))
	for _, c := range orig.Elements() {
		if c.Space == NSOccupant || c.Is(NSStanzaID, "stanza-id") {
			t.Append(c)
		}
	}
	return t.Append(retracted)
}

// selfRetract replaces a message that its own sender retracts with a
// tombstone (XEP-0424 §5, §6: only the author may).
func (r *room) selfRetract(o *occupant, id, retractionID string, legacy bool) {
	h, ok, err := r.findMessage(id)
	if err != nil {
		r.s.log.Error("muc: looking up a retracted message failed", "err", err)
		return
	}
	if !ok || !h.sender.Equal(o.bare) {
		return
	}
	ns := NSRetract
	if legacy {
		ns = NSRetract0
	}
	tomb := tombstone(h.el, xmlel.New(ns, "retracted", "id", retractionID, "stamp", archive.FormatTime(r.s.now())))
	if err := r.replaceMessage(id, tomb); err != nil {
		r.s.log.Error("muc: replacing a retracted message failed", "err", err)
	}
}

// moderate retracts another occupant's message on a moderator's request
// (XEP-0425): the archive keeps a tombstone, and every occupant is told.
func (r *room) moderate(st *stanza.Stanza, id, reason string) error {
	o := r.sessions[st.From]
	if o == nil || o.role != roleModerator {
		return stanza.E(stanza.Forbidden).WithText("only moderators may retract the messages of others")
	}
	h, ok, err := r.findMessage(id)
	if err != nil {
		return err
	}
	if !ok {
		return stanza.E(stanza.ItemNotFound)
	}
	by := r.occupantJID(o.nick).String()
	now := r.s.now()
	moderated := xmlel.New(NSModerate, "moderated", "by", by).Append(xmlel.New(NSOccupant, "occupant-id", "id", o.id))
	retracted := xmlel.New(NSRetract, "retracted", "stamp", archive.FormatTime(now)).Append(moderated)
	if reason != "" {
		retracted.Append(xmlel.TextElement(NSRetract, "reason", reason))
	}
	if err := r.replaceMessage(id, tombstone(h.el, retracted)); err != nil {
		return err
	}
	// The announcement, in the current form and the older one
	// (moderate:0 inside apply-to) for clients that know only that.
	retract := xmlel.New(NSRetract, "retract", "id", id).Append(moderated)
	legacy := xmlel.New(NSModerate0, "moderated", "by", by).Append(xmlel.New(NSRetract0, "retract"))
	if reason != "" {
		retract.Append(xmlel.TextElement(NSRetract, "reason", reason))
		legacy.Append(xmlel.TextElement(NSModerate0, "reason", reason))
	}
	sid := newID()
	el := xmlel.New("", stanza.Message, "type", "groupchat", "id", newID(), "from", r.jid.String()).Append(
		retract,
		xmlel.New(NSFasten, "apply-to", "id", id).Append(legacy),
		xmlel.New(NSFallback, "fallback", "for", NSRetract),
		xmlel.TextElement("", "body", "A moderator retracted a message."),
		xmlel.New(NSStanzaID, "stanza-id", "id", sid, "by", r.jid.String()),
	)
	if r.cfg.archiving() {
		// XEP-0424 §6: the archive keeps the retraction itself.
		r.archiveMessage(storage.RoomMessage{ID: sid, Sender: o.bare.String(), Stanza: el.String()},
			"muc: archiving a retraction failed")
	}
	r.remember(histEntry{id: sid, stored: now, sender: o.bare, el: el})
	for _, other := range r.occ {
		for _, full := range other.sessions {
			r.sendCopy(el, r.jid, full)
		}
	}
	return nil
}
