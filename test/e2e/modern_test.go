package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestStreamManagementSlixmpp cuts the TCP connection of a slixmpp client
// with stream management (XEP-0198) while 50 messages are in flight:
// resumed, it gets each exactly once; not resumed within the window, its
// next session gets them from offline storage, exactly once.
func TestStreamManagementSlixmpp(t *testing.T) {
	s := StartServer(t, Options{
		Top:   "sasl_channel_binding = false",
		Extra: "[stream]\nresume_window = \"3s\"\n",
	})
	const pw = "stream management"
	for _, u := range []string{"sa", "sb", "oa", "ob"} {
		s.AddUser(u, pw)
	}
	t.Run("resume", func(t *testing.T) { s.SlixWith(t, []string{"--window", "3"}, "sm_resume", pw, "sa", "sb") })
	t.Run("offline", func(t *testing.T) { s.SlixWith(t, []string{"--window", "3"}, "sm_offline", pw, "oa", "ob") })
}

// TestCSISlixmpp checks client state indication (XEP-0352) with slixmpp:
// presence is held while inactive and flushed before a message.
func TestCSISlixmpp(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false"})
	const pw = "client state"
	s.AddUser("ca", pw)
	s.AddUser("cb", pw)
	s.Slix(t, "csi", pw, "ca", "cb")
}

// TestStreamManagementBound checks the bound on what a session keeps
// unacknowledged: a client that never acks loses its session with a
// stream error once max_unacked stanzas wait, and every message it did
// not acknowledge, or that came after, is in offline storage for its
// next session, exactly once.
func TestStreamManagementBound(t *testing.T) {
	s := StartServer(t, Options{Extra: "[stream]\nmax_unacked = 10\nack_every = 5\n"})
	s.AddUser("hoarder", "pw-h")
	s.AddUser("sender", "pw-s")
	h := dialRaw(t, s.C2S)
	full := h.login("localhost", "hoarder", "pw-h")
	h.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	if el := h.next(); !el.Is(xSM, "enabled") {
		t.Fatalf("enable: %v", el)
	}
	snd := dialRaw(t, s.C2S)
	snd.login("localhost", "sender", "pw-s")
	for i := range 20 {
		snd.send(fmt.Sprintf("<message to='%s' type='chat' id='m%d'><body>kept %d</body></message>", full, i, i))
	}
	requests := 0
	for {
		el, err := h.r.Next()
		if err != nil {
			t.Fatalf("no stream error before %v", err)
		}
		if el.Is(xSM, "r") {
			requests++
		}
		if el.Is(xStream, "error") {
			if el.Child("urn:ietf:params:xml:ns:xmpp-streams", "policy-violation") == nil {
				t.Fatalf("stream error %v, want policy-violation", el)
			}
			break
		}
	}
	if requests == 0 {
		t.Error("the server never asked for an ack")
	}
	time.Sleep(500 * time.Millisecond)
	h2 := dialRaw(t, s.C2S)
	h2.login("localhost", "hoarder", "pw-h")
	h2.send("<presence/>")
	seen := map[string]int{}
	deadline := time.Now().Add(10 * time.Second)
	_ = h2.conn.SetReadDeadline(deadline)
	for len(seen) < 20 {
		el, err := h2.r.Next()
		if err != nil {
			break
		}
		if b := el.ChildText("", "body"); strings.HasPrefix(b, "kept ") {
			seen[b]++
			if el.Child("urn:xmpp:delay", "delay") == nil {
				t.Errorf("%q has no delay stamp", b)
			}
		}
	}
	_ = h2.conn.SetReadDeadline(time.Now().Add(time.Second))
	for {
		el, err := h2.r.Next()
		if err != nil {
			break
		}
		if b := el.ChildText("", "body"); strings.HasPrefix(b, "kept ") {
			seen[b]++
		}
	}
	if len(seen) != 20 {
		t.Errorf("%d of 20 messages reached the next session", len(seen))
	}
	for b, n := range seen {
		if n != 1 {
			t.Errorf("%q arrived %d times", b, n)
		}
	}
}

