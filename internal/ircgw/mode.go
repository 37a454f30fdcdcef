package ircgw

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// cmdMode maps channel modes onto XEP-0045: o and v are roles (§8.4,
// §8.6, §9.6), q, a and b affiliations (§9.1, §9.3, §10.3, §10.6), and
// i, m, k, l, s, t fields of the room configuration (§10.2). User modes
// are not kept; the answer is always +i.
func (s *Session) cmdMode(m ircmsg.Message) bool {
	target := m.Param(0)
	if !strings.HasPrefix(target, "#") {
		if foldASCII(target) != foldASCII(s.nick) {
			s.reply(s.numeric(errUsersDontMatch, "Can't change mode for other users"))
			return false
		}
		if len(m.Params) > 1 && strings.Trim(m.Param(1), "+-i") != "" {
			s.reply(s.numeric(errUModeUnknownFlag, "Unknown MODE flag"))
		}
		s.reply(s.numeric(rplUModeIs, "+i"))
		return false
	}
	ch, _, ok := s.channelFor(target)
	if !ok {
		s.reply(s.numeric(errNoSuchChannel, target, "No such channel"))
		return false
	}
	if ch == nil {
		s.notOn(target)
		return false
	}
	if len(m.Params) < 2 {
		s.mu.Lock()
		ms := ch.modeString(true)
		s.mu.Unlock()
		s.reply(s.numeric(rplChannelModeIs, append([]string{ch.name}, ms...)...))
		// NOTSPEC(Modern IRC, RPL_CREATIONTIME): rooms do not tell when
		// they were made; this is when the client joined.
		s.reply(s.numeric(rplCreationTime, ch.name, strconv.FormatInt(ch.since.Unix(), 10)))
		return false
	}
	args := m.Params[2:]
	next := func() (string, bool) {
		if len(args) == 0 {
			return "", false
		}
		a := args[0]
		args = args[1:]
		return a, true
	}
	plus := true
	var cfg []dataform.Field
	var applied []modeChange // mode changes done, for the MODE line
	changes := 0
	for _, c := range m.Param(1) {
		switch c {
		case '+':
			plus = true
			continue
		case '-':
			plus = false
			continue
		}
		if changes++; changes > 4 {
			break // MODES=4
		}
		sign := "-"
		if plus {
			sign = "+"
		}
		switch c {
		case 'b':
			mask, ok := next()
			if !ok {
				if sign == "+" || len(m.Param(1)) <= 2 {
					s.banList(ch)
				}
				continue
			}
			user, ok := s.maskUser(ch, mask)
			if !ok {
				s.reply(s.numeric(errNoSuchNick, mask, "No such nick"))
				continue
			}
			shown := banMask(user, s.host)
			if !fitsLine(modeLines(s.prefix(), ch.name, []modeChange{{sign + "b", shown}})[0]) {
				// A mask is never cut: a shorter one names someone
				// else. A change the MODE line cannot tell whole is
				// refused before it is made, rather than made and
				// told wrongly.
				s.reply(s.numeric(errInvalidModeParam, ch.name, "b", mask, "Ban mask too long for an IRC line"))
				continue
			}
			aff := "outcast"
			if !plus {
				aff = "none"
			}
			if err := s.admin(ch, xmlel.New(nsMUCAdmin, "item", "jid", user.String(), "affiliation", aff)); err != nil {
				s.reply(s.numeric(errChanOPrivsNeeded, ch.name, "You're not channel operator"))
				continue
			}
			applied = append(applied, modeChange{sign + "b", shown})
		case 'o', 'v', 'q', 'a':
			nick, ok := next()
			if !ok {
				s.reply(s.numeric(errNeedMoreParams, "MODE", "Not enough parameters"))
				continue
			}
			occ, ok := OccupantNick(nick)
			s.mu.Lock()
			o := ch.occ[foldNick(occ)]
			var real jid.JID
			if o != nil {
				real = o.real
			}
			s.mu.Unlock()
			if !ok || o == nil {
				if u, known := UserFor(nick, s.host); !known || !s.known(u) {
					s.reply(s.numeric(errNoSuchNick, nick, "No such nick"))
				} else {
					s.reply(s.numeric(errUserNotInChan, nick, ch.name, "They aren't on that channel"))
				}
				continue
			}
			var item *xmlel.Element
			switch {
			case c == 'o' && plus:
				item = xmlel.New(nsMUCAdmin, "item", "nick", occ, "role", "moderator")
			case c == 'o', c == 'v' && plus:
				item = xmlel.New(nsMUCAdmin, "item", "nick", occ, "role", "participant")
			case c == 'v':
				item = xmlel.New(nsMUCAdmin, "item", "nick", occ, "role", "visitor")
			default:
				if real.IsZero() {
					s.reply(s.numeric(errChanOPrivsNeeded, ch.name, "The room does not show you their address"))
					continue
				}
				aff := map[rune]string{'q': "owner", 'a': "admin"}[c]
				if !plus {
					aff = "member"
				}
				item = xmlel.New(nsMUCAdmin, "item", "jid", real.String(), "affiliation", aff)
			}
			if err := s.admin(ch, item); err != nil {
				s.reply(s.numeric(errChanOPrivsNeeded, ch.name, "You're not channel operator"))
			}
			// The room announces the new role or affiliation in
			// presence, which becomes the MODE line.
		case 'm', 'i', 's', 't', 'n':
			v := plus
			field := map[rune]string{'m': "muc#roomconfig_moderatedroom", 'i': "muc#roomconfig_membersonly", 's': "muc#roomconfig_publicroom", 't': "muc#roomconfig_changesubject"}[c]
			if c == 's' || c == 't' {
				v = !plus
			}
			if c == 'n' {
				continue // always on: only occupants speak in a room
			}
			cfg = append(cfg, dataform.Field{Var: field, Values: []string{boolStr(v)}})
			applied = append(applied, modeChange{mode: sign + string(c)})
		case 'k':
			key, ok := next()
			if plus && (!ok || key == "" || len(key) > keyLen || strings.ContainsAny(key, " ,")) {
				s.reply(s.numeric(errInvalidKey, ch.name, "Key is not well-formed"))
				continue
			}
			cfg = append(cfg, dataform.Field{Var: "muc#roomconfig_passwordprotectedroom", Values: []string{boolStr(plus)}})
			if plus {
				cfg = append(cfg, dataform.Field{Var: "muc#roomconfig_roomsecret", Values: []string{key}})
			} else {
				key = "*"
			}
			applied = append(applied, modeChange{sign + "k", key})
		case 'l':
			if plus {
				n, ok := next()
				v, err := strconv.Atoi(n)
				if !ok || err != nil || v <= 0 {
					s.reply(s.numeric(errNeedMoreParams, "MODE", "Not enough parameters"))
					continue
				}
				cfg = append(cfg, dataform.Field{Var: "muc#roomconfig_maxusers", Values: []string{strconv.Itoa(v)}})
				applied = append(applied, modeChange{"+l", strconv.Itoa(v)})
			} else {
				cfg = append(cfg, dataform.Field{Var: "muc#roomconfig_maxusers", Values: []string{strconv.Itoa(s.svc.cfg.DefaultOccupants)}})
				applied = append(applied, modeChange{mode: "-l"})
			}
		default:
			s.reply(s.numeric(errUnknownMode, string(c), "is unknown mode char to me"))
		}
	}
	if len(cfg) > 0 {
		f := dataform.Form{Type: dataform.TypeSubmit, Fields: append([]dataform.Field{
			{Var: dataform.FormTypeVar, Type: dataform.Hidden, Values: []string{"http://jabber.org/protocol/muc#roomconfig"}},
		}, cfg...)}
		iq := xmlel.New("", stanza.IQ, "type", "set", "to", ch.room.String()).Append(xmlel.New(nsMUCOwner, "query").Append(f.Element()))
		// The modes the room answers with are the new state, which the
		// MODE line below tells: the room's notice of the change
		// (refreshModes), which may come first, must not tell it too.
		s.mu.Lock()
		ch.known = false
		s.mu.Unlock()
		if _, _, err := s.request(iq, "", 0); err != nil {
			s.mu.Lock()
			ch.known = true // nothing changed
			s.mu.Unlock()
			s.reply(s.numeric(errChanOPrivsNeeded, ch.name, "You're not channel owner"))
			return false
		}
		s.readModes(ch)
	}
	if len(applied) > 0 && (len(cfg) > 0 || slices.ContainsFunc(applied, func(c modeChange) bool { return c.arg != "" })) {
		for _, l := range modeLines(s.prefix(), ch.name, applied) {
			s.reply(l)
		}
	}
	return false
}

