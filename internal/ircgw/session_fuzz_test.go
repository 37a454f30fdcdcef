package ircgw

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"samtal.org/samtal/internal/im"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/mam"
	"samtal.org/samtal/internal/muc"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

// Bounds of what one fuzzed script may cause. A command is answered
// with at most a few hundred bytes (CAP LS and ISUPPORT are the
// longest), and sends at most a few stanzas of its own size, so both
// grow with the script; anything beyond is a loop.
const (
	fuzzScriptMax  = 16 << 10
	fuzzPerByte    = 128
	fuzzSlack      = 64 << 10
	fuzzServeLimit = 10 * time.Second
)

// fuzzChunkEnd ends a chunk of a fuzzed script (one client write): a
// byte that UTF-8 text never holds, so that a line can arrive in pieces.
const fuzzChunkEnd = 0xff

// FuzzSession feeds arbitrary client lines to one IRC connection of a
// gateway that runs on the server's own parts: a real router, IM core,
// personal archive and group chat service on SQLite, with bob, an XMPP
// contact of alice's who owns #room, stays in it and joins the channels
// he is invited to. The lines are what IRC clients send — capability
// negotiation, SASL and PASS, channels, messages, modes, history — in
// any order, cut anywhere and malformed.
//
// Nothing may panic, in the gateway or behind it; the connection must
// end when its input does; every line it writes must be one well-formed
// IRC line (checkLines: it parses, with the limits of RFC 1459 and
// message-tags, serializes back to the same bytes and has as many
// parameters as its command or numeric takes, so that no parameter lost
// its place), with one welcome at most and nothing after ERROR; what it
// writes and sends into the server is bounded by the script's size; and
// once it ended nothing of it is left: no tracked connection, no IRC
// user, no bound resource, no occupant in any room. No name is cut to
// fit a line (cutName).
//
// Two users of another domain, juliet and romeo, whose nicks and room
// nicks are too long for some or all IRC lines, are in #room too, join
// the channels juliet is invited to, and answer messages that begin
// with their names with messages, nick changes, away, quits, subjects
// and invitations (peer.act): their lines must fit as well.
func FuzzSession(f *testing.F) {
	// cut ends a client's write (see scriptConn).
	const cut = "\xff"
	good := plain("alice", "secret")
	long := plain("alice", strings.Repeat("p", 293)) // 400 bytes of base64: a chunk, then "+"
	longer := plain("alice@example.org", strings.Repeat("w", 320))
	lines := func(ls ...string) string { return strings.Join(ls, "\r\n") + "\r\n" }
	irssi := lines("CAP LS 302", "NICK alice", "USER alice alice localhost :Alice")
	login := lines("CAP REQ :multi-prefix sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE "+good, "CAP END")
	pass := lines("PASS alice:secret", "NICK alice", "USER alice 0 * :Alice")
	for _, seed := range []string{
		// irssi: SASL, a channel, its modes and members, and QUIT.
		irssi + cut + login + cut + lines("MODE alice +i", "JOIN #room", "MODE #room", "WHO #room", "PRIVMSG #room :hello",
			"PRIVMSG #room :\x01ACTION waves\x01", "PART #room :bye", "QUIT :leaving"),
		// WeeChat asks for more than there is, then for what there is.
		lines("CAP LS 302", "NICK alice", "USER alice 0 * :WeeChat", "CAP REQ :account-notify away-notify chghost extended-join invite-notify",
			"CAP REQ :away-notify extended-join multi-prefix server-time userhost-in-names message-tags sasl", "AUTHENTICATE PLAIN") +
			cut + lines("AUTHENTICATE "+good) + cut + lines("CAP END", "JOIN #room,#weechat", "NAMES #room", "TOPIC #room",
			"TOPIC #weechat :a new topic", "MODE #weechat +b", "AWAY :lunch", "AWAY", "PING :LAG1234", "WHOIS bob"),
		// KiwiIRC (irc-framework): labels, echoes, batches and history.
		lines("CAP LS 302", "NICK alice", "USER kiwi 0 * :https://kiwiirc.com/",
			"CAP REQ :batch cap-notify draft/chathistory echo-message labeled-response message-tags server-time sasl",
			"AUTHENTICATE PLAIN", "AUTHENTICATE "+good, "CAP END", "@label=j1 JOIN #room", "CHATHISTORY LATEST #room * 50",
			"@label=m1 PRIVMSG #room :hi all", "@+typing=active TAGMSG #room", "@+draft/react=👍;+draft/reply=abc TAGMSG #room",
			"@label=p1 PRIVMSG bob :hello", "CHATHISTORY LATEST bob * 10", "CHATHISTORY TARGETS timestamp=2020-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10",
			"CHATHISTORY BEFORE #room timestamp=2100-01-01T00:00:00.000Z 5", "CHATHISTORY AROUND bob msgid=nothing 4", "@label=q QUIT"),
		// A channel of one's own: modes, kicks, invitations, keys.
		pass + lines("JOIN #mine,#keyed ,sesame", "MODE #mine +mk-s key", "MODE #mine +l 10", "MODE #mine -l", "MODE #mine +o Bob|20|Smith",
			"MODE #mine +v alice", "MODE #mine +b bob", "MODE #mine -b bob!*@*", "MODE #mine b", "INVITE bob #mine",
			"KICK #mine Bob|20|Smith :go", "KICK #mine,#x alice", "TOPIC #mine :", "JOIN 0", "JOIN #keyed"),
		// Someone else's channel: what a participant may not do.
		pass + lines("JOIN #room", "KICK #room Bob|20|Smith :no", "MODE #room +m", "MODE #room -o Bob|20|Smith", "TOPIC #room :mine",
			"NOTICE #room :note", "PRIVMSG Bob|20|Smith :hi", "NOTICE bob :hi", "PRIVMSG bob :\x01VERSION\x01", "PRIVMSG #room :\x01PING 1\x01"),
		// Someone else in one's own channel: bob accepts invitations.
		pass + lines("CAP REQ :multi-prefix extended-join away-notify userhost-in-names", "JOIN #mine", "INVITE bob #mine", "LIST #mine",
			"NAMES #mine", "MODE #mine +v Bob|20|Smith", "MODE #mine +m", "MODE #mine -v Bob|20|Smith", "MODE #mine +o Bob|20|Smith",
			"WHO #mine", "MODE #mine -o Bob|20|Smith", "KICK #mine Bob|20|Smith :bye", "INVITE bob #mine", "TOPIC #mine",
			"MODE #mine +b Bob|20|Smith", "MODE #mine b", "INVITE bob #mine", "MODE #mine -b Bob|20|Smith!*@*"),
		// Presence of contacts.
		pass + lines("MONITOR + bob,carol,no|2e|body", "MONITOR L", "MONITOR S", "ISON bob alice", "USERHOST bob alice",
			"WHO alice %tnar,42", "WHO *", "WHOIS alice", "MONITOR - bob", "MONITOR C", "LIST", "LIST #room", "LUSERS",
			"VERSION", "TIME", "MOTD", "WHOWAS bob", "OPER a b"),
		// A multiline batch, a line of another batch, and a bad one.
		lines("CAP LS 302", "CAP REQ :batch draft/multiline echo-message message-tags labeled-response", "PASS :alice:secret",
			"NICK alice", "USER a 0 * :A", "CAP END", "JOIN #room",
			"@label=b1 BATCH +b1 draft/multiline #room", "@batch=b1 PRIVMSG #room :one", "@batch=b1 PRIVMSG #room :",
			"@batch=b1;draft/multiline-concat PRIVMSG #room :two", "BATCH -b1",
			"BATCH +b2 draft/multiline bob", "@batch=b3 PRIVMSG bob :x", "BATCH -b2", "BATCH +b4 other", "BATCH -b4", "BATCH x"),
		// SASL in 400-byte chunks, with a right and a wrong password.
		lines("CAP LS", "CAP REQ sasl", "NICK alice", "USER a 0 * :A", "AUTHENTICATE PLAIN", "AUTHENTICATE "+long[:400],
			"AUTHENTICATE +", "AUTHENTICATE PLAIN", "AUTHENTICATE "+longer[:400], "AUTHENTICATE "+longer[400:],
			"AUTHENTICATE SCRAM-SHA-256", "AUTHENTICATE *", "AUTHENTICATE PLAIN", "AUTHENTICATE "+good, "CAP END", "JOIN #room"),
		// Three wrong passwords end the connection.
		lines("CAP LS 302", "NICK alice", "USER a 0 * :A", "CAP REQ :sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE "+plain("alice", "x"),
			"AUTHENTICATE FOO", "AUTHENTICATE PLAIN", "AUTHENTICATE =", "AUTHENTICATE PLAIN", "AUTHENTICATE "+plain("bob", "secret"), "CAP END"),
		lines("PASS alice:wrong", "NICK alice", "USER a 0 * :A", "JOIN #room"),
		lines("NICK stranger", "USER s 0 * :S"),
		// Commands before registration, then registration in pieces.
		lines("JOIN #room", "PRIVMSG bob :early", "PING x", "PONG x", "NICK", "NICK 9lives", "NICK :a b", "USER a", "CAP FOO", "CAP LIST") +
			"PASS alice:sec" + cut + "ret\r\nNICK al" + cut + "ice\r\nUSER a 0 * :A\r\n" + cut + "JOIN #ro" + cut + "om\r\nPRIVMSG #room :x",
		// Tags, overlong lines, NUL and CR, bad UTF-8, odd endings.
		pass + "@+t=" + strings.Repeat("x", 4100) + " TAGMSG bob\r\n" + "PRIVMSG bob :" + strings.Repeat("y", 600) + "\r\n" +
			"PRIVMSG bob :" + strings.Repeat("z", ircmsg.MaxLine+10) + "\r\n" + "PRIVMSG bob :a\x00b\r\nPRIVMSG bob :a\rb\r\n" +
			"PRIVMSG bob :\xc3\x28\r\n@a=\xfe PING x\r\n\r\n\n  \nFROB x\r\n:src PING y\n@ PING z\r\nPING",
		// A channel left behind: the input ends without PART or QUIT.
		pass + lines("JOIN #room,#left", "AWAY :gone"),
		pass + lines("JOIN #a,#b,#c,#d,#e,#f,#g,#h", "PART #a,#b,#nowhere,nochannel", "JOIN #a|zz", "JOIN 0"),
	} {
		f.Add([]byte(seed))
	}

	fs := newFuzzStack(f)
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > fuzzScriptMax {
			return
		}
		out, sent := fs.run(t, script)
		limit := fuzzPerByte*len(script) + fuzzSlack
		if len(out) > limit {
			t.Fatalf("the gateway wrote %d bytes for %d", len(out), len(script))
		}
		if sent > limit {
			t.Fatalf("the gateway sent %d bytes of stanzas for %d", sent, len(script))
		}
		checkLines(t, out)
	})
}

