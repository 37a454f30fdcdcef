package ircgw

import (
	"slices"
	"strings"
	"time"

	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// Send translates a stanza for the client into IRC lines and queues
// them. It never blocks, as router.Session requires: it takes s.mu, never
// calls the router, and anything that needs a request of its own (an
// answer to an iq) goes to a bounded helper goroutine.
func (s *Session) Send(el *xmlel.Element) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	switch el.Local {
	case stanza.Message:
		s.onMessage(el)
	case stanza.Presence:
		s.onPresence(el)
	case stanza.IQ:
		s.onIQ(el)
	}
}

func (s *Session) onIQ(el *xmlel.Element) {
	switch el.Attr("type") {
	case "result", "error":
		if c := s.calls[el.Attr("id")]; c != nil {
			c.result = el.Copy()
			c.finish()
		}
		return
	}
	// A request to this resource: answer pings (XEP-0199), refuse the
	// rest (RFC 6120 §8.4). The answer is routed from a helper
	// goroutine: Send may run under the router's lock.
	var reply *xmlel.Element
	if p := el.FirstElement(); p != nil && p.Is(nsPing, "ping") && el.Attr("type") == "get" {
		reply = xmlel.New("", stanza.IQ, "type", "result", "id", el.Attr("id"), "to", el.Attr("from"))
	} else {
		reply = stanza.ErrorReply(el, stanza.E(stanza.ServiceUnavailable))
		if reply == nil {
			return
		}
		reply.SetAttr("from", "")
	}
	select {
	case s.async <- struct{}{}:
	default:
		return // too many answers in flight: drop, as a lost packet
	}
	s.svc.wg.Add(1)
	go func() {
		defer s.svc.wg.Done()
		defer func() { <-s.async }()
		s.route(reply)
	}()
}

// stamp returns the time of a stanza: its delay (XEP-0203) or now.
func stamp(el *xmlel.Element) time.Time {
	if d := el.Child(nsDelay, "delay"); d != nil {
		if t, err := time.Parse(time.RFC3339Nano, d.Attr("stamp")); err == nil {
			return t
		}
	}
	return time.Now()
}

// stanzaID returns the stanza-id (XEP-0359) given by an archive, or "".
func stanzaID(el *xmlel.Element, by string) string {
	for _, c := range el.Elements() {
		if c.Is(nsStanzaID, "stanza-id") && c.Attr("by") == by {
			return c.Attr("id")
		}
	}
	return ""
}

// deliver returns a PRIVMSG or NOTICE as the lines the client gets: one
// draft/multiline batch for a client that takes them, or a message per
// line, the parts of an overlong line cut to fit. A sender that cannot
// be written as the source (too long a nick, or "" for an occupant not
// shown) gets the server's notice instead, which names it as who
// (sources.go). s.mu is held.
func (s *Session) deliver(tags []ircmsg.Tag, source, who, command, target, body string) []ircmsg.Message {
	if command == "TAGMSG" {
		m := ircmsg.Message{Tags: tags, Source: source, Command: command, Params: []string{target}}
		if source == "" || !fitsLine(m) {
			return nil // it has no text to tell of it (sources.go)
		}
		return []ircmsg.Message{m}
	}
	if !fitsText(source, command, target) {
		tags, source, command, body = unshownTags(tags), s.svc.cfg.ServerName, "NOTICE", unshownText(who)
	}
	// ":source COMMAND target :body\r\n" must fit 512 bytes.
	room := lineRoom(source, command, target)
	if strings.HasPrefix(body, "/me ") {
		body = "\x01ACTION " + strings.TrimPrefix(body, "/me ") + "\x01"
	}
	ps := parts(body, room)
	if len(ps) > 1 && s.multiline() {
		return multilineBatch(tags, source, command, target, ps)
	}
	var out []ircmsg.Message
	for _, p := range ps {
		if p.text == "" {
			continue // no blank lines for clients without multiline
		}
		i := len(out)
		m := ircmsg.Message{Tags: slices.Clone(tags), Source: source, Command: command, Params: []string{target, p.text}}
		if i > 0 {
			// Every part but the first gets an id of its own.
			for j, t := range m.Tags {
				if t.Key == "msgid" {
					m.Tags[j].Value = t.Value + "-" + string(rune('a'+min(i, 25)))
				}
			}
		}
		out = append(out, m)
	}
	return out
}