// modeChange is one mode change done: "+k" and its argument, "" for
// none.
type modeChange struct{ mode, arg string }

// modeLines are the MODE lines that tell of mode changes, in order: one,
// or as many as it takes for each to fit in an IRC line, as servers
// split a long mode change (an argument that is not the last of its
// line would not be cut by fit, and would make a line too long).
func modeLines(source, channel string, changes []modeChange) []ircmsg.Message {
	line := func(changes []modeChange) ircmsg.Message {
		modes := make([]string, len(changes))
		params := []string{channel, ""}
		for i, c := range changes {
			modes[i] = c.mode
			if c.arg != "" {
				params = append(params, c.arg)
			}
		}
		params[1] = compactModes(modes)
		return ircmsg.Message{Source: source, Command: "MODE", Params: params}
	}
	var out []ircmsg.Message
	for len(changes) > 0 {
		n := 1
		for n < len(changes) && len(line(changes[:n+1]).Append(nil)) <= ircmsg.MaxBody {
			n++
		}
		out = append(out, line(changes[:n]))
		changes = changes[n:]
	}
	return out
}

// compactModes joins "+m", "+k", "-l" into "+mk-l".
func compactModes(ms []string) string {
	var b strings.Builder
	sign := byte(0)
	for _, m := range ms {
		if m[0] != sign {
			sign = m[0]
			b.WriteByte(sign)
		}
		b.WriteString(m[1:])
	}
	return b.String()
}

