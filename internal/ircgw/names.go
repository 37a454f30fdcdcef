package ircgw

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"samtal.org/samtal/internal/jid"
)

// escapeChar starts and ends an escaped code point in a nick or channel
// name: "o.brien" is the nick "o|2e|brien". It is a character that RFC
// 2812 §2.3.1 allows in nicks and that no JID part needs literally.
const escapeChar = '|'

// literal reports whether r may stand for itself at position i of a
// nick (nick true) or channel name. Everything else is escaped, so that
// the result is a valid IRC name whatever the XMPP side allows (RFC
// 2812 §2.3.1: a nick starts with a letter or special character;
// channel names exclude space, comma, colon and BEL), and so that the
// mapping is injective: the escape character itself is always escaped.
func literal(r rune, i int, nick bool) bool {
	switch {
	case r == escapeChar:
		return false
	case r < utf8.RuneSelf:
		switch {
		case r >= 'a' && r <= 'z':
			return true
		case r >= 'A' && r <= 'Z':
			// Channels are room localparts, which PRECIS maps to lower
			// case; an upper-case letter there was escaped. Nicks keep
			// their case: both IRC (CASEMAPPING=ascii) and the rooms
			// compare them without it.
			return nick
		case r >= '0' && r <= '9', r == '-':
			return !nick || i > 0
		case r == '_':
			return true
		case strings.ContainsRune("[]{}^`", r):
			return nick
		case strings.ContainsRune(".+!$%*=?~#", r):
			return !nick
		}
		return false
	default:
		return unicode.IsLetter(r) || unicode.IsDigit(r) && (!nick || i > 0)
	}
}

// escape maps an XMPP name (an occupant nick, a localpart, a bare JID)
// to an IRC name; unescape is its inverse. A code point that may not
// stand for itself is written as '|', its lower-case hexadecimal value,
// and '|'.
func escape(s string, nick bool) string {
	var b strings.Builder
	i := 0
	for _, r := range s {
		if literal(r, i, nick) {
			b.WriteRune(r)
		} else {
			b.WriteByte(escapeChar)
			b.WriteString(strconv.FormatInt(int64(r), 16))
			b.WriteByte(escapeChar)
		}
		i++
	}
	return b.String()
}

// unescape reverses escape. It accepts only the canonical form: an
// escape of a character that may stand for itself, a bad hexadecimal
// value or a character that must be escaped is refused, so that two IRC
// names never stand for the same XMPP name.
func unescape(s string, nick bool) (string, bool) {
	var b strings.Builder
	i := 0
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n <= 1 {
			return "", false
		}
		if r != escapeChar {
			if !literal(r, i, nick) {
				return "", false
			}
			b.WriteRune(r)
			s = s[n:]
			i++
			continue
		}
		end := strings.IndexRune(s[1:], escapeChar)
		if end < 1 || end > 6 {
			return "", false
		}
		hex := strings.ToLower(s[1 : 1+end])
		v, err := strconv.ParseUint(hex, 16, 32)
		if err != nil || strconv.FormatUint(v, 16) != hex || !utf8.ValidRune(rune(v)) || literal(rune(v), i, nick) {
			return "", false
		}
		b.WriteRune(rune(v))
		s = s[end+2:]
		i++
	}
	return b.String(), b.Len() > 0
}

// foldASCII is the IRC case mapping samtal announces (CASEMAPPING=ascii).
func foldASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// NickFor returns the IRC nick of a user: the escaped localpart for a
// user of host, the escaped bare JID for anyone else, and the domain for
// a server.
func NickFor(user jid.JID, host string) string {
	switch {
	case user.Local() == "":
		return user.Domain()
	case user.Domain() == host:
		return escape(user.Local(), true)
	}
	return escape(user.Bare().String(), true)
}

// UserFor returns the bare JID an IRC nick stands for (the inverse of
// NickFor), or false when the nick names nobody: it does not unescape,
// or it is not the canonical nick of the JID it names.
func UserFor(nick, host string) (jid.JID, bool) {
	s, ok := unescape(nick, true)
	if !ok {
		return jid.JID{}, false
	}
	var j jid.JID
	var err error
	if strings.ContainsRune(s, '@') {
		j, err = jid.Parse(s)
	} else {
		j, err = jid.New(s, host, "")
	}
	if err != nil || j.Local() == "" || j.IsFull() {
		return jid.JID{}, false
	}
	if foldASCII(NickFor(j, host)) != foldASCII(nick) {
		return jid.JID{}, false
	}
	return j, true
}

// OccupantNick returns the room nick an IRC nick stands for, or false.
func OccupantNick(nick string) (string, bool) {
	return unescape(nick, true)
}

// IRCNick returns the IRC nick of a room occupant.
func IRCNick(occupant string) string { return escape(occupant, true) }

// ChannelFor returns the channel name of a room: '#' and the escaped
// localpart.
func ChannelFor(room jid.JID) string { return "#" + escape(room.Local(), false) }

// RoomFor returns the room a channel name stands for on a group chat
// service, or false when the name is not the canonical channel name of
// a room. Channel names compare without ASCII case.
func RoomFor(channel, service string) (jid.JID, bool) {
	if !strings.HasPrefix(channel, "#") || len(channel) < 2 {
		return jid.JID{}, false
	}
	c := foldASCII(channel)
	s, ok := unescape(c[1:], false)
	if !ok {
		return jid.JID{}, false
	}
	j, err := jid.New(s, service, "")
	if err != nil || ChannelFor(j) != c {
		return jid.JID{}, false
	}
	return j, true
}
