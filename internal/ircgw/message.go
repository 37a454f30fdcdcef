package ircgw

import (
	"strings"
	"time"

	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// serverTime formats a time for the server-time tag.
func serverTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// cmdPrivmsg sends PRIVMSG and NOTICE: to a channel as a groupchat
// message to the room, to a nick as a chat message to the account
// (RFC 6121 §5.2.2), which the IM core delivers, copies and archives as
// any client's.
func (s *Session) cmdPrivmsg(m ircmsg.Message) bool {
	if len(m.Params) == 0 {
		s.reply(s.numeric(errNoRecipient, "No recipient given ("+m.Command+")"))
		return false
	}
	if len(m.Params) < 2 || m.Params[1] == "" {
		s.reply(s.numeric(errNoTextToSend, "No text to send"))
		return false
	}
	notice := m.Command == "NOTICE"
	target, text := m.Params[0], m.Params[1]
	if strings.HasPrefix(text, "\x01ACTION ") {
		// CTCP ACTION is XEP-0245's /me.
		text = "/me " + strings.TrimSuffix(strings.TrimPrefix(text, "\x01ACTION "), "\x01")
	} else if strings.HasPrefix(text, "\x01") {
		return false // other CTCP has no meaning for XMPP users
	}
	id := randomID(16)
	echo := ircmsg.Message{Tags: []ircmsg.Tag{{Key: "msgid", Value: id}, {Key: "time", Value: serverTime(time.Now())}}, Source: s.prefix(), Command: m.Command, Params: []string{target, m.Params[1]}}
	for _, t := range m.Tags {
		if strings.HasPrefix(t.Key, "+") {
			echo.SetTag(t.Key, t.Value)
		}
	}
	if !s.guest {
		echo.SetTag("account", s.nick)
	}
	if strings.HasPrefix(target, "#") {
		ch, _, ok := s.channelFor(target)
		if !ok {
			if !notice {
				s.reply(s.numeric(errNoSuchChannel, target, "No such channel"))
			}
			return false
		}
		if ch == nil {
			if !notice {
				s.reply(s.numeric(errCannotSend, target, "Cannot send to channel"))
			}
			return false
		}
		echo.Params[0] = ch.name
		msg := xmlel.New("", stanza.Message, "type", "groupchat", "to", ch.room.String(), "id", id).
			Append(xmlel.TextElement("", "body", text), xmlel.New(nsStanzaID, "origin-id", "id", id))
		s.mu.Lock()
		s.rememberSent(id)
		s.mu.Unlock()
		s.route(msg)
	} else {
		user, ok := UserFor(target, s.host)
		if !ok {
			if !notice {
				s.reply(s.numeric(errNoSuchNick, target, "No such nick/channel"))
			}
			return false
		}
		echo.Params[0] = NickFor(user, s.host)
		msg := xmlel.New("", stanza.Message, "type", "chat", "to", user.String(), "id", id).
			Append(xmlel.TextElement("", "body", text), xmlel.New(nsStanzaID, "origin-id", "id", id))
		s.route(msg)
	}
	if s.hasCap("echo-message") {
		s.reply(echo)
	}
	return false
}

// rememberSent keeps the id of a message sent to a room, to recognize
// its reflection (XEP-0045 §7.4): the client has it already, from
// echo-message or because it sent it. s.mu is held.
func (s *Session) rememberSent(id string) {
	if len(s.sentIDs) >= maxSentIDs {
		delete(s.sent, s.sentIDs[0])
		s.sentIDs = s.sentIDs[1:]
	}
	s.sent[id] = true
	s.sentIDs = append(s.sentIDs, id)
}

// cmdTagmsg carries client tags only; typing notifications
// (+typing) become chat states (XEP-0085) for one-to-one chats.
func (s *Session) cmdTagmsg(m ircmsg.Message) bool {
	target := m.Param(0)
	typing, _ := m.Tag("+typing")
	state := map[string]string{"active": "composing", "paused": "paused", "done": "active"}[typing]
	echo := ircmsg.Message{Tags: append([]ircmsg.Tag{{Key: "msgid", Value: randomID(16)}, {Key: "time", Value: serverTime(time.Now())}}, clientTags(m)...), Source: s.prefix(), Command: "TAGMSG", Params: []string{target}}
	if strings.HasPrefix(target, "#") {
		ch, _, _ := s.channelFor(target)
		if ch == nil {
			s.reply(s.numeric(errCannotSend, target, "Cannot send to channel"))
			return false
		}
	} else {
		user, ok := UserFor(target, s.host)
		if !ok {
			s.reply(s.numeric(errNoSuchNick, target, "No such nick/channel"))
			return false
		}
		if state != "" {
			s.route(xmlel.New("", stanza.Message, "type", "chat", "to", user.String()).Append(
				xmlel.New("http://jabber.org/protocol/chatstates", state)))
		}
	}
	if s.hasCap("echo-message") {
		s.reply(echo)
	}
	return false
}

func clientTags(m ircmsg.Message) []ircmsg.Tag {
	var out []ircmsg.Tag
	for _, t := range m.Tags {
		if strings.HasPrefix(t.Key, "+") {
			out = append(out, t)
		}
	}
	return out
}

// cmdAway sets presence: away with the message as status, or available
// again (RFC 6121 §4.7), for contacts and every joined room.
func (s *Session) cmdAway(m ircmsg.Message) bool {
	msg := ircmsg.Truncate(m.Param(0), awayLen)
	s.mu.Lock()
	s.away = msg
	var rooms []jid.JID
	for _, ch := range s.chans {
		if to, err := ch.room.WithResource(ch.nick); err == nil {
			rooms = append(rooms, to)
		}
	}
	s.mu.Unlock()
	mk := func() *xmlel.Element {
		p := xmlel.New("", stanza.Presence)
		if msg != "" {
			p.Append(xmlel.TextElement("", "show", "away"), xmlel.TextElement("", "status", msg))
		}
		return p
	}
	s.route(mk())
	for _, r := range rooms {
		p := mk()
		p.SetAttr("to", r.String())
		s.route(p)
	}
	if msg == "" {
		s.reply(s.numeric(rplUnaway, "You are no longer marked as being away"))
	} else {
		s.reply(s.numeric(rplNowAway, "You have been marked as being away"))
	}
	return false
}

// online reports whether an account has a bound resource.
func (s *Session) online(user jid.JID) bool {
	return len(s.svc.router.Resources(user)) > 0
}

func (s *Session) cmdIson(m ircmsg.Message) bool {
	var on []string
	for _, p := range m.Params {
		for _, nick := range strings.Fields(p) {
			if u, ok := UserFor(nick, s.host); ok && s.online(u) {
				on = append(on, nick)
			}
		}
	}
	s.reply(s.numeric(rplIsOn, strings.Join(on, " ")))
	return false
}

func (s *Session) cmdUserhost(m ircmsg.Message) bool {
	var out []string
	for _, nick := range m.Params[:min(len(m.Params), 5)] {
		if u, ok := UserFor(nick, s.host); ok && s.online(u) {
			out = append(out, NickFor(u, s.host)+"=+"+escape(u.Local(), false)+"@"+u.Domain())
		}
	}
	s.reply(s.numeric(rplUserHost, strings.Join(out, " ")))
	return false
}

func (s *Session) cmdWho(m ircmsg.Message) bool {
	mask := m.Param(0)
	if mask == "" {
		mask = "*"
	}
	srv := s.svc.cfg.ServerName
	if strings.HasPrefix(mask, "#") {
		ch, _, _ := s.channelFor(mask)
		if ch != nil {
			s.mu.Lock()
			multi := s.caps["multi-prefix"]
			var lines []ircmsg.Message
			for _, o := range ch.occ {
				nick, rest, _ := strings.Cut(ch.hostmask(o), "!")
				user, host, _ := strings.Cut(rest, "@")
				flags := "H"
				if o.away {
					flags = "G"
				}
				lines = append(lines, s.numeric(rplWhoReply, ch.name, user, host, srv, nick, flags+ch.prefixes(o, multi), "0 "+nick))
			}
			s.mu.Unlock()
			for _, l := range lines {
				s.reply(l)
			}
			mask = ch.name
		}
	} else if u, ok := UserFor(mask, s.host); ok && (s.online(u) || u.Equal(s.account)) {
		nick := NickFor(u, s.host)
		real := nick
		if u.Equal(s.account) {
			real = s.realName()
		}
		s.reply(s.numeric(rplWhoReply, "*", escape(u.Local(), false), u.Domain(), srv, nick, "H", "0 "+real))
	}
	s.reply(s.numeric(rplEndOfWho, mask, "End of WHO list"))
	return false
}

func (s *Session) cmdWhois(m ircmsg.Message) bool {
	nick := m.Params[len(m.Params)-1]
	if nick == "" {
		s.reply(s.numeric(errNoSuchNick, nick, "No such nick"))
		return false
	}
	u, ok := UserFor(nick, s.host)
	known := ok && (s.online(u) || u.Equal(s.account))
	if ok && !known && u.Domain() == s.host {
		exists, err := s.svc.accounts.Exists(s.ctx, u)
		known = err == nil && exists
	}
	if !known {
		s.reply(s.numeric(errNoSuchNick, nick, "No such nick"))
		s.reply(s.numeric(rplEndOfWhois, nick, "End of /WHOIS list"))
		return false
	}
	nick = NickFor(u, s.host)
	real := nick
	if u.Equal(s.account) {
		real = s.realName()
	}
	s.reply(s.numeric(rplWhoisUser, nick, escape(u.Local(), false), u.Domain(), "*", real))
	s.reply(s.numeric(rplWhoisServer, nick, s.svc.cfg.ServerName, "samtal"))
	if u.Equal(s.account) && s.guest {
		// a guest has no account
	} else if u.Domain() == s.host {
		s.reply(s.numeric(rplWhoisAccount, nick, nick, "is logged in as"))
	}
	s.reply(s.numeric(rplEndOfWhois, nick, "End of /WHOIS list"))
	return false
}
