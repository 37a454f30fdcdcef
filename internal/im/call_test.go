package im

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// session is a bound resource that records what it is sent.
type callSession struct {
	jid jid.JID
	mu  sync.Mutex
	got []*xmlel.Element
}

func (s *callSession) JID() jid.JID { return s.jid }

func (s *callSession) Send(el *xmlel.Element) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, el)
}

func (s *callSession) CloseWithError(stream.Error) {}

func (s *callSession) received() []*xmlel.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*xmlel.Element(nil), s.got...)
}

// testCore is an IM core over a store in a temporary directory, with
// accounts for users.
func callCore(t *testing.T, users ...string) (*Service, *router.Router, storage.Store) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "im.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, u := range users {
		if err := store.Accounts().Create(ctx, storage.Account{User: u}); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := router.New([]string{"example.org"})
	s := New(Config{OfflineMessages: 10}, r, store, iq.NewMux(log), log)
	r.SetLocal(s)
	return s, r, store
}

// online binds a resource and makes it available with a priority.
func callOnline(t *testing.T, r *router.Router, full string, prio int) *callSession {
	t.Helper()
	sess := &callSession{jid: jid.MustParse(full)}
	if _, err := r.Bind(sess, false, 0); err != nil {
		t.Fatal(err)
	}
	r.SetPresence(sess.jid, xmlel.New("", stanza.Presence), prio)
	return sess
}

func callParse(t *testing.T, s string) *xmlel.Element {
	t.Helper()
	el, err := xmlstream.ParseStored(s)
	if err != nil {
		t.Fatal(err)
	}
	return el
}

// deliver hands a message from one user to another to the core, as the
// router does.
func callDeliver(s *Service, el *xmlel.Element) {
	st := &stanza.Stanza{El: el, From: jid.MustParse(el.Attr("from")), To: jid.MustParse(el.Attr("to"))}
	s.Handle(context.Background(), st)
}

const propose = `<message from='romeo@example.org/orchard' to='juliet@example.org' type='chat' id='p1'>` +
	`<propose xmlns='urn:xmpp:jingle-message:0' id='ca3cf894'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose>` +
	`<store xmlns='urn:xmpp:hints'/></message>`

// TestCallSignalReachesEveryResource checks XEP-0353 §2 "ring on all
// devices": a call proposal to a bare JID reaches every available
// resource of non-negative priority, where a chat message reaches only
// the highest-priority one.
func TestCallSignalReachesEveryResource(t *testing.T) {
	s, r, _ := callCore(t, "romeo@example.org", "juliet@example.org")
	var delivered []router.Session
	s.AddHooks(Hooks{MessageDelivered: func(_ context.Context, _ *stanza.Stanza, to []router.Session) {
		delivered = to
	}})
	phone := callOnline(t, r, "juliet@example.org/phone", 5)
	laptop := callOnline(t, r, "juliet@example.org/laptop", 1)
	hidden := callOnline(t, r, "juliet@example.org/hidden", -1)

	callDeliver(s, callParse(t, propose))
	if got := len(phone.received()); got != 1 {
		t.Errorf("phone (priority 5) got %d proposals, want 1", got)
	}
	if got := len(laptop.received()); got != 1 {
		t.Errorf("laptop (priority 1) got %d proposals, want 1", got)
	}
	if got := len(hidden.received()); got != 0 {
		t.Errorf("negative-priority resource got %d proposals, want 0 (carbons reach it)", got)
	}
	if len(delivered) != 2 {
		t.Errorf("MessageDelivered saw %d sessions, want 2", len(delivered))
	}

	// Every JMI element counts, not only <propose/>: the answer of one
	// device stops the others ringing (§3.4).
	for _, name := range []string{"ringing", "proceed", "reject", "retract", "finish"} {
		callDeliver(s, callParse(t, `<message from='romeo@example.org/orchard' to='juliet@example.org' type='chat'><`+name+` xmlns='urn:xmpp:jingle-message:0' id='x'/></message>`))
	}
	if got := len(laptop.received()); got != 6 {
		t.Errorf("laptop got %d call signals, want 6", got)
	}

	// A chat message still goes to the highest priority only
	// (RFC 6121 §8.5.2.1.1).
	callDeliver(s, callParse(t, `<message from='romeo@example.org/orchard' to='juliet@example.org' type='chat'><body>hi</body></message>`))
	if got := len(phone.received()); got != 7 {
		t.Errorf("phone got %d messages, want 7", got)
	}
	if got := len(laptop.received()); got != 6 {
		t.Errorf("laptop got %d messages after a chat message, want still 6", got)
	}
}

// TestCallSignalStoredOffline checks that a call proposal to a user with
// no available resource is kept offline (XEP-0353 §3: <store/>; the
// missed call shows when a device comes online), and that one to a gone
// resource goes to the bare JID.
func TestCallSignalStoredOffline(t *testing.T) {
	s, r, store := callCore(t, "romeo@example.org", "juliet@example.org")
	ctx := context.Background()
	callDeliver(s, callParse(t, propose))
	// Without the <store/> hint a bare JMI element is content as well.
	callDeliver(s, callParse(t, `<message from='romeo@example.org/orchard' to='juliet@example.org/gone' type='chat'><retract xmlns='urn:xmpp:jingle-message:0' id='ca3cf894'><reason xmlns='urn:xmpp:jingle:1'><cancel/></reason></retract></message>`))
	msgs, err := store.Offline().List(ctx, "juliet@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("offline messages = %d, want 2", len(msgs))
	}
	sess := callOnline(t, r, "juliet@example.org/phone", 0)
	s.deliverOffline(ctx, sess.jid)
	got := sess.received()
	if len(got) != 2 || got[0].Child(nsJingleMessage, "propose") == nil || got[1].Child(nsJingleMessage, "retract") == nil {
		t.Fatalf("delivered offline = %v, want the proposal and the retraction", got)
	}
	if got[0].Child(stanza.NSDelay, "delay") == nil {
		t.Errorf("offline proposal has no delay stamp: %v", got[0])
	}
}
