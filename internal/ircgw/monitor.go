package ircgw

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/xmlel"
)

// Who is online, as far as this connection may know.
//
// An account's presence goes only to the contacts it approved and to
// its own resources (RFC 6121 §3, §4.2.2). An IRC connection learns
// who is online as an XMPP client does, from the presence it is sent,
// and ISON, USERHOST, WHOIS, WHO, RPL_AWAY and MONITOR answer from that
// alone: an account that does not share its presence with the client's
// is offline to it, connected or not. On an IRC server anyone may ask
// whether anyone is online; here that would let any account holder
// watch when the others come and go.

const (
	// monitorLimit is MONITOR= in ISUPPORT: targets of one connection.
	monitorLimit = 100
	// maxContacts and maxContactResources bound the presence remembered
	// (directed presence may come from anyone).
	maxContacts         = 5000
	maxContactResources = 32
	// listBudget is the bytes of comma-separated targets in one line,
	// well under ircmsg.MaxBody with the server name and nick before.
	listBudget = 400
)

// shown is what a contact's resource shows: its <show/> and <status/>.
type shown struct{ show, status string }

// onContactPresence remembers the presence of a contact's resources,
// and tells MONITOR when the contact comes online or goes offline.
// s.mu is held.
func (s *Session) onContactPresence(el *xmlel.Element, from jid.JID) {
	// Rooms (whose occupants' presence is for channels only), servers
	// and the account's own resources are not contacts.
	if el.Child(nsMUCUser, "x") != nil || from.Local() == "" || from.Bare().Equal(s.account) {
		return
	}
	key := from.Bare().String()
	res := s.contacts[key]
	was := len(res) > 0
	oldMsg, wasAway := awayOfShown(res)
	switch el.Attr("type") {
	case "":
		if res == nil {
			if len(s.contacts) >= maxContacts {
				return
			}
			res = make(map[string]shown)
			s.contacts[key] = res
		}
		if _, ok := res[from.Resource()]; !ok && len(res) >= maxContactResources {
			return
		}
		res[from.Resource()] = shown{show: el.ChildText("", "show"), status: ircmsg.Truncate(el.ChildText("", "status"), awayLen)}
	case "unavailable":
		if from.IsFull() {
			delete(res, from.Resource())
		} else {
			clear(res)
		}
		if len(res) == 0 {
			delete(s.contacts, key)
		}
	case "error", "unsubscribed":
		// A contact whose server fails, or who stops sharing its
		// presence, is offline to us (RFC 6121 §3.2, §4.3.2).
		delete(s.contacts, key)
	default:
		return
	}
	target, monitored := s.monitor[foldASCII(NickFor(from.Bare(), s.host))]
	if !monitored {
		return
	}
	now := len(s.contacts[key]) > 0
	switch {
	case now && !was:
		s.push(s.numeric(rplMonOnline, s.onlineEntry(from.Bare(), target)))
	case was && !now:
		s.push(s.numeric(rplMonOffline, target))
		return
	case !now:
		return
	}
	// extended-monitor: a monitored user's away state as if it shared
	// a channel with the client (away-notify).
	if s.caps["extended-monitor"] && s.caps["away-notify"] {
		msg, away := awayOfShown(s.contacts[key])
		if away != wasAway || away && msg != oldMsg {
			m := ircmsg.Message{Source: s.userMask(from.Bare()), Command: "AWAY"}
			if away {
				m.Params = []string{msg}
			}
			// None from a contact that cannot be written as the
			// source (sources.go).
			if fitsText(m.Source, m.Command, "") {
				s.push(m)
			}
		}
	}
}

// seesLocked reports whether the client knows u to be online: u is its
// own account, or shares its presence with it and has an available
// resource. s.mu is held.
func (s *Session) seesLocked(u jid.JID) bool {
	return u.Bare().Equal(s.account) || len(s.contacts[u.Bare().String()]) > 0
}

// sees is seesLocked for the reader goroutine.
func (s *Session) sees(u jid.JID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seesLocked(u)
}

// awayOf reports whether a user the client sees online is away: every
// resource it sees shows away, xa or dnd (RFC 6121 §4.7.2.1). It
// returns the status text. The client's own account is away when all
// its resources are.
func (s *Session) awayOf(user jid.JID) (string, bool) {
	if !user.Bare().Equal(s.account) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return awayOfShown(s.contacts[user.Bare().String()])
	}
	own := make(map[string]shown)
	for _, r := range s.svc.router.Resources(user) {
		if r.Available && r.Presence != nil {
			own[r.Session.JID().Resource()] = shown{r.Presence.ChildText("", "show"), r.Presence.ChildText("", "status")}
		}
	}
	return awayOfShown(own)
}

