package ircgw

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces of the group chat protocol (XEP-0045) and service discovery
// (XEP-0030) that the gateway speaks.
const (
	nsMUC       = "http://jabber.org/protocol/muc"
	nsMUCUser   = nsMUC + "#user"
	nsMUCAdmin  = nsMUC + "#admin"
	nsMUCOwner  = nsMUC + "#owner"
	nsDiscoInfo = "http://jabber.org/protocol/disco#info"
	nsDiscoItem = "http://jabber.org/protocol/disco#items"
	nsConfInv   = "jabber:x:conference"
	nsStanzaID  = "urn:xmpp:sid:0"
	nsDelay     = "urn:xmpp:delay"
	nsMAM       = "urn:xmpp:mam:2"
	nsForward   = "urn:xmpp:forward:0"
	nsPing      = "urn:xmpp:ping"
)

const (
	stateJoining = iota
	stateJoined
	stateParting
)

// occupant is what the gateway knows of a room occupant.
type occupant struct {
	nick    string  // room nick
	role    string  // moderator, participant, visitor
	aff     string  // owner, admin, member, outcast, none
	real    jid.JID // bare, zero when the room hides it
	away    bool
	awayMsg string
}

// modes are the channel modes that stand for room configuration.
type modes struct {
	moderated, membersOnly, password, public, changeSubject bool
	maxUsers                                                int
}

// channel is a joined room. It is guarded by the session's mu.
type channel struct {
	s     *Session
	room  jid.JID
	name  string
	nick  string // our room nick
	state int
	done  chan struct{}
	once  sync.Once
	err   stanza.Condition

	created bool
	since   time.Time            // when the client joined (RPL_CREATIONTIME)
	occ     map[string]*occupant // by folded room nick
	topic   string
	topicBy string
	topicAt time.Time
	modes   modes
	known   bool // modes were read from the room
	key     string
	pending []ircmsg.Message
}

func (c *channel) signal() { c.once.Do(func() { close(c.done) }) }

func foldNick(n string) string { return strings.ToLower(n) }

// prefixes are the membership prefixes of an occupant (PREFIX=(ov)@+):
// the moderator role, and voice in a moderated room. multi gives them
// all (multi-prefix), else the highest.
func (c *channel) prefixes(o *occupant, multi bool) string {
	// Owners and admins are moderators in every room (XEP-0045 §5.1),
	// so @ stands for all three, as a channel's creator is an op.
	var p string
	if o.role == "moderator" {
		p += "@"
	}
	if o.role == "participant" && c.modes.moderated || o.role == "moderator" && c.modes.moderated && multi {
		p += "+"
	}
	if !multi && len(p) > 1 {
		p = p[:1]
	}
	return p
}

// hostmask returns nick!user@host of an occupant: the real JID when the
// room shows it, else the room's service, the domain as hostPart shows
// it.
func (c *channel) hostmask(o *occupant) string {
	if !o.real.IsZero() {
		return IRCNick(o.nick) + "!" + c.s.userOf(o.real) + "@" + hostPart(o.real.Domain())
	}
	return IRCNick(o.nick) + "!occupant@" + hostPart(c.room.Domain())
}

func (s *Session) mucDomain() string { return s.svc.cfg.MUCDomain(s.host) }

