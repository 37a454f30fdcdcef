package muc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sync"
	"testing"
	"unicode/utf8"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlstream"
)

// Bounds of what one fuzzed stanza may cause. A muc#admin set of
// maxAdminItems role changes tells every session of the room of each, so
// the count allows for that; the largest stanza is a room vCard of
// MaxVCardBytes.
const (
	fuzzMaxInput   = 4096
	fuzzMaxOutputs = 1000
	fuzzMaxBytes   = 1 << 17
)

// Placeholders a fuzzed stanza may use for identifiers only the room
// knows: the last stanza-id a room gave a message, so that retractions
// and moderation find one, and the id of the last request a room
// forwarded to an occupant, so that answers to it find it.
var (
	fuzzLastSID = []byte("$sid")
	fuzzLastIQ  = []byte("$iq")
)

// routed is a stanza the service routed, serialized when it was routed.
type routed struct {
	from, to jid.JID
	xml      string
}

// fuzzTap collects what the service routes, and what is wrong in the
// rooms' state.
type fuzzTap struct {
	mu     sync.Mutex
	out    []routed
	broken []string
}

func (ft *fuzzTap) add(st *stanza.Stanza) {
	r := routed{from: st.From, to: st.To, xml: st.El.String()}
	ft.mu.Lock()
	ft.out = append(ft.out, r)
	ft.mu.Unlock()
}

func (ft *fuzzTap) count() int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return len(ft.out)
}

func (ft *fuzzTap) take() (out []routed, broken []string) {
	ft.mu.Lock()
	out, broken, ft.out, ft.broken = ft.out, ft.broken, nil, nil
	ft.mu.Unlock()
	return out, broken
}

// check returns what is wrong in a room's state: what no stanza should
// be able to bring about.
func (r *room) check() []string {
	var bad []string
	fail := func(format string, args ...any) {
		bad = append(bad, r.jid.String()+": "+fmt.Sprintf(format, args...))
	}
	if r.state == stateAbsent || r.state == stateGone {
		if len(r.occ) > 0 || len(r.sessions) > 0 || len(r.affs) > 0 {
			fail("no room, but %d occupants, %d sessions, %d affiliations", len(r.occ), len(r.sessions), len(r.affs))
		}
		return bad
	}
	if r.owners() < 1 {
		fail("no owner in %v", r.affs)
	}
	nicks := map[string]string{}
	for k, e := range r.affs {
		if e.aff == affNone {
			fail("affiliation none kept for %s", k)
		}
		if e.nick == "" || e.aff < affMember {
			continue
		}
		if other, ok := nicks[foldNick(e.nick)]; ok {
			fail("nick %q reserved by %s and %s", e.nick, other, k)
		}
		nicks[foldNick(e.nick)] = k
	}
	sessions := 0
	for k, o := range r.occ {
		aff := r.affOf(o.bare)
		switch {
		case k != foldNick(o.nick):
			fail("occupant %q kept as %q", o.nick, k)
		case len(o.sessions) == 0 || len(o.sessions) > maxSessions:
			fail("occupant %q has %d sessions", o.nick, len(o.sessions))
		case o.role == roleNone:
			fail("occupant %q has no role", o.nick)
		case aff == affOutcast:
			fail("occupant %q is banned", o.nick)
		case r.cfg.MembersOnly && aff < affMember:
			fail("occupant %q of a members-only room is %s", o.nick, aff)
		case aff >= affAdmin && o.role != roleModerator:
			fail("occupant %q is %s but %s", o.nick, aff, o.role)
		}
		for _, full := range o.sessions {
			if r.sessions[full] != o || !full.Bare().Equal(o.bare) {
				fail("session %s of %q is not the occupant's", full, o.nick)
			}
		}
		sessions += len(o.sessions)
	}
	if sessions != len(r.sessions) {
		fail("%d sessions in occupants, %d in the room", sessions, len(r.sessions))
	}
	if len(r.history) > r.s.cfg.HistoryMax || len(r.pending) > maxPendingIQs || len(r.invites) > maxInvites || len(r.regs) > maxRegRequests {
		fail("%d messages of history, %d forwarded requests, %d invitations, %d registration requests", len(r.history), len(r.pending), len(r.invites), len(r.regs))
	}
	return bad
}