func boolStr(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// banMask is the IRC mask of a banned bare JID: nick!*@* for an account
// of the client's host (the nick is the account), else any nick with the
// escaped localpart as user name and the domain as host.
func banMask(user jid.JID, host string) string {
	if user.Domain() == host {
		// The nick is the account: nick!*@* bans it.
		return NickFor(user, host) + "!*@*"
	}
	return "*!" + escape(user.Local(), false) + "@" + user.Domain()
}

// maskUser reads a ban mask: "*!user@domain" names a bare JID, a nick of
// an occupant (with or without "!*@*") names its account when the room
// shows it.
func (s *Session) maskUser(ch *channel, mask string) (jid.JID, bool) {
	nick, rest, hasRest := strings.Cut(mask, "!")
	if hasRest && (nick == "*" || nick == "") {
		user, host, ok := strings.Cut(rest, "@")
		if !ok {
			return jid.JID{}, false
		}
		local, ok := unescape(user, false)
		if !ok {
			return jid.JID{}, false
		}
		j, err := jid.New(local, host, "")
		return j, err == nil
	}
	occ, ok := OccupantNick(nick)
	if !ok {
		return jid.JID{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := ch.occ[foldNick(occ)]; o != nil && !o.real.IsZero() {
		return o.real, true
	}
	if u, ok := UserFor(nick, s.host); ok {
		return u, true
	}
	return jid.JID{}, false
}

// banList answers MODE #chan b with the room's outcasts (XEP-0045 §9.2).
// A mask is never cut, which would name someone else: one too long for
// its RPL_BANLIST line (an outcast set from XMPP) is left out, and the
// end of the list says how many were.
func (s *Session) banList(ch *channel) {
	iq := xmlel.New("", stanza.IQ, "type", "get", "to", ch.room.String()).Append(
		xmlel.New(nsMUCAdmin, "query").Append(xmlel.New(nsMUCAdmin, "item", "affiliation", "outcast")))
	res, _, err := s.request(iq, "", 0)
	left := 0
	if err == nil && res != nil {
		if q := res.Child(nsMUCAdmin, "query"); q != nil {
			for _, it := range q.Elements() {
				if j, err := jid.Parse(it.Attr("jid")); err == nil {
					if m := s.numeric(rplBanList, ch.name, banMask(j, s.host)); fitsLine(m) {
						s.reply(m)
					} else {
						left++
					}
				}
			}
		}
	}
	end := "End of channel ban list"
	if left > 0 {
		end += fmt.Sprintf(" (%d not shown: too long for an IRC line)", left)
	}
	s.reply(s.numeric(rplEndOfBanList, ch.name, end))
}
