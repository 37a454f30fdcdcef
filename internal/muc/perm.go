package muc

import "samtal.org/samtal/internal/stanza"

// affiliation is the lasting relation of a user with a room (XEP-0045
// §5.2), ordered by rank: outcast < none < member < admin < owner.
type affiliation int8

const (
	affOutcast affiliation = iota - 1
	affNone
	affMember
	affAdmin
	affOwner
)

var affNames = map[affiliation]string{
	affOutcast: "outcast", affNone: "none", affMember: "member", affAdmin: "admin", affOwner: "owner",
}

func (a affiliation) String() string { return affNames[a] }

func parseAffiliation(s string) (affiliation, bool) {
	for a, n := range affNames {
		if n == s {
			return a, true
		}
	}
	return affNone, false
}

// role is the position of an occupant during a visit (XEP-0045 §5.1),
// ordered: none < visitor < participant < moderator.
type role int8

const (
	roleNone role = iota
	roleVisitor
	roleParticipant
	roleModerator
)

var roleNames = map[role]string{
	roleNone: "none", roleVisitor: "visitor", roleParticipant: "participant", roleModerator: "moderator",
}

func (r role) String() string { return roleNames[r] }

func parseRole(s string) (role, bool) {
	for r, n := range roleNames {
		if n == s {
			return r, true
		}
	}
	return roleNone, false
}

// defaultRole is the role an occupant gets on entering (XEP-0045 §5.1.2,
// "Initial Role Based on Affiliation"): admins and owners moderate,
// members participate, others participate unless the room is moderated.
func defaultRole(a affiliation, moderated bool) role {
	switch {
	case a >= affAdmin:
		return roleModerator
	case a == affMember:
		return roleParticipant
	case a == affOutcast:
		return roleNone
	case moderated:
		return roleVisitor
	}
	return roleParticipant
}

// checkRoleChange decides whether an occupant (actorAff, actorRole) may
// set the role of another (targetAff, targetRole) to newRole through a
// muc#admin item. It returns "" when allowed, or the error condition.
func checkRoleChange(actorAff affiliation, actorRole role, targetAff affiliation, targetRole, newRole role) stanza.Condition {
	// §8: moderator use cases are denied with forbidden unless the
	// requester is a moderator.
	if actorRole != roleModerator {
		return stanza.Forbidden
	}
	switch newRole {
	case roleModerator:
		// §9.7: granting moderator status is an admin use case.
		if actorAff < affAdmin {
			return stanza.Forbidden
		}
		return ""
	case roleNone:
		// §8.2: "A user cannot be kicked by a moderator with a lower
		// affiliation" (not-allowed).
		if targetAff > actorAff {
			return stanza.NotAllowed
		}
		// §5.1.3 (Role State Chart): a moderator is kicked "by an admin
		// or owner".
		if targetRole == roleModerator && actorAff < affAdmin {
			return stanza.NotAllowed
		}
		return ""
	case roleParticipant:
		if targetRole == roleModerator {
			// §9.8: revoking moderator status is an admin use case, and
			// it "cannot be revoked from a room owner or room admin".
			if actorAff < affAdmin {
				return stanza.Forbidden
			}
			if targetAff >= affAdmin {
				return stanza.NotAllowed
			}
		}
		// §8.3: any moderator grants voice to a visitor.
		return ""
	case roleVisitor:
		// §8.4: "a service MUST NOT allow the voice privileges of an
		// admin or owner to be removed by anyone", nor may a moderator
		// revoke voice from a user "whose affiliation is at or above the
		// moderator's level".
		if targetAff >= affAdmin || targetAff >= actorAff {
			return stanza.NotAllowed
		}
		// §5.1.3: a moderator becomes a visitor only by an admin or
		// owner.
		if targetRole == roleModerator && actorAff < affAdmin {
			return stanza.NotAllowed
		}
		return ""
	}
	return stanza.BadRequest
}

// checkAffChange decides whether a user with affiliation actorAff may
// change the affiliation of a JID from targetAff to newAff (§9, §10).
// self says the JID is the actor's own; owners is the number of owners
// the room has. It returns "" when allowed, or the error condition.
func checkAffChange(actorAff, targetAff, newAff affiliation, self bool, owners int) stanza.Condition {
	// §9: admin use cases are forbidden to anyone below admin.
	if actorAff < affAdmin {
		return stanza.Forbidden
	}
	if self && newAff == affOutcast {
		// §9.1: "If an admin or owner attempts to ban himself, the
		// service MUST deny the request and return a conflict error."
		return stanza.Conflict
	}
	if actorAff == affAdmin {
		// §10.3, §10.6: only owners edit the owner and admin lists.
		if newAff >= affAdmin {
			return stanza.Forbidden
		}
		// §5.2.2 (Affiliation State Chart): an admin's or owner's
		// affiliation changes only by an owner; §9.1: an admin cannot
		// ban an owner (not-allowed).
		if targetAff >= affAdmin {
			return stanza.NotAllowed
		}
		return ""
	}
	// The actor is an owner. §10.5: "A service MUST NOT allow an owner
	// to revoke his or her own owner status if there are no other
	// owners" (conflict).
	if self && targetAff == affOwner && newAff != affOwner && owners <= 1 {
		return stanza.Conflict
	}
	return ""
}

