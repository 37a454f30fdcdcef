package ircgw

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// readUntil reads lines, without their tags, until done is true of
// those read, and returns them. Every line must be a legal IRC line: at
// most 512 bytes, tags aside.
func (c *testClient) readUntil(done func(seen []ircmsg.Message) bool) []ircmsg.Message {
	c.t.Helper()
	var seen []ircmsg.Message
	timeout := time.After(5 * time.Second)
	for !done(seen) {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("connection closed; read %q", seen)
			}
			m, err := ircmsg.Parse(l)
			if err != nil {
				c.t.Fatalf("the gateway wrote a line that does not parse (%v): %q", err, l)
			}
			m.Tags = nil
			seen = append(seen, m)
		case <-timeout:
			c.t.Fatalf("timed out; read %q", seen)
		}
	}
	return seen
}

// expectLines reads lines until it has read each of want, compared
// without their tags (readUntil).
func (c *testClient) expectLines(want ...string) []ircmsg.Message {
	c.t.Helper()
	return c.readUntil(func(seen []ircmsg.Message) bool {
		missing := make(map[string]bool)
		for _, w := range want {
			missing[w] = true
		}
		for _, m := range seen {
			delete(missing, m.String())
		}
		return len(missing) == 0
	})
}

// TestLongSender checks the lines from users whose names do not fit in
// IRC lines as they are (juliet and romeo of the fuzz stack, users of
// other domains). A long domain is shown by a stand-in in the host part;
// a nick is never cut. Juliet's nick fits with that stand-in, so her
// lines come from her. Romeo's fits in no line: his private message
// and his messages in a channel arrive as the server's notice naming
// him, his typing notification not at all; the channel does not show him
// (no NAMES entry, JOIN or PART) until he takes a short nick, and a
// subject or invitation of his comes from the server. A nick change too
// long for a NICK line is a PART and a JOIN.
func TestLongSender(t *testing.T) {
	fs := newFuzzStack(t)
	c := connect(t, fs.svc)
	c.send("CAP LS 302", "CAP REQ :away-notify userhost-in-names message-tags", "PASS :alice:secret", "NICK alice", "USER a 0 * :A", "CAP END")
	c.expect(" 376 alice ")

	cloak := func(domain string) string {
		sum := sha256.Sum256([]byte(domain))
		return "long-domain/" + hex.EncodeToString(sum[:8])
	}
	jhost, rhost := cloak(juliet.Domain()), cloak(romeo.Domain())
	jnick, rnick := NickFor(juliet, "example.org"), NickFor(romeo, "example.org")
	if len(jnick) != 273 || len(rnick) != 528 {
		t.Fatalf("the nicks have %d and %d bytes", len(jnick), len(rnick))
	}
	jmask := jnick + "!juliet@" + jhost
	j0 := IRCNick(julietsNicks[0]) + "!juliet@" + jhost
	j1 := IRCNick(julietsNicks[1]) + "!juliet@" + jhost
	j2 := IRCNick(julietsNicks[2]) + "!juliet@" + jhost
	r1 := IRCNick(romeosNicks[1]) + "!romeo@" + rhost
	var all []ircmsg.Message
	step := func(cmd string, want ...string) {
		t.Helper()
		c.send(cmd)
		all = append(all, c.expectLines(want...)...)
	}

	step("JOIN #room", ":example.org 366 alice #room :End of /NAMES list")
	names := ""
	for _, m := range all {
		if m.Command == rplNamReply && m.Param(2) == "#room" {
			names += " " + m.Param(3)
		}
	}
	if !strings.Contains(names, " "+j0) {
		t.Errorf("NAMES of #room = %q, want %s in it", names, j0)
	}
	step("JOIN #mine", ":example.org 366 alice #mine :End of /NAMES list")
	step("INVITE "+jnick+" #mine", ":example.org 341 alice "+jnick+" #mine", ":"+j0+" JOIN #mine")

	step("PRIVMSG #mine :juliet", ":"+j0+" PRIVMSG #mine :hi from juliet", ":"+jmask+" PRIVMSG alice :hello from juliet", ":"+jmask+" TAGMSG alice")
	// Romeo's answers: a message in the channel and one in private (two
	// lines of notice, for his address is longer than one), in any order.
	c.send("PRIVMSG #mine :romeo")
	inChannel := ":example.org NOTICE #mine :A message from the occupant \"" + romeosNicks[0] +
		"\" is not shown here: the sender's nick is too long for an IRC line. An XMPP client shows it."
	private := ""
	all = append(all, c.readUntil(func(seen []ircmsg.Message) bool {
		private = ""
		channel := false
		for _, m := range seen {
			if m.Source == "example.org" && m.Command == "NOTICE" && m.Param(0) == "alice" {
				private += m.Param(1)
			}
			channel = channel || m.String() == inChannel
		}
		return channel && strings.HasSuffix(private, "An XMPP client shows it.")
	})...)
	if want := "A message from " + romeo.Bare().String() + " is not shown here: the sender's nick is too long for an IRC line. An XMPP client shows it."; private != want {
		t.Errorf("the notice of romeo's message reads %q, want %q", private, want)
	}

	step("PRIVMSG #mine :romeo nick", ":"+r1+" JOIN #mine")
	step("PRIVMSG #mine :romeo nick", ":"+r1+" PART #mine :Changed nick")
	step("PRIVMSG #mine :juliet nick", ":"+j0+" NICK "+IRCNick(julietsNicks[1]))
	step("PRIVMSG #mine :juliet nick", ":"+j1+" PART #mine :Changed nick", ":"+j2+" JOIN #mine")
	step("PRIVMSG #mine :juliet away", ":"+j2+" AWAY out")
	step("MODE #mine -t", ":alice!a@example.org MODE #mine -t")
	step("PRIVMSG #mine :romeo topic", ":example.org TOPIC #mine :set by romeo")
	step("PRIVMSG #mine :juliet topic", ":"+j2+" TOPIC #mine :set by juliet")
	step("PRIVMSG #mine :romeo invite", ":example.org INVITE alice #mine")
	step("PRIVMSG #mine :juliet invite", ":"+jmask+" INVITE alice #mine")
	c.send("PRIVMSG #mine :romeo quit") // nothing to see
	step("PRIVMSG #mine :juliet quit", ":"+j2+" QUIT :Quit: bye", ":"+j2+" JOIN #mine")
	step("NAMES #mine", ":example.org 366 alice #mine :End of /NAMES list")
	for _, m := range all {
		if strings.HasPrefix(m.Source, "|2e|") || strings.HasPrefix(m.Source, "romeo|40|") || strings.HasSuffix(m.Source, romeo.Domain()) ||
			m.Command == rplNamReply && strings.Contains(m.Param(3), "|2e||2e|") {
			t.Errorf("a line shows romeo, who cannot be shown: %q", m.String())
		}
		if strings.HasSuffix(m.Source, juliet.Domain()) {
			t.Errorf("a line shows juliet's domain, which is longer than HOSTLEN: %q", m.String())
		}
		if m.Command == "TAGMSG" && m.Source == "example.org" {
			t.Errorf("romeo's typing notification comes from the server: %q", m.String())
		}
	}
	c.send("QUIT")
	c.expect("ERROR")
}