// TestModeLineLength checks that the MODE line telling of a mode change
// fits in an IRC line whatever its arguments: bans of long addresses in
// a channel with a long name take a line each rather than one line the
// client cannot read, and a key may be at most KEYLEN bytes, so that it
// is never cut.
func TestModeLineLength(t *testing.T) {
	fs := newFuzzStack(t)
	ch := "#" + strings.Repeat("c", 199)
	m1 := "*!" + strings.Repeat("u", 130) + "@remote.example"
	m2 := "*!" + strings.Repeat("v", 130) + "@remote.example"
	key := strings.Repeat("k", keyLen)
	out, _ := fs.run(t, []byte(strings.Join([]string{
		"PASS alice:secret", "NICK alice", "USER a 0 * :A", "JOIN " + ch,
		"MODE " + ch + " +bb " + m1 + " " + m2,
		"MODE " + ch + " +kl " + key + "k 10",
		"MODE " + ch + " +kl " + key + " 10",
	}, "\r\n")))
	checkLines(t, out)
	for _, want := range []string{
		":alice!a@example.org MODE " + ch + " +b " + m1 + "\r\n",
		":alice!a@example.org MODE " + ch + " +b " + m2 + "\r\n",
		":example.org 525 alice " + ch + " :Key is not well-formed\r\n",
		":alice!a@example.org MODE " + ch + " +l 10\r\n",
		":alice!a@example.org MODE " + ch + " +kl " + key + " 10\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q in\n%s", want, out)
		}
	}
}