func (s *Session) onMessage(el *xmlel.Element) {
	from, err := jid.Parse(el.Attr("from"))
	if err != nil {
		return
	}
	if r := mamResult(el); r != nil {
		if c := s.calls["q:"+r.Attr("queryid")]; c != nil && len(c.results) < c.max {
			c.results = append(c.results, r.Copy())
		}
		return
	}
	typ := el.Attr("type")
	ch := s.chans[from.Bare().String()]
	if typ == "error" {
		e, _ := stanza.ParseError(el)
		topic := false
		if sent, ok := s.sent[el.Attr("id")]; ok && ch != nil {
			delete(s.sent, el.Attr("id"))
			topic = sent.topic
			if sent.done != nil {
				close(sent.done)
			}
		}
		if ch != nil {
			text := "Cannot send to channel"
			if e.Condition == stanza.Forbidden && topic {
				s.push(s.numeric(errChanOPrivsNeeded, ch.name, "You're not channel operator"))
				return
			}
			if e.Text != "" {
				text += ": " + e.Text
			}
			s.push(s.numeric(errCannotSend, ch.name, text))
			return
		}
		s.push(s.numeric(errNoSuchNick, s.nickOf(from), "No such nick/channel"))
		return
	}
	if ch != nil {
		s.onRoomMessage(ch, from, el)
		return
	}
	if inv := el.Child(nsConfInv, "x"); inv != nil {
		// XEP-0249 direct invitation.
		if room, err := jid.Parse(inv.Attr("jid")); err == nil && room.Local() != "" {
			s.inviteTo(from, from.String(), room.Bare())
		}
		return
	}
	if x := el.Child(nsMUCUser, "x"); x != nil {
		// XEP-0045 §7.8.2: a mediated invitation, from the room.
		if inv := x.Child(nsMUCUser, "invite"); inv != nil && from.Local() != "" {
			s.inviteTo(from.Bare(), inv.Attr("from"), from.Bare())
		}
		return
	}
	body := el.ChildText("", "body")
	cmd, ctags := readIRC(el)
	if body == "" && cmd != "TAGMSG" {
		return
	}
	if s.isRoom(from) {
		return // a private message in a room: IRC has no place for it
	}
	t := stamp(el)
	var tags []ircmsg.Tag
	if id := stanzaID(el, s.account.String()); id != "" {
		t = s.svc.msgTime(id, t)
		tags = append(tags, ircmsg.Tag{Key: "msgid", Value: id})
	} else if id := originID(el); id != "" {
		// Not archived (a TAGMSG): the sender's id.
		tags = append(tags, ircmsg.Tag{Key: "msgid", Value: id})
	}
	tags = append(tags, ircmsg.Tag{Key: "time", Value: serverTime(t)})
	if a, ok := s.accountTag(from); ok {
		tags = append(tags, ircmsg.Tag{Key: "account", Value: a})
	}
	tags = append(tags, ctags...)
	if typ := el.Attr("type"); typ == "headline" && cmd == "PRIVMSG" {
		cmd = "NOTICE"
	}
	for _, m := range s.deliver(tags, s.userMask(from), from.Bare().String(), cmd, s.nick, body) {
		s.push(m)
	}
}

// inviteTo tells the client of an invitation to a room, sent by from (the
// inviter, or the room for a mediated one) on behalf of inviter: INVITE
// for a room of this session's group chat service, which a channel
// stands for. A channel names only rooms of that service, so a room
// elsewhere cannot be an INVITE (its channel would be another room of
// the same name here): the client gets a NOTICE from the sender that
// gives the room's address, for an XMPP client to join. s.mu is held.
func (s *Session) inviteTo(from jid.JID, inviter string, room jid.JID) {
	if s.isRoom(room) {
		s.invite(inviter, ChannelFor(room))
		return
	}
	text := "invites you to the room xmpp:" + room.String() + "?join, which is not on this server's group chat service"
	if j, err := jid.Parse(inviter); err == nil && !j.Bare().Equal(from.Bare()) {
		text = j.Bare().String() + " " + text
	}
	for _, m := range s.deliver(nil, s.userMask(from.Bare()), from.Bare().String(), "NOTICE", s.nick, text) {
		s.push(m)
	}
}