// settle waits until the rooms have handled everything posted to them
// and everything that caused in turn (a room's invitation to another
// room, say): a round of markers through every active room's mailbox
// during which the service routed nothing. The markers check the rooms'
// state on their way.
func (h *harness) settle(ft *fuzzTap) {
	for {
		before := ft.count()
		h.svc.mu.Lock()
		rooms := make([]*room, 0, len(h.svc.live))
		for _, r := range h.svc.live {
			rooms = append(rooms, r)
		}
		h.svc.mu.Unlock()
		var wg sync.WaitGroup
		mark := func(r *room) {
			if bad := r.check(); len(bad) > 0 {
				ft.mu.Lock()
				ft.broken = append(ft.broken, bad...)
				ft.mu.Unlock()
			}
			wg.Done()
		}
		for _, r := range rooms {
			wg.Add(1)
			// A closed mailbox is a room that ended with nothing left to
			// do.
			if !r.mbox.put(event{fn: mark}) {
				wg.Done()
			}
		}
		wg.Wait()
		if ft.count() == before {
			return
		}
	}
}

const heath = "heath@conference.example.org"

// fuzzSenders are who sends the fuzzed stanzas, picked by their first
// byte: 0 and 1 are alice's two sessions as firstwitch, owner of coven;
// 2 is bob, owner of heath (moderated, with a password, non-anonymous)
// and in coven; 3 is carol, a visitor in heath; 4 is dave of another
// server, in coven; 5 is erin, in no room.
var fuzzSenders = []string{
	"alice@example.org/desk", "alice@example.org/phone", "bob@example.org/phone",
	"carol@example.org/pda", "dave@remote.example/x", "erin@example.org/x",
}

// fuzzRooms are the rooms FuzzRoom starts with, and what makes them, in
// the form of fuzzed stanzas. A room that a stanza destroyed, or left
// locked, is made again, so that later stanzas find it.
var fuzzRooms = []struct {
	jid   string
	setup []string
}{
	{coven, []string{
		"\x00<presence to='coven@conference.example.org/firstwitch'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
		"\x00<iq type='set' id='setup' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>" +
			"<field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>",
		"\x01<presence to='coven@conference.example.org/firstwitch'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
		"\x02<presence to='coven@conference.example.org/thirdwitch'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
		"\x04<presence to='coven@conference.example.org/banquo'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
	}},
	{heath, []string{
		"\x02<presence to='heath@conference.example.org/thirdwitch'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
		"\x02<iq type='set' id='setup' to='heath@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>" +
			"<field var='muc#roomconfig_persistentroom'><value>1</value></field><field var='muc#roomconfig_moderatedroom'><value>1</value></field>" +
			"<field var='muc#roomconfig_whois'><value>anyone</value></field><field var='muc#roomconfig_passwordprotectedroom'><value>1</value></field>" +
			"<field var='muc#roomconfig_roomsecret'><value>cauldron</value></field></x></query></iq>",
		"\x03<presence to='heath@conference.example.org/hecate'><x xmlns='http://jabber.org/protocol/muc'><password>cauldron</password></x></presence>",
	}},
}

// fuzzWorld is the service FuzzRoom runs stanzas through, kept for the
// whole run: a new one for each input would cost far more than the input.
type fuzzWorld struct {
	h       *harness
	tap     fuzzTap
	senders []jid.JID
	rooms   []jid.JID // of fuzzRooms
	lastSID []byte
	lastIQ  []byte
	// unmade marks rooms that could not be made again (their owner has
	// as many rooms as it may): they are left as they are.
	unmade map[string]bool
}

func newFuzzWorld(f *testing.F) *fuzzWorld {
	// The database goes in memory-backed storage when there is some
	// (/dev/shm): rooms write to it on many inputs, and waiting for a
	// disk to sync would leave the fuzzer little time.
	dir, err := os.MkdirTemp("/dev/shm", "samtal-fuzz-")
	if err != nil {
		dir = f.TempDir()
	} else {
		f.Cleanup(func() { os.RemoveAll(dir) })
	}
	w := &fuzzWorld{h: newHarnessIn(f, dir), unmade: map[string]bool{}}
	for _, s := range fuzzSenders {
		w.senders = append(w.senders, mustJID(f, s))
	}
	for _, fr := range fuzzRooms {
		w.rooms = append(w.rooms, mustJID(f, fr.jid))
	}
	w.h.router.mu.Lock()
	w.h.router.tap = w.tap.add
	w.h.router.mu.Unlock()
	if broken := w.repair(); len(broken) > 0 {
		f.Fatalf("rooms broken in setting up: %q", broken)
	}
	if errs := w.h.errs.take(); len(errs) > 0 {
		f.Fatalf("errors logged in setting up: %q", errs)
	}
	if len(w.unmade) > 0 {
		f.Fatalf("rooms not made: %v", w.unmade)
	}
	return w
}