// whois values of muc#roomconfig_whois.
const (
	whoisModerators = "moderators" // semi-anonymous
	whoisAnyone     = "anyone"     // non-anonymous
)

// seesJIDs reports whether an occupant with role r sees the real JIDs of
// others: everyone in a non-anonymous room, moderators in a
// semi-anonymous one (§7.2.3, §7.2.4).
func seesJIDs(c *roomConfig, r role) bool {
	return c.WhoIs == whoisAnyone || r == roleModerator
}

// canSpeak reports whether role r may send messages to all occupants
// (§5.1.1): visitors may not.
func canSpeak(r role) bool { return r >= roleParticipant }

// canChangeSubject reports whether role r may change the subject (§8.1):
// moderators always, participants when the room allows it.
func canChangeSubject(c *roomConfig, r role) bool {
	return r == roleModerator || c.ChangeSubject && r >= roleParticipant
}

// allowpm values of muc#roomconfig_allowpm.
const (
	pmAnyone       = "anyone"
	pmParticipants = "participants"
	pmModerators   = "moderators"
	pmNone         = "none"
)

// canSendPM reports whether role r may send private messages (§7.5,
// muc#roomconfig_allowpm).
func canSendPM(c *roomConfig, r role) bool {
	switch c.AllowPM {
	case pmAnyone:
		return r >= roleVisitor
	case pmParticipants:
		return r >= roleParticipant
	case pmModerators:
		return r == roleModerator
	}
	return false
}

// canInvite reports whether an occupant may send mediated invitations
// (§7.8.2): in an open room any occupant may; in a members-only room
// admins and owners, and members when the room allows them to.
func canInvite(c *roomConfig, a affiliation, r role) bool {
	if r == roleNone {
		return false
	}
	if !c.MembersOnly {
		return true
	}
	return a >= affAdmin || c.AllowInvites && a == affMember
}

// checkEnter decides whether a user may enter (§7.2.5 to §7.2.9) and
// returns "" or the error condition: banned users are forbidden, users
// not on the member list of a members-only room need registration, and a
// wrong password is not-authorized. Owners enter a members-only room
// like members.
func checkEnter(c *roomConfig, a affiliation, password string) stanza.Condition {
	switch {
	case a == affOutcast:
		return stanza.Forbidden
	case c.MembersOnly && a < affMember:
		return stanza.RegistrationRequired
	case c.PasswordProtected && password != c.Password:
		return stanza.NotAuthorized
	}
	return ""
}

// canReadArchive reports whether a user may query the room's archive
// (XEP-0313 §6.1.2, "MUC Archives"): whoever may enter the room, with no
// password asked of occupants and members.
func canReadArchive(c *roomConfig, a affiliation, occupant bool) bool {
	switch {
	case a == affOutcast:
		return false
	case c.MembersOnly:
		return a >= affMember
	case c.PasswordProtected:
		return occupant || a >= affMember
	}
	return true
}

// checkListAccess decides who may retrieve an affiliation or role list
// with a muc#admin get. kind is an affiliation (outcast, member, admin,
// owner) or a role (moderator, participant, visitor).
func checkListAccess(c *roomConfig, a affiliation, r role, kind string) stanza.Condition {
	switch kind {
	case "moderator", "participant", "visitor":
		// §8.5, §9.9: role lists are for moderators.
		if r != roleModerator {
			return stanza.Forbidden
		}
	case "outcast":
		// §9.2: the ban list is for admins.
		if a < affAdmin {
			return stanza.Forbidden
		}
	case "member":
		// §9.5: admins; §5.2.1: roles named in
		// muc#roomconfig_getmemberlist, though not in a semi-anonymous
		// room, where the list would reveal JIDs; and in a non-anonymous
		// members-only room every member.
		switch {
		case a >= affAdmin:
		case c.WhoIs == whoisAnyone && c.MembersOnly && a == affMember:
		case c.WhoIs == whoisAnyone && r != roleNone && c.GetMemberList[r.String()]:
		default:
			return stanza.Forbidden
		}
	case "admin", "owner":
		// §10.5, §10.8: owners; in non-anonymous rooms the service MAY
		// answer others, and admins do.
		if a < affOwner && !(a == affAdmin && c.WhoIs == whoisAnyone) {
			return stanza.Forbidden
		}
	default:
		return stanza.BadRequest
	}
	return ""
}
