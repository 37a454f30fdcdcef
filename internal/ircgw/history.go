package ircgw

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"samtal.org/samtal/internal/archive"
	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/rsm"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// historyRef is a CHATHISTORY message reference: a msgid (an archive
// id, as the msgid tag of archived messages is) or a timestamp; zero
// for "*".
type historyRef struct {
	id string
	t  time.Time
}

func parseRef(s string) (historyRef, bool) {
	switch {
	case s == "*":
		return historyRef{}, true
	case strings.HasPrefix(s, "msgid="):
		id := strings.TrimPrefix(s, "msgid=")
		return historyRef{id: id}, id != "" && len(id) <= rsm.MaxUID
	case strings.HasPrefix(s, "timestamp="):
		t, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(s, "timestamp="))
		return historyRef{t: t}, err == nil
	}
	return historyRef{}, false
}

// cmdChathistory serves the IRCv3 chathistory extension from the
// archives: a channel's from its room archive (XEP-0313 on the room
// JID), a conversation with a user from the client's own archive with
// a 'with' filter. Message ids are archive ids, so that a client can
// page with them.
func (s *Session) cmdChathistory(m ircmsg.Message) bool {
	sub := strings.ToUpper(m.Param(0))
	target := m.Param(1)
	fail := func(code, text string, ctx ...string) bool {
		s.fail("CHATHISTORY", code, text, ctx...)
		return false
	}
	var refs []historyRef
	var limitArg string
	switch sub {
	case "LATEST", "BEFORE", "AFTER", "AROUND":
		r, ok := parseRef(m.Param(2))
		if !ok || (sub != "LATEST" && r == (historyRef{})) {
			return fail("INVALID_PARAMS", "Invalid message reference", sub, m.Param(2))
		}
		refs, limitArg = []historyRef{r}, m.Param(3)
	case "TARGETS":
		a, ok1 := parseRef(m.Param(1))
		b, ok2 := parseRef(m.Param(2))
		n, err := strconv.Atoi(m.Param(3))
		if !ok1 || !ok2 || a.t.IsZero() || b.t.IsZero() || err != nil || n < 0 {
			return fail("INVALID_PARAMS", "TARGETS takes two timestamps and a limit", sub)
		}
		s.targets(a.t, b.t, min(n, s.svc.cfg.MaxHistory))
		return false
	case "BETWEEN":
		a, ok1 := parseRef(m.Param(2))
		b, ok2 := parseRef(m.Param(3))
		if !ok1 || !ok2 || a == (historyRef{}) || b == (historyRef{}) {
			return fail("INVALID_PARAMS", "Invalid message reference", sub)
		}
		refs, limitArg = []historyRef{a, b}, m.Param(4)
	default:
		return fail("UNKNOWN_COMMAND", "Unknown CHATHISTORY subcommand", m.Param(0))
	}
	limit, err := strconv.Atoi(limitArg)
	if err != nil || limit < 0 {
		return fail("INVALID_PARAMS", "Invalid limit", sub, limitArg)
	}
	limit = min(limit, s.svc.cfg.MaxHistory)

	var archiveJID, with jid.JID
	var name string
	if strings.HasPrefix(target, "#") {
		ch, room, ok := s.channelFor(target)
		if !ok || ch == nil {
			// Only the history of a joined channel, as the extension
			// asks; the room decides whether its archive is readable.
			return fail("INVALID_TARGET", "Not on that channel", sub, target)
		}
		archiveJID, name = room, ChannelFor(room)
	} else {
		u, ok := UserFor(target, s.host)
		if !ok || !s.reachable(s.nickOf(u)) {
			return fail("INVALID_TARGET", "No such nick", sub, target)
		}
		archiveJID, with, name = s.account, u, s.nickOf(u)
	}

	var results []entry
	ok := true
	r := refs[0]
	if limit > 0 {
		switch sub {
		case "LATEST":
			results, ok = s.history(archiveJID, with, r, historyRef{}, limit, true)
		case "BEFORE":
			results, ok = s.history(archiveJID, with, historyRef{}, r, limit, true)
		case "AFTER":
			results, ok = s.history(archiveJID, with, r, historyRef{}, limit, false)
		case "AROUND":
			var before, after []entry
			before, ok = s.history(archiveJID, with, historyRef{}, r, limit/2, true)
			from := r
			if r.id != "" {
				// The reference itself, then what follows it.
				var self []entry
				q := archive.Query{With: with, IDs: []string{r.id}, Page: rsm.NewQuery()}
				self, ok = s.fetch(archiveJID, q)
				before = append(before, self...)
			} else {
				from.t = r.t.Add(-time.Microsecond)
			}
			if n := limit - len(before); ok && n > 0 {
				after, ok = s.history(archiveJID, with, from, historyRef{}, n, false)
			}
			results = append(before, after...)
		case "BETWEEN":
			a, b := refs[0], refs[1]
			switch {
			case a.id == "" && b.id == "" && a.t.After(b.t):
				// Backwards: the messages nearest the first reference.
				results, ok = s.history(archiveJID, with, b, a, limit, true)
			default:
				results, ok = s.history(archiveJID, with, a, b, limit, false)
				if ok && len(results) == 0 && a.id != "" && b.id != "" {
					// Message ids do not say which comes first.
					results, ok = s.history(archiveJID, with, b, a, limit, true)
				}
			}
		}
	}
	if !ok {
		return fail("INVALID_TARGET", "Cannot read the history of "+target, sub, target)
	}
	id := randomID(8)
	srv := s.svc.cfg.ServerName
	s.reply(ircmsg.Message{Source: srv, Command: "BATCH", Params: []string{"+" + id, "chathistory", name}})
	for _, e := range results {
		for _, l := range s.historyLines(e, archiveJID, name) {
			// A multiline message's lines are in its own batch, which
			// is in this one.
			if _, ok := l.Tag("batch"); !ok {
				l.SetTag("batch", id)
			}
			s.reply(l)
		}
	}
	s.reply(ircmsg.Message{Source: srv, Command: "BATCH", Params: []string{"-" + id}})
	return false
}