// TestListReply checks that ISON answers with as many nicks as its line
// holds, each whole: a nick cut to fit would be someone else's.
func TestListReply(t *testing.T) {
	c, svc, _, _ := dial(t, false)
	// ":irc.example.org 303 alice :" and CR LF leave 482 bytes: 80 nicks
	// and part of another.
	svc.cfg.ServerName = "irc.example.org"
	c.send("PASS :alice:secret", "NICK alice", "USER a 0 * :A")
	c.expect(" 422 alice ")
	c.send("ISON " + strings.TrimSpace(strings.Repeat("alice ", 84))) // 508 bytes
	l := c.expect(" 303 ")
	m, err := ircmsg.Parse(l)
	if err != nil {
		t.Fatalf("%v: %q", err, l)
	}
	nicks := strings.Fields(m.Param(1))
	if len(nicks) != 80 {
		t.Errorf("ISON answers %d nicks, want the 80 that fit", len(nicks))
	}
	for _, n := range nicks {
		if n != "alice" {
			t.Fatalf("ISON answers %q, a nick cut short: %q", n, l)
		}
	}
}

// TestOccupantLeavesView checks that an occupant the channel showed
// leaves it with a PART when the room starts showing an address that
// makes its hostmask too long for the channel's lines (as a room does
// when the client becomes a moderator), and comes back with a JOIN when
// its hostmask fits again.
func TestOccupantLeavesView(t *testing.T) {
	fs := newFuzzStack(t)
	c := connect(t, fs.svc)
	c.send("PASS :alice:secret", "NICK alice", "USER a 0 * :A", "JOIN #room")
	c.expect(" 366 alice #room ")
	nick := strings.Repeat(".", 105) // 420 bytes on IRC
	presence := func(real string) {
		item := xmlel.New(nsMUCUser, "item", "affiliation", "none", "role", "participant")
		if real != "" {
			item.SetAttr("jid", real)
		}
		c.sess.Send(xmlel.New("", stanza.Presence, "from", bobsRoom+"/"+nick, "to", c.sess.JID().String()).Append(
			xmlel.New(nsMUCUser, "x").Append(item)))
	}
	anon := IRCNick(nick) + "!occupant@conference.example.org"
	presence("")
	c.expectLines(":" + anon + " JOIN #room")
	long := strings.Repeat("x", 32) + "@" + strings.Repeat(strings.Repeat("d", 60)+".", 4) + "example/r"
	presence(long)
	c.expectLines(":" + anon + " PART #room :Changed host")
	presence("y@example.org/r")
	c.expectLines(":" + IRCNick(nick) + "!y@example.org JOIN #room")
	c.send("QUIT")
	c.expect("ERROR")
}