// TestLongBanMask checks that a ban mask is never cut, which would name
// someone else: a change whose MODE line cannot hold the mask whole is
// refused with ERR_INVALIDMODEPARAM before it is made, for +b as for
// -b; a mask that fits is told whole; and the ban list leaves out a
// mask too long for its RPL_BANLIST line (an outcast set from XMPP),
// saying so at its end.
func TestLongBanMask(t *testing.T) {
	fs := newFuzzStack(t)
	c := connect(t, fs.svc)
	c.send("PASS :alice:secret", "NICK alice", "USER a 0 * :A", "JOIN #c")
	c.expect(" 366 alice #c ")
	// mask is *!uuu…@remote.example of n bytes. The MODE line
	// ":alice!a@example.org MODE #c +b <mask>" CR LF holds 478 of them.
	mask := func(n int) string {
		return "*!" + strings.Repeat("u", n-len("*!@remote.example")) + "@remote.example"
	}
	fits, over := mask(478), mask(479)
	// exactly reads the next line with part and checks all of it.
	exactly := func(part, want string) {
		t.Helper()
		if l := c.expect(part); l != want {
			t.Errorf("got %q, want %q", l, want)
		}
	}
	c.send("MODE #c +b " + fits)
	exactly(" MODE ", ":alice!a@example.org MODE #c +b "+fits)
	c.send("MODE #c +b " + over)
	exactly(" 696 ", ":example.org 696 alice #c b * :Ban mask too long for an IRC line")

	// An outcast whose mask (499 bytes) is too long for RPL_BANLIST.
	long := jid.MustParse("x@" + strings.Repeat(strings.Repeat("d", 60)+".", 8) + "example")
	c.sess.route(xmlel.New("", stanza.IQ, "type", "set", "to", "c@conference.example.org").Append(
		xmlel.New(nsMUCAdmin, "query").Append(xmlel.New(nsMUCAdmin, "item", "jid", long.String(), "affiliation", "outcast"))))
	// banList returns the RPL_BANLIST lines and the text of
	// RPL_ENDOFBANLIST.
	banList := func() (bans []string, end string) {
		t.Helper()
		c.send("MODE #c b")
		for {
			l := c.expect(" #c ")
			if _, end, ok := strings.Cut(l, " 368 alice #c :"); ok {
				return bans, end
			}
			bans = append(bans, l)
		}
	}
	// The room takes the outcast in a moment.
	bans, end := banList()
	for i := 0; i < 100 && end == "End of channel ban list"; i++ {
		time.Sleep(10 * time.Millisecond)
		bans, end = banList()
	}
	if len(bans) != 1 || bans[0] != ":example.org 367 alice #c "+fits || end != "End of channel ban list (1 not shown: too long for an IRC line)" {
		t.Errorf("the ban list is %q, then %q; want the mask that fits, then a word of the one left out", bans, end)
	}

	c.send("MODE #c -b " + over)
	exactly(" 696 ", ":example.org 696 alice #c b * :Ban mask too long for an IRC line")
	c.send("MODE #c -b " + fits)
	exactly(" MODE ", ":alice!a@example.org MODE #c -b "+fits)
	c.send("QUIT")
	c.expect("ERROR")
}

// TestConfigNotice checks that a change of a room's configuration by
// someone else reaches the IRC client as MODE: the room's notice
// (XEP-0045 §10.2.1) is a groupchat message with status 104.
func TestConfigNotice(t *testing.T) {
	fs := newFuzzStack(t)
	c := connect(t, fs.svc)
	c.send("PASS :alice:secret", "NICK alice", "USER a 0 * :A", "JOIN #room", "MODE #room")
	c.expect(" 324 alice #room +n")
	configure := func(field, value string) {
		form := xmlel.New("jabber:x:data", "x", "type", "submit").Append(
			xmlel.New("jabber:x:data", "field", "var", "FORM_TYPE").Append(xmlel.TextElement("jabber:x:data", "value", "http://jabber.org/protocol/muc#roomconfig")),
			xmlel.New("jabber:x:data", "field", "var", field).Append(xmlel.TextElement("jabber:x:data", "value", value)))
		fs.bob.send(xmlel.New("", stanza.IQ, "type", "set", "id", "c", "to", bobsRoom).Append(xmlel.New(nsMUCOwner, "query").Append(form)))
	}
	configure("muc#roomconfig_moderatedroom", "1")
	c.expect(":example.org MODE #room +m")
	configure("muc#roomconfig_moderatedroom", "0")
	c.expect(":example.org MODE #room -m")
	c.send("QUIT")
	c.expect("ERROR")
}