// fuzzInput is a stanza as the service got it.
type fuzzInput struct {
	from    jid.JID
	request bool
	id      string
}

// send hands one fuzzed stanza to the service, as the router would, and
// waits for what it causes; ok is false when the input is no stanza for
// the service.
func (w *fuzzWorld) send(data []byte) (in fuzzInput, ok bool) {
	if len(data) < 2 || len(data) > fuzzMaxInput {
		return in, false
	}
	in.from = w.senders[int(data[0])%len(w.senders)]
	input := bytes.ReplaceAll(data[1:], fuzzLastSID, w.lastSID)
	input = bytes.ReplaceAll(input, fuzzLastIQ, w.lastIQ)
	el, err := xmlstream.Parse(input, xmlstream.Limits{MaxStanzaBytes: fuzzMaxInput, MaxDepth: 32})
	if err != nil || !stanza.IsStanza(el) {
		return in, false
	}
	to, err := jid.Parse(el.Attr("to"))
	if err != nil || to.Domain() != w.h.cfg.Domain {
		return in, false // the router sends the service only its own domain
	}
	el.SetAttr("to", to.String())
	el.SetAttr("from", in.from.String())
	st := &stanza.Stanza{El: el, From: in.from, To: to}
	in.request, in.id = st.IsRequest(), st.ID()
	w.h.svc.Handle(context.Background(), st)
	w.h.settle(&w.tap)
	return in, true
}

// roomOpen reports whether a room exists and is configured.
func (w *fuzzWorld) roomOpen(j jid.JID) bool {
	open := make(chan bool, 1)
	w.h.svc.post(j, event{fn: func(r *room) { open <- r.state == stateOpen }})
	return <-open
}

// repair makes the rooms of fuzzRooms again where they are gone or
// locked. What that routes is no one's answer and is dropped; it returns
// what it found wrong in the rooms.
func (w *fuzzWorld) repair() []string {
	for i, fr := range fuzzRooms {
		j := w.rooms[i]
		if w.unmade[fr.jid] || w.roomOpen(j) {
			continue
		}
		w.h.svc.post(j, event{fn: func(r *room) {
			if r.state != stateAbsent {
				r.destroy(nil)
			}
		}})
		for _, s := range fr.setup {
			w.send([]byte(s))
		}
		if !w.roomOpen(j) {
			w.unmade[fr.jid] = true
		}
	}
	_, broken := w.tap.take()
	return broken
}

