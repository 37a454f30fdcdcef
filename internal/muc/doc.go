// Package muc is the group chat service: Multi-User Chat (XEP-0045) with
// the extensions clients expect of it today.
//
//   - Rooms are created on join (instant or reserved, configured with the
//     muc#roomconfig data form of XEP-0004), persistent or temporary,
//     public or hidden, open or members-only, moderated or not, with a
//     password, an occupant limit, and whois (semi-anonymous or
//     non-anonymous). An owner destroys a room, naming an alternate venue.
//   - Affiliations (owner, admin, member, outcast) and roles (moderator,
//     participant, visitor) follow the permission rules of XEP-0045 §5 and
//     §8–§10 (see perm.go); kick, ban, voice, member lists, mediated
//     invitations (§7.8.2) and voice requests (§7.13, §8.6). Direct
//     invitations (XEP-0249) pass between users and need nothing here.
//     The host's administrators (Config.Admins) act as owners of every
//     room without being on its lists, so that a room whose owners'
//     accounts were removed still has someone to give it an owner.
//   - Nicknames: conflicts, changes, one user in a room from several
//     resources under one nick, and self-ping (XEP-0410) answered by the
//     room. Reserved nicknames come with affiliations, from the admin
//     lists or from registration with the room (§7.10, jabber:iq:register
//     of XEP-0077, see register.go; in a members-only room an admin or
//     owner approves it, §9.9), and users discover theirs (§7.12).
//   - Messages: subject, private messages, history on join (§7.2.15),
//     a stanza-id on every groupchat message (XEP-0359), occupant-id
//     (XEP-0421), and an archive on the room JID (XEP-0313) from which
//     moderators retract messages (XEP-0425, XEP-0424 tombstones).
//   - Room avatars: a vCard on the room JID (XEP-0054), announced by its
//     hash in presence and disco#info, as XEP-0486 describes.
//
// # Concurrency
//
// The Service is the router's handler for one group chat domain. It never
// touches room state: each active room has one goroutine that owns it
// (occupants, affiliations, configuration, history) and a mailbox that
// others put stanzas in without blocking. A room sends by routing
// stanzas, and sessions' Send never blocks (a session that cannot keep up
// closes itself), so a slow occupant cannot hold up a room, and no lock
// is shared between rooms and sessions. A room goroutine ends when the
// room is idle and empty; the next stanza for the room starts it again
// from storage.
package muc
