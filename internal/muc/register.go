package muc

import (
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
// Non-members of a members-only room may not register: the room would
// let in whoever asks, and this service has no admin approval (§9.9
// "Approving Registration Requests" is a MAY). For the same reason, an
// unaffiliated user registers with a password-protected room only from
// inside it (members read the archive without the password), and with a
// moderated room only as a participant (§7.10: "in a moderated room,
// normally a participant"; members have voice).
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
	if by := r.reservedBy(nick); by != "" && by != user.String() {
		return nil, stanza.E(stanza.Conflict).WithText("the nickname is reserved by another user")
	}
	if o := r.occupantByNick(nick); o != nil && !o.bare.Equal(user) {
		// Reserving the nickname of someone in the room would take it
		// from under them.
		return nil, stanza.E(stanza.Conflict).WithText("the nickname is in use")
	}
	if _, ok := r.affs[user.String()]; !ok && len(r.affs) >= maxAffiliations {
		return nil, stanza.E(stanza.PolicyViolation).WithText("too many affiliations")
	}
	// A user who is more than a member (directly or through a domain)
	// stays so: registration only ever adds.
	e.aff = max(r.affOf(user), affMember)
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
	case aff >= affMember:
		return ""
	case r.cfg.MembersOnly,
		r.cfg.PasswordProtected && o == nil,
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
	return dataform.Form{
		Type:         dataform.TypeForm,
		Title:        "Registration with " + r.jid.String(),
		Instructions: "Reserve a nickname in this room and become a member.",
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
// §10, which keep the room from losing its last owner.
func (r *room) unregister(st *stanza.Stanza, user jid.JID, e affEntry) error {
	switch {
	case e.aff == affMember:
		e = affEntry{aff: affNone}
	case e.aff >= affAdmin && e.nick != "":
		e.nick = ""
	default:
		// XEP-0077 §3.2: "The entity sending the remove request was not
		// previously registered."
		return stanza.E(stanza.RegistrationRequired)
	}
	r.reply(st, nil, nil)
	r.setRegistration(user, e)
	return errReplied
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
