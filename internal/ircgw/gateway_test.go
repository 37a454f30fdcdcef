package ircgw

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// testCreds holds one account, alice@example.org.
type testCreds struct{ keys sasl.Keys }

func (c testCreds) Keys(user string, h sasl.Hash) (sasl.Keys, error) {
	if user != "alice@example.org" || h != sasl.SHA256 {
		return sasl.Keys{}, sasl.ErrNoSuchUser
	}
	return c.keys, nil
}

func (c testCreds) Exists(_ context.Context, u jid.JID) (bool, error) {
	return u.String() == "alice@example.org" || u.String() == "bob@example.org", nil
}

func (c testCreds) Disabled(ctx context.Context, u jid.JID) (bool, error) {
	if ok, _ := c.Exists(ctx, u); !ok {
		return false, sasl.ErrNoSuchUser
	}
	return u.String() == "alice@example.org" && c.keys.Disabled, nil
}

// testCore records what sessions send.
type testCore struct {
	mu  sync.Mutex
	got []*stanza.Stanza
}

func (c *testCore) Outbound(_ context.Context, _ router.Session, st *stanza.Stanza) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, &stanza.Stanza{El: st.El.Copy(), From: st.From, To: st.To})
}

func (c *testCore) Ended(context.Context, router.Session, router.Resource) {}

func (c *testCore) sent() []*stanza.Stanza {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*stanza.Stanza(nil), c.got...)
}

type testClient struct {
	t     *testing.T
	c     net.Conn
	lines chan string
	sess  *Session
}

// dial starts a gateway session on one end of a pipe.
func dial(t *testing.T, guests bool) (*testClient, *Service, *router.Router, *testCore) {
	t.Helper()
	keys, err := sasl.DeriveKeys(sasl.SHA256, "secret", []byte("0123456789abcdef"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	r := router.New([]string{"example.org"})
	core := &testCore{}
	creds := testCreds{keys}
	svc := New(Config{
		Hosts: []string{"example.org"}, MUCDomain: func(string) string { return "conference.example.org" },
		Guests: guests, LineRate: 1000, AuthTimeout: 5 * time.Second, MaxChannels: 7, MaxHistory: 30,
		FakeSecret: []byte("fake secret of sixteen bytes or more"),
	}, r, creds, creds, core, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { svc.Close(context.Background()) })
	return connect(t, svc), svc, r, core
}

// connect starts a session of svc on one end of a pipe, closed when the
// test ends.
func connect(t *testing.T, svc *Service) *testClient {
	t.Helper()
	srv, cli := net.Pipe()
	sess := newSession(svc, srv, false, func() {})
	go sess.serve()
	tc := &testClient{t: t, c: cli, lines: make(chan string, 1000), sess: sess}
	go func() {
		br := bufio.NewReader(cli)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				close(tc.lines)
				return
			}
			tc.lines <- strings.TrimRight(l, "\r\n")
		}
	}()
	t.Cleanup(func() { cli.Close() })
	return tc
}

func (c *testClient) send(lines ...string) {
	c.t.Helper()
	for _, l := range lines {
		_ = c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c.c, l+"\r\n"); err != nil {
			c.t.Fatalf("write %q: %v", l, err)
		}
	}
}

