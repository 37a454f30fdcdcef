package im

import (
	"fmt"
	"testing"
	"time"

	"samtal.org/samtal/internal/stanza"
)

// TestUndeliveredArchived checks where a message to the bare JID goes
// when the session it reached ends without its client having read it,
// and the archive holds it: not again to a resource that was available
// when it arrived (it got it then), but to one that became available
// later, which never saw it.
func TestUndeliveredArchived(t *testing.T) {
	e := newEnv(t, Config{})
	user := e.user("juliet")
	msg := func(id string) string {
		return fmt.Sprintf(`<message type='chat' id='%s' from='romeo@%s/x' to='%s'><body>%s</body>`+
			`<stanza-id xmlns='urn:xmpp:sid:0' by='%s' id='a-%s'/></message>`, id, remote, user, id, user, id)
	}
	old := e.online("juliet@"+host+"/old", "")
	gone := e.online("juliet@"+host+"/gone", "")
	e.deliver(msg("m1"))
	arrived := time.Now()
	if got := filter(old.take(), "message", ""); len(got) != 1 {
		t.Fatalf("the resource online got %q, want m1", strs(got))
	}
	el := filter(gone.take(), "message", "")[0]
	late := e.online("juliet@"+host+"/late", "")
	e.end(gone)
	e.im.Undelivered(e.ctx, gone.jid, el, arrived)
	if got := filter(old.take(), "message", ""); len(got) != 0 {
		t.Errorf("the resource that got m1 gets it again: %q", strs(got))
	}
	got := filter(late.take(), "message", "")
	if len(got) != 1 || got[0].Attr("id") != "m1" {
		t.Fatalf("the resource that came later got %q, want m1", strs(got))
	}
	if got[0].Child("urn:xmpp:delay", "delay") == nil {
		t.Errorf("m1 handed back without a delay stamp: %s", got[0])
	}
	if n, _ := e.store.Offline().Count(e.ctx, user.String()); n != 0 {
		t.Errorf("%d messages stored offline, want 0", n)
	}
}

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