// checkLines fails unless out is a sequence of well-formed IRC lines,
// each ending in CR LF: it parses (which checks the limits of RFC 1459
// and message-tags, UTF-8, and that no NUL or CR is inside), and writing
// what was parsed gives the same bytes back, so that no parameter was
// empty, held a space or began with ':' where it would move the others.
// The welcome comes once at most, and ERROR, which ends the link (RFC
// 2812 §3.7.4), comes last.
func checkLines(t *testing.T, out string) {
	t.Helper()
	if out != "" && !strings.HasSuffix(out, "\n") {
		t.Fatalf("the output ends within a line: %q", out[max(len(out)-200, 0):])
	}
	welcomed, closed := false, ""
	for l := range strings.Lines(out) {
		if closed != "" {
			t.Fatalf("%q after %q", l, closed)
		}
		line, ok := strings.CutSuffix(l, "\r\n")
		if !ok {
			t.Fatalf("a line does not end with CR LF: %q", l)
		}
		m, err := ircmsg.Parse(line)
		if err != nil {
			t.Fatalf("the gateway wrote a line that does not parse (%v): %q", err, line)
		}
		if again := string(m.Append(nil)); again != l {
			t.Fatalf("the gateway wrote %q, which reads as %q", l, again)
		}
		if n, ok := lineShapes[m.Command]; ok && (len(m.Params) < n[0] || len(m.Params) > n[1]) {
			t.Fatalf("%s has %d parameters, want %d to %d: %q", m.Command, len(m.Params), n[0], n[1], line)
		}
		if _, batched := m.Tag("batch"); (m.Command == "PRIVMSG" || m.Command == "NOTICE") && m.Param(1) == "" && !batched {
			// Only a multiline batch has blank lines: this one's text
			// was cut away, its source leaving it no room.
			t.Fatalf("%s without text: %q", m.Command, line)
		}
		switch m.Command {
		case rplWelcome:
			if welcomed {
				t.Fatalf("a second welcome: %q", line)
			}
			welcomed = true
		case "ERROR":
			closed = line
		}
	}
}

// lineShapes are the fewest and most parameters of the lines the
// gateway writes, the client's nick of a numeric included (RFC 2812 §3
// and §5, the Modern IRC Client Protocol, IRCv3). A client takes the
// parameters by position: a name from the client's line that was empty,
// began with ':' or held a space would move the others, and the count
// shows it. Lines whose count varies (ISUPPORT, modes, WHOX, batches,
// standard replies) are left out.
var lineShapes = map[string][2]int{
	"001": {2, 2}, "002": {2, 2}, "003": {2, 2}, "004": {5, 6}, "221": {2, 2},
	"251": {2, 2}, "255": {2, 2}, "265": {2, 4}, "266": {2, 4},
	"301": {3, 3}, "302": {2, 2}, "303": {2, 2}, "305": {2, 2}, "306": {2, 2},
	"311": {6, 6}, "312": {4, 4}, "315": {3, 3}, "318": {3, 3}, "322": {4, 4}, "323": {2, 2},
	"329": {3, 3}, "330": {4, 4}, "331": {3, 3}, "332": {3, 3}, "333": {4, 4}, "341": {3, 3},
	"351": {4, 4}, "352": {8, 8}, "353": {4, 4}, "366": {3, 3}, "367": {3, 5}, "368": {3, 3}, "369": {3, 3},
	"372": {2, 2}, "375": {2, 2}, "376": {2, 2}, "391": {3, 3},
	"401": {3, 3}, "403": {3, 3}, "404": {3, 3}, "405": {3, 3}, "406": {3, 3}, "410": {3, 3},
	"411": {2, 2}, "412": {2, 2}, "417": {2, 2}, "421": {3, 3}, "422": {2, 2},
	"431": {2, 2}, "432": {3, 3}, "433": {3, 3}, "441": {4, 4}, "442": {3, 3}, "443": {4, 4},
	"451": {2, 2}, "461": {3, 3}, "462": {2, 2}, "464": {2, 2}, "465": {2, 2},
	"471": {3, 3}, "472": {3, 3}, "473": {3, 3}, "474": {3, 3}, "475": {3, 3}, "482": {3, 3},
	"491": {2, 2}, "501": {2, 2}, "502": {2, 2}, "525": {3, 3}, "696": {5, 5},
	"730": {2, 2}, "731": {2, 2}, "732": {2, 2}, "733": {2, 2}, "734": {4, 4},
	"900": {4, 4}, "903": {2, 2}, "904": {2, 2}, "905": {2, 2}, "906": {2, 2}, "907": {2, 2}, "908": {3, 3},
	"JOIN": {1, 3}, "PART": {1, 2}, "KICK": {3, 3}, "TOPIC": {2, 2}, "NICK": {1, 1}, "QUIT": {1, 1},
	"PRIVMSG": {2, 2}, "NOTICE": {2, 2}, "TAGMSG": {1, 1}, "AWAY": {0, 1}, "INVITE": {2, 2},
	"PING": {1, 1}, "PONG": {2, 2}, "ERROR": {1, 1}, "CAP": {3, 4}, "AUTHENTICATE": {1, 1}, "ACK": {0, 0},
}

// fuzzStack is a gateway on the server's own parts (see FuzzSession),
// kept for the whole run.
type fuzzStack struct {
	svc    *Service
	rt     *router.Router
	core   *countingCore
	rooms  *occupancy
	logged *xmpptest.Logs
	alice  jid.JID
	bob    *peer
	peers  []*peer // bob, juliet and romeo
}

