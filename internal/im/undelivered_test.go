package im

import (
	"testing"
	"time"

	"samtal.org/samtal/internal/stanza"
)

// TestUndeliveredToSuccessor checks that a message the old session of a
// resource never acknowledged goes to the new session that bound the
// same resource (a client whose resumption failed binds anew), even
// before it is available, with a delay stamp, and not to offline
// storage.
func TestUndeliveredToSuccessor(t *testing.T) {
	e := newEnv(t, Config{})
	juliet := e.user("juliet")
	old := e.bind(juliet.String() + "/balcony")
	e.end(old)
	successor := e.bind(juliet.String() + "/balcony")
	at := time.Now().Add(-time.Minute)
	e.im.Undelivered(e.ctx, successor.jid, parse(t, `<message from='romeo@`+host+`/orchard' to='`+juliet.String()+`' type='chat'><body>art thou</body></message>`), at)
	got := successor.take()
	if len(got) != 1 || got[0].ChildText("", "body") != "art thou" {
		t.Fatalf("successor got %v, want the message", got)
	}
	if got[0].Child(stanza.NSDelay, "delay") == nil {
		t.Error("no delay stamp (XEP-0203)")
	}
	msgs, err := e.store.Offline().List(e.ctx, juliet.String())
	if err != nil || len(msgs) != 0 {
		t.Errorf("offline storage holds %d messages (%v), want none", len(msgs), err)
	}
}