// invite pushes an INVITE line for the client from an inviter's JID:
// from the server when the inviter is not known or cannot be written as
// the source (sources.go). An invitation to a channel longer than
// CHANNELLEN, which the client could not join, is left out. s.mu is
// held.
func (s *Session) invite(from, channel string) {
	if len(channel) > channelLen {
		return
	}
	m := ircmsg.Message{Source: s.svc.cfg.ServerName, Command: "INVITE", Params: []string{s.nick, channel}}
	if f, err := jid.Parse(from); err == nil {
		u := m
		u.Source = s.userMask(f.Bare())
		if a, ok := s.accountTag(f); ok {
			u.Tags = []ircmsg.Tag{{Key: "account", Value: a}}
		}
		if fitsLine(u) {
			m = u
		}
	}
	s.push(m)
}

// isRoom reports whether a JID is on a group chat service this session
// knows of.
func (s *Session) isRoom(j jid.JID) bool {
	return j.Domain() == s.mucDomain() && j.Domain() != ""
}

// userMask is the IRC source of a user: nick!user@domain, the domain
// as hostPart shows it.
func (s *Session) userMask(u jid.JID) string {
	if u.Local() == "" {
		return u.Domain()
	}
	return s.nickOf(u) + "!" + s.userOf(u) + "@" + hostPart(u.Domain())
}

func mamResult(el *xmlel.Element) *xmlel.Element {
	for _, c := range el.Elements() {
		if c.Is(nsMAM, "result") {
			return c
		}
	}
	return nil
}

// onRoomMessage translates a groupchat message: a subject is TOPIC, a
// body PRIVMSG from the occupant.
func (s *Session) onRoomMessage(ch *channel, from jid.JID, el *xmlel.Element) {
	x := el.Child(nsMUCUser, "x")
	if x != nil && from.Resource() == "" && configChanged(x) && ch.state == stateJoined {
		// The room's notice of a new configuration (§10.2.1), a
		// groupchat message as the XEP's example has it: the modes are
		// read again, and what changed becomes MODE.
		s.refreshModes(ch)
	}
	if el.Attr("type") != "groupchat" {
		if x != nil && from.Resource() == "" {
			if inv := x.Child(nsMUCUser, "invite"); inv != nil {
				s.invite(inv.Attr("from"), ch.name)
			}
		}
		return
	}
	source, who := s.svc.cfg.ServerName, ""
	var o *occupant
	if from.Resource() != "" {
		who = occupantName(from.Resource())
		o = ch.occ[foldNick(from.Resource())]
		if o == nil {
			source = IRCNick(from.Resource()) + "!occupant@" + hostPart(ch.room.Domain())
		} else if mask, shown := s.shownMask(ch, o); shown {
			source = mask
		} else {
			source = "" // not shown in the channel (sources.go)
		}
	}
	if subj := el.Child("", "subject"); subj != nil && el.Child("", "body") == nil {
		ch.topic = ircmsg.Truncate(strings.ReplaceAll(subj.Text(), "\n", " "), topicLen)
		ch.topicAt = stamp(el)
		ch.topicBy = ""
		if from.Resource() != "" && fitsText(source, "TOPIC", ch.name) {
			ch.topicBy = IRCNick(from.Resource())
		} else {
			// The room's own subject, or one set by an occupant
			// that cannot be written as the source (sources.go).
			source = s.svc.cfg.ServerName
		}
		if ch.state == stateJoining {
			ch.signal()
			return
		}
		s.pushChan(ch, ircmsg.Message{Source: source, Command: "TOPIC", Params: []string{ch.name, ch.topic}})
		if sent, ok := s.sent[el.Attr("id")]; ok && from.Resource() == ch.nick {
			delete(s.sent, el.Attr("id"))
			if sent.done != nil {
				close(sent.done)
			}
		}
		return
	}
	body := el.ChildText("", "body")
	cmd, ctags := readIRC(el)
	if body == "" && cmd != "TAGMSG" {
		return
	}
	if from.Resource() == "" {
		// A notice of the room itself.
		for _, m := range s.deliver(nil, source, "", "NOTICE", ch.name, body) {
			s.pushChan(ch, m)
		}
		return
	}
	id := el.Attr("id")
	if oid := el.Child(nsStanzaID, "origin-id"); oid != nil {
		id = oid.Attr("id")
	}
	label := ""
	if sent, ok := s.sent[id]; ok && from.Resource() == ch.nick {
		// Our own message reflected: the echo, when the client asked
		// for echo-message, with the label of the command that sent it.
		delete(s.sent, id)
		if sent.done != nil {
			defer close(sent.done)
		}
		if !sent.echo {
			return
		}
		label = sent.label
		if !s.guest {
			o = &occupant{real: s.account}
		}
		source = s.prefix()
	}
	if el.Child(nsDelay, "delay") != nil && ch.state == stateJoining {
		return // history: CHATHISTORY serves it
	}
	t := stamp(el)
	var tags []ircmsg.Tag
	if sid := stanzaID(el, ch.room.String()); sid != "" {
		t = s.svc.msgTime(sid, t)
		tags = append(tags, ircmsg.Tag{Key: "msgid", Value: sid})
	}
	tags = append(tags, ircmsg.Tag{Key: "time", Value: serverTime(t)})
	if o != nil {
		if a, ok := s.accountTag(o.real); ok {
			tags = append(tags, ircmsg.Tag{Key: "account", Value: a})
		}
	}
	tags = append(tags, ctags...)
	for i, m := range s.deliver(tags, source, who, cmd, ch.name, body) {
		if label != "" && i == 0 {
			m.SetTag("label", label)
		}
		s.pushChan(ch, m)
	}
}