func newFuzzStack(tb testing.TB) *fuzzStack {
	tb.Helper()
	ctx := context.Background()
	// The run fails when the gateway or a room logs a recovered panic,
	// or the gateway a name it had to cut (cutName): a connection's
	// panic ends only that connection, which is right for a server and
	// would hide the bug from the fuzzer, and a cut name is a line that
	// still parses.
	logged := &xmpptest.Logs{Match: func(text string) bool {
		return strings.Contains(text, "panic") || strings.Contains(text, cutName)
	}}
	log := slog.New(logged)
	store, err := sqlite.Open(ctx, tb.TempDir()+"/samtal.db", sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	alice, bob := jid.MustParse("alice@example.org"), jid.MustParse("bob@example.org")
	for _, u := range []jid.JID{alice, bob} {
		if err := store.Accounts().Create(ctx, storage.Account{User: u.String()}); err != nil {
			tb.Fatal(err)
		}
	}
	// alice and bob share their presence (RFC 6121 §3): MONITOR, ISON
	// and WHOIS have someone to see.
	for _, p := range [][2]jid.JID{{alice, bob}, {bob, alice}} {
		if _, err := store.Roster().Put(ctx, p[0].String(), storage.RosterItem{Contact: p[1].String(), Subscription: storage.SubBoth}, 0); err != nil {
			tb.Fatal(err)
		}
	}

	// Wired as the server wires them (internal/server).
	rt := router.New([]string{"example.org"})
	mux := iq.NewMux(log)
	core := im.New(im.Config{RosterItems: 100, OfflineMessages: 100}, rt, store, mux, log)
	rt.SetLocal(core)
	tb.Cleanup(core.Close)
	archive := mam.New(mam.Config{Default: storage.ArchiveAlways, DefaultPage: 50, MaxPage: 100, MaxPageBytes: 1 << 19, Retention: time.Hour},
		store.Archive(), store.Roster(), rt, mux, log)
	core.AddHooks(im.Hooks{
		MessageSent: archive.MessageSent, MessageArrived: archive.MessageArrived, RawMessage: archive.RawMessage,
		PresenceSent: archive.PresenceSent, OfflineMessage: archive.OfflineMessage, SessionEnded: archive.SessionEnded,
	})
	core.AddHooks(im.Hooks{MessageSent: archive.AfterSent, RawMessage: archive.RawAfterSent})
	rooms := &occupancy{rt: rt, in: make(map[[2]jid.JID]bool)}
	mucSvc, err := muc.New(muc.Config{
		Domain: "conference.example.org", MaxRoomsPerUser: 20, DefaultOccupants: 50, MaxOccupants: 100,
		HistoryDefault: 20, HistoryMax: 50, ArchiveDefault: true, ArchiveRetention: time.Hour, MaxPage: 50,
		MaxVCardBytes: 1 << 16, Secret: []byte("0123456789abcdef0123456789abcdef"),
		MayCreate: func(u jid.JID) bool { return rt.IsLocal(u.Domain()) },
	}, rooms, store.Rooms(), store.RoomArchive(), log)
	if err != nil {
		tb.Fatal(err)
	}
	rt.AddDomain("conference.example.org", mucSvc)
	tb.Cleanup(func() { mucSvc.Close(context.Background()) })

	// Few iterations: every input logs in again, with PLAIN, which
	// derives the keys.
	keys, err := sasl.DeriveKeys(sasl.SHA256, "secret", []byte("0123456789abcdef"), 16)
	if err != nil {
		tb.Fatal(err)
	}
	creds := testCreds{keys}
	fs := &fuzzStack{rt: rt, rooms: rooms, logged: logged, alice: alice, core: &countingCore{Core: core}}
	fs.svc = New(Config{
		Hosts: []string{"example.org"}, MUCDomain: func(string) string { return "conference.example.org" },
		MOTD: []string{"Welcome", ""}, Archive: true, DefaultOccupants: 50,
		// Fast enough that no fuzzed input waits for its turn: the
		// flood limit is TestFlood's.
		LineRate:    1 << 20,
		AuthTimeout: time.Minute, IdleTimeout: time.Minute, OutQueueBytes: 1 << 22,
		MaxChannels: 8, MaxHistory: 30,
		FakeSecret: []byte("fake secret of sixteen bytes or more"), SCRAMIterations: 16,
	}, rt, creds, creds, fs.core, log)
	tb.Cleanup(func() { fs.svc.Close(context.Background()) })

	fs.startBob(tb, ctx, core)
	fs.startRemotes(tb)
	if p := logged.Take(); len(p) > 0 {
		tb.Fatalf("setting up panicked: %v", p)
	}
	return fs
}

// startBob binds bob's XMPP client, away, and makes him the owner of
// #room, a persistent and archived room with a subject, which shows its
// occupants' addresses, and in which he stays. His nick needs escaping
// on IRC (Bob|20|Smith).
func (fs *fuzzStack) startBob(tb testing.TB, ctx context.Context, core *im.Service) {
	tb.Helper()
	p := newPeer(jid.MustParse("bob@example.org/phone"), bobsNick)
	fs.bob = p
	fs.peers = append(fs.peers, p)
	if _, err := fs.rt.Bind(p, false, 0); err != nil {
		tb.Fatal(err)
	}
	p.send = func(el *xmlel.Element) {
		el.SetAttr("from", p.j.String())
		st := &stanza.Stanza{El: el, From: p.j}
		if to := el.Attr("to"); to != "" {
			st.To = jid.MustParse(to)
		}
		core.Outbound(ctx, p, st)
	}
	send := p.send
	send(xmlel.New("", stanza.Presence).Append(xmlel.TextElement("", "show", "away"), xmlel.TextElement("", "status", "on the phone")))
	room := bobsRoom
	send(xmlel.New("", stanza.Presence, "to", room+"/"+bobsNick).Append(xmlel.New(nsMUC, "x")))
	p.await(tb, "bob's self-presence in #room", func(el *xmlel.Element) bool {
		x := el.Child(nsMUCUser, "x")
		return el.Local == stanza.Presence && x != nil && hasStatus(x, "110")
	})
	form := xmlel.New("jabber:x:data", "x", "type", "submit").Append(
		xmlel.New("jabber:x:data", "field", "var", "FORM_TYPE").Append(xmlel.TextElement("jabber:x:data", "value", "http://jabber.org/protocol/muc#roomconfig")),
		xmlel.New("jabber:x:data", "field", "var", "muc#roomconfig_persistentroom").Append(xmlel.TextElement("jabber:x:data", "value", "1")),
		xmlel.New("jabber:x:data", "field", "var", "muc#roomconfig_publicroom").Append(xmlel.TextElement("jabber:x:data", "value", "1")),
		xmlel.New("jabber:x:data", "field", "var", "muc#roomconfig_changesubject").Append(xmlel.TextElement("jabber:x:data", "value", "1")),
		xmlel.New("jabber:x:data", "field", "var", "muc#roomconfig_whois").Append(xmlel.TextElement("jabber:x:data", "value", "anyone")))
	send(xmlel.New("", stanza.IQ, "type", "set", "id", "cfg", "to", room).Append(xmlel.New(nsMUCOwner, "query").Append(form)))
	p.await(tb, "the room's configuration result", func(el *xmlel.Element) bool {
		return el.Local == stanza.IQ && el.Attr("id") == "cfg" && el.Attr("type") == "result"
	})
	send(xmlel.New("", stanza.Message, "type", "groupchat", "to", room, "id", "subj").Append(xmlel.TextElement("", "subject", "Talk about rooms")))
	p.await(tb, "the room's subject", func(el *xmlel.Element) bool {
		return el.Local == stanza.Message && el.Child("", "subject") != nil
	})
	send(xmlel.New("", stanza.Message, "type", "groupchat", "to", room, "id", "m1").Append(xmlel.TextElement("", "body", "first\nsecond line")))
	p.await(tb, "the room's reflection", func(el *xmlel.Element) bool {
		return el.Local == stanza.Message && el.ChildText("", "body") != ""
	})
	p.mu.Lock()
	p.keep, p.got = false, nil // from now on bob hears and drops everything
	p.mu.Unlock()
}

// Users of other domains whose names do not fit in IRC lines as they
// are (sources.go): juliet's nick, her escaped bare JID (273 bytes),
// fits in a line with her domain (251 bytes) shown by its stand-in,
// not with the domain itself; romeo's (528 bytes) fits in none, nor
// does his room nick in any channel. Juliet's other nicks are long, so
// that a change from one to the other is too long for a NICK line.
var (
	juliet = jid.MustParse("juliet@" + strings.Repeat(strings.Repeat("j", 60)+".", 4) + "example/balcony")
	romeo  = jid.MustParse("romeo@" + strings.Repeat(strings.Repeat("r", 60)+".", 8) + "example/verona")

	julietsNicks = []string{"Juliet", "Juliet" + strings.Repeat(".", 60), "Juliet" + strings.Repeat(",", 60)}
	romeosNicks  = []string{strings.Repeat(".", 120), "Romeo"}
)

// startRemotes makes juliet and romeo, users of other domains, occupants
// of #room (as federation would: their stanzas come in through the
// router, and the router hands it what goes to their domains). They
// stay there, join together the rooms juliet is invited to, and answer
// to their names (peer.act).
func (fs *fuzzStack) startRemotes(tb testing.TB) {
	tb.Helper()
	remote := map[string]*peer{}
	fs.rt.SetRemote(router.HandlerFunc(func(_ context.Context, st *stanza.Stanza) {
		if p := remote[st.To.Bare().String()]; p != nil {
			p.Send(st.El)
		}
	}))
	j := newPeer(juliet, julietsNicks...)
	r := newPeer(romeo, romeosNicks...)
	j.with = []*peer{r}
	for _, p := range []*peer{j, r} {
		p.name, p.to = p.j.Local(), fs.alice
		p.send = func(el *xmlel.Element) {
			el.SetAttr("from", p.j.String())
			st := &stanza.Stanza{El: el, From: p.j}
			if to := el.Attr("to"); to != "" {
				st.To = jid.MustParse(to)
			}
			fs.rt.Route(context.Background(), st)
		}
		remote[p.j.Bare().String()] = p
		fs.peers = append(fs.peers, p)
		p.send(enter(bobsRoom, p.nicks[0]))
		p.await(tb, p.name+"'s self-presence in #room", func(el *xmlel.Element) bool {
			x := el.Child(nsMUCUser, "x")
			return el.Local == stanza.Presence && x != nil && hasStatus(x, "110")
		})
		p.mu.Lock()
		p.keep, p.got = false, nil
		p.mu.Unlock()
	}
}

// run serves a connection that sends script, its chunks split at
// fuzzChunkEnd, and returns what the gateway wrote and the bytes of the
// stanzas it sent. The connection must end when the script does,
// without a panic, and leave nothing behind.
func (fs *fuzzStack) run(t *testing.T, script []byte) (string, int) {
	t.Helper()
	c := newScriptConn(script)
	fs.core.n.Store(0)
	sess := newSession(fs.svc, c, false, func() {})
	ended := make(chan struct{})
	go func() {
		sess.serve()
		close(ended)
	}()
	timer := time.NewTimer(fuzzServeLimit)
	defer timer.Stop()
	select {
	case <-timer.C:
		t.Fatalf("the connection did not end within %v of its input's end; it wrote:\n%s", fuzzServeLimit, c.written())
	case <-ended:
	}
	if p := fs.logged.Take(); p != nil {
		t.Fatalf("the connection panicked: %v", p)
	}
	fs.svc.mu.Lock()
	conns := len(fs.svc.conns)
	fs.svc.mu.Unlock()
	if conns != 0 {
		t.Fatalf("%d connections still tracked after the connection ended", conns)
	}
	if u := fs.svc.ircUsers(); len(u) != 0 {
		t.Fatalf("IRC users left after the connection ended: %v", u)
	}
	if res := fs.rt.Resources(fs.alice); len(res) != 0 {
		t.Fatalf("alice still has %d resources bound after the connection ended", len(res))
	}
	// The rooms learn that the resource left (its unavailable presence,
	// RFC 6121 §4.6.3) in their own goroutines: give them a moment.
	deadline := time.Now().Add(fuzzServeLimit)
	for {
		left := fs.rooms.of(sess.JID())
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the connection ended, %s is still in %v; it wrote:\n%s", sess.JID(), left, c.written())
		}
		time.Sleep(time.Millisecond)
	}
	fs.leave(t)
	if p := fs.logged.Take(); len(p) > 0 {
		t.Fatalf("the rooms panicked: %v", p)
	}
	return c.written(), int(fs.core.n.Load())
}

