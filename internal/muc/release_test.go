package muc

import (
	"testing"

	"samtal.org/samtal/internal/xmlel"
)

// TestRelease checks that a room released to another cluster node tells
// its occupants it shut down (332) and forgets them, so that a message
// from one of them is refused until it joins again.
func TestRelease(t *testing.T) {
	h := newHarness(t)
	alice := h.client("alice@example.org/desk")
	alice.join(coven, "firstwitch", "")
	alice.send(`<iq type='set' id='inst' to='%s'><query xmlns='%s'><x xmlns='jabber:x:data' type='submit'/></query></iq>`, coven, NSOwner)
	alice.expect("instant room result", isResult("inst"))
	alice.drain()
	if !h.svc.Active(mustJID(t, coven)) {
		t.Error("a room with an occupant is not active")
	}
	h.svc.Release(mustJID(t, coven))
	alice.expect("shutdown presence", func(el *xmlel.Element) bool {
		return el.Local == "presence" && el.Attr("type") == "unavailable" && hasCodes(el, "110", "332")
	})
	alice.send(`<message to='%s' type='groupchat'><body>still here?</body></message>`, coven)
	alice.expect("not an occupant any more", func(el *xmlel.Element) bool { return el.Attr("type") == "error" })
}