// targets answers CHATHISTORY TARGETS: the channels and the users with
// whom the client spoke whose latest message falls between two times,
// oldest first. A joined channel's latest message comes from its room
// archive; the users from the latest messages of the client's archive.
func (s *Session) targets(a, b time.Time, limit int) {
	lo, hi := a, b
	if lo.After(hi) {
		lo, hi = hi, lo
	}
	type target struct {
		name string
		t    time.Time
	}
	var found []target
	latest := func(to, with jid.JID, n int) []entry {
		q := archive.Query{With: with, Page: rsm.NewQuery()}
		q.Page.Max, q.Page.HasBefore = n, true
		got, _ := s.fetch(to, q)
		return got
	}
	s.mu.Lock()
	var chans []*channel
	for _, ch := range s.chans {
		if ch.state == stateJoined {
			chans = append(chans, ch)
		}
	}
	s.mu.Unlock()
	for _, ch := range chans {
		if got := latest(ch.room, jid.JID{}, 1); len(got) == 1 {
			found = append(found, target{ch.name, got[0].t})
		}
	}
	seen := map[jid.JID]bool{}
	got := latest(s.account, jid.JID{}, 200)
	for i := len(got) - 1; i >= 0; i-- {
		fwd := got[i].el.Child(nsForward, "forwarded")
		if fwd == nil {
			continue
		}
		msg := fwd.Child("", "message")
		if msg == nil || msg.Attr("type") == "groupchat" {
			continue
		}
		from, err1 := jid.Parse(msg.Attr("from"))
		to, err2 := jid.Parse(msg.Attr("to"))
		if err1 != nil || err2 != nil {
			continue
		}
		other := from.Bare()
		if other.Equal(s.account) {
			other = to.Bare()
		}
		if seen[other] || s.isRoom(other) || other.Local() == "" {
			continue
		}
		seen[other] = true
		if nick := s.nickOf(other); s.reachable(nick) {
			// A nick too long to write to is no target: CHATHISTORY
			// refuses it, and it would not fit in the line.
			found = append(found, target{nick, got[i].t})
		}
	}
	slices.SortFunc(found, func(x, y target) int { return x.t.Compare(y.t) })
	id := randomID(8)
	srv := s.svc.cfg.ServerName
	s.reply(ircmsg.Message{Source: srv, Command: "BATCH", Params: []string{"+" + id, "draft/chathistory-targets"}})
	n := 0
	for _, f := range found {
		t := f.t.Truncate(time.Millisecond)
		if !t.After(lo) || !t.Before(hi) || n >= limit {
			continue
		}
		n++
		s.reply(ircmsg.Message{Tags: []ircmsg.Tag{{Key: "batch", Value: id}}, Source: srv, Command: "CHATHISTORY", Params: []string{"TARGETS", f.name, serverTime(f.t)}})
	}
	s.reply(ircmsg.Message{Source: srv, Command: "BATCH", Params: []string{"-" + id}})
}