// occupancy is the group chat service's router: it passes everything
// on, and on the way notes who is in which room from the self-presence
// the rooms send their occupants (XEP-0045 §7.2.3 and §7.14: status
// 110, available or unavailable).
type occupancy struct {
	rt *router.Router
	mu sync.Mutex
	in map[[2]jid.JID]bool // {room, occupant's full JID}
}

func (o *occupancy) Route(ctx context.Context, st *stanza.Stanza) {
	if st.Kind() == stanza.Presence && st.Type() != "error" {
		if x := st.El.Child(nsMUCUser, "x"); x != nil && hasStatus(x, "110") {
			key := [2]jid.JID{st.From.Bare(), st.To}
			o.mu.Lock()
			if st.Type() == "unavailable" {
				delete(o.in, key)
			} else {
				o.in[key] = true
			}
			o.mu.Unlock()
		}
	}
	o.rt.Route(ctx, st)
}

// of returns the rooms a full JID is in.
func (o *occupancy) of(full jid.JID) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var rooms []string
	for k := range o.in {
		if k[1].Equal(full) {
			rooms = append(rooms, k[0].String())
		}
	}
	return rooms
}

// countingCore hands stanzas to the IM core and counts their bytes.
type countingCore struct {
	Core
	n atomic.Int64
}

