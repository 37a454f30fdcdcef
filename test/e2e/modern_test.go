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