// pushChan pushes a line about a channel, or keeps it until the JOIN
// lines are out. s.mu is held.
func (s *Session) pushChan(ch *channel, m ircmsg.Message) {
	if ch.state == stateJoining {
		if len(ch.pending) < 100 {
			ch.pending = append(ch.pending, m)
		}
		return
	}
	s.push(m)
}

// configChanged reports whether a room's notice says that its
// configuration changed (XEP-0045 §10.2.1): 104, or 170 to 173, which
// a room sends instead when the change touches privacy, whatever else
// changed with it.
func configChanged(x *xmlel.Element) bool {
	for _, code := range []string{"104", "170", "171", "172", "173"} {
		if hasStatus(x, code) {
			return true
		}
	}
	return false
}

func hasStatus(x *xmlel.Element, code string) bool {
	for _, c := range x.Elements() {
		if c.Local == "status" && c.Attr("code") == code {
			return true
		}
	}
	return false
}

// refreshModes reads the room's configuration again after it changed;
// the request runs on a helper goroutine. s.mu is held.
func (s *Session) refreshModes(ch *channel) {
	select {
	case s.async <- struct{}{}:
	default:
		return
	}
	s.svc.wg.Add(1)
	go func() {
		defer s.svc.wg.Done()
		defer func() { <-s.async }()
		s.readModes(ch)
	}()
}