// TestStreamManagementWire checks the XEP-0198 elements on the wire
// against the XEP's examples: the feature, enable before binding
// (refused), <enabled/> with its id, max and location, acks both ways,
// a second enable, an 'h' that acknowledges too much, and resumption by
// another user or of an unknown id.
func TestStreamManagementWire(t *testing.T) {
	s := StartServer(t, Options{Extra: "[stream]\nresume_window = \"60s\"\nlocation = \"127.0.0.1:5222\"\n"})
	s.AddUser("wire", "pw-w")
	s.AddUser("thief", "pw-t")
	c := dialRaw(t, s.C2S)
	c.starttls("localhost")
	c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + b64([]byte("\x00wire\x00pw-w")) + "</auth>")
	if el := c.next(); el.Local != "success" {
		t.Fatalf("auth: %v", el)
	}
	c.r.Reset(c.conn)
	c.open("localhost")
	if f := c.next(); f.Child(xSM, "sm") == nil || f.Child(xCSI, "csi") == nil {
		t.Fatalf("features lack <sm/> or <csi/>: %v", f)
	}
	// §3: not before binding.
	c.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	if el := c.next(); !el.Is(xSM, "failed") || el.Child("urn:ietf:params:xml:ns:xmpp-stanzas", "unexpected-request") == nil {
		t.Fatalf("enable before bind: %v", el)
	}
	c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>wire</resource></bind></iq>")
	c.next()
	c.send("<enable xmlns='urn:xmpp:sm:3' resume='1' max='30'/>")
	en := c.next()
	if !en.Is(xSM, "enabled") || en.Attr("resume") != "true" || en.Attr("id") == "" || en.Attr("max") != "30" || en.Attr("location") != "127.0.0.1:5222" {
		t.Fatalf("enabled: %v", en)
	}
	id := en.Attr("id")
	if strings.Contains(id, "wire") {
		t.Errorf("the SM-ID %q shows the user", id)
	}
	c.send("<enable xmlns='urn:xmpp:sm:3'/>")
	if el := c.next(); !el.Is(xSM, "failed") {
		t.Fatalf("second enable: %v", el)
	}
	c.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq><presence/><r xmlns='urn:xmpp:sm:3'/>")
	sent := 0
	for {
		el := c.next()
		if el.Is(xSM, "a") {
			if el.Attr("h") != "2" {
				t.Errorf("<a/> h=%s, want 2", el.Attr("h"))
			}
			break
		}
		if el.Local == "iq" || el.Local == "presence" || el.Local == "message" {
			sent++
		}
	}
	c.send(fmt.Sprintf("<a xmlns='urn:xmpp:sm:3' h='%d'/>", sent))
	// Someone else cannot take the session over, nor can an unknown id.
	th := dialRaw(t, s.C2S)
	th.starttls("localhost")
	th.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + b64([]byte("\x00thief\x00pw-t")) + "</auth>")
	th.next()
	th.r.Reset(th.conn)
	th.open("localhost")
	th.next()
	for _, previd := range []string{id, "no-such-id"} {
		th.send("<resume xmlns='urn:xmpp:sm:3' h='0' previd='" + previd + "'/>")
		if el := th.next(); !el.Is(xSM, "failed") || el.Child("urn:ietf:params:xml:ns:xmpp-stanzas", "item-not-found") == nil {
			t.Errorf("resume of %q by another user: %v", previd, el)
		}
	}
	// §6: acknowledging more than was sent ends the stream.
	c.send(fmt.Sprintf("<a xmlns='urn:xmpp:sm:3' h='%d'/>", sent+10))
	for {
		el := c.next()
		if el.Is(xStream, "error") {
			hc := el.Child(xSM, "handled-count-too-high")
			if el.Child("urn:ietf:params:xml:ns:xmpp-streams", "undefined-condition") == nil || hc == nil ||
				hc.Attr("h") != fmt.Sprint(sent+10) || hc.Attr("send-count") != fmt.Sprint(sent) {
				t.Errorf("stream error %v, want undefined-condition with handled-count-too-high h=%d send-count=%d", el, sent+10, sent)
			}
			break
		}
	}
}