// entry is one archived message with the time clients were shown.
type entry struct {
	el *xmlel.Element // the archive's <result/>
	id string
	t  time.Time
}

// slack is how much earlier than a client's timestamp a message may be
// stamped in the archive: clients are shown the time a room's message
// reached the gateway, a moment after the room archived it.
const slack = time.Second

// history returns up to limit messages strictly between two references
// (zero for none), in archive order: the first ones when forward, the
// last ones when backward. Timestamps compare with the times clients
// were shown, so the archive is asked with some slack and the results
// are filtered.
func (s *Session) history(archiveJID, with jid.JID, after, before historyRef, limit int, backward bool) ([]entry, bool) {
	q := archive.Query{With: with, Page: rsm.NewQuery()}
	n := limit
	if after.id != "" {
		q.AfterID = after.id
	} else if !after.t.IsZero() {
		q.Start = after.t.Add(-slack)
		n += 50
	}
	if before.id != "" {
		q.BeforeID = before.id
	} else if !before.t.IsZero() {
		q.End = before.t
		n += 50
	}
	q.Page.Max = n
	q.Page.HasBefore = backward
	got, ok := s.fetch(archiveJID, q)
	if !ok {
		return nil, false
	}
	var out []entry
	for _, e := range got {
		t := e.t.Truncate(time.Millisecond) // as server-time shows it
		if !after.t.IsZero() && !t.After(after.t) || !before.t.IsZero() && !t.Before(before.t) {
			continue
		}
		out = append(out, e)
	}
	if len(out) > limit {
		if backward {
			out = out[len(out)-limit:]
		} else {
			out = out[:limit]
		}
	}
	return out, true
}

// fetch runs one archive query and returns its results in archive
// order, with the times clients were shown.
func (s *Session) fetch(to jid.JID, q archive.Query) ([]entry, bool) {
	q.QueryID = randomID(10)
	iq := xmlel.New("", stanza.IQ, "type", "set", "to", to.String()).Append(q.Element())
	_, results, err := s.request(iq, q.QueryID, s.svc.cfg.MaxHistory+100)
	if err != nil {
		return nil, false
	}
	out := make([]entry, 0, len(results))
	for _, r := range results {
		t := time.Now()
		if fwd := r.Child(nsForward, "forwarded"); fwd != nil {
			t = stamp(fwd)
		}
		id := r.Attr("id")
		out = append(out, entry{el: r, id: id, t: s.svc.shownTime(id, t)})
	}
	return out, true
}

// historyLines turns an archive result (XEP-0313 §4.2) into PRIVMSG
// lines with the archive's time and id.
func (s *Session) historyLines(e entry, archiveJID jid.JID, name string) []ircmsg.Message {
	fwd := e.el.Child(nsForward, "forwarded")
	if fwd == nil {
		return nil
	}
	msg := fwd.Child("", "message")
	if msg == nil {
		return nil
	}
	body := msg.ChildText("", "body")
	cmd, ctags := readIRC(msg)
	if body == "" || cmd == "TAGMSG" {
		return nil
	}
	from, err := jid.Parse(msg.Attr("from"))
	if err != nil {
		return nil
	}
	tags := append([]ircmsg.Tag{{Key: "msgid", Value: e.id}, {Key: "time", Value: serverTime(e.t)}}, ctags...)
	var source, who, target string
	switch {
	case archiveJID.Local() != "" && archiveJID.Domain() == s.mucDomain():
		target = name
		if from.Resource() == "" {
			source = s.svc.cfg.ServerName
		} else {
			source = IRCNick(from.Resource()) + "!occupant@" + hostPart(archiveJID.Domain())
			who = occupantName(from.Resource())
		}
	case from.Bare().Equal(s.account):
		source, target = s.prefix(), name
	default:
		source, who, target = s.userMask(from.Bare()), from.Bare().String(), s.nick
		if a, ok := s.accountTag(from); ok {
			tags = append(tags, ircmsg.Tag{Key: "account", Value: a})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.deliver(tags, source, who, cmd, target, body)
	return slices.Clip(out)
}