// FuzzRoom feeds arbitrary stanzas to the group chat service from local
// users in its rooms and out of them and from a remote user, as the
// router hands them over ('from' stamped, 'to' prepared), with a real
// SQLite store whose rooms change over the run. Nothing may panic nor be
// logged as an error; what one stanza causes is bounded in count and
// size; everything routed is well-formed, comes from the service, is
// addressed as its attributes say and never back to the service itself;
// a request gets exactly one answer unless a room forwarded it to an
// occupant; and no room gets into a state that breaks its own rules
// (room.check).
func FuzzRoom(f *testing.F) {
	const (
		owner    = "http://jabber.org/protocol/muc#owner"
		admin    = "http://jabber.org/protocol/muc#admin"
		user     = "http://jabber.org/protocol/muc#user"
		conds    = "urn:ietf:params:xml:ns:xmpp-stanzas"
		config   = "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
		register = "jabber:iq:register"
		regForm  = "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field>"
		// An admin's answer to erin's registration request, but for the
		// muc#register_allow value.
		regAnswer = "<field var='x-samtal#register_jid'><value>erin@example.org</value></field>" +
			"<field var='muc#register_roomnick'><value>erin</value></field><field var='muc#register_allow'>"
	)
	for _, seed := range []string{
		"\x05<presence to='coven@conference.example.org/erin'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
		"\x05<presence to='heath@conference.example.org/erin' id='j'><x xmlns='http://jabber.org/protocol/muc'><password>cauldron</password><history maxstanzas='2'/></x><show>dnd</show></presence>",
		"\x05<presence to='coven@conference.example.org/erin'><x xmlns='http://jabber.org/protocol/muc'><history maxchars='300' seconds='60' since='2020-01-01T00:00:00Z'/></x></presence>",
		"\x05<presence to='coven@conference.example.org/erin'/>",
		"\x05<presence to='coven@conference.example.org'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
		"\x05<presence to='blasted@conference.example.org/erin'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
		"\x05<iq type='set' id='inst' to='blasted@conference.example.org'><query xmlns='" + owner + "'><x xmlns='jabber:x:data' type='submit'/></query></iq>",
		"\x05<iq type='set' id='cancel' to='blasted@conference.example.org'><query xmlns='" + owner + "'><x xmlns='jabber:x:data' type='cancel'/></query></iq>",
		"\x00<iq type='set' id='a0' to='coven@conference.example.org'><query xmlns='" + admin + "'><item affiliation='owner' jid='bob@example.org'/><item affiliation='none' jid='alice@example.org'/><item affiliation='none' jid='bob@example.org'/></query></iq>",
		"\x00<iq type='set' id='a00' to='coven@conference.example.org'><query xmlns='" + admin + "'><item affiliation='member' jid='erin@example.org' nick='erin'/><item affiliation='member' jid='carol@example.org' nick='Erin'/></query></iq>",
		"\x00<iq type='set' id='c0' to='coven@conference.example.org'><query xmlns='" + owner + "'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_roomadmins'><value>alice@example.org</value></field></x></query></iq>",
		"\x02<presence to='coven@conference.example.org/oldhag' id='n'/>",
		"\x01<presence to='coven@conference.example.org/firstwitch'><show>away</show><status>brewing</status></presence>",
		"\x01<presence to='coven@conference.example.org/firstwitch'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
		"\x04<presence type='unavailable' to='coven@conference.example.org/banquo'><status>bye</status></presence>",
		"\x00<message type='groupchat' id='m1' to='coven@conference.example.org'><body>Thrice</body></message>",
		"\x02<message type='groupchat' to='coven@conference.example.org' xml:lang='en'><body>Fair is foul</body><store xmlns='urn:xmpp:hints'/></message>",
		"\x00<message type='groupchat' to='coven@conference.example.org'><subject>Spells</subject></message>",
		"\x03<message type='groupchat' to='heath@conference.example.org'><body>may I?</body></message>",
		"\x00<message type='groupchat' id='r' to='coven@conference.example.org'><retract xmlns='urn:xmpp:message-retract:1' id='$sid'/><body>retracted</body></message>",
		"\x02<message type='chat' to='coven@conference.example.org/firstwitch'><body>psst</body></message>",
		"\x04<message type='chat' to='coven@conference.example.org/thirdwitch'><body>psst</body><occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/></message>",
		"\x00<message to='coven@conference.example.org'><body>not groupchat</body></message>",
		"\x00<iq type='get' id='c1' to='coven@conference.example.org'><query xmlns='" + owner + "'/></iq>",
		"\x00<iq type='set' id='c2' to='coven@conference.example.org'><query xmlns='" + owner + "'><x xmlns='jabber:x:data' type='submit'>" + config +
			"<field var='muc#roomconfig_membersonly'><value>1</value></field><field var='muc#roomconfig_whois'><value>anyone</value></field>" +
			"<field var='muc#roomconfig_roomowners'><value>alice@example.org</value><value>bob@example.org</value></field></x></query></iq>",
		"\x02<iq type='set' id='c3' to='heath@conference.example.org'><query xmlns='" + owner + "'><x xmlns='jabber:x:data' type='submit'>" + config +
			"<field var='muc#roomconfig_persistentroom'><value>0</value></field><field var='muc#roomconfig_moderatedroom'><value>0</value></field>" +
			"<field var='muc#roomconfig_presencebroadcast'><value>moderator</value></field><field var='muc#roomconfig_maxusers'><value>10</value></field>" +
			"<field var='muc#roomconfig_roomadmins'><value>carol@example.org</value></field></x></query></iq>",
		"\x00<iq type='set' id='c4' to='coven@conference.example.org'><query xmlns='" + owner + "'><x xmlns='jabber:x:data' type='submit'>" +
			"<field var='muc#roomconfig_passwordprotectedroom'><value>1</value></field><field var='muc#roomconfig_roomsecret'><value>eye of newt</value></field>" +
			"<field var='muc#roomconfig_enablelogging'><value>0</value></field><field var='muc#maxhistoryfetch'><value>3</value></field></x></query></iq>",
		"\x00<iq type='set' id='a1' to='coven@conference.example.org'><query xmlns='" + admin + "'><item nick='thirdwitch' role='visitor'><reason>hush</reason></item></query></iq>",
		"\x00<iq type='set' id='a2' to='coven@conference.example.org'><query xmlns='" + admin + "'><item affiliation='outcast' jid='dave@remote.example'><reason>spy</reason></item></query></iq>",
		"\x00<iq type='set' id='a3' to='coven@conference.example.org'><query xmlns='" + admin + "'><item affiliation='member' jid='erin@example.org' nick='erin'/><item affiliation='admin' jid='bob@example.org/phone'/></query></iq>",
		"\x00<iq type='set' id='own' to='coven@conference.example.org'><query xmlns='" + admin + "'><item affiliation='owner' jid='bob@example.org'/><item affiliation='admin' jid='alice@example.org'/></query></iq>",
		"\x02<iq type='set' id='own2' to='heath@conference.example.org'><query xmlns='" + admin + "'><item affiliation='member' jid='carol@example.org' nick='hecate'/><item affiliation='member' jid='erin@example.org' nick='erin'/></query></iq>",
		"\x00<iq type='set' id='c5' to='coven@conference.example.org'><query xmlns='" + owner + "'><x xmlns='jabber:x:data' type='submit'>" + config +
			"<field var='muc#roomconfig_roomowners'><value>alice@example.org</value></field><field var='muc#roomconfig_roomadmins'><value>bob@example.org</value></field></x></query></iq>",
		"\x00<iq type='set' id='a4' to='coven@conference.example.org'><query xmlns='" + admin + "'><item nick='banquo' role='none'><reason>out</reason></item></query></iq>",
		"\x00<iq type='set' id='a5' to='coven@conference.example.org'><query xmlns='" + admin + "'><item affiliation='outcast' jid='remote.example'/></query></iq>",
		"\x00<iq type='set' id='a6' to='coven@conference.example.org'><query xmlns='" + admin + "'><item affiliation='none' jid='alice@example.org'/></query></iq>",
		"\x02<iq type='set' id='a7' to='heath@conference.example.org'><query xmlns='" + admin + "'><item nick='hecate' role='participant'/></query></iq>",
		"\x02<iq type='set' id='a8' to='heath@conference.example.org'><query xmlns='" + admin + "'><item nick='hecate' role='moderator'/></query></iq>",
		"\x00<iq type='get' id='l1' to='coven@conference.example.org'><query xmlns='" + admin + "'><item affiliation='member'/></query></iq>",
		"\x02<iq type='get' id='l2' to='heath@conference.example.org'><query xmlns='" + admin + "'><item role='visitor'/></query></iq>",
		"\x00<iq type='get' id='l3' to='coven@conference.example.org'><query xmlns='" + admin + "'><item affiliation='outcast'/></query></iq>",
		"\x00<message to='coven@conference.example.org' id='inv'><x xmlns='" + user + "'><invite to='erin@example.org'><reason>come</reason></invite></x></message>",
		"\x00<message to='coven@conference.example.org'><x xmlns='" + user + "'><invite to='heath@conference.example.org'/><invite to='carol@example.org'/></x></message>",
		"\x05<message to='coven@conference.example.org'><x xmlns='" + user + "'><decline to='alice@example.org'><reason>busy</reason></decline></x></message>",
		"\x05<iq type='get' id='si' to='conference.example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
		"\x04<iq type='get' id='sd' to='conference.example.org'><query xmlns='http://jabber.org/protocol/disco#items'><set xmlns='http://jabber.org/protocol/rsm'><max>1</max><after>coven@conference.example.org</after></set></query></iq>",
		"\x05<iq type='get' id='sp' to='conference.example.org'><ping xmlns='urn:xmpp:ping'/></iq>",
		"\x05<message to='conference.example.org'><body>hello service</body></message>",
		"\x03<iq type='get' id='ri' to='heath@conference.example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
		"\x03<iq type='get' id='rn' to='heath@conference.example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>",
		"\x03<iq type='get' id='rd' to='heath@conference.example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>",
		"\x05<iq type='get' id='od' to='coven@conference.example.org/firstwitch'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
		"\x02<iq type='get' id='ov' to='coven@conference.example.org/firstwitch'><vCard xmlns='vcard-temp'/></iq>",
		"\x02<iq type='get' id='op' to='coven@conference.example.org/banquo'><ping xmlns='urn:xmpp:ping'/></iq>",
		"\x00<iq type='result' id='$iq' to='coven@conference.example.org/thirdwitch'/>",
		"\x04<iq type='error' id='$iq' to='coven@conference.example.org/thirdwitch'><error type='cancel'><service-unavailable xmlns='" + conds + "'/></error></iq>",
		"\x01<iq type='get' id='self' to='coven@conference.example.org/firstwitch'><ping xmlns='urn:xmpp:ping'/></iq>",
		"\x00<iq type='set' id='mod' to='coven@conference.example.org'><moderate xmlns='urn:xmpp:message-moderate:1' id='$sid'><retract xmlns='urn:xmpp:message-retract:1'/><reason>spam</reason></moderate></iq>",
		"\x00<iq type='set' id='mod0' to='coven@conference.example.org'><apply-to xmlns='urn:xmpp:fasten:0' id='$sid'><moderate xmlns='urn:xmpp:message-moderate:0'><retract xmlns='urn:xmpp:message-retract:0'/></moderate></apply-to></iq>",
		"\x00<iq type='set' id='mam' to='coven@conference.example.org'><query xmlns='urn:xmpp:mam:2' queryid='f'><set xmlns='http://jabber.org/protocol/rsm'><max>5</max><before/></set></query></iq>",
		"\x04<iq type='get' id='meta' to='coven@conference.example.org'><metadata xmlns='urn:xmpp:mam:2'/></iq>",
		"\x00<iq type='set' id='vs' to='coven@conference.example.org'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard></iq>",
		"\x04<iq type='get' id='vg' to='coven@conference.example.org'><vCard xmlns='vcard-temp'/></iq>",
		"\x03<message to='heath@conference.example.org'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field><field var='muc#role'><value>participant</value></field></x></message>",
		"\x02<message to='heath@conference.example.org'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field><field var='muc#roomnick'><value>hecate</value></field><field var='muc#request_allow'><value>true</value></field></x></message>",
		"\x02<message type='error' to='coven@conference.example.org/firstwitch'><error type='cancel'><item-not-found xmlns='" + conds + "'/></error></message>",
		"\x04<presence type='error' to='coven@conference.example.org/banquo'><error type='cancel'><remote-server-not-found xmlns='" + conds + "'/></error></presence>",
		"\x05<iq type='get' id='rg' to='coven@conference.example.org'><query xmlns='" + register + "'/></iq>",
		"\x05<iq type='set' id='rs' to='coven@conference.example.org'><query xmlns='" + register + "'><x xmlns='jabber:x:data' type='submit'>" + regForm + "<field var='muc#register_roomnick'><value>erin</value></field></x></query></iq>",
		"\x02<iq type='set' id='rs2' to='coven@conference.example.org'><query xmlns='" + register + "'><x xmlns='jabber:x:data' type='submit'>" + regForm + "<field var='muc#register_roomnick'><value>Firstwitch</value></field></x></query></iq>",
		"\x03<iq type='set' id='rs3' to='heath@conference.example.org'><query xmlns='" + register + "'><x xmlns='jabber:x:data' type='submit'>" + regForm + "<field var='muc#register_roomnick'><value>hecate</value></field></x></query></iq>",
		"\x00<iq type='set' id='rs4' to='coven@conference.example.org'><query xmlns='" + register + "'><x xmlns='jabber:x:data' type='submit'>" + regForm + "<field var='muc#register_roomnick'><value>thirdwitch</value></field></x></query></iq>",
		"\x04<iq type='set' id='rc' to='coven@conference.example.org'><query xmlns='" + register + "'><x xmlns='jabber:x:data' type='cancel'/></query></iq>",
		"\x00<iq type='set' id='rr' to='coven@conference.example.org'><query xmlns='" + register + "'><remove/></query></iq>",
		"\x05<iq type='set' id='rr2' to='coven@conference.example.org'><query xmlns='" + register + "'><remove/><username>erin</username></query></iq>",
		"\x00<message to='coven@conference.example.org' id='ans'><x xmlns='jabber:x:data' type='submit'>" + regForm + regAnswer + "<value>1</value></field></x></message>",
		"\x02<message to='coven@conference.example.org'><x xmlns='jabber:x:data' type='submit'>" + regForm + regAnswer + "<value>false</value></field></x></message>",
		"\x03<message to='coven@conference.example.org'><x xmlns='jabber:x:data' type='submit'>" + regForm + regAnswer + "<value>true</value></field></x></message>",
		"\x00<message to='coven@conference.example.org'><x xmlns='jabber:x:data' type='form'>" + regForm + regAnswer + "<value>maybe</value></field></x></message>",
		"\x00<message to='coven@conference.example.org'><x xmlns='jabber:x:data' type='cancel'/></message>",
		"\x03<iq type='get' id='two' to='heath@conference.example.org'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>",
		"\x03<iq type='set' id='none' to='heath@conference.example.org'/>",
		"\x00<iq type='set' id='d' to='coven@conference.example.org'><query xmlns='" + owner + "'><destroy jid='heath@conference.example.org'><reason>gone</reason><password>x</password></destroy></query></iq>",
	} {
		f.Add([]byte(seed))
	}
	w := newFuzzWorld(f)
	domain := w.h.cfg.Domain

	f.Fuzz(func(t *testing.T, data []byte) {
		in, ok := w.send(data)
		if !ok {
			return
		}
		out, broken := w.tap.take()
		if errs := w.h.errs.take(); len(errs) > 0 {
			t.Fatalf("the service logged errors: %q", errs)
		}
		if len(broken) > 0 {
			slices.Sort(broken)
			t.Fatalf("rooms in a state no stanza should bring about: %q", slices.Compact(broken))
		}
		if len(out) > fuzzMaxOutputs {
			t.Fatalf("one stanza caused %d stanzas", len(out))
		}
		answers, forwarded := 0, 0
		for _, o := range out {
			if len(o.xml) > fuzzMaxBytes {
				t.Fatalf("one stanza caused a stanza of %d bytes", len(o.xml))
			}
			back, err := xmlstream.Parse([]byte(o.xml), xmlstream.Limits{MaxStanzaBytes: fuzzMaxBytes, MaxDepth: 64, MaxAttrs: 256})
			if err != nil || !stanza.IsStanza(back) {
				t.Fatalf("routed XML that does not parse as a stanza (%v): %s", err, o.xml)
			}
			if back.Attr("from") != o.from.String() || back.Attr("to") != o.to.String() {
				t.Fatalf("routed from %s to %s: %s", o.from, o.to, o.xml)
			}
			if o.from.Domain() != domain {
				t.Fatalf("the service routed a stanza from elsewhere: %s", o.xml)
			}
			if o.to.Domain() == domain {
				// The senders are users: whatever goes back to the
				// service's own domain is a room talking to itself or
				// to another room, which only ever ends in errors.
				t.Fatalf("the service routed a stanza to itself: %s", o.xml)
			}
			if back.Local == stanza.IQ {
				switch typ := back.Attr("type"); {
				case (typ == "result" || typ == "error") && o.to.Equal(in.from) && back.Attr("id") == in.id:
					answers++
				case typ == "get" || typ == "set":
					forwarded++
					w.lastIQ = []byte(back.Attr("id"))
				}
			}
			if sid := back.Child(NSStanzaID, "stanza-id"); sid != nil && back.Child("", "body") != nil {
				w.lastSID = []byte(sid.Attr("id"))
			}
		}
		// RFC 6120 §8.2.3: a request gets one answer; one that a room
		// forwarded to an occupant gets it when the occupant answers.
		if in.request && !(answers == 1 || answers == 0 && forwarded == 1) {
			var all []string
			for _, o := range out {
				all = append(all, o.xml)
			}
			t.Fatalf("a request got %d answers and was forwarded %d times: %q", answers, forwarded, all)
		}
		if broken := w.repair(); len(broken) > 0 {
			t.Fatalf("rooms broken in making them again: %q", broken)
		}
	})
}