// onPresence translates presence from a room: joins, parts, kicks, nick
// changes, role and affiliation changes (as MODE) and away. Presence
// from anyone else is a contact's (monitor.go).
func (s *Session) onPresence(el *xmlel.Element) {
	from, err := jid.Parse(el.Attr("from"))
	if err != nil {
		return
	}
	ch := s.chans[from.Bare().String()]
	if ch == nil {
		s.onContactPresence(el, from)
		return
	}
	if from.Resource() == "" {
		return
	}
	typ := el.Attr("type")
	if typ == "error" {
		if ch.state == stateJoining {
			e, _ := stanza.ParseError(el)
			ch.err = e.Condition
			if ch.err == "" {
				ch.err = stanza.UndefinedCondition
			}
			ch.signal()
		}
		return
	}
	x := el.Child(nsMUCUser, "x")
	var item *xmlel.Element
	if x != nil {
		item = x.Child(nsMUCUser, "item")
	}
	// Our own presence: status 110 (XEP-0045 §7.2.3), or the room's
	// destruction sent to our nick (§10.9).
	self := x != nil && (hasStatus(x, "110") || x.Child(nsMUCUser, "destroy") != nil && from.Resource() == ch.nick)
	nick := from.Resource()
	key := foldNick(nick)
	if typ == "unavailable" {
		o := ch.occ[key]
		if o == nil {
			o = &occupant{nick: nick}
		}
		// Nothing is said of an occupant the channel does not show
		// (sources.go); the client's own is always shown.
		shown := self || s.visible(ch, o)
		mask := ch.hostmask(o)
		delete(ch.occ, key)
		switch {
		case x != nil && hasStatus(x, "303") && item != nil && item.Attr("nick") != "":
			// A nick change (§7.6): the new presence follows.
			if !self {
				n := &occupant{nick: item.Attr("nick"), role: o.role, aff: o.aff, real: o.real, away: o.away, awayMsg: o.awayMsg}
				ch.occ[foldNick(n.nick)] = n
				s.nickChange(ch, o, n, shown)
			}
			return
		case x != nil && (hasStatus(x, "307") || hasStatus(x, "301")):
			actor := s.svc.cfg.ServerName
			reason := ""
			if item != nil {
				if a := item.Child(nsMUCUser, "actor"); a != nil && a.Attr("nick") != "" {
					actor = IRCNick(a.Attr("nick"))
					if ao := ch.occ[foldNick(a.Attr("nick"))]; ao != nil {
						actor = ""
						if s.visible(ch, ao) {
							actor = ch.hostmask(ao)
						}
					}
				}
				reason = item.ChildText(nsMUCUser, "reason")
			}
			if !fitsText(actor, "KICK", ch.name+" "+IRCNick(nick)) {
				// An actor that cannot be written as the source
				// (sources.go): the kick comes from the server.
				actor = s.svc.cfg.ServerName
			}
			if reason == "" {
				reason, _, _ = strings.Cut(actor, "!")
			}
			if shown {
				s.pushChan(ch, ircmsg.Message{Source: actor, Command: "KICK", Params: []string{ch.name, IRCNick(nick), reason}})
			}
		case self:
			// Our own part: PART answers the client, not this.
			if ch.state != stateParting {
				s.pushChan(ch, ircmsg.Message{Source: mask, Command: "PART", Params: []string{ch.name, "Removed from the room"}})
			}
		case !shown:
		case isQuit(el.ChildText("", "status")):
			// One QUIT for all the channels the user leaves.
			now := time.Now()
			if t, ok := s.quits[key]; !ok || now.Sub(t) > 5*time.Second {
				if len(s.quits) > 100 {
					clear(s.quits)
				}
				s.quits[key] = now
				s.pushChan(ch, ircmsg.Message{Source: mask, Command: "QUIT", Params: []string{el.ChildText("", "status")}})
			}
		default:
			params := []string{ch.name}
			if st := el.ChildText("", "status"); st != "" {
				params = append(params, ircmsg.Truncate(st, kickLen))
			}
			s.pushChan(ch, ircmsg.Message{Source: mask, Command: "PART", Params: params})
		}
		if self {
			if ch.state == stateParting {
				ch.signal()
			} else if ch.state == stateJoined {
				delete(s.chans, ch.room.String())
			}
		}
		return
	}
	o := ch.occ[key]
	fresh := o == nil
	if fresh {
		o = &occupant{nick: nick}
		ch.occ[key] = o
	}
	// Whether the channel shows the occupant changes with the address
	// the room shows of it (sources.go).
	wasShown := !fresh && (self || s.visible(ch, o))
	oldMask := ch.hostmask(o)
	oldPrefix := ch.prefixes(o, true)
	wasAway, oldMsg := o.away, o.awayMsg
	if item != nil {
		o.role, o.aff = item.Attr("role"), item.Attr("affiliation")
		if j, err := jid.Parse(item.Attr("jid")); err == nil {
			o.real = j.Bare()
		}
	}
	show := el.ChildText("", "show")
	o.away = show == "away" || show == "xa" || show == "dnd"
	o.awayMsg = el.ChildText("", "status")
	if o.away && o.awayMsg == "" {
		o.awayMsg = "Away"
	}
	if ch.state == stateJoining {
		if self && x != nil && hasStatus(x, "201") {
			ch.created = true
		}
		return
	}
	switch isShown := self || s.visible(ch, o); {
	case !isShown && wasShown:
		s.pushChan(ch, ircmsg.Message{Source: oldMask, Command: "PART", Params: []string{ch.name, "Changed host"}})
		return
	case !isShown:
		return
	case !wasShown:
		s.showJoin(ch, o)
		return
	}
	if p := ch.prefixes(o, true); p != oldPrefix {
		s.pushModeChange(ch, oldPrefix, p, IRCNick(o.nick))
	}
	if s.caps["away-notify"] && (o.away != wasAway || o.away && o.awayMsg != oldMsg) {
		m := ircmsg.Message{Source: ch.hostmask(o), Command: "AWAY"}
		if o.away {
			m.Params = []string{o.awayMsg}
		}
		s.pushChan(ch, m)
	}
}