// collectBodies logs in as user, sends initial presence and returns how
// often each body starting with prefix arrived within a few seconds, or
// for as long as they keep coming until want did.
func collectBodies(t *testing.T, s *Server, user, pw, prefix string, want int) map[string]int {
	t.Helper()
	c := dialRaw(t, s.C2S)
	c.login("localhost", user, pw)
	c.send("<presence/>")
	seen := map[string]int{}
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for {
		if len(seen) >= want {
			// Wait a little for duplicates.
			if d := time.Now().Add(time.Second); d.Before(deadline) {
				deadline = d
			}
		}
		_ = c.conn.SetReadDeadline(deadline)
		el, err := c.r.Next()
		if err != nil {
			return seen
		}
		if b := el.ChildText("", "body"); strings.HasPrefix(b, prefix) {
			seen[b]++
			// A large backlog comes at the pace the client reads, on a
			// busy machine slowly: wait while it keeps coming.
			if d := time.Now().Add(5 * time.Second); len(seen) < want && d.After(deadline) && d.Sub(start) < 2*time.Minute {
				deadline = d
			}
		}
	}
}

// TestStreamManagementShutdown checks that a session waiting to be
// resumed when the server stops loses nothing: what its client did not
// acknowledge, and what arrived while it waited, is in offline storage
// after the restart.
func TestStreamManagementShutdown(t *testing.T) {
	s := StartServer(t, Options{})
	s.AddUser("sleeper", "pw-z")
	s.AddUser("sender", "pw-s")
	z := dialRaw(t, s.C2S)
	full := z.login("localhost", "sleeper", "pw-z")
	z.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/><presence/>")
	snd := dialRaw(t, s.C2S)
	snd.login("localhost", "sender", "pw-s")
	for i := range 3 {
		snd.send(fmt.Sprintf("<message to='%s' type='chat'><body>kept %d</body></message>", full, i))
	}
	time.Sleep(500 * time.Millisecond)
	z.conn.Close() // gone without a word, nothing acknowledged
	time.Sleep(500 * time.Millisecond)
	for i := 3; i < 6; i++ {
		snd.send(fmt.Sprintf("<message to='sleeper@localhost' type='chat'><body>kept %d</body></message>", i))
	}
	time.Sleep(500 * time.Millisecond)
	s.Restart()
	seen := collectBodies(t, s, "sleeper", "pw-z", "kept ", 6)
	if len(seen) != 6 {
		t.Errorf("%d of 6 messages survived the restart: %v", len(seen), seen)
	}
	for b, n := range seen {
		if n != 1 {
			t.Errorf("%q arrived %d times", b, n)
		}
	}
}

// TestStreamManagementTakeover resumes a session whose old connection is
// still open (XEP-0198 §5): the old stream ends with conflict, the new
// one gets <resumed/> and what the client had not acknowledged.
func TestStreamManagementTakeover(t *testing.T) {
	s := StartServer(t, Options{})
	s.AddUser("twice", "pw-2")
	a := dialRaw(t, s.C2S)
	full := a.login("localhost", "twice", "pw-2")
	a.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	en := a.next()
	if !en.Is(xSM, "enabled") {
		t.Fatalf("enable: %v", en)
	}
	a.send(fmt.Sprintf("<message to='%s' id='self'><body>unacked</body></message><r xmlns='urn:xmpp:sm:3'/>", full))
	for {
		if el := a.next(); el.Is(xSM, "a") {
			break
		}
	}
	b := dialRaw(t, s.C2S)
	b.starttls("localhost")
	b.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + b64([]byte("\x00twice\x00pw-2")) + "</auth>")
	b.next()
	b.r.Reset(b.conn)
	b.open("localhost")
	b.next()
	b.send("<resume xmlns='urn:xmpp:sm:3' h='0' previd='" + en.Attr("id") + "'/>")
	res := b.next()
	if !res.Is(xSM, "resumed") || res.Attr("previd") != en.Attr("id") || res.Attr("h") != "1" {
		t.Fatalf("want <resumed h='1'/>, got %v", res)
	}
	if el := b.next(); el.ChildText("", "body") != "unacked" || el.Child("urn:xmpp:delay", "delay") == nil {
		t.Errorf("re-sent: %v, want the unacknowledged message with a delay stamp", el)
	}
	if got := a.streamError(); got != "conflict" {
		t.Errorf("old stream ended with %q, want conflict", got)
	}
	b.send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	for {
		if el := b.next(); el.Attr("id") == "p" {
			break
		}
	}
}