// FuzzRoomConfig feeds arbitrary data forms to the room configuration
// parser, as owners submit them (§10.1.3, §10.2). Nothing may panic, a
// refusal is a stanza error, an accepted form gives a configuration a
// room can live with, and that configuration comes back the same from
// its own form (an owner who submits the form unchanged changes
// nothing) and from storage (a room is the same after a restart).
func FuzzRoomConfig(f *testing.F) {
	s := &Service{cfg: testConfig()}
	maxUsers := s.cfg.MaxOccupants
	room := mustJID(f, coven)
	def := s.defaultConfig()
	const (
		field = "<field var='%s'><value>%s</value></field>"
		form  = "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>%s</x>"
	)
	for _, seed := range []string{
		def.form(room, []string{"alice@example.org"}, nil, maxUsers).String(),
		fmt.Sprintf(form, fmt.Sprintf(field, "muc#roomconfig_persistentroom", "1")+fmt.Sprintf(field, "muc#roomconfig_publicroom", "0")+
			fmt.Sprintf(field, "muc#roomconfig_enablelogging", "0")),
		fmt.Sprintf(form, fmt.Sprintf(field, "muc#roomconfig_presencebroadcast", "moderator")+
			"<field var='muc#roomconfig_getmemberlist'><value>moderator</value><value>participant</value></field>"),
		fmt.Sprintf(form, fmt.Sprintf(field, "muc#roomconfig_passwordprotectedroom", "True")+fmt.Sprintf(field, "muc#roomconfig_roomsecret", "cauldron")+
			fmt.Sprintf(field, "muc#roomconfig_maxusers", "none")+fmt.Sprintf(field, "muc#maxhistoryfetch", "0")),
		fmt.Sprintf(form, fmt.Sprintf(field, "muc#roomconfig_whois", "anyone")+fmt.Sprintf(field, "muc#roomconfig_allowpm", "moderators")+
			fmt.Sprintf(field, "muc#roomconfig_roomname", "A Dark Cave")+fmt.Sprintf(field, "muc#roomconfig_lang", "en")),
		fmt.Sprintf(form, "<field var='muc#roomconfig_roomowners'><value>alice@example.org/desk</value><value> </value></field>"+
			fmt.Sprintf(field, "muc#roomconfig_roomadmins", "bob@example.org")+fmt.Sprintf(field, "muc#roomconfig_membersonly", "")),
		fmt.Sprintf(form, fmt.Sprintf(field, "muc#roomconfig_maxusers", "0")),
		"<x xmlns='jabber:x:data' type='submit'/>",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := xmlstream.Parse(data, xmlstream.Limits{})
		if err != nil {
			return
		}
		fm, err := dataform.Parse(x)
		if err != nil {
			return
		}
		c := s.defaultConfig()
		ch, err := c.apply(fm, maxUsers)
		if err != nil {
			if !errors.As(err, new(stanza.Error)) {
				t.Fatalf("apply refused with %v, not a stanza error", err)
			}
			return
		}
		switch {
		case c.MaxUsers < 1 || c.MaxUsers > maxUsers:
			t.Fatalf("occupant limit %d outside 1..%d", c.MaxUsers, maxUsers)
		case c.WhoIs != whoisModerators && c.WhoIs != whoisAnyone:
			t.Fatalf("whois %q", c.WhoIs)
		case !slices.Contains([]string{pmAnyone, pmParticipants, pmModerators, pmNone}, c.AllowPM):
			t.Fatalf("allowpm %q", c.AllowPM)
		case c.PasswordProtected && c.Password == "":
			t.Fatal("a password-protected room without a password")
		case c.MaxHistoryFetch < 0:
			t.Fatalf("history fetch %d", c.MaxHistoryFetch)
		}
		for _, text := range []string{c.Name, c.Desc, c.Lang, c.Password} {
			if len(text) > maxText || !utf8.ValidString(text) {
				t.Fatalf("text field %q", text)
			}
		}
		for _, j := range append(ch.owners, ch.admins...) {
			if !j.IsBare() {
				t.Fatalf("affiliation list with %s, not a bare JID", j)
			}
		}
		back, err := dataform.Parse(c.form(room, nil, nil, maxUsers))
		if err != nil {
			t.Fatalf("the configuration form does not parse: %v", err)
		}
		again := s.defaultConfig()
		if _, err := again.apply(back, maxUsers); err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("from its own form, %+v comes back as %+v (%v)", c, again, err)
		}
		stored, err := s.decodeConfig(c.encode())
		if err != nil || !reflect.DeepEqual(stored, c) {
			t.Fatalf("from storage, %+v comes back as %+v (%v)", c, stored, err)
		}
	})
}