func (c *countingCore) Outbound(ctx context.Context, s router.Session, st *stanza.Stanza) {
	c.n.Add(int64(len(st.El.String())))
	c.Core.Outbound(ctx, s, st)
}

// bob's room, which he owns and never leaves, and his nick in rooms.
const (
	bobsRoom = "room@conference.example.org"
	bobsNick = "Bob Smith"
)

// peer is an XMPP user's client: bob's, bound in the router, or a user
// of another domain's, whose stanzas come and go as through federation.
// It keeps what it is sent while keep is set, and after that drops it
// but for invitations to a room (XEP-0045 §7.8.2), which it accepts
// with the peers that come with it: the IRC client then has someone
// else in its channels, to see join, be given voice, kicked or banned.
// A peer with a name also answers a groupchat message that begins with
// its name (see act).
type peer struct {
	j     jid.JID
	send  func(*xmlel.Element) // as from its stream
	nicks []string             // its room nick, then those "nick" changes it to in turn
	name  string               // the word it answers to, "" for none
	to    jid.JID              // whom it writes to: alice
	with  []*peer              // who joins the rooms it is invited to with it
	wake  chan struct{}
	wg    sync.WaitGroup // joins and answers under way

	mu      sync.Mutex
	keep    bool
	got     []*xmlel.Element
	invited map[string]bool // rooms joined since leave
	nick    map[string]int  // by room, its nick there as an index in nicks
	away    map[string]bool // by room, when it is away there
}

func newPeer(j jid.JID, nicks ...string) *peer {
	return &peer{j: j, nicks: nicks, keep: true, wake: make(chan struct{}, 1),
		invited: make(map[string]bool), nick: make(map[string]int), away: make(map[string]bool)}
}

func (p *peer) JID() jid.JID                { return p.j }
func (p *peer) CloseWithError(stream.Error) {}
func (p *peer) Send(el *xmlel.Element) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.keep && el.Local == stanza.Message {
		room, err := jid.Parse(el.Attr("from"))
		if err != nil || room.Local() == "" {
			return
		}
		if x := el.Child(nsMUCUser, "x"); x != nil && x.Child(nsMUCUser, "invite") != nil {
			if room.String() == bobsRoom {
				return
			}
			// Not from Send, which the router may call with its locks
			// held.
			p.wg.Go(func() {
				for _, q := range append([]*peer{p}, p.with...) {
					q.join(room.String())
				}
			})
			return
		}
		words := strings.Fields(el.ChildText("", "body"))
		if p.name != "" && el.Attr("type") == "groupchat" && el.Child(nsDelay, "delay") == nil &&
			len(words) > 0 && strings.EqualFold(words[0], p.name) {
			verb := ""
			if len(words) > 1 {
				verb = strings.ToLower(words[1])
			}
			p.act(room.Bare().String(), verb)
		}
		return
	}
	if !p.keep {
		return
	}
	p.got = append(p.got, el.Copy())
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// join takes the peer into a room it was invited to, once.
func (p *peer) join(room string) {
	p.mu.Lock()
	if p.invited[room] {
		p.mu.Unlock()
		return
	}
	p.invited[room] = true
	p.mu.Unlock()
	p.send(enter(room, p.nicks[0]))
}

