package muc

import (
	"slices"
	"strings"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// maxAdminItems bounds the items of one muc#admin request.
const maxAdminItems = 100

// actor is who makes an admin request: the requester's affiliation, and
// its highest role among the occupants of its bare JID (§8: requests are
// checked against "the bare JID portion of one of the moderators").
func (r *room) actor(from jid.JID) (affiliation, role, *occupant) {
	aff := r.affOf(from)
	rl := roleNone
	o := r.sessions[from]
	for _, x := range r.occupantsOf(from.Bare()) {
		if x.role > rl {
			rl = x.role
		}
		if o == nil {
			o = x
		}
	}
	return aff, rl, o
}

// admin answers the muc#admin namespace (§8, §9, §10.3 to §10.8).
func (r *room) admin(st *stanza.Stanza) (*xmlel.Element, error) {
	q := st.Payload()
	if q.Local != "query" {
		return nil, stanza.E(stanza.BadRequest)
	}
	var items []*xmlel.Element
	for _, c := range q.Elements() {
		if c.Is(NSAdmin, "item") {
			items = append(items, c)
		}
	}
	if len(items) == 0 || len(items) > maxAdminItems {
		return nil, stanza.E(stanza.BadRequest)
	}
	if st.Type() == "get" {
		if len(items) != 1 {
			return nil, stanza.E(stanza.BadRequest)
		}
		return r.adminList(st.From, items[0])
	}
	return nil, r.adminSet(st, items)
}

// adminList returns the occupants with a role, or the users with an
// affiliation (§8.5, §9.2, §9.5, §9.8, §10.5, §10.8).
func (r *room) adminList(from jid.JID, item *xmlel.Element) (*xmlel.Element, error) {
	aff, rl, _ := r.actor(from)
	kind := item.Attr("affiliation")
	isRole := kind == ""
	if isRole {
		kind = item.Attr("role")
	}
	if kind == "" || item.HasAttr("affiliation") && item.HasAttr("role") {
		return nil, stanza.E(stanza.BadRequest)
	}
	if cond := checkListAccess(&r.cfg, aff, rl, kind); cond != "" {
		return nil, stanza.E(cond)
	}
	out := xmlel.New(NSAdmin, "query")
	if isRole {
		want, _ := parseRole(kind)
		var list []*occupant
		for _, o := range r.occ {
			if o.role == want {
				list = append(list, o)
			}
		}
		slices.SortFunc(list, func(a, b *occupant) int { return strings.Compare(a.nick, b.nick) })
		for _, o := range list {
			// §17.4 rule 5: role results carry nick, role, affiliation
			// and the full JID.
			out.Append(xmlel.New(NSAdmin, "item", "affiliation", r.affOf(o.bare).String(), "jid", o.sessions[0].String(),
				"nick", o.nick, "role", o.role.String()))
		}
		return out, nil
	}
	want, _ := parseAffiliation(kind)
	keys := make([]string, 0)
	for k, e := range r.affs {
		if e.aff == want {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		e := r.affs[k]
		// §17.4 rule 6: affiliation results carry the bare JID, no
		// role, and the nick except for outcasts.
		it := xmlel.New(NSAdmin, "item", "affiliation", e.aff.String(), "jid", k)
		if e.aff != affOutcast {
			it.SetAttr("nick", e.nick)
		}
		if e.reason != "" {
			it.Append(xmlel.TextElement(NSAdmin, "reason", e.reason))
		}
		out.Append(it)
	}
	return out, nil
}

// change is one checked item of a muc#admin set.
type change struct {
	target *occupant // role changes
	role   role
	who    jid.JID // affiliation changes: a bare JID or a domain
	aff    affiliation
	nick   string
	reason string
}

// adminSet applies the items of a muc#admin set, all or none (§9.2:
// "the service SHOULD NOT apply any of the requested changes" when one is
// not allowed).
func (r *room) adminSet(st *stanza.Stanza, items []*xmlel.Element) error {
	from := st.From
	aff, rl, actorOcc := r.actor(from)
	var changes []change
	owners := r.owners()
	// planned holds the affiliations as the items checked so far leave
	// them: the items are applied in order, so each is checked against
	// the room as the ones before it change it. Against the room alone,
	// an owner given and taken away again in one request would count as
	// an owner, and two items could reserve one nick for two users.
	planned := map[string]affEntry{}
	for _, it := range items {
		ra, hasRole := it.Attr("role"), it.HasAttr("role")
		aa, hasAff := it.Attr("affiliation"), it.HasAttr("affiliation")
		reason := it.ChildText(NSAdmin, "reason")
		if len(reason) > maxText {
			return stanza.E(stanza.NotAcceptable).WithText("reason too long")
		}
		switch {
		case hasRole && hasAff, !hasRole && !hasAff:
			// §17.4 rule 4: a role or an affiliation, not both.
			return stanza.E(stanza.BadRequest)
		case hasRole:
			newRole, ok := parseRole(ra)
			nick := it.Attr("nick")
			if !ok || nick == "" {
				return stanza.E(stanza.BadRequest)
			}
			target := r.occupantByNick(nick)
			if target == nil {
				return stanza.E(stanza.ItemNotFound).WithText("no occupant with that nickname")
			}
			if cond := checkRoleChange(aff, rl, r.affWith(planned, target.bare), target.role, newRole); cond != "" {
				return stanza.E(cond)
			}
			if newRole == roleNone && r.s.isAdmin(target.bare) {
				// An owner may kick another owner, but the host's
				// administrators are owners by the server's say, not the
				// room's: no one in the room puts them out (as §8.2
				// refuses a kick of a higher affiliation, not-allowed).
				return stanza.E(stanza.NotAllowed)
			}
			changes = append(changes, change{target: target, role: newRole, reason: reason})
		default:
			newAff, ok := parseAffiliation(aa)
			j, err := jid.Parse(it.Attr("jid"))
			if !ok {
				return stanza.E(stanza.BadRequest)
			}
			if err != nil || it.Attr("jid") == "" {
				return stanza.E(stanza.JIDMalformed)
			}
			// §10.3: a full JID stands for its bare JID.
			j = j.Bare()
			curEntry, _ := r.entry(planned, j.String())
			cur := curEntry.aff
			self := j.Equal(from.Bare())
			if cond := checkAffChange(aff, cur, newAff, self, owners); cond != "" {
				return stanza.E(cond)
			}
			if newAff == affOutcast && r.s.isAdmin(j) {
				// The ban would not hold (see affWith), and the lists
				// should not say it does.
				return stanza.E(stanza.NotAllowed).WithText("the host's administrators cannot be banned")
			}
			if cur == affOwner && newAff != affOwner {
				owners--
				if owners < 1 {
					// §10.1: every room has an owner. Only taking the
					// last one away is refused: a room whose owners'
					// accounts were removed has none, and its admins
					// and the host's administrators still manage its
					// lists until one is named.
					return stanza.E(stanza.Conflict).WithText("a room needs an owner")
				}
			} else if cur != affOwner && newAff == affOwner {
				owners++
			}
			nick := it.Attr("nick")
			if newAff == affOutcast {
				nick = "" // §9.1: a ban frees the reserved nick
			} else if !it.HasAttr("nick") {
				nick = curEntry.nick
			} else if nick != "" && !validNick(nick) {
				return stanza.E(stanza.NotAcceptable).WithText("invalid nickname")
			}
			if nick != "" {
				if by := r.reservedWith(planned, nick); by != "" && by != j.String() {
					return stanza.E(stanza.Conflict).WithText("the nickname is reserved by another user")
				}
			}
			c := change{who: j, aff: newAff, nick: nick, reason: reason}
			changes = append(changes, c)
			planned[j.String()] = affEntry{aff: c.aff, nick: c.nick, reason: c.reason}
		}
	}
	added := 0
	for k, e := range planned {
		if _, ok := r.affs[k]; !ok && e.aff != affNone {
			added++
		}
	}
	if len(r.affs)+added > maxAffiliations {
		return stanza.E(stanza.PolicyViolation).WithText("too many affiliations")
	}
	r.reply(st, nil, nil)
	for _, c := range changes {
		if c.target != nil {
			r.setRole(c.target, c.role, actorOcc, c.reason)
			continue
		}
		r.setAffiliation(c.who, affEntry{aff: c.aff, nick: c.nick, reason: c.reason}, actorOcc, c.reason)
	}
	return errReplied
}

// actorNick returns the nickname to name an actor by, "" for none.
func actorNick(o *occupant) string {
	if o == nil {
		return ""
	}
	return o.nick
}

// setRole gives an occupant a new role and tells everyone: a kick is
// role none (§8.2, status 307).
func (r *room) setRole(o *occupant, newRole role, actor *occupant, reason string) {
	if r.occ[foldNick(o.nick)] != o {
		return // left meanwhile
	}
	if newRole == roleNone {
		r.removeOccupant(o, presenceOpts{codes: []int{307}, actor: actorNick(actor), reason: reason})
		return
	}
	o.role = newRole
	r.updateOccupant(o, actorNick(actor), reason)
}

// setAffiliation gives a bare JID (or domain) a new affiliation, stores
// it, and applies it to the occupants it covers: banned users go (301),
// users who are no longer members of a members-only room go (321),
// others keep a role that fits (§5.1.3 note, §9, §10).
func (r *room) setAffiliation(who jid.JID, e affEntry, actor *occupant, reason string) {
	key := who.String()
	old := r.affs[key]
	if e.aff == affNone {
		delete(r.affs, key)
	} else {
		r.affs[key] = e
	}
	r.saveAff(key, e)
	var covered []*occupant
	for _, o := range r.occ {
		if o.bare.Equal(who) || who.Local() == "" && o.bare.Domain() == who.Domain() {
			covered = append(covered, o)
		}
	}
	for _, o := range covered {
		aff := r.affOf(o.bare)
		switch {
		case aff == affOutcast:
			r.removeOccupant(o, presenceOpts{codes: []int{301}, actor: actorNick(actor), reason: reason})
			continue
		case r.cfg.MembersOnly && aff < affMember:
			// §9.4: "If the room is members-only, the service MUST remove
			// the user from the room, including a status code of 321".
			r.removeOccupant(o, presenceOpts{codes: []int{321}, actor: actorNick(actor), reason: reason})
			continue
		case aff >= affAdmin:
			o.role = roleModerator
		case old.aff >= affAdmin && o.role == roleModerator:
			o.role = defaultRole(aff, r.cfg.Moderated)
		case aff == affMember && o.role == roleVisitor:
			// §5.1.3 note: a new member of a moderated room participates.
			o.role = roleParticipant
		}
		r.updateOccupant(o, actorNick(actor), reason)
	}
	if len(covered) == 0 && r.cfg.MembersOnly && e.aff == affMember && old.aff == affNone && actor != nil {
		r.inviteMember(who, actor.bare)
	}
}

// inviteMember sends who, whom by has just added to the member list of a
// members-only room, the invitation that §9.5 says such a user "SHOULD"
// get. A room of this service is no user, and would only send the
// invitation back as an error.
func (r *room) inviteMember(who, by jid.JID) {
	if who.Local() == "" || r.s.ours(who) {
		return
	}
	ux := xmlel.New(NSUser, "x").Append(xmlel.New(NSUser, "invite", "from", by.String()))
	if r.cfg.PasswordProtected {
		ux.Append(xmlel.TextElement(NSUser, "password", r.cfg.Password))
	}
	r.send(xmlel.New("", stanza.Message, "id", newID()).Append(ux), r.jid, who)
}