// showJoin tells the client that an occupant it is shown joined: JOIN
// (extended-join: with its account, "*" when the line has no room for
// it, and real name), its prefixes as MODE, and AWAY (away-notify).
// s.mu is held.
func (s *Session) showJoin(ch *channel, o *occupant) {
	if s.caps["extended-join"] {
		account, real := "*", IRCNick(o.nick)
		if !o.real.IsZero() {
			iu, irc := s.svc.ircUserOf(o.real)
			if o.real.Domain() == s.host && !(irc && iu.guest) {
				account = NickFor(o.real, s.host)
			}
			if irc {
				real = iu.real
			}
		}
		s.pushChan(ch, fitQuoted(ircmsg.Message{Source: ch.hostmask(o), Command: "JOIN", Params: []string{ch.name, account, real}}, 1))
	} else {
		s.pushChan(ch, ircmsg.Message{Source: ch.hostmask(o), Command: "JOIN", Params: []string{ch.name}})
	}
	if p := ch.prefixes(o, true); p != "" {
		s.pushModeChange(ch, "", p, IRCNick(o.nick))
	}
	if o.away && s.caps["away-notify"] {
		s.pushChan(ch, ircmsg.Message{Source: ch.hostmask(o), Command: "AWAY", Params: []string{o.awayMsg}})
	}
}

// nickChange tells the client that an occupant changed nick from old to
// now: NICK when both are shown and the line fits, else a PART under
// the old nick and a JOIN under the new one, each when that nick is
// shown (sources.go). wasShown is whether old was. s.mu is held.
func (s *Session) nickChange(ch *channel, old, now *occupant, wasShown bool) {
	isShown := s.visible(ch, now)
	m := ircmsg.Message{Source: ch.hostmask(old), Command: "NICK", Params: []string{IRCNick(now.nick)}}
	if wasShown && isShown && fitsLine(m) {
		s.pushChan(ch, m)
		return
	}
	if wasShown {
		s.pushChan(ch, ircmsg.Message{Source: ch.hostmask(old), Command: "PART", Params: []string{ch.name, "Changed nick"}})
	}
	if isShown {
		s.showJoin(ch, now)
	}
}

// originID returns a message's origin-id (XEP-0359), or its id.
func originID(el *xmlel.Element) string {
	if oid := el.Child(nsStanzaID, "origin-id"); oid != nil && oid.Attr("id") != "" {
		return oid.Attr("id")
	}
	return el.Attr("id")
}

// isQuit reports whether an unavailable status is an IRC client's QUIT
// (rooms do not pass extension elements of unavailable presence on, so
// the status text the gateway writes is the mark).
func isQuit(status string) bool {
	return status == "Client Quit" || strings.HasPrefix(status, "Quit: ")
}

// pushModeChange tells the client about prefixes gained and lost, in as
// many MODE lines as the nick, once per change, needs (modeLines).
// s.mu is held.
func (s *Session) pushModeChange(ch *channel, old, now, nick string) {
	letter := map[rune]string{'~': "q", '&': "a", '@': "o", '+': "v"}
	var changes []modeChange
	for _, r := range now {
		if !strings.ContainsRune(old, r) {
			changes = append(changes, modeChange{"+" + letter[r], nick})
		}
	}
	for _, r := range old {
		if !strings.ContainsRune(now, r) {
			changes = append(changes, modeChange{"-" + letter[r], nick})
		}
	}
	for _, m := range modeLines(s.svc.cfg.ServerName, ch.name, changes) {
		s.pushChan(ch, m)
	}
}