// channelFor returns the joined channel of an IRC name, or nil.
func (s *Session) channelFor(name string) (*channel, jid.JID, bool) {
	d := s.mucDomain()
	if d == "" {
		return nil, jid.JID{}, false
	}
	room, ok := RoomFor(name, d)
	if !ok {
		return nil, jid.JID{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.chans[room.String()]
	if ch != nil && ch.state != stateJoined {
		ch = nil
	}
	return ch, room, true
}

func (s *Session) cmdJoin(m ircmsg.Message) bool {
	if m.Param(0) == "0" {
		s.leaveAll("Left all channels", false)
		return false
	}
	keys := strings.Split(m.Param(1), ",")
	for i, name := range strings.Split(m.Param(0), ",") {
		if name == "" {
			continue // "#a,,#b" or a trailing comma: no channel, no error
		}
		key := ""
		if i < len(keys) {
			key = keys[i]
		}
		s.join(name, key)
	}
	return false
}

func (s *Session) join(name, key string) {
	d := s.mucDomain()
	room, ok := RoomFor(name, d)
	if d == "" || !ok || len(name) > channelLen {
		s.reply(s.numeric(errNoSuchChannel, name, "No such channel"))
		return
	}
	nick, _ := OccupantNick(s.nick)
	ch := &channel{s: s, room: room, name: ChannelFor(room), nick: nick, done: make(chan struct{}), occ: make(map[string]*occupant), key: key}
	s.mu.Lock()
	if s.chans[room.String()] != nil {
		s.mu.Unlock()
		return // already there
	}
	if len(s.chans) >= s.svc.cfg.MaxChannels {
		s.mu.Unlock()
		s.reply(s.numeric(errTooManyChans, name, "You have joined too many channels"))
		return
	}
	s.chans[room.String()] = ch
	away := s.away
	s.mu.Unlock()

	to, _ := room.WithResource(nick)
	x := xmlel.New(nsMUC, "x").Append(xmlel.New(nsMUC, "history", "maxstanzas", "0"))
	if key != "" {
		x.Append(xmlel.TextElement(nsMUC, "password", key))
	}
	p := xmlel.New("", stanza.Presence, "to", to.String()).Append(x)
	if away != "" {
		p.Append(xmlel.TextElement("", "show", "away"), xmlel.TextElement("", "status", away))
	}
	s.route(p)
	t := time.NewTimer(10 * time.Second)
	select {
	case <-ch.done:
	case <-t.C:
	}
	t.Stop()

	s.mu.Lock()
	cond := ch.err
	joined := ch.isDone()
	if cond != "" || !joined {
		delete(s.chans, room.String())
		s.mu.Unlock()
		s.joinError(ch.name, cond)
		if cond == "" {
			// No answer in time: leave, in case the room answers late.
			s.route(xmlel.New("", stanza.Presence, "to", to.String(), "type", "unavailable"))
		}
		return
	}
	created := ch.created
	s.mu.Unlock()
	if created {
		s.configureNew(ch)
	}
	s.readModes(ch)

	s.mu.Lock()
	multi := s.caps["multi-prefix"]
	var lines []ircmsg.Message
	if s.caps["extended-join"] {
		lines = append(lines, ircmsg.Message{Source: s.prefix(), Command: "JOIN", Params: []string{ch.name, s.accountName(), s.realName()}})
	} else {
		lines = append(lines, ircmsg.Message{Source: s.prefix(), Command: "JOIN", Params: []string{ch.name}})
	}
	if ch.topic != "" {
		lines = append(lines, s.numeric(rplTopic, ch.name, ch.topic))
		if ch.topicBy != "" {
			lines = append(lines, s.numeric(rplTopicWhoTime, ch.name, ch.topicBy, strconv.FormatInt(ch.topicAt.Unix(), 10)))
		}
	}
	lines = append(lines, s.namesLines(ch, multi)...)
	s.mu.Unlock()
	for _, l := range lines {
		s.reply(l)
	}
	s.mu.Lock()
	ch.since = time.Now()
	ch.state = stateJoined
	for _, l := range ch.pending {
		s.push(l)
	}
	ch.pending = nil
	s.mu.Unlock()
}

func (c *channel) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (s *Session) accountName() string {
	if s.guest {
		return "*"
	}
	return s.nick
}

func (s *Session) realName() string {
	if s.real != "" {
		return s.real
	}
	return s.nick
}

// joinError answers a failed join with the numeric of its stanza error
// (XEP-0045 §7.2: not-authorized is a password, forbidden a ban,
// registration-required members-only, service-unavailable a full room,
// conflict a nick in use).
func (s *Session) joinError(name string, cond stanza.Condition) {
	switch cond {
	case stanza.NotAuthorized:
		s.reply(s.numeric(errBadChannelKey, name, "Cannot join channel (+k)"))
	case stanza.Forbidden:
		s.reply(s.numeric(errBannedFromChan, name, "Cannot join channel (+b)"))
	case stanza.RegistrationRequired:
		s.reply(s.numeric(errInviteOnlyChan, name, "Cannot join channel (+i)"))
	case stanza.ServiceUnavailable:
		s.reply(s.numeric(errChannelIsFull, name, "Cannot join channel (+l)"))
	case stanza.Conflict:
		s.reply(s.numeric(errNickInUse, s.nick, "Nickname is already in use in "+name))
	case stanza.NotAllowed:
		s.reply(s.numeric(errNoSuchChannel, name, "You may not create channels"))
	default:
		s.reply(s.numeric(errNoSuchChannel, name, "No such channel"))
	}
}

// configureNew makes a room just created an instant room (XEP-0045
// §10.1.2), persistent when IRC channels are to keep their archive.
func (s *Session) configureNew(ch *channel) {
	f := dataform.Form{Type: dataform.TypeSubmit, Fields: []dataform.Field{
		{Var: dataform.FormTypeVar, Type: dataform.Hidden, Values: []string{"http://jabber.org/protocol/muc#roomconfig"}},
	}}
	if s.svc.cfg.PersistentChannels {
		f.Fields = append(f.Fields,
			dataform.Field{Var: "muc#roomconfig_persistentroom", Values: []string{"1"}},
			dataform.Field{Var: "muc#roomconfig_enablelogging", Values: []string{"1"}})
	}
	if s.svc.cfg.PublicAddresses {
		f.Fields = append(f.Fields, dataform.Field{Var: "muc#roomconfig_whois", Values: []string{"anyone"}})
	}
	if ch.key != "" {
		f.Fields = append(f.Fields,
			dataform.Field{Var: "muc#roomconfig_passwordprotectedroom", Values: []string{"1"}},
			dataform.Field{Var: "muc#roomconfig_roomsecret", Values: []string{ch.key}})
	}
	iq := xmlel.New("", stanza.IQ, "type", "set", "to", ch.room.String()).Append(
		xmlel.New(nsMUCOwner, "query").Append(f.Element()))
	_, _, _ = s.request(iq, "", 0) // a failure leaves the room as the service made it
}

// readModes reads the room's configuration: the whole of it from the
// configuration form when the client is an owner (XEP-0045 §10.2), else
// what disco#info shows (§6.4).
func (s *Session) readModes(ch *channel) {
	if res, _, err := s.request(xmlel.New("", stanza.IQ, "type", "get", "to", ch.room.String()).Append(xmlel.New(nsMUCOwner, "query")), "", 0); err == nil && res != nil {
		if q := res.Child(nsMUCOwner, "query"); q != nil {
			if x := q.Child(dataform.NS, "x"); x != nil {
				if f, err := dataform.Parse(x); err == nil {
					b := func(name string) bool {
						v, _ := dataform.ParseBool(f.Value("muc#roomconfig_" + name))
						return v
					}
					md := modes{moderated: b("moderatedroom"), membersOnly: b("membersonly"), password: b("passwordprotectedroom"),
						public: b("publicroom"), changeSubject: b("changesubject")}
					md.maxUsers, _ = strconv.Atoi(f.Value("muc#roomconfig_maxusers"))
					if md.maxUsers >= s.svc.cfg.DefaultOccupants {
						md.maxUsers = 0
					}
					s.mu.Lock()
					if md.password {
						ch.key = f.Value("muc#roomconfig_roomsecret")
					}
					s.applyModes(ch, md, s.svc.cfg.ServerName)
					s.mu.Unlock()
					return
				}
			}
		}
	}
	res, _, err := s.request(xmlel.New("", stanza.IQ, "type", "get", "to", ch.room.String()).Append(xmlel.New(nsDiscoInfo, "query")), "", 0)
	if err != nil || res == nil {
		return
	}
	q := res.Child(nsDiscoInfo, "query")
	if q == nil {
		return
	}
	var md modes
	md.changeSubject = true
	for _, f := range q.Elements() {
		if f.Local == "feature" {
			switch f.Attr("var") {
			case "muc_moderated":
				md.moderated = true
			case "muc_membersonly":
				md.membersOnly = true
			case "muc_passwordprotected":
				md.password = true
			case "muc_public":
				md.public = true
			}
		}
	}
	if x := q.Child(dataform.NS, "x"); x != nil {
		if form, err := dataform.Parse(x); err == nil {
			if v, ok := dataform.ParseBool(form.Value("muc#roominfo_changesubject")); ok {
				md.changeSubject = v
			}
			if n, err := strconv.Atoi(form.Value("muc#roominfo_maxusers")); err == nil {
				md.maxUsers = n
			}
		}
	}
	s.mu.Lock()
	s.applyModes(ch, md, s.svc.cfg.ServerName)
	s.mu.Unlock()
}

// modeString is the channel's modes as RPL_CHANNELMODEIS shows them.
func (c *channel) modeString(showKey bool) []string {
	m := "+n"
	var args []string
	if c.modes.membersOnly {
		m += "i"
	}
	if c.modes.moderated {
		m += "m"
	}
	if !c.modes.public {
		m += "s"
	}
	if !c.modes.changeSubject {
		m += "t"
	}
	if c.modes.password {
		m += "k"
		if showKey && c.key != "" {
			args = append(args, c.key)
		} else {
			args = append(args, "*")
		}
	}
	if c.modes.maxUsers > 0 {
		m += "l"
		args = append(args, strconv.Itoa(c.modes.maxUsers))
	}
	return append([]string{m}, args...)
}

// applyModes records new modes and, once the channel is joined, tells
// the client what changed. s.mu is held.
func (s *Session) applyModes(ch *channel, md modes, source string) {
	old := ch.modes
	ch.modes = md
	first := !ch.known
	ch.known = true
	if first || ch.state != stateJoined {
		return
	}
	var plus, minus string
	var args []string
	flag := func(was, now bool, c string) {
		switch {
		case now && !was:
			plus += c
		case was && !now:
			minus += c
		}
	}
	flag(old.membersOnly, md.membersOnly, "i")
	flag(old.moderated, md.moderated, "m")
	flag(!old.public, !md.public, "s")
	flag(!old.changeSubject, !md.changeSubject, "t")
	flag(old.password, md.password, "k")
	if md.maxUsers != old.maxUsers {
		if md.maxUsers > 0 {
			plus += "l"
			args = append(args, strconv.Itoa(md.maxUsers))
		} else {
			minus += "l"
		}
	}
	if md.password && !old.password {
		args = append(args, "*")
	}
	mode := ""
	if plus != "" {
		mode += "+" + plus
	}
	if minus != "" {
		mode += "-" + minus
	}
	if mode == "" {
		return
	}
	s.push(ircmsg.Message{Source: source, Command: "MODE", Params: append([]string{ch.name, mode}, args...)})
}

// namesLines are RPL_NAMREPLY lines and RPL_ENDOFNAMES. s.mu is held.
func (s *Session) namesLines(ch *channel, multi bool) []ircmsg.Message {
	var names []string
	for _, o := range ch.occ {
		if foldNick(o.nick) != foldNick(ch.nick) && !s.visible(ch, o) {
			continue // not shown in the channel (sources.go)
		}
		if s.caps["userhost-in-names"] {
			names = append(names, ch.prefixes(o, multi)+ch.hostmask(o))
		} else {
			names = append(names, ch.prefixes(o, multi)+IRCNick(o.nick))
		}
	}
	slices.Sort(names)
	sym := "="
	if !ch.modes.public {
		sym = "@"
	}
	var lines []ircmsg.Message
	for len(names) > 0 {
		n, size := 0, 0
		for n < len(names) && (n == 0 || size+len(names[n])+1 < 400-len(ch.name)-len(s.nick)) {
			size += len(names[n]) + 1
			n++
		}
		lines = append(lines, s.numeric(rplNamReply, sym, ch.name, strings.Join(names[:n], " ")))
		names = names[n:]
	}
	return append(lines, s.numeric(rplEndOfNames, ch.name, "End of /NAMES list"))
}

func (s *Session) cmdNames(m ircmsg.Message) bool {
	name := m.Param(0)
	if name == "" {
		s.reply(s.numeric(rplEndOfNames, "*", "End of /NAMES list"))
		return false
	}
	name, _, _ = strings.Cut(name, ",")
	ch, _, _ := s.channelFor(name)
	if ch == nil {
		s.reply(s.numeric(rplEndOfNames, name, "End of /NAMES list"))
		return false
	}
	s.mu.Lock()
	lines := s.namesLines(ch, s.caps["multi-prefix"])
	s.mu.Unlock()
	for _, l := range lines {
		s.reply(l)
	}
	return false
}

func (s *Session) cmdPart(m ircmsg.Message) bool {
	reason := ircmsg.Truncate(m.Param(1), kickLen)
	for _, name := range strings.Split(m.Param(0), ",") {
		if name == "" {
			continue // as in JOIN
		}
		ch, _, ok := s.channelFor(name)
		if !ok {
			s.reply(s.numeric(errNoSuchChannel, name, "No such channel"))
			continue
		}
		if ch == nil {
			s.notOn(name)
			continue
		}
		s.part(ch, reason)
		params := []string{ch.name}
		if reason != "" {
			params = append(params, reason)
		}
		s.reply(ircmsg.Message{Source: s.prefix(), Command: "PART", Params: params})
	}
	return false
}

// part leaves a room and waits briefly for the room to confirm.
func (s *Session) part(ch *channel, reason string) {
	s.mu.Lock()
	ch.state = stateParting
	ch.done = make(chan struct{})
	ch.once = sync.Once{}
	done := ch.done
	s.mu.Unlock()
	to, _ := ch.room.WithResource(ch.nick)
	p := xmlel.New("", stanza.Presence, "to", to.String(), "type", "unavailable")
	if reason != "" {
		p.Append(xmlel.TextElement("", "status", reason))
	}
	s.route(p)
	t := time.NewTimer(5 * time.Second)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()
	s.mu.Lock()
	if s.chans[ch.room.String()] == ch {
		delete(s.chans, ch.room.String())
	}
	s.mu.Unlock()
}

// leaveAll leaves every room, for QUIT (quit) and JOIN 0. A QUIT is
// marked in the presence, so that other IRC clients show one QUIT
// rather than a PART per channel.
func (s *Session) leaveAll(reason string, quit bool) {
	s.mu.Lock()
	var chans []*channel
	for _, ch := range s.chans {
		chans = append(chans, ch)
	}
	s.mu.Unlock()
	for _, ch := range chans {
		to, _ := ch.room.WithResource(ch.nick)
		p := xmlel.New("", stanza.Presence, "to", to.String(), "type", "unavailable")
		if reason != "" {
			p.Append(xmlel.TextElement("", "status", reason))
		}
		if quit {
			p.Append(ircElement("QUIT", nil))
		}
		s.route(p)
		s.mu.Lock()
		delete(s.chans, ch.room.String())
		s.mu.Unlock()
	}
}

func (s *Session) cmdTopic(m ircmsg.Message) bool {
	name := m.Param(0)
	ch, _, ok := s.channelFor(name)
	if !ok {
		s.reply(s.numeric(errNoSuchChannel, name, "No such channel"))
		return false
	}
	if ch == nil {
		s.notOn(name)
		return false
	}
	if len(m.Params) < 2 {
		s.mu.Lock()
		topic, by, at := ch.topic, ch.topicBy, ch.topicAt
		s.mu.Unlock()
		if topic == "" {
			s.reply(s.numeric(rplNoTopic, ch.name, "No topic is set"))
			return false
		}
		s.reply(s.numeric(rplTopic, ch.name, topic))
		if by != "" {
			s.reply(s.numeric(rplTopicWhoTime, ch.name, by, strconv.FormatInt(at.Unix(), 10)))
		}
		return false
	}
	id := randomID(12)
	msg := xmlel.New("", stanza.Message, "type", "groupchat", "to", ch.room.String(), "id", id).
		Append(xmlel.TextElement("", "subject", ircmsg.Truncate(m.Param(1), topicLen)))
	// The room's broadcast of the new subject (or its refusal) is the
	// answer; it comes before the answers to the next commands.
	sent := sentMsg{topic: true, done: make(chan struct{})}
	s.mu.Lock()
	s.rememberSent(id, sent)
	s.mu.Unlock()
	s.route(msg)
	t := time.NewTimer(5 * time.Second)
	select {
	case <-sent.done:
	case <-t.C:
	}
	t.Stop()
	return false
}

func (s *Session) cmdInvite(m ircmsg.Message) bool {
	nick, name := m.Param(0), m.Param(1)
	user, ok := UserFor(nick, s.host)
	if !ok || !s.known(user) {
		s.reply(s.numeric(errNoSuchNick, nick, "No such nick"))
		return false
	}
	ch, _, ok := s.channelFor(name)
	if !ok {
		s.reply(s.numeric(errNoSuchChannel, name, "No such channel"))
		return false
	}
	if ch == nil {
		s.notOn(name)
		return false
	}
	occ, _ := OccupantNick(s.nickOf(user))
	s.mu.Lock()
	there := ch.occ[foldNick(occ)] != nil
	s.mu.Unlock()
	if there {
		s.reply(s.numeric(errUserOnChannel, s.nickOf(user), ch.name, "is already on channel"))
		return false
	}
	// XEP-0045 §7.8.2: a mediated invitation, which the room sends on
	// (and for a members-only room, makes the invitee a member).
	msg := xmlel.New("", stanza.Message, "to", ch.room.String(), "id", randomID(12)).Append(
		xmlel.New(nsMUCUser, "x").Append(xmlel.New(nsMUCUser, "invite", "to", user.String())))
	s.route(msg)
	s.reply(s.numeric(rplInviting, s.nickOf(user), ch.name))
	return false
}

func (s *Session) cmdKick(m ircmsg.Message) bool {
	name := m.Param(0)
	ch, _, ok := s.channelFor(name)
	if !ok {
		s.reply(s.numeric(errNoSuchChannel, name, "No such channel"))
		return false
	}
	if ch == nil {
		s.notOn(name)
		return false
	}
	reason := ircmsg.Truncate(m.Param(2), kickLen)
	if reason == "" {
		reason = s.nick // as IRC servers do when KICK has no comment
	}
	for _, nick := range strings.Split(m.Param(1), ",") {
		if nick == "" {
			continue // as in JOIN
		}
		occ, ok := OccupantNick(nick)
		s.mu.Lock()
		present := ok && ch.occ[foldNick(occ)] != nil
		s.mu.Unlock()
		if !present {
			s.reply(s.numeric(errUserNotInChan, nick, ch.name, "They aren't on that channel"))
			continue
		}
		item := xmlel.New(nsMUCAdmin, "item", "nick", occ, "role", "none")
		if reason != "" {
			item.Append(xmlel.TextElement(nsMUCAdmin, "reason", reason))
		}
		if err := s.admin(ch, item); err != nil {
			s.reply(s.numeric(errChanOPrivsNeeded, ch.name, "You're not channel operator"))
		}
	}
	return false
}

// notOn answers a command for a channel the client is not in: 442 when
// the room exists, 403 when it does not.
func (s *Session) notOn(name string) {
	if room, ok := RoomFor(name, s.mucDomain()); ok && s.roomExists(room) {
		s.reply(s.numeric(errNotOnChannel, name, "You're not on that channel"))
		return
	}
	s.reply(s.numeric(errNoSuchChannel, name, "No such channel"))
}

// roomExists asks the room for its disco#info (XEP-0045 §6.4): a room
// that does not exist (or is locked) answers item-not-found.
func (s *Session) roomExists(room jid.JID) bool {
	res, _, err := s.request(xmlel.New("", stanza.IQ, "type", "get", "to", room.String()).Append(xmlel.New(nsDiscoInfo, "query")), "", 0)
	return err == nil && res != nil
}

// admin sends one muc#admin item (XEP-0045 §8, §9) and waits for the
// answer.
func (s *Session) admin(ch *channel, item *xmlel.Element) error {
	iq := xmlel.New("", stanza.IQ, "type", "set", "to", ch.room.String()).Append(xmlel.New(nsMUCAdmin, "query").Append(item))
	_, _, err := s.request(iq, "", 0)
	return err
}

// listLimit bounds the rooms LIST describes.
const listLimit = 100

// cmdList lists the public rooms of the service from its disco#items
// (XEP-0045 §6.3) and each room's disco#info (§6.4).
func (s *Session) cmdList(m ircmsg.Message) bool {
	d := s.mucDomain()
	if d != "" {
		res, _, err := s.request(xmlel.New("", stanza.IQ, "type", "get", "to", d).Append(xmlel.New(nsDiscoItem, "query")), "", 0)
		var filter []string
		if m.Param(0) != "" {
			filter = strings.Split(foldASCII(m.Param(0)), ",")
		}
		if err == nil && res != nil {
			if q := res.Child(nsDiscoItem, "query"); q != nil {
				n := 0
				for _, it := range q.Elements() {
					if n >= listLimit {
						break
					}
					room, err := jid.Parse(it.Attr("jid"))
					if err != nil || room.Local() == "" {
						continue
					}
					name := ChannelFor(room)
					if filter != nil && !slices.Contains(filter, name) {
						continue
					}
					n++
					users, topic := s.roomInfo(room)
					s.reply(s.numeric(rplList, name, strconv.Itoa(users), topic))
				}
			}
		}
	}
	// Hidden rooms (+s) are not in the directory; the client sees its
	// own.
	s.mu.Lock()
	var mine []*channel
	for _, ch := range s.chans {
		if ch.state == stateJoined && !ch.modes.public {
			mine = append(mine, ch)
		}
	}
	s.mu.Unlock()
	for _, ch := range mine {
		if m.Param(0) != "" && !slices.Contains(strings.Split(foldASCII(m.Param(0)), ","), ch.name) {
			continue
		}
		users, topic := s.roomInfo(ch.room)
		s.reply(s.numeric(rplList, ch.name, strconv.Itoa(users), topic))
	}
	s.reply(s.numeric(rplListEnd, "End of /LIST"))
	return false
}

// roomInfo returns the occupant count and subject of a room from its
// disco#info.
func (s *Session) roomInfo(room jid.JID) (int, string) {
	res, _, err := s.request(xmlel.New("", stanza.IQ, "type", "get", "to", room.String()).Append(xmlel.New(nsDiscoInfo, "query")), "", 0)
	if err != nil || res == nil {
		return 0, ""
	}
	q := res.Child(nsDiscoInfo, "query")
	if q == nil {
		return 0, ""
	}
	x := q.Child(dataform.NS, "x")
	if x == nil {
		return 0, ""
	}
	f, err := dataform.Parse(x)
	if err != nil {
		return 0, ""
	}
	n, _ := strconv.Atoi(f.Value("muc#roominfo_occupants"))
	topic := f.Value("muc#roominfo_subject")
	if topic == "" {
		topic = f.Value("muc#roominfo_description")
	}
	return n, ircmsg.Truncate(topic, topicLen)
}
