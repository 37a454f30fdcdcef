package ircgw

import (
	"crypto/sha256"
	"encoding/hex"

	"samtal.org/samtal/internal/ircmsg"
)

// Sources that an IRC line cannot carry.
//
// A line names the user it comes from in its source, nick!user@host
// (RFC 1459 §2.3.1), and the line, source and text together, holds at
// most 512 bytes. Here a nick is the injective escape of an XMPP name
// (names.go): a user of another domain is its escaped bare JID, an
// occupant its escaped room nick, and either can be longer than a line.
// A nick is never cut, since a shorter nick is someone else's, and a
// line is never longer than 512 bytes. Instead:
//
//   - The host part of a hostmask is the user's domain when it has at
//     most HOSTLEN bytes, else a stand-in made from its hash (hostPart),
//     the same in every line, as IRC servers show a cloak or an address
//     for a host name longer than HOSTLEN. The host is not the user's
//     name on IRC: the nick and the account tag are.
//   - A PRIVMSG or NOTICE whose sender cannot be written as its source
//     with room for text (fitsText) reaches the client as a NOTICE from
//     the server, to the same target, that names the sender in its text
//     and says that the message is not shown (unshownText): the client
//     learns that a message arrived, and from whom, without the gateway
//     inventing a nick for the sender. The body is not in that notice:
//     a line from the server speaks with the server's voice, and the
//     sender's text there could pass for the server's. The message is
//     where an XMPP client of the account finds it (the archives,
//     carbons, offline storage), as it would be for any client. A TAGMSG
//     from such a sender (typing, reactions) has no text to tell and
//     names its sender by its source alone: it is left out.
//   - In a channel, an occupant whose hostmask does not leave room in the
//     lines the channel needs (a PRIVMSG with text, its NAMES entry) is
//     not shown (visible): no JOIN, PART, QUIT, NICK, AWAY or MODE
//     about it, no NAMES or WHO entry; a subject it sets or a kick it
//     makes comes from the server, and its messages arrive as above.
//     An occupant that comes into view or leaves it (a nick change, an
//     address the room starts to show) JOINs or PARTs; so does one whose
//     nick change is too long for a NICK line.
//   - Other lines from a user (INVITE, AWAY of a monitored contact)
//     come from the server, or are left out, when their source does not
//     fit.
//
// The same holds for the lines of CHATHISTORY, which come from the same
// senders.

// hostLen is the longest host part of a hostmask (HOSTLEN in
// ISUPPORT), the bound most IRC servers put on host names.
const hostLen = 63

// hostPart returns the host part of hostmasks for a domain: the domain,
// or for one longer than hostLen "long-domain/" and 16 hexadecimal
// digits of its SHA-256. A domain cut short would name another domain;
// the stand-in names none, since no domain holds a '/' (RFC 7622 §3.2,
// where '/' ends the domainpart), and two domains have two stand-ins.
func hostPart(domain string) string {
	if len(domain) <= hostLen {
		return domain
	}
	sum := sha256.Sum256([]byte(domain))
	return "long-domain/" + hex.EncodeToString(sum[:8])
}

// fitsText reports whether ":source command target :text" leaves
// minText bytes for its text within ircmsg.MaxBody. source "" stands
// for a sender that is not shown (visible).
func fitsText(source, command, target string) bool {
	return source != "" && lineRoom(source, command, target) >= minText
}

// fitsLine reports whether a line fits in ircmsg.MaxBody as it is, tags
// aside: nothing in it needs cutting.
func fitsLine(m ircmsg.Message) bool {
	m.Tags = nil
	return len(m.Append(nil)) <= ircmsg.MaxBody
}

// unshownText is the text of the notice that stands for a message whose
// sender cannot be written as its source (see above); who names the
// sender as XMPP does.
func unshownText(who string) string {
	return "A message from " + who + " is not shown here: the sender's nick is too long for an IRC line. An XMPP client shows it."
}

// unshownTags are the tags of a message that the notice standing for it
// keeps: its id and time. The account tag and the sender's client tags
// belong to the sender's line, not to the server's.
func unshownTags(tags []ircmsg.Tag) []ircmsg.Tag {
	var out []ircmsg.Tag
	for _, t := range tags {
		if t.Key == "msgid" || t.Key == "time" {
			out = append(out, t)
		}
	}
	return out
}

// occupantName is how a notice names an occupant: its room nick as
// XMPP shows it.
func occupantName(nick string) string { return `the occupant "` + nick + `"` }

// visible reports whether an occupant is shown in a channel: its
// hostmask leaves room for text in a PRIVMSG to the channel, and for
// its NAMES entry with every prefix and the host (userhost-in-names).
// Every other line about it is shorter than one of these, or has text
// last that fit may shorten. The client's own occupant always is.
// s.mu is held.
func (s *Session) visible(ch *channel, o *occupant) bool {
	_, ok := s.shownMask(ch, o)
	return ok
}

// shownMask returns an occupant's hostmask, made once for both the
// check and the line, and whether the channel shows it (visible).
func (s *Session) shownMask(ch *channel, o *occupant) (string, bool) {
	mask := ch.hostmask(o)
	if !fitsText(mask, "PRIVMSG", ch.name) {
		return mask, false
	}
	names := ircmsg.Message{Source: s.svc.cfg.ServerName, Command: rplNamReply, Params: []string{s.nick, "@", ch.name, "@+" + mask}}
	return mask, fitsLine(names)
}

// cutName is logged when a line had to be cut where it names someone or
// something (namesLast): a bug, since such a line must be made to fit
// before it is sent. The fuzz target fails on it.
const cutName = "ircgw: a name was cut to fit an IRC line"

// namesLast reports whether the last parameter of a line is a name, a
// mask or a list of them rather than text, so that cutting it would
// name someone else.
func namesLast(m ircmsg.Message) bool {
	switch m.Command {
	case "MODE", "NICK", "INVITE", "TAGMSG", "BATCH", "CHATHISTORY",
		rplUserHost, rplIsOn, rplChannelModeIs, rplInviting, rplNamReply, rplBanList,
		rplMonOnline, rplMonOffline, rplMonList:
		return true
	case "JOIN":
		return len(m.Params) == 1 // extended-join ends with the real name
	}
	return false
}