// expect reads lines until one contains every part; it fails when one
// line contains a part of notBefore first.
func (c *testClient) expect(parts ...string) string {
	c.t.Helper()
	var seen []string
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("connection closed waiting for %q; read %q", parts, seen)
			}
			seen = append(seen, l)
			match := true
			for _, p := range parts {
				if !strings.Contains(l, p) {
					match = false
				}
			}
			if match {
				return l
			}
		case <-timeout:
			c.t.Fatalf("no line with %q; read %q", parts, seen)
		}
	}
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func TestRegistration(t *testing.T) {
	c, _, r, core := dial(t, false)
	c.send("CAP LS 302")
	ls := c.expect("CAP * LS")
	for _, want := range []string{"sasl=PLAIN,SCRAM-SHA-256,SCRAM-SHA-1", "draft/chathistory", "labeled-response", "echo-message"} {
		if !strings.Contains(ls, want) {
			t.Errorf("CAP LS = %q, want %s in it", ls, want)
		}
	}
	c.send("JOIN #x")
	c.expect(":example.org 451 * :You have not registered")
	c.send("NICK 9lives")
	c.expect(" 432 * 9lives ")
	c.send("NICK Alice", "USER al 0 * :Alice Liddell", "CAP REQ :sasl bogus")
	c.expect("CAP Alice NAK :sasl bogus")
	c.send("CAP REQ :sasl server-time message-tags echo-message")
	c.expect("CAP Alice ACK :sasl server-time message-tags echo-message")
	c.send("AUTHENTICATE PLAIN")
	c.expect("AUTHENTICATE +")
	c.send("AUTHENTICATE " + plain("alice", "wrong"))
	c.expect(" 904 Alice ")
	c.send("AUTHENTICATE PLAIN")
	c.expect("AUTHENTICATE +")
	c.send("AUTHENTICATE " + plain("alice@example.org", "secret"))
	c.expect(" 900 Alice alice!al@example.org alice ")
	c.expect(" 903 ")
	c.send("AUTHENTICATE PLAIN")
	c.expect(" 907 ")
	c.send("CAP END")
	c.expect(":example.org 001 Alice :Welcome")
	isupport := c.expect(" 005 Alice ") + c.expect(" 005 Alice ")
	for _, token := range []string{" CHANLIMIT=#:7 ", " CHATHISTORY=30 ", " CASEMAPPING=ascii ", " PREFIX=(ov)@+ ", " UTF8ONLY "} {
		if !strings.Contains(isupport, token) {
			t.Errorf("ISUPPORT = %q, want %s", isupport, token)
		}
	}
	c.expect(" 422 Alice ")
	if res := r.Resources(jid.MustParse("alice@example.org")); len(res) != 1 || !strings.HasPrefix(res[0].Session.JID().Resource(), "irc-") {
		t.Fatalf("resources of alice = %v, want one irc-… resource", res)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(core.sent()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := core.sent(); len(got) == 0 || got[0].Kind() != stanza.Presence || !got[0].To.IsZero() {
		t.Fatalf("first stanza = %v, want initial presence", got)
	}

	tests := []struct{ in, want string }{
		{"PING :tok", "PONG example.org tok"},
		{"FROB x", " 421 Alice FROB "},
		{"PRIVMSG", " 411 Alice "},
		{"PRIVMSG bob", " 412 Alice "},
		{"PRIVMSG bob :\xff", "FAIL PRIVMSG INVALID_UTF8"},
		{"PRIVMSG bob :" + strings.Repeat("x", 600), " 417 Alice "},
		{"@+t=" + strings.Repeat("x", 4100) + " TAGMSG bob", " 417 Alice "},
		{"JOIN #a|zz", " 403 Alice #a|zz "},
		{"JOIN nochannel", " 403 Alice nochannel "},
		{"KICK", " 461 Alice KICK "},
		{"NICK someone.else", " 432 Alice someone.else "},
		{"NICK alice", "PONG"}, // same nick, other case: nothing to say
		{"MODE Alice", " 221 Alice +i"},
		{"USER a 0 * :b", " 462 Alice "},
		{"PRIVMSG no|2E|body :hi", " 401 Alice no|2E|body "},
		{"WHO alice %tnar,42", " 354 Alice 42 Alice alice :Alice Liddell"},
		{"WHO alice", " 352 Alice * al example.org example.org Alice H :0 Alice Liddell"},
	}
	for _, tc := range tests {
		c.send(tc.in)
		if tc.want == "PONG" {
			c.send("PING :sync")
		}
		c.expect(tc.want)
	}

	// A chat message for the resource is a PRIVMSG with its tags.
	msg := xmlel.New("", stanza.Message, "type", "chat", "from", "bob@example.org/phone", "to", c.sess.JID().String()).
		Append(xmlel.TextElement("", "body", "hello\nworld"),
			xmlel.New(nsStanzaID, "stanza-id", "by", "alice@example.org", "id", "arch-1"))
	c.sess.Send(msg)
	l := c.expect(":bob!bob@example.org PRIVMSG Alice hello")
	for _, tag := range []string{"msgid=arch-1", "time="} {
		if !strings.Contains(l, tag) {
			t.Errorf("PRIVMSG = %q, want tag %s", l, tag)
		}
	}
	c.expect(":bob!bob@example.org PRIVMSG Alice world", "msgid=arch-1-b")

	// PRIVMSG to a nick is a chat message to the account.
	c.send("PRIVMSG bob :hi there")
	c.expect("PRIVMSG bob :hi there") // echo-message
	var chat *stanza.Stanza
	for _, st := range core.sent() {
		if st.Kind() == stanza.Message {
			chat = st
		}
	}
	if chat == nil || chat.To.String() != "bob@example.org" || chat.Type() != "chat" || chat.El.ChildText("", "body") != "hi there" {
		t.Fatalf("PRIVMSG bob sent %v", chat)
	}
	c.send("QUIT :bye")
	c.expect("ERROR :Closing link: Quit: bye")
}

func TestAccountRequired(t *testing.T) {
	c, _, _, _ := dial(t, false)
	c.send("NICK stranger", "USER s 0 * :S")
	c.expect("FAIL * ACCOUNT_REQUIRED")
	c.expect("ERROR")
}

func TestPass(t *testing.T) {
	c, _, _, _ := dial(t, false)
	c.send("PASS :alice:secret", "NICK alice", "USER a 0 * :A")
	c.expect(" 001 alice ")

	c, _, _, _ = dial(t, false)
	c.send("PASS alice:nope", "NICK alice", "USER a 0 * :A")
	c.expect(" 464 alice ")
	c.expect("ERROR")
}

// TestDisabled: the right password of a disabled account is told so, by
// SASL (904 saying why) and by PASS (465); a wrong password learns
// nothing more than for any account.
func TestDisabled(t *testing.T) {
	disable := func(svc *Service) {
		k := svc.creds.(testCreds)
		k.keys.Disabled = true
		svc.creds, svc.accounts = k, k
	}
	c, svc, _, _ := dial(t, false)
	disable(svc)
	c.send("CAP LS 302", "NICK alice", "USER a 0 * :A", "CAP REQ :sasl")
	c.expect("CAP alice ACK sasl")
	c.send("AUTHENTICATE PLAIN")
	c.expect("AUTHENTICATE +")
	c.send("AUTHENTICATE " + plain("alice", "wrong"))
	if l := c.expect(" 904 alice "); strings.Contains(l, "disabled") {
		t.Errorf("a wrong password learns that the account is disabled: %q", l)
	}
	c.send("AUTHENTICATE PLAIN")
	c.expect("AUTHENTICATE +")
	c.send("AUTHENTICATE " + plain("alice", "secret"))
	c.expect(" 904 alice ", "disabled")

	c, svc, r, _ := dial(t, false)
	disable(svc)
	c.send("PASS alice:secret", "NICK alice", "USER a 0 * :A")
	c.expect(" 465 alice ")
	c.expect("ERROR")
	if len(r.Resources(jid.MustParse("alice@example.org"))) != 0 {
		t.Error("a disabled account is bound")
	}

	// Disabled after the connection began, as when its login read the
	// account just before the change: registering ends it as the
	// account's sessions were ended.
	c, _, r, _ = dial(t, false)
	c.send("CAP LS 302")
	c.expect("CAP * LS")
	r.Revoke(jid.MustParse("alice@example.org"), stream.Error{Condition: stream.NotAuthorized, Text: "account disabled"})
	c.send("PASS alice:secret", "NICK alice", "USER a 0 * :A", "CAP END")
	c.expect("ERROR", "not-authorized: account disabled")
	if len(r.Resources(jid.MustParse("alice@example.org"))) != 0 {
		t.Error("a session that began before the account was disabled is bound")
	}
}

func TestGuests(t *testing.T) {
	c, _, r, _ := dial(t, true)
	c.send("NICK alice", "USER a 0 * :A")
	c.expect(" 433 * alice ") // an account's nick
	c.send("NICK Visitor")
	c.expect(" 001 Visitor ")
	if len(r.Resources(jid.MustParse("visitor@example.org"))) != 1 {
		t.Fatal("the guest is not bound as visitor@example.org")
	}
}

func TestFit(t *testing.T) {
	m := ircmsg.Message{Tags: []ircmsg.Tag{{Key: "time", Value: strings.Repeat("t", 100)}}, Source: "example.org", Command: "332",
		Params: []string{"alice", "#" + strings.Repeat("c", 200), strings.Repeat("é", 300)}}
	got := fit(m)
	body := got
	body.Tags = nil
	if n := len(body.Append(nil)); n > ircmsg.MaxBody || n < ircmsg.MaxBody-1 {
		t.Fatalf("fit gives a body of %d bytes, want at most %d", n, ircmsg.MaxBody)
	}
	if !utf8.ValidString(got.Params[2]) || len(got.Tags) != 1 {
		t.Fatalf("fit(%q) = %q", m.Params[2], got.Params[2])
	}
	short := ircmsg.New("PING", "x")
	if g := fit(short); g.Params[0] != "x" {
		t.Fatalf("fit(PING x) = %v", g)
	}
}

// TestFlood checks that a client sending faster than its line rate is
// slowed down, not served at once.
func TestFlood(t *testing.T) {
	c, svc, _, _ := dial(t, false)
	svc.cfg.LineRate = 20 // burst 40
	c.send("PASS :alice:secret", "NICK alice", "USER a 0 * :A")
	c.expect(" 001 alice ")
	start := time.Now()
	for i := 0; i < 80; i++ {
		c.send("PING :" + strconv.Itoa(i))
	}
	c.expect("PONG", " 79")
	if d := time.Since(start); d < time.Second {
		t.Fatalf("80 lines at 20 per second (burst 40) took %v, want at least 1s", d)
	}
}

// TestAuthFailures checks that a connection gets three SASL attempts.
func TestAuthFailures(t *testing.T) {
	c, _, _, _ := dial(t, false)
	c.send("CAP LS 302", "NICK alice", "USER a 0 * :A", "CAP REQ sasl")
	c.expect("CAP alice ACK")
	for i := 0; i < 3; i++ {
		c.send("AUTHENTICATE PLAIN")
		c.expect("AUTHENTICATE +")
		c.send("AUTHENTICATE " + plain("alice", "guess"+strconv.Itoa(i)))
		c.expect(" 904 alice ")
	}
	c.expect("ERROR", "Too many authentication failures")
}

// TestEchoedParams checks that a name the client sent comes back in a
// reply in its place: a nick, target or reference that is empty, begins
// with ':' or holds a space cannot be a middle parameter, which would
// move the ones after it (a client would read "a" as the bad nick and
// "b" as the text), so the reply has "*" there, and empty entries of a
// list are skipped.
func TestEchoedParams(t *testing.T) {
	c, _, _, _ := dial(t, false)
	// expectExactly reads the next line with part and checks all of it.
	expectExactly := func(part, want string) {
		t.Helper()
		if l := c.expect(part); l != want {
			t.Errorf("got %q, want %q", l, want)
		}
	}
	c.send("NICK :a b")
	expectExactly(" 432 ", ":example.org 432 * * :Erroneous nickname")
	c.send("NICK ::x")
	expectExactly(" 432 ", ":example.org 432 * * :Erroneous nickname")
	c.send("CAP :L S")
	expectExactly(" 410 ", ":example.org 410 * * :Invalid CAP command")
	c.send("PASS :alice:secret", "NICK alice", "USER a 0 * :A")
	c.expect(" 422 alice ")
	c.send("WHOIS :no body")
	expectExactly(" 401 ", ":example.org 401 alice * :No such nick")
	expectExactly(" 318 ", ":example.org 318 alice * :End of /WHOIS list")
	c.send("NICK :x y")
	expectExactly(" 432 ", ":example.org 432 alice * :Your nick is your account name and cannot change")
	c.send("TOPIC :#a b")
	expectExactly(" 403 ", ":example.org 403 alice * :No such channel")
	c.send("CHATHISTORY LATEST bob :a b")
	expectExactly("FAIL", ":example.org FAIL CHATHISTORY INVALID_PARAMS LATEST * :Invalid message reference")
	c.send("PART ,nochannel,", "JOIN ,#a|zz")
	expectExactly(" 403 ", ":example.org 403 alice nochannel :No such channel")
	expectExactly(" 403 ", ":example.org 403 alice #a|zz :No such channel")
}

// TestLongNick checks that no line passes 512 bytes when the client
// names a user whose nick is long (the escaped JID of a long domain):
// a reply quoting it has "*" instead of the nick, and a nick that leaves
// no room for text in a message's echo is one that names nobody, for
// messages and their history alike. A nick with room still works.
func TestLongNick(t *testing.T) {
	c, _, _, core := dial(t, false)
	// Labels of 60 letters, the dots between them escaped.
	labels := strings.Repeat(strings.Repeat("b", 60)+"|2e|", 7)
	long := "a|40|" + labels + strings.Repeat("c", 42) // fits in the client's line only
	if len(long) != 495 {
		t.Fatalf("the long nick has %d bytes", len(long))
	}
	short := "a|40|" + labels[:5*64] + "cc"
	c.send("PASS :alice:secret", "NICK alice", "USER a 0 * :A", "CAP REQ :echo-message")
	c.expect(" 422 alice ")
	// fits reads the next line with part, checks that it is a legal IRC
	// line, and returns it.
	fits := func(part string) string {
		t.Helper()
		l := c.expect(part)
		if _, err := ircmsg.Parse(l); err != nil {
			t.Errorf("%v: %q", err, l)
		}
		return l
	}
	c.send("PRIVMSG " + long + " :hi")
	if l := fits(" 401 "); l != ":example.org 401 alice * :No such nick/channel" {
		t.Errorf("PRIVMSG to the long nick: %q", l)
	}
	c.send("WHOIS " + long)
	fits(" 401 ")
	fits(" 318 ")
	c.send("CHATHISTORY LATEST " + long[:470] + " * 10") // the whole of it makes too long a line
	if l := fits("FAIL"); l != ":example.org FAIL CHATHISTORY INVALID_TARGET LATEST * :No such nick" {
		t.Errorf("CHATHISTORY of the long nick: %q", l)
	}
	c.send("PRIVMSG " + short + " :" + strings.Repeat("hello ", 10))
	fits("PRIVMSG " + short + " :hello")
	c.send("PING :sync")
	c.expect("PONG", "sync")
	var to []string
	for _, st := range core.sent() {
		if st.Kind() == stanza.Message {
			to = append(to, st.To.String())
		}
	}
	if len(to) != 1 || !strings.HasSuffix(to[0], ".cc") {
		t.Errorf("messages sent to %q, want one, to the short nick", to)
	}
}

// TestInviteElsewhere: an invitation to a room of this session's group
// chat service is an INVITE to its channel; one to a room of another
// service is not (the channel of the same name is another room here),
// and arrives as a NOTICE that gives the room's address.
func TestInviteElsewhere(t *testing.T) {
	c, _, _, _ := dial(t, false)
	c.send("CAP REQ :sasl", "NICK alice", "USER al 0 * :Alice", "AUTHENTICATE PLAIN")
	c.expect("AUTHENTICATE +")
	c.send("AUTHENTICATE "+plain("alice", "secret"), "CAP END")
	c.expect(" 001 alice ")
	direct := func(room string) {
		c.sess.Send(xmlel.New("", stanza.Message, "from", "bob@example.org/phone", "to", c.sess.JID().String()).
			Append(xmlel.New(nsConfInv, "x", "jid", room)))
	}
	mediated := func(room string) {
		c.sess.Send(xmlel.New("", stanza.Message, "from", room, "to", c.sess.JID().String()).
			Append(xmlel.New(nsMUCUser, "x").Append(xmlel.New(nsMUCUser, "invite", "from", "bob@example.org/phone"))))
	}
	direct("tea@conference.example.org")
	c.expect(":bob!bob@example.org INVITE alice #tea")
	direct("tea@rooms.elsewhere.example")
	c.expect(":bob!bob@example.org NOTICE alice :invites you to the room xmpp:tea@rooms.elsewhere.example?join")
	mediated("tea@conference.example.org")
	c.expect(":bob!bob@example.org INVITE alice #tea")
	mediated("tea@rooms.elsewhere.example")
	c.expect(" NOTICE alice :bob@example.org invites you to the room xmpp:tea@rooms.elsewhere.example?join")
}
