package muc

import (
	"time"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// fieldRoomNick is the one field of the registration form: the room keeps
// the nickname and nothing else about the user, so it asks for nothing
// else (the names, e-mail and URL fields of §16.5.1 would be data to
// guard and never use).
const fieldRoomNick = "muc#register_roomnick"

// register answers jabber:iq:register to the room: registration with a
// room (§7.10) makes the user a member with a reserved nickname, the one
// that x-roomuser-item names (§7.12) and others conflict with; <remove/>
// cancels it (XEP-0077 §3.2).
//
// A non-member of a members-only room who registers is not let in at
// once: the room would admit whoever asks. The request waits for a room
// admin or owner to approve it ("Approving Registration Requests", which
// §7.10 allows: "the service MAY request that the submission be approved
// by a room admin/owner"); see requestApproval. Waiting requests are
// kept in memory only, a few per room for a day (see maxRegRequests): a
// restart loses them, and their users ask again. Other restrictions have
// no approval: an unaffiliated user registers with a password-protected
// room only from inside it (members read the archive without the
// password), and with a moderated room only as a participant (§7.10: "in
// a moderated room, normally a participant"; members have voice).
func (r *room) register(st *stanza.Stanza) (*xmlel.Element, error) {
	q := st.Payload()
	if q.Local != "query" {
		return nil, stanza.E(stanza.BadRequest)
	}
	user := st.From.Bare()
	if user.Local() == "" || r.s.ours(user) {
		// A server or component has no nickname, and its bare JID as an
		// affiliation would stand for every user of its domain (§9.1).
		return nil, stanza.E(stanza.NotAllowed)
	}
	e := r.affs[user.String()]
	if st.Type() == "set" && q.Child(NSRegister, "remove") != nil {
		if len(q.Elements()) != 1 {
			// XEP-0077 §3.2: <remove/> alone, or bad-request.
			return nil, stanza.E(stanza.BadRequest)
		}
		return nil, r.unregister(st, user, e)
	}
	if cond := r.checkRegister(st.From); cond != "" {
		return nil, stanza.E(cond)
	}
	if st.Type() == "get" {
		if e.aff >= affMember && e.nick != "" {
			// XEP-0077 §3.1; §7.10: "an empty <registered/> element and
			// SHOULD contain at least a <username/> element that
			// specifies the user's registered nickname".
			return xmlel.New(NSRegister, "query").Append(
				xmlel.New(NSRegister, "registered"),
				xmlel.TextElement(NSRegister, "username", e.nick)), nil
		}
		return xmlel.New(NSRegister, "query").Append(r.registerForm(st.From).Element()), nil
	}
	f, err := dataform.Parse(q.Child(dataform.NS, "x"))
	if err != nil {
		// §7.10: "If the user did not include a valid data form, the
		// room MUST return a <bad-request/> error".
		return nil, stanza.E(stanza.BadRequest)
	}
	switch {
	case f.Type == dataform.TypeCancel:
		// XEP-0004 §3.1: the user cancelled the submission of the form;
		// a registration is cancelled with <remove/>. Nothing changes.
		return nil, nil
	case f.Type != dataform.TypeSubmit || f.FormType() != formRegister:
		return nil, stanza.E(stanza.BadRequest)
	}
	field, _ := f.Field(fieldRoomNick)
	if len(field.Values) > 1 {
		return nil, stanza.E(stanza.BadRequest)
	}
	nick := field.Value()
	if nick == "" {
		// XEP-0077 §3.1: required information not provided.
		return nil, stanza.E(stanza.NotAcceptable).WithText("a nickname is required")
	}
	if !validNick(nick) || r.occupantJID(nick).Resource() != nick {
		// The nickname must be one its user can enter with: the
		// resourcepart of an occupant JID, unchanged by preparation.
		return nil, stanza.E(stanza.NotAcceptable).WithText("invalid nickname")
	}
	if e := r.checkNick(user, nick); e.Condition != "" {
		return nil, e
	}
	if r.cfg.MembersOnly && r.affOf(user) < affMember {
		return nil, r.requestApproval(st, user, nick)
	}
	// A user who is more than a member (directly or through a domain)
	// stays so: registration only ever adds. What the lists say, not the
	// owner a host administrator acts as: that is no entry to store.
	e.aff = max(r.listedAff(nil, user), affMember)
	e.nick = nick
	r.reply(st, nil, nil)
	r.setRegistration(user, e)
	return nil, errReplied
}

// checkRegister decides whether a user may register with the room, and
// returns "" or the error condition. Anyone registered may cancel.
func (r *room) checkRegister(from jid.JID) stanza.Condition {
	aff, rl, o := r.actor(from)
	switch {
	case aff == affOutcast:
		// Banned users are refused for who they are, as on entering
		// (§7.2.7), not because registration is restricted.
		return stanza.Forbidden
	case aff >= affMember, r.cfg.MembersOnly:
		// In a members-only room, an admin approves (see register).
		return ""
	case r.cfg.PasswordProtected && o == nil,
		r.cfg.Moderated && rl < roleParticipant:
		// §7.10: "If the user requesting registration requirements is
		// not allowed to register with the room (e.g., because that
		// privilege has been restricted), the room MUST return a
		// <not-allowed/> error". See register.
		return stanza.NotAllowed
	}
	return ""
}

// registerForm is the registration form (§7.10, FORM_TYPE of §16.5.1),
// with the nickname the user has in the room filled in.
func (r *room) registerForm(from jid.JID) dataform.Form {
	nick := dataform.Field{
		Var: fieldRoomNick, Type: dataform.TextSingle, Label: "Desired Nickname",
		Extra: []*xmlel.Element{xmlel.New(dataform.NS, "required")},
	}
	if o := r.sessions[from]; o != nil {
		nick.Values = []string{o.nick}
	}
	instr := "Reserve a nickname in this room and become a member."
	if r.cfg.MembersOnly && r.affOf(from) < affMember {
		instr += " An admin of the room approves the request first."
	}
	return dataform.Form{
		Type:         dataform.TypeForm,
		Title:        "Registration with " + r.jid.String(),
		Instructions: instr,
		Fields: []dataform.Field{
			{Var: dataform.FormTypeVar, Type: dataform.Hidden, Values: []string{formRegister}},
			nick,
		},
	}
}

// unregister cancels the registration of user, whose entry is e: a
// member stops being one and loses the reserved nickname (in a
// members-only room, that takes them out, §9.4); an admin or owner loses
// only the nickname, since stepping down is done in the lists of §9 and
// §10, which keep the room from losing its last owner. A request still
// waiting for approval is withdrawn with it, or alone: a user who asked
// and changed their mind says so the way they would cancel a
// registration, and an admin's later approval then finds nothing.
func (r *room) unregister(st *stanza.Stanza, user jid.JID, e affEntry) error {
	_, waiting := r.regs[user.String()]
	delete(r.regs, user.String())
	switch {
	case e.aff == affMember:
		e = affEntry{aff: affNone}
	case e.aff >= affAdmin && e.nick != "":
		e.nick = ""
	case waiting:
		r.reply(st, nil, nil)
		return errReplied
	default:
		// XEP-0077 §3.2: "The entity sending the remove request was not
		// previously registered."
		return stanza.E(stanza.RegistrationRequired)
	}
	r.reply(st, nil, nil)
	r.setRegistration(user, e)
	return errReplied
}

// checkNick returns the error that keeps user from reserving nick now,
// or one with no condition. It runs on the request and again on its
// approval, since the nickname may have been taken while the request
// waited.
func (r *room) checkNick(user jid.JID, nick string) stanza.Error {
	if by := r.reservedBy(nick); by != "" && by != user.String() {
		return stanza.E(stanza.Conflict).WithText("the nickname is reserved by another user")
	}
	if o := r.occupantByNick(nick); o != nil && !o.bare.Equal(user) {
		// Reserving the nickname of someone in the room would take it
		// from under them.
		return stanza.E(stanza.Conflict).WithText("the nickname is in use")
	}
	if _, ok := r.affs[user.String()]; !ok && len(r.affs) >= maxAffiliations {
		return stanza.E(stanza.PolicyViolation).WithText("too many affiliations")
	}
	return stanza.Error{}
}

// setRegistration changes the entry of a user who registered or
// cancelled. Occupants hear of it when the affiliation changes (§7.10,
// like the grants of §9.3 and §9.4); a reserved nickname alone shows in
// no presence, so it is only stored.
func (r *room) setRegistration(user jid.JID, e affEntry) {
	if e.aff == affNone || r.affOf(user) != e.aff {
		r.setAffiliation(user, e, nil, "")
		return
	}
	r.affs[user.String()] = e
	r.saveAff(user.String(), e)
}

// Registration requests that wait for approval ("Approving Registration
// Requests"). The spec leaves their keeping to the service; they are kept
// in the room's memory only: a request is small and short-lived, and one
// lost to a restart costs its user no more than asking again. The room
// stays loaded while requests wait (see idle), so that an answer from an
// admin who was offline still finds them, and they expire after
// regRequestTimeout.
const (
	// maxRegRequests bounds the requests waiting in one room: each one
	// sends a message to every admin and owner, which strangers could
	// otherwise make as many of as they have accounts.
	maxRegRequests = 20
	// regRequestTimeout is how long a request waits for an answer.
	regRequestTimeout = 24 * time.Hour
)

// The fields of the approval form. muc#register_roomnick and
// muc#register_allow are the form's in the spec's example; the requester's
// JID is not in it, and is what an admin most needs to decide: the form
// carries it in a field of our own, which XEP-0068 asks to begin with
// "x-" since the muc#register FORM_TYPE does not register it (the spec
// lets implementations "supplement the following form with additional
// fields").
const (
	fieldRegisterAllow = "muc#register_allow"
	fieldRegisterJID   = "x-samtal#register_jid"
)

// regRequest is a registration request waiting for approval, by the bare
// JID of its user in room.regs.
type regRequest struct {
	nick    string
	expires time.Time
}

// requestApproval keeps a non-member's registration with a members-only
// room for an admin to approve, and sends every admin and owner the
// approval form. The user learns that the request was received (§7.10:
// "the room MUST inform the user that the registration request was
// successfully received", an empty result); the invitation of §9.5 tells
// them later that it was approved.
func (r *room) requestApproval(st *stanza.Stanza, user jid.JID, nick string) error {
	key := user.String()
	if p, ok := r.regs[key]; ok {
		if p.nick == nick {
			// The same request again: the admins have it already.
			r.reply(st, nil, nil)
			return errReplied
		}
		// Replacing it would send the admins a form for every nickname a
		// user cares to try.
		return stanza.E(stanza.PolicyViolation).WithText("a registration request awaits approval")
	}
	if len(r.regs) >= maxRegRequests {
		return stanza.E(stanza.ResourceConstraint).WithText("too many registration requests await approval")
	}
	r.regs[key] = regRequest{nick: nick, expires: r.s.now().Add(regRequestTimeout)}
	r.reply(st, nil, nil)
	form := dataform.Form{
		Type:  dataform.TypeForm,
		Title: "Registration request",
		Instructions: "To approve this registration request, select the \"Allow this person to register with the room?\" " +
			"checkbox and click OK. To skip this request, click the cancel button.",
		Fields: []dataform.Field{
			{Var: dataform.FormTypeVar, Type: dataform.Hidden, Values: []string{formRegister}},
			{Var: fieldRegisterJID, Type: dataform.JIDSingle, Label: "User ID", Values: []string{key}},
			{Var: fieldRoomNick, Type: dataform.TextSingle, Label: "Desired Nickname", Values: []string{nick}},
			{Var: fieldRegisterAllow, Type: dataform.Boolean, Label: "Allow this person to register with the room?", Values: []string{"0"}},
		},
	}
	for k, e := range r.affs {
		admin, err := jid.Parse(k)
		if e.aff < affAdmin || err != nil || admin.Local() == "" || r.s.ours(admin) {
			// A domain's affiliation names no one to ask; a room of this
			// service would only bounce the message.
			continue
		}
		// §9.9 sends the form to "the room admin(s)", not to the
		// occupants among them: those in the room get it in the sessions
		// they are there with, the others at their bare JID, which their
		// server delivers to a session or keeps for when they come back.
		to := []jid.JID{admin}
		if occs := r.occupantsOf(admin); len(occs) > 0 {
			to = to[:0]
			for _, o := range occs {
				to = append(to, o.sessions...)
			}
		}
		for _, full := range to {
			r.send(xmlel.New("", stanza.Message, "id", newID()).Append(form.Element()), r.jid, full)
		}
	}
	return errReplied
}

// answerRegistration handles an admin's or owner's answer to an approval
// form: with muc#register_allow true, the user becomes a member with the
// requested nickname ("If the admin approves the registration request,
// the service shall register the user with the room"), announced as the
// grants of §9.3 are, and invited (§9.5); false denies it, and nothing
// changes. The spec tells the user nothing of a denial, and neither does
// the room. The form is matched to its request by the user's JID and the
// nickname: an answer to a request that was answered already, expired or
// was lost to a restart changes nothing, and the admin hears so.
func (r *room) answerRegistration(st *stanza.Stanza, f dataform.Form) {
	if r.affOf(st.From) < affAdmin {
		r.bounce(st, stanza.E(stanza.Forbidden))
		return
	}
	allow, ok := dataform.ParseBool(f.Value(fieldRegisterAllow))
	user, err := jid.Parse(f.Value(fieldRegisterJID))
	if f.Type != dataform.TypeSubmit || !ok || err != nil {
		r.bounce(st, stanza.E(stanza.BadRequest))
		return
	}
	user = user.Bare()
	p, ok := r.regs[user.String()]
	if !ok || p.nick != f.Value(fieldRoomNick) {
		r.bounce(st, stanza.E(stanza.ItemNotFound).WithText("no such registration request awaits approval"))
		return
	}
	delete(r.regs, user.String())
	if !allow {
		return
	}
	if r.affOf(user) == affOutcast {
		r.bounce(st, stanza.E(stanza.Forbidden).WithText("the user is banned; the request is dropped"))
		return
	}
	if e := r.checkNick(user, p.nick); e.Condition != "" {
		// The nickname was taken while the request waited: the request
		// is dropped, and the admin learns why. The user may ask again
		// with another nickname.
		r.bounce(st, e.WithText(e.Text+"; the request is dropped"))
		return
	}
	e := r.affs[user.String()]
	added := r.affOf(user) == affNone
	e.aff = max(r.listedAff(nil, user), affMember)
	e.nick = p.nick
	r.setRegistration(user, e)
	if added && r.cfg.MembersOnly {
		r.inviteMember(user, st.From.Bare())
	}
}
