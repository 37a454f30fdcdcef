package ircgw

import (
	"strconv"
	"strings"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// phone is a bound XMPP resource that drops what it is sent.
type phone struct{ j jid.JID }

func (p phone) JID() jid.JID                { return p.j }
func (p phone) Send(*xmlel.Element)         {}
func (p phone) CloseWithError(stream.Error) {}

// TestPresencePrivacy checks that ISON, USERHOST, WHOIS and MONITOR see
// an account online only while its presence is shared with the client:
// bob is connected throughout, but is online to alice only between the
// presence he sends her and his unavailable presence.
func TestPresencePrivacy(t *testing.T) {
	c, _, r, _ := dial(t, false)
	bob := jid.MustParse("bob@example.org/phone")
	if _, err := r.Bind(phone{bob}, false, 0); err != nil {
		t.Fatal(err)
	}
	r.SetPresence(bob, xmlel.New("", "presence"), 0)

	c.send("PASS :alice:secret", "NICK alice", "USER a 0 * :A")
	if l := c.expect(" 005 alice ", "MONITOR="); !strings.Contains(l, " MONITOR="+strconv.Itoa(monitorLimit)+" ") {
		t.Errorf("ISUPPORT %q, want MONITOR=%d", l, monitorLimit)
	}
	c.expect(" 422 alice ")
	sync := func() { c.send("PING :sync"); c.expect("PONG", "sync") }

	c.send("ISON bob alice")
	c.expect(" 303 alice alice")
	c.send("USERHOST bob")
	c.expect(" 302 alice :")
	c.send("WHOIS bob")
	c.expect(" 311 alice bob bob example.org ")
	c.expect(" 318 alice bob ")
	c.send("MONITOR + bob,Carol,no|2E|body")
	c.expect(" 731 alice bob,Carol,no|2E|body")

	pres := func(from, typ, show, status string) {
		el := xmlel.New("", "presence", "from", from, "to", c.sess.JID().String())
		if typ != "" {
			el.SetAttr("type", typ)
		}
		if show != "" {
			el.Append(xmlel.TextElement("", "show", show), xmlel.TextElement("", "status", status))
		}
		c.sess.Send(el)
	}
	// A room's presence is not a contact's.
	room := xmlel.New("", "presence", "from", "bob@example.org/other", "to", c.sess.JID().String()).
		Append(xmlel.New(nsMUCUser, "x"))
	c.sess.Send(room)
	c.send("ISON bob")
	c.expect(" 303 alice :")

	pres("bob@example.org/phone", "", "", "")
	c.expect(" 730 alice bob!bob@example.org")
	c.send("ISON bob")
	c.expect(" 303 alice bob")
	pres("bob@example.org/laptop", "", "away", "lunch")
	c.send("USERHOST bob")
	c.expect(" 302 alice bob=+bob@example.org")
	pres("bob@example.org/phone", "", "xa", "")
	c.send("USERHOST bob")
	c.expect(" 302 alice bob=-bob@example.org")
	c.send("WHOIS bob")
	c.expect(" 301 alice bob lunch")

	c.send("MONITOR L")
	l := c.expect(" 732 alice ")
	c.expect(" 733 alice :End of MONITOR list")
	got := strings.Split(strings.TrimPrefix(l[strings.LastIndex(l, " ")+1:], ":"), ",")
	if len(got) != 3 {
		t.Errorf("MONITOR L = %q, want the three targets", l)
	}
	c.send("MONITOR S")
	c.expect(" 730 alice bob!bob@example.org")
	c.expect(" 731 alice ")

	pres("bob@example.org/phone", "unavailable", "", "")
	sync()
	c.send("ISON bob")
	c.expect(" 303 alice bob") // the laptop is still there
	pres("bob@example.org/laptop", "unavailable", "", "")
	c.expect(" 731 alice bob")
	c.send("ISON bob")
	c.expect(" 303 alice :")

	// Removed from the list, bob comes and goes unannounced.
	c.send("MONITOR - BOB")
	sync()
	pres("bob@example.org/phone", "", "", "")
	pres("bob@example.org", "unsubscribed", "", "")
	c.none(" 730 ", " 731 ")
	c.send("MONITOR + carol", "MONITOR L")
	c.expect(" 731 alice carol")
	if l := c.expect(" 732 alice "); strings.Contains(strings.ToLower(l), "bob") {
		t.Errorf("MONITOR L after MONITOR - BOB = %q", l)
	}
	c.expect(" 733 ")
	c.send("MONITOR C", "MONITOR L")
	c.expect(" 733 alice ")

	// The list is bounded.
	targets := make([]string, monitorLimit+2)
	for i := range targets {
		targets[i] = "user" + strconv.Itoa(i)
	}
	for i := 0; i < len(targets); i += 20 {
		c.send("MONITOR + " + strings.Join(targets[i:min(i+20, len(targets))], ","))
	}
	c.expect(" 734 alice " + strconv.Itoa(monitorLimit) + " user100,user101 :Monitor list is full.")
	c.send("MONITOR L")
	n := 0
	for {
		l := c.expect(" 73")
		if strings.Contains(l, " 733 ") {
			break
		}
		n += len(strings.Split(strings.TrimPrefix(l[strings.LastIndex(l, " ")+1:], ":"), ","))
	}
	if n != monitorLimit {
		t.Errorf("MONITOR L lists %d targets, want %d", n, monitorLimit)
	}
	// A contact's resources remembered are bounded: dave's first
	// maxContactResources leave, and the ones beyond were never seen.
	for i := range maxContactResources + 8 {
		pres("dave@example.org/r"+strconv.Itoa(i), "", "", "")
	}
	c.send("ISON dave")
	c.expect(" 303 alice dave")
	for i := range maxContactResources {
		pres("dave@example.org/r"+strconv.Itoa(i), "unavailable", "", "")
	}
	c.send("ISON dave")
	c.expect(" 303 alice :")

	c.send("MONITOR X")
	c.expect("FAIL MONITOR INVALID_PARAMS X")
	c.send("MONITOR +")
	c.expect(" 461 alice MONITOR ")
}

// none reads the lines up to the answer to a PING and fails if one of
// them contains one of parts.
func (c *testClient) none(parts ...string) {
	c.t.Helper()
	c.send("PING :none")
	for {
		l := c.expect(" ")
		for _, p := range parts {
			if strings.Contains(l, p) {
				c.t.Errorf("unexpected line %q", l)
			}
		}
		if strings.Contains(l, "PONG") && strings.HasSuffix(l, "none") {
			return
		}
	}
}

// TestExtendedMonitor checks that with extended-monitor and away-notify
// a monitored contact's away state comes as AWAY, as for someone in a
// shared channel, and not without extended-monitor.
func TestExtendedMonitor(t *testing.T) {
	c, _, _, _ := dial(t, false)
	c.send("CAP LS 302", "PASS :alice:secret", "NICK alice", "USER a 0 * :A", "CAP REQ :away-notify", "CAP END")
	c.expect(" 422 alice ")
	pres := func(from, show, status string) {
		el := xmlel.New("", "presence", "from", from, "to", c.sess.JID().String())
		if show != "" {
			el.Append(xmlel.TextElement("", "show", show), xmlel.TextElement("", "status", status))
		}
		c.sess.Send(el)
	}
	c.send("MONITOR + bob")
	c.expect(" 731 alice bob")
	pres("bob@example.org/phone", "away", "lunch")
	c.expect(" 730 alice bob!bob@example.org")
	c.none(" AWAY")

	c.send("CAP REQ extended-monitor")
	c.expect("CAP alice ACK extended-monitor")
	pres("bob@example.org/phone", "", "")
	c.expect(":bob!bob@example.org AWAY")
	pres("bob@example.org/laptop", "dnd", "busy")
	c.none(" AWAY") // the phone is still available
	pres("bob@example.org/phone", "xa", "")
	c.expect(":bob!bob@example.org AWAY busy")
	pres("carol@example.org/phone", "away", "not monitored")
	c.none(" AWAY")
	c.sess.Send(xmlel.New("", "presence", "type", "unavailable", "from", "bob@example.org", "to", c.sess.JID().String()))
	c.expect(" 731 alice bob")
	pres("bob@example.org/tablet", "away", "back, away")
	c.expect(" 730 alice bob!bob@example.org")
	c.expect(":bob!bob@example.org AWAY", "back, away")
}

// TestLusers checks that LUSERS counts the resources bound now, IRC
// and XMPP alike, and the most there were at once (RFC 2812 §5.1, 265
// and 266).
func TestLusers(t *testing.T) {
	c, _, r, _ := dial(t, false)
	bob := phone{jid.MustParse("bob@example.org/phone")}
	if _, err := r.Bind(bob, false, 0); err != nil {
		t.Fatal(err)
	}
	c.send("PASS :alice:secret", "NICK alice", "USER a 0 * :A")
	c.expect(" 266 alice 2 2 ", "Current global users 2, max 2")
	r.Unbind(bob)
	c.send("LUSERS")
	c.expect(" 251 alice ", "0 users and 1 invisible")
	c.expect(" 265 alice 1 2 ", "Current local users 1, max 2")
	c.expect(" 266 alice 1 2 ", "Current global users 1, max 2")
}
