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
		room, ok := RoomFor(target, s.mucDomain())
		if !ok {
			return fail("INVALID_TARGET", "No such channel", sub, target)
		}
		archiveJID, name = room, ChannelFor(room)
	} else {
		u, ok := UserFor(target, s.host)
		if !ok {
			return fail("INVALID_TARGET", "No such nick", sub, target)
		}
		archiveJID, with, name = s.account, u, s.nickOf(u)
	}

	var results []*xmlel.Element
	query := func(q archive.Query) bool {
		got, ok := s.queryArchive(archiveJID, q)
		results = append(results, got...)
		return ok
	}
	base := func(n int) archive.Query {
		q := archive.Query{With: with, Page: rsm.NewQuery()}
		q.Page.Max = n
		return q
	}
	ok := true
	r := refs[0]
	if limit > 0 {
		switch sub {
		case "LATEST":
			q := base(limit)
			q.Page.HasBefore = true
			if r.id != "" {
				q.AfterID = r.id
			} else if !r.t.IsZero() {
				q.Start = r.t.Add(time.Microsecond)
			}
			ok = query(q)
		case "BEFORE":
			q := base(limit)
			q.Page.HasBefore = true
			setBefore(&q, r)
			ok = query(q)
		case "AFTER":
			q := base(limit)
			setAfter(&q, r)
			ok = query(q)
		case "AROUND":
			before := base(limit / 2)
			before.Page.HasBefore = true
			setBefore(&before, r)
			if limit/2 > 0 {
				ok = query(before)
			}
			after := base(limit - limit/2)
			if r.id != "" {
				after.IDs = nil
				after.AfterID = ""
				// The reference itself comes first, then what follows.
				after.Page.After = ""
				q := base(1)
				q.IDs = []string{r.id}
				ok = ok && query(q)
				after.Page.Max = max(limit-limit/2-1, 0)
				setAfter(&after, r)
			} else {
				after.Start = r.t
			}
			if ok && after.Page.Max > 0 {
				ok = query(after)
			}
		case "BETWEEN":
			a, b := refs[0], refs[1]
			backward := !a.t.IsZero() && !b.t.IsZero() && a.t.After(b.t)
			if backward {
				a, b = b, a
			}
			q := base(limit)
			setAfter(&q, a)
			setBefore(&q, b)
			q.Page.HasBefore = backward
			ok = query(q)
		}
	}
	if !ok {
		return fail("INVALID_TARGET", "Cannot read the history of "+target, sub, target)
	}
	id := randomID(8)
	srv := s.svc.cfg.ServerName
	s.reply(ircmsg.Message{Source: srv, Command: "BATCH", Params: []string{"+" + id, "chathistory", name}})
	for _, res := range results {
		for _, l := range s.historyLines(res, archiveJID, name) {
			l.SetTag("batch", id)
			s.reply(l)
		}
	}
	s.reply(ircmsg.Message{Source: srv, Command: "BATCH", Params: []string{"-" + id}})
	return false
}

func setBefore(q *archive.Query, r historyRef) {
	if r.id != "" {
		q.BeforeID = r.id
	} else if !r.t.IsZero() {
		q.End = r.t.Add(-time.Microsecond)
	}
}

func setAfter(q *archive.Query, r historyRef) {
	if r.id != "" {
		q.AfterID = r.id
	} else if !r.t.IsZero() {
		q.Start = r.t.Add(time.Microsecond)
	}
}

// queryArchive runs one archive query and returns its results in
// archive order.
func (s *Session) queryArchive(to jid.JID, q archive.Query) ([]*xmlel.Element, bool) {
	q.QueryID = randomID(10)
	iq := xmlel.New("", stanza.IQ, "type", "set", "to", to.String()).Append(q.Element())
	_, results, err := s.request(iq, q.QueryID, s.svc.cfg.MaxHistory+1)
	if err != nil {
		return nil, false
	}
	return results, true
}

// historyLines turns an archive result (XEP-0313 §4.2) into PRIVMSG
// lines with the archive's time and id.
func (s *Session) historyLines(res *xmlel.Element, archiveJID jid.JID, name string) []ircmsg.Message {
	fwd := res.Child(nsForward, "forwarded")
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
	tags := append([]ircmsg.Tag{{Key: "time", Value: serverTime(stamp(fwd))}, {Key: "msgid", Value: res.Attr("id")}}, ctags...)
	var source, target string
	switch {
	case archiveJID.Local() != "" && archiveJID.Domain() == s.mucDomain():
		target = name
		if from.Resource() == "" {
			source = s.svc.cfg.ServerName
		} else {
			source = IRCNick(from.Resource()) + "!occupant@" + archiveJID.Domain()
		}
	case from.Bare().Equal(s.account):
		source, target = s.prefix(), name
	default:
		source, target = s.userMask(from.Bare()), s.nick
		if from.Domain() == s.host {
			tags = append(tags, ircmsg.Tag{Key: "account", Value: NickFor(from, s.host)})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.deliver(tags, source, cmd, target, body)
	return slices.Clip(out)
}