// awayOfShown is awayOf for the resources of one user. A user's status
// is the one of its first resource in resource order that has one, so
// that it does not change with map order.
func awayOfShown(res map[string]shown) (string, bool) {
	if len(res) == 0 {
		return "", false
	}
	msg := ""
	for _, r := range slices.Sorted(maps.Keys(res)) {
		switch res[r].show {
		case "away", "xa", "dnd":
			if msg == "" {
				msg = res[r].status
			}
		default:
			return "", false
		}
	}
	if msg == "" {
		msg = "Away"
	}
	return msg, true
}

// cmdMonitor is MONITOR (IRCv3 Monitor): + and - add and remove
// targets, C clears the list, L lists it and S gives the status of
// each target. Online means online to this client (see above).
func (s *Session) cmdMonitor(m ircmsg.Message) bool {
	sub := strings.ToUpper(m.Param(0))
	var targets []string
	if sub == "+" || sub == "-" {
		if len(m.Params) < 2 {
			s.reply(s.numeric(errNeedMoreParams, "MONITOR", "Not enough parameters"))
			return false
		}
		for _, t := range strings.Split(m.Params[1], ",") {
			if t != "" {
				targets = append(targets, t)
			}
		}
	}
	s.mu.Lock()
	var full, unnamed []string
	switch sub {
	case "+":
		var added []string
		for _, t := range targets {
			if !fitsLine(s.numeric(rplMonOffline, t)) {
				// No reply could name it whole: as a nick too long
				// to write to, it names nobody (reachable).
				unnamed = append(unnamed, t)
				continue
			}
			k := foldASCII(t)
			if _, ok := s.monitor[k]; !ok {
				if len(s.monitor) >= monitorLimit {
					full = append(full, t)
					continue
				}
				s.monitor[k] = t
			}
			added = append(added, t)
		}
		targets = added
	case "-":
		for _, t := range targets {
			delete(s.monitor, foldASCII(t))
		}
		s.mu.Unlock()
		return false
	case "C":
		clear(s.monitor)
		s.mu.Unlock()
		return false
	case "L", "S":
		for _, t := range s.monitor {
			targets = append(targets, t)
		}
	default:
		s.mu.Unlock()
		s.fail("MONITOR", "INVALID_PARAMS", "MONITOR takes +, -, C, L or S", m.Param(0))
		return false
	}
	var on, off []string
	if sub != "L" {
		for _, t := range targets {
			if u, ok := UserFor(t, s.host); ok && s.seesLocked(u) {
				on = append(on, s.onlineEntry(u, t))
			} else {
				off = append(off, t)
			}
		}
	}
	s.mu.Unlock()
	for _, t := range unnamed {
		s.reply(s.numeric(errNoSuchNick, t, "No such nick"))
	}
	if sub == "L" {
		s.replyTargets(rplMonList, targets)
		s.reply(s.numeric(rplEndOfMonList, "End of MONITOR list"))
		return false
	}
	s.replyTargets(rplMonOnline, on)
	s.replyTargets(rplMonOffline, off)
	if len(full) > 0 {
		s.reply(s.numeric(errMonListFull, strconv.Itoa(monitorLimit), strings.Join(full, ","), "Monitor list is full."))
	}
	return false
}

// onlineEntry is a user's entry in RPL_MONONLINE: its hostmask, or the
// nick the client monitors when a line cannot hold the hostmask (the
// extension allows a target without "!user@host").
func (s *Session) onlineEntry(u jid.JID, target string) string {
	if mask := s.userMask(u); fitsLine(s.numeric(rplMonOnline, mask)) {
		return mask
	}
	return target
}

// replyTargets sends comma-separated targets in as many lines of one
// numeric as they need.
func (s *Session) replyTargets(code string, targets []string) {
	for len(targets) > 0 {
		n, size := 1, len(targets[0])
		for n < len(targets) && size+1+len(targets[n]) <= listBudget {
			size += 1 + len(targets[n])
			n++
		}
		s.reply(s.numeric(code, strings.Join(targets[:n], ",")))
		targets = targets[n:]
	}
}