// enter is the presence that joins a room under a nick, without history.
func enter(room, nick string) *xmlel.Element {
	return xmlel.New("", stanza.Presence, "to", room+"/"+nick).Append(
		xmlel.New(nsMUC, "x").Append(xmlel.New(nsMUC, "history", "maxstanzas", "0")))
}

// act answers "<name> <verb>" said in a room: "nick" changes its nick
// there to the next of its nicks, "away" and "back" set its presence
// there, "quit" leaves as an IRC client's QUIT does and comes back,
// "topic" sets the subject, "invite" invites alice with a direct
// invitation (XEP-0249), and anything else is answered in the room
// (but in bob's, whose archive every input would fill), with a chat
// message to alice and a typing notification (XEP-0085). No answer
// begins with a peer's name. p.mu is held.
func (p *peer) act(room, verb string) {
	cur := room + "/" + p.nicks[p.nick[room]]
	var out []*xmlel.Element
	switch verb {
	case "nick":
		p.nick[room] = (p.nick[room] + 1) % len(p.nicks)
		out = append(out, xmlel.New("", stanza.Presence, "to", room+"/"+p.nicks[p.nick[room]]))
	case "away":
		p.away[room] = true
		out = append(out, xmlel.New("", stanza.Presence, "to", cur).Append(
			xmlel.TextElement("", "show", "away"), xmlel.TextElement("", "status", "out")))
	case "back":
		delete(p.away, room)
		out = append(out, xmlel.New("", stanza.Presence, "to", cur))
	case "quit":
		delete(p.away, room)
		out = append(out, xmlel.New("", stanza.Presence, "to", cur, "type", "unavailable").Append(
			xmlel.TextElement("", "status", "Quit: bye")), enter(room, p.nicks[p.nick[room]]))
	case "topic":
		out = append(out, xmlel.New("", stanza.Message, "type", "groupchat", "to", room).Append(
			xmlel.TextElement("", "subject", "set by "+p.name)))
	case "invite":
		out = append(out, xmlel.New("", stanza.Message, "to", p.to.String()).Append(
			xmlel.New(nsConfInv, "x", "jid", room)))
	default:
		if room != bobsRoom {
			out = append(out, xmlel.New("", stanza.Message, "type", "groupchat", "to", room).Append(
				xmlel.TextElement("", "body", "hi from "+p.name)))
		}
		out = append(out,
			xmlel.New("", stanza.Message, "type", "chat", "to", p.to.String()).Append(xmlel.TextElement("", "body", "hello from "+p.name)),
			xmlel.New("", stanza.Message, "type", "chat", "to", p.to.String()).Append(xmlel.New(nsChatStates, "composing")))
	}
	p.wg.Go(func() {
		for _, el := range out {
			p.send(el)
		}
	})
}

// leave takes the peers out of the rooms they were invited to, once the
// IRC client that invited them is gone, and back to their first nick
// and available in bob's room, so that the rooms end as its own do and
// nothing of one input is left for the next.
func (fs *fuzzStack) leave(t *testing.T) {
	t.Helper()
	for _, p := range fs.peers {
		p.wg.Wait()
	}
	for _, p := range fs.peers {
		p.mu.Lock()
		invited := p.invited
		p.invited = make(map[string]bool)
		nick, away := p.nick, p.away
		p.nick, p.away = make(map[string]int), make(map[string]bool)
		p.mu.Unlock()
		// After its join in each room's queue, if it is still there.
		for room := range invited {
			p.send(xmlel.New("", stanza.Presence, "to", room+"/"+p.nicks[nick[room]], "type", "unavailable"))
		}
		if nick[bobsRoom] != 0 || away[bobsRoom] {
			p.send(xmlel.New("", stanza.Presence, "to", bobsRoom+"/"+p.nicks[0]))
		}
	}
	deadline := time.Now().Add(fuzzServeLimit)
	for _, p := range fs.peers {
		for {
			in := fs.rooms.of(p.j)
			if len(in) == 1 && in[0] == bobsRoom {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not leave the rooms it was invited to: it is in %v", p.j, in)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// await waits until the peer was sent a stanza that matches.
func (p *peer) await(tb testing.TB, what string, match func(*xmlel.Element) bool) {
	tb.Helper()
	timeout := time.After(5 * time.Second)
	for {
		p.mu.Lock()
		for i, el := range p.got {
			if match(el) {
				p.got = p.got[i+1:]
				p.mu.Unlock()
				return
			}
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-timeout:
			tb.Fatalf("bob got no %s", what)
		}
	}
}

// scriptConn is a client connection whose bytes are written in advance,
// in chunks, as a client's writes: one read returns at most one chunk,
// and after the last the connection ends. What the gateway writes is
// kept. A client that sends its whole script without waiting for the
// answers is one the gateway must survive too. Its addresses and
// deadlines are those of a pipe that carries nothing.
type scriptConn struct {
	net.Conn
	chunks [][]byte
	mu     sync.Mutex
	out    []byte
}

func newScriptConn(script []byte) *scriptConn {
	c, _ := net.Pipe()
	return &scriptConn{Conn: c, chunks: bytes.Split(script, []byte{fuzzChunkEnd})}
}

func (c *scriptConn) Read(p []byte) (int, error) {
	for ; len(c.chunks) > 0; c.chunks = c.chunks[1:] {
		if n := copy(p, c.chunks[0]); n > 0 {
			c.chunks[0] = c.chunks[0][n:]
			return n, nil
		}
	}
	return 0, io.EOF
}

func (c *scriptConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, p...)
	return len(p), nil
}

// written is what the gateway wrote so far.
func (c *scriptConn) written() string {
	c.mu.Lock()
	out := string(c.out)
	c.mu.Unlock()
	return out
}
