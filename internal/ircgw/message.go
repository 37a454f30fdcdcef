package ircgw

import (
	"slices"
	"strings"
	"time"

	"samtal.org/samtal/internal/archive"
	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/rsm"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// serverTime formats a time for the server-time tag.
func serverTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// cmdPrivmsg sends PRIVMSG, NOTICE and TAGMSG: to a channel as a
// groupchat message to the room, to a nick as a chat message to the
// account (RFC 6121 §5.2.2), which the IM core delivers, copies and
// archives as any client's. What XMPP has no element for (NOTICE,
// TAGMSG, client-only tags) travels in samtal's extension element.
func (s *Session) cmdPrivmsg(m ircmsg.Message) bool {
	cmd := m.Command
	if len(m.Params) == 0 {
		s.reply(s.numeric(errNoRecipient, "No recipient given ("+cmd+")"))
		return false
	}
	target, text := m.Params[0], ""
	if cmd != "TAGMSG" {
		if len(m.Params) < 2 || m.Params[1] == "" {
			s.reply(s.numeric(errNoTextToSend, "No text to send"))
			return false
		}
		text = m.Params[1]
	}
	body := text
	if strings.HasPrefix(text, "\x01ACTION ") {
		// CTCP ACTION is XEP-0245's /me.
		body = "/me " + strings.TrimSuffix(strings.TrimPrefix(text, "\x01ACTION "), "\x01")
	} else if strings.HasPrefix(text, "\x01") {
		return false // other CTCP has no meaning for XMPP users
	}
	tags := clientTags(m)
	id := randomID(16)
	build := func(typ, to string) *xmlel.Element {
		msg := xmlel.New("", stanza.Message, "type", typ, "to", to, "id", id)
		if body != "" {
			msg.Append(xmlel.TextElement("", "body", body))
		}
		if st := chatState(tags); st != "" && cmd == "TAGMSG" {
			msg.Append(xmlel.New(nsChatStates, st))
		}
		msg.Append(xmlel.New(nsStanzaID, "origin-id", "id", id))
		if ext := ircElement(cmd, tags); ext != nil {
			msg.Append(ext)
		}
		return msg
	}
	echo := ircmsg.Message{Tags: []ircmsg.Tag{{Key: "msgid", Value: id}, {Key: "time", Value: serverTime(time.Now())}}, Source: s.prefix(), Command: cmd, Params: []string{target}}
	if cmd != "TAGMSG" {
		echo.Params = append(echo.Params, text)
	}
	echo.Tags = append(echo.Tags, tags...)
	if !s.guest {
		echo.SetTag("account", s.nick)
	}
	quiet := cmd != "PRIVMSG" // no automatic replies to a NOTICE (RFC 2812 §3.3.2)
	if strings.HasPrefix(target, "#") {
		ch, room, ok := s.channelFor(target)
		if !ok {
			if !quiet {
				s.reply(s.numeric(errNoSuchChannel, target, "No such channel"))
			}
			return false
		}
		if ch == nil {
			if !quiet {
				if s.roomExists(room) {
					s.reply(s.numeric(errCannotSend, target, "Cannot send to channel"))
				} else {
					s.reply(s.numeric(errNoSuchChannel, target, "No such channel"))
				}
			}
			return false
		}
		// The room's reflection of the message (XEP-0045 §7.4) is the
		// echo, so that it carries the room's id and time, the same
		// for every occupant; a labeled command's label waits for it.
		sent := sentMsg{echo: s.hasCap("echo-message")}
		if sent.echo {
			sent.done = make(chan struct{})
			if s.collecting {
				sent.label = s.label
				s.deferLabel = true
			}
		}
		s.mu.Lock()
		s.rememberSent(id, sent)
		s.mu.Unlock()
		s.route(build("groupchat", ch.room.String()))
		if sent.done != nil {
			// The echo comes before the answers to the next commands,
			// as a server that handles commands in order sends it; the
			// room answers in a moment, with the echo or an error.
			t := time.NewTimer(5 * time.Second)
			select {
			case <-sent.done:
			case <-t.C:
			}
			t.Stop()
		}
		return false
	}
	user, ok := UserFor(target, s.host)
	if !ok || !s.reachable(s.nickOf(user)) || !s.known(user) {
		if !quiet {
			s.reply(s.numeric(errNoSuchNick, target, "No such nick/channel"))
		}
		return false
	}
	echo.Params[0] = s.nickOf(user)
	s.route(build("chat", user.String()))
	if s.hasCap("echo-message") && cmd != "TAGMSG" && s.svc.cfg.Archive {
		// The echo has the id and time the message has in the user's
		// archive, as CHATHISTORY will show it.
		if e, ok := s.archivedAs(user, id); ok {
			echo.SetTag("msgid", e.id)
			echo.SetTag("time", serverTime(s.svc.msgTime(e.id, e.t)))
		}
	}
	if msg, away := s.awayOf(user); away && cmd == "PRIVMSG" {
		s.reply(s.numeric(rplAway, s.nickOf(user), msg))
	}
	if s.hasCap("echo-message") {
		// A message of several lines comes back as it goes to others:
		// one multiline batch, or a line each.
		s.mu.Lock()
		lines := s.deliver(echo.Tags, echo.Source, s.nick, cmd, echo.Params[0], body)
		s.mu.Unlock()
		for _, l := range lines {
			s.reply(l)
		}
	}
	return false
}

// minText is the least text a line of a message carries: deliver cuts
// a body into parts of at least this many bytes, and fitQuoted keeps
// this much of a reply's text.
const minText = 32

// lineRoom is the room for text in ":source COMMAND target :text\r\n"
// within ircmsg.MaxBody.
func lineRoom(source, command, target string) int {
	return ircmsg.MaxBody - len(":   :\r\n") - len(source) - len(command) - len(target)
}

// reachable reports whether the client can write to a user with this
// nick in IRC lines: its messages, as their echo shows them, hold its
// own prefix and the nick, and must keep minText bytes of room for
// text. A longer nick (the escaped JID of a long domain) cannot be
// shown whole in such a line, and is answered as one that names nobody.
func (s *Session) reachable(nick string) bool {
	return lineRoom(s.prefix(), "PRIVMSG", nick) >= minText
}

// archivedAs finds a message the client just sent to user in its
// archive by its origin-id (XEP-0359), among the latest few.
func (s *Session) archivedAs(user jid.JID, originID string) (entry, bool) {
	q := archive.Query{With: user, Page: rsm.NewQuery()}
	q.Page.Max, q.Page.HasBefore = 5, true
	got, ok := s.fetch(s.account, q)
	if !ok {
		return entry{}, false
	}
	for i := len(got) - 1; i >= 0; i-- {
		fwd := got[i].el.Child(nsForward, "forwarded")
		if fwd == nil {
			continue
		}
		if m := fwd.Child("", "message"); m != nil {
			if oid := m.Child(nsStanzaID, "origin-id"); oid != nil && oid.Attr("id") == originID {
				return got[i], true
			}
		}
	}
	return entry{}, false
}

// sentMsg is what the session remembers of a message it sent to a room
// until the room reflects it.
type sentMsg struct {
	topic bool          // a subject change
	echo  bool          // the client wants the echo (echo-message)
	label string        // the label of the command, for labeled-response
	done  chan struct{} // closed when the echo or an error came; nil without echo
}

// rememberSent keeps the id of a message sent to a room, to recognize
// its reflection (XEP-0045 §7.4). s.mu is held.
func (s *Session) rememberSent(id string, m sentMsg) {
	if len(s.sentIDs) >= maxSentIDs {
		delete(s.sent, s.sentIDs[0])
		s.sentIDs = s.sentIDs[1:]
	}
	s.sent[id] = m
	s.sentIDs = append(s.sentIDs, id)
}

// known reports whether a user exists: an account of a served host, a
// guest with a bound resource, or a user of another domain (whose
// server answers for it).
func (s *Session) known(user jid.JID) bool {
	if !slices.Contains(s.svc.cfg.Hosts, user.Domain()) || s.bound(user) {
		return true
	}
	exists, err := s.svc.accounts.Exists(s.ctx, user)
	return err == nil && exists
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

// bound reports whether a user has a resource bound here: whether a
// guest's nick is taken. Whether an account is online is presence,
// which only its contacts see (monitor.go).
func (s *Session) bound(user jid.JID) bool {
	return len(s.svc.router.Resources(user)) > 0
}

func (s *Session) cmdIson(m ircmsg.Message) bool {
	var on []string
	for _, p := range m.Params {
		for _, nick := range strings.Fields(p) {
			if u, ok := UserFor(nick, s.host); ok && s.sees(u) {
				on = append(on, nick)
			}
		}
	}
	s.reply(s.listReply(rplIsOn, on))
	return false
}

// listReply is a numeric whose last parameter lists items, separated by
// spaces: as many of them, whole, as the line holds, as IRC servers
// answer ISON and USERHOST. An item is never cut, which would name
// someone else.
func (s *Session) listReply(code string, items []string) ircmsg.Message {
	size := len(s.numeric(code, "").Append(nil)) // with " :" and CR LF
	n := 0
	for ; n < len(items); n++ {
		if size += len(items[n]) + min(n, 1); size > ircmsg.MaxBody {
			break
		}
	}
	return s.numeric(code, strings.Join(items[:n], " "))
}

func (s *Session) cmdUserhost(m ircmsg.Message) bool {
	var out []string
	for _, nick := range m.Params[:min(len(m.Params), 5)] {
		if u, ok := UserFor(nick, s.host); ok && s.sees(u) {
			sign := "+"
			if _, away := s.awayOf(u); away {
				sign = "-"
			}
			out = append(out, s.nickOf(u)+"="+sign+s.userOf(u)+"@"+hostPart(u.Domain()))
		}
	}
	s.reply(s.listReply(rplUserHost, out))
	return false
}

// whoRow is one WHO reply.
type whoRow struct {
	channel, user, host, nick, flags, real, account string
}

// whoLine formats a row as RPL_WHOREPLY, or as RPL_WHOSPCRPL (354) with
// the fields a WHOX request named (%tcuihsnfdlaor, and a token).
func (s *Session) whoLine(r whoRow, fields, token string) ircmsg.Message {
	srv := s.svc.cfg.ServerName
	if fields == "" {
		return s.numeric(rplWhoReply, r.channel, r.user, r.host, srv, r.nick, r.flags, "0 "+r.real)
	}
	var params []string
	// WHOX fields come in this order, whatever order they were asked in.
	for _, f := range "tcuihsnfdlaor" {
		if !strings.ContainsRune(fields, f) {
			continue
		}
		switch f {
		case 't':
			params = append(params, token)
		case 'c':
			params = append(params, r.channel)
		case 'u':
			params = append(params, r.user)
		case 'i':
			params = append(params, "255.255.255.255") // addresses are private
		case 'h':
			params = append(params, r.host)
		case 's':
			params = append(params, srv)
		case 'n':
			params = append(params, r.nick)
		case 'f':
			params = append(params, r.flags)
		case 'd':
			params = append(params, "0")
		case 'l':
			params = append(params, "0")
		case 'a':
			params = append(params, r.account)
		case 'o':
			params = append(params, "n/a")
		case 'r':
			params = append(params, r.real)
		}
	}
	return s.numeric(rplWhoSpcRpl, params...)
}

func (s *Session) cmdWho(m ircmsg.Message) bool {
	mask := m.Param(0)
	if mask == "" {
		mask = "*"
	}
	// WHOX: "WHO <mask> %<fields>[,<token>]".
	fields, token := "", ""
	if f, ok := strings.CutPrefix(m.Param(1), "%"); ok {
		fields, token, _ = strings.Cut(f, ",")
		if fields == "" {
			fields = "n"
		}
		if len(token) > 3 {
			token = token[:3]
		}
	}
	var rows []whoRow
	if strings.HasPrefix(mask, "#") {
		ch, _, _ := s.channelFor(mask)
		if ch != nil {
			s.mu.Lock()
			multi := s.caps["multi-prefix"]
			for _, o := range ch.occ {
				if foldNick(o.nick) != foldNick(ch.nick) && !s.visible(ch, o) {
					continue // not shown in the channel (sources.go)
				}
				nick, rest, _ := strings.Cut(ch.hostmask(o), "!")
				user, host, _ := strings.Cut(rest, "@")
				r := whoRow{channel: ch.name, user: user, host: host, nick: nick, flags: "H", real: nick, account: "0"}
				if o.away {
					r.flags = "G"
				}
				r.flags += ch.prefixes(o, multi)
				if !o.real.IsZero() {
					if iu, ok := s.svc.ircUserOf(o.real); ok {
						r.real = iu.real
					}
					if a, ok := s.accountTag(o.real); ok {
						r.account = a
					}
				}
				rows = append(rows, r)
			}
			s.mu.Unlock()
			mask = ch.name
		}
	} else {
		// A nick or a mask lists the IRC users that match and that
		// the client sees: itself, those who share a channel with it
		// (all are +i) and the contacts it sees online.
		glob := strings.ContainsAny(mask, "*?")
		for u, iu := range s.svc.ircUsers() {
			if glob && !matchMask(foldASCII(mask), foldASCII(iu.nick)) || !glob && foldASCII(mask) != foldASCII(iu.nick) ||
				!s.sees(u) && !s.sharesChannel(iu.nick) {
				continue
			}
			r := whoRow{channel: "*", user: iu.user, host: hostPart(u.Domain()), nick: iu.nick, flags: "H", real: iu.real, account: "0"}
			if _, away := s.awayOf(u); away {
				r.flags = "G"
			}
			if a, ok := s.accountTag(u); ok {
				r.account = a
			}
			rows = append(rows, r)
		}
	}
	for _, r := range rows {
		s.reply(s.whoLine(r, fields, token))
	}
	s.reply(s.numeric(rplEndOfWho, mask, "End of WHO list"))
	return false
}

// sharesChannel reports whether an occupant with this IRC nick is in
// one of the client's channels.
func (s *Session) sharesChannel(nick string) bool {
	occ, ok := OccupantNick(nick)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.chans {
		if ch.occ[foldNick(occ)] != nil {
			return true
		}
	}
	return false
}

// matchMask matches an IRC mask with * and ? against s.
func matchMask(mask, s string) bool {
	if mask == "" {
		return s == ""
	}
	switch mask[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if matchMask(mask[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && matchMask(mask[1:], s[1:])
	}
	return s != "" && s[0] == mask[0] && matchMask(mask[1:], s[1:])
}

func (s *Session) cmdWhois(m ircmsg.Message) bool {
	nick := m.Params[len(m.Params)-1]
	if nick == "" {
		s.reply(s.numeric(errNoSuchNick, nick, "No such nick"))
		return false
	}
	u, ok := UserFor(nick, s.host)
	known := ok && s.sees(u)
	if ok && !known && u.Domain() == s.host {
		exists, err := s.svc.accounts.Exists(s.ctx, u)
		known = err == nil && exists
	}
	if !known {
		s.reply(s.numeric(errNoSuchNick, nick, "No such nick"))
		s.reply(s.numeric(rplEndOfWhois, nick, "End of /WHOIS list"))
		return false
	}
	iu, irc := s.svc.ircUserOf(u)
	nick = s.nickOf(u)
	real := nick
	if irc {
		real = iu.real
	}
	s.reply(s.numeric(rplWhoisUser, nick, s.userOf(u), hostPart(u.Domain()), "*", real))
	s.reply(s.numeric(rplWhoisServer, nick, s.svc.cfg.ServerName, "samtal"))
	if msg, away := s.awayOf(u); away {
		s.reply(s.numeric(rplAway, nick, msg))
	}
	if u.Domain() == s.host && !(irc && iu.guest) {
		s.reply(s.numeric(rplWhoisAccount, nick, NickFor(u, s.host), "is logged in as"))
	}
	s.reply(s.numeric(rplEndOfWhois, nick, "End of /WHOIS list"))
	return false
}
