package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"samtal.org/samtal/internal/cluster/natstest"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// session is a local client session of a test node.
type session struct {
	jid jid.JID

	mu     sync.Mutex
	got    []string
	closed []stream.Error
}

func (s *session) JID() jid.JID { return s.jid }
func (s *session) Send(el *xmlel.Element) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, el.String())
}
func (s *session) CloseWithError(e stream.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = append(s.closed, e)
}
func (s *session) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}
func (s *session) closes() []stream.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stream.Error(nil), s.closed...)
}

// testNode is a node with its own router, as one samtal process has.
type testNode struct {
	*Node
	r *router.Router

	mu          sync.Mutex
	undelivered []string // full JID + stanza
	ended       []string
	forgotten   []string // blocklists
}

func (tn *testNode) record(list *[]string, s string) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	*list = append(*list, s)
}

func (tn *testNode) list(list *[]string) []string {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return append([]string(nil), *list...)
}

var testConfig = Config{Heartbeat: 50 * time.Millisecond, DeadAfter: 300 * time.Millisecond, ForwardTimeout: time.Second}

func startNode(t *testing.T, url, name string, adjust ...func(*Hooks)) *testNode {
	t.Helper()
	return startNodeWith(t, url, name, func(*Config) {}, adjust...)
}

// startNodeWith starts a node whose configuration config adjusts.
func startNodeWith(t *testing.T, url, name string, config func(*Config), adjust ...func(*Hooks)) *testNode {
	t.Helper()
	tn := &testNode{r: router.New([]string{"example.org"})}
	cfg := testConfig
	cfg.URL, cfg.Node = url, name
	config(&cfg)
	hooks := Hooks{
		Undelivered: func(_ context.Context, gone jid.JID, el *xmlel.Element, _ time.Time) {
			tn.record(&tn.undelivered, gone.String()+" "+el.Attr("id"))
		},
		Ended: func(_ context.Context, s router.Session, _ router.Resource) {
			tn.record(&tn.ended, s.JID().String())
		},
		ForgetBlocklist: func(user jid.JID) { tn.record(&tn.forgotten, user.String()) },
	}
	for _, f := range adjust {
		f(&hooks)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := Start(context.Background(), cfg, tn.r, hooks, NewMetrics(metrics.NewRegistry()), log)
	if err != nil {
		t.Fatal(err)
	}
	tn.Node = n
	t.Cleanup(func() {
		if n.ctx.Err() == nil {
			n.Close(context.Background())
		}
	})
	return tn
}

// crash ends a node as SIGKILL would: no goodbye, nothing cleared.
func (tn *testNode) crash() {
	tn.cancel()
	tn.nc.Close()
	tn.wg.Wait()
}

func bind(t *testing.T, tn *testNode, full string, prio int) *session {
	t.Helper()
	s := &session{jid: jid.MustParse(full)}
	if _, err := tn.r.Bind(s, true, 0); err != nil {
		t.Fatal(err)
	}
	tn.r.SetPresence(s.jid, xmlel.New("", "presence").Append(xmlel.TextElement("", "priority", "1")), prio)
	return s
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func message(id, typ string) *xmlel.Element {
	return xmlel.New("", "message", "id", id, "type", typ, "to", "alice@example.org").Append(xmlel.TextElement("", "body", "hi"))
}

// TestDirectory checks that each node's router holds the resources of
// every node, with their presence, and that stanzas to a remote one reach
// it.
func TestDirectory(t *testing.T) {
	url := natstest.Run(t)
	a, b := startNode(t, url, "a"), startNode(t, url, "b")
	alice := jid.MustParse("alice@example.org")
	phone := bind(t, a, "alice@example.org/phone", 5)
	laptop := bind(t, b, "alice@example.org/laptop", 1)
	for _, tn := range []*testNode{a, b} {
		eventually(t, "both resources on node "+tn.Name(), func() bool {
			res := tn.r.Resources(alice)
			return len(res) == 2 && res[0].Available && res[1].Available
		})
	}
	for _, r := range b.r.Resources(alice) {
		if r.Session.JID().Resource() == "phone" && (r.Priority != 5 || r.Presence == nil) {
			t.Errorf("remote phone on b: priority %d, presence %v; want 5 and the presence", r.Priority, r.Presence)
		}
	}
	// b delivers to a's session through the router, as the IM core does.
	b.r.Session(phone.jid).Send(message("m1", "chat"))
	b.r.Session(phone.jid).Send(xmlel.New("", "presence", "id", "p1"))
	eventually(t, "delivery to phone", func() bool { return len(phone.received()) == 2 })
	if got := phone.received(); got[0] != message("m1", "chat").String() {
		t.Errorf("phone got %s, want %s", got[0], message("m1", "chat"))
	}
	if len(laptop.received()) != 0 {
		t.Errorf("laptop got %q, want nothing", laptop.received())
	}
	// The session ends on a: b forgets it.
	a.r.Unbind(phone)
	eventually(t, "phone gone from b", func() bool { return b.r.Session(phone.jid) == nil })
	if got := b.list(&b.ended); len(got) != 0 {
		t.Errorf("ended %q on b for a session a ended itself", got)
	}
}

// TestCrash checks that a node that dies takes its resources out of the
// other routers, that one node tells their contacts, and that a message
// under way goes back to the IM core instead of being lost.
func TestCrash(t *testing.T) {
	url := natstest.Run(t)
	a, b, c := startNode(t, url, "a"), startNode(t, url, "b"), startNode(t, url, "c")
	bob := bind(t, c, "bob@example.org/pc", 0)
	for _, tn := range []*testNode{a, b} {
		eventually(t, "bob on "+tn.Name(), func() bool { return tn.r.Session(bob.jid) != nil })
	}
	proxy := b.r.Session(bob.jid)
	c.crash()
	// b finds out at once: the message finds no responder.
	proxy.Send(message("m2", "chat"))
	if got, want := b.list(&b.undelivered), []string{"bob@example.org/pc m2"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("undelivered on b = %q, want %q", got, want)
	}
	if b.r.Session(bob.jid) != nil {
		t.Error("bob still bound on b after his node died")
	}
	// a finds out by the silence; a, the leader, tells bob's contacts.
	eventually(t, "bob gone from a", func() bool { return a.r.Session(bob.jid) == nil })
	eventually(t, "bob's end told", func() bool { return len(a.list(&a.ended)) == 1 })
	if got := b.list(&b.ended); len(got) != 0 {
		t.Errorf("b, not the leader, ended %q", got)
	}
	// The directory forgets the dead node's entries.
	eventually(t, "entries purged", func() bool {
		_, err := a.sessions.ListKeysFiltered(context.Background(), "c.>")
		if err != nil {
			return true
		}
		l, _ := a.sessions.ListKeysFiltered(context.Background(), "c.>")
		n := 0
		for range l.Keys() {
			n++
		}
		return n == 0
	})
}

// TestConflict checks that the later bind of a full JID on another node
// ends the older session (RFC 6120 §7.7.2.2).
func TestConflict(t *testing.T) {
	url := natstest.Run(t)
	a, b := startNode(t, url, "a"), startNode(t, url, "b")
	old := bind(t, a, "alice@example.org/x", 0)
	eventually(t, "old on b", func() bool { return b.r.Session(old.jid) != nil })
	newer := bind(t, b, "alice@example.org/x", 0)
	eventually(t, "old closed", func() bool { return len(old.closes()) == 1 })
	if c := old.closes()[0]; c.Condition != stream.Conflict {
		t.Errorf("old closed with %s, want conflict", c.Condition)
	}
	eventually(t, "a routes to the newer", func() bool {
		_, remote := a.r.Session(newer.jid).(*remoteSession)
		return remote
	})
	if len(newer.closes()) != 0 {
		t.Errorf("newer closed: %v", newer.closes())
	}
}

// room records the stanzas a group chat service got.
type room struct {
	mu  sync.Mutex
	got []string
}

func (r *room) Handle(_ context.Context, st *stanza.Stanza) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, st.El.Attr("id"))
}

func (r *room) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// TestRooms checks that a room is served by one node, that the others
// forward to it, and that another node takes it over when it dies.
func TestRooms(t *testing.T) {
	url := natstest.Run(t)
	a, b, c := startNode(t, url, "a"), startNode(t, url, "b"), startNode(t, url, "c")
	rooms := map[string]*room{}
	handlers := map[string]router.Handler{}
	for _, tn := range []*testNode{a, b, c} {
		rooms[tn.Name()] = &room{}
		handlers[tn.Name()] = tn.Rooms("conference.example.org", rooms[tn.Name()])
	}
	send := func(node, id string) {
		el := xmlel.New("", "message", "id", id, "type", "groupchat", "to", "lobby@conference.example.org", "from", "alice@example.org/x")
		handlers[node].Handle(context.Background(), &stanza.Stanza{El: el, From: jid.MustParse("alice@example.org/x"), To: jid.MustParse("lobby@conference.example.org")})
	}
	send("a", "1") // a takes the lease
	send("b", "2")
	send("c", "3")
	if got := rooms["a"].ids(); len(got) != 3 {
		t.Fatalf("owner a got %q, want 1 2 3", got)
	}
	a.crash()
	send("b", "4") // no responder: b takes the room over
	send("c", "5")
	got := append(rooms["b"].ids(), rooms["c"].ids()...)
	if len(got) != 2 || got[0] != "4" || got[1] != "5" {
		t.Errorf("after the crash b and c got %q, want 4 5 on one of them", got)
	}
}

// TestBlocklist checks that a blocklist change on one node makes the
// others drop their cached copy.
func TestBlocklist(t *testing.T) {
	url := natstest.Run(t)
	a, b := startNode(t, url, "a"), startNode(t, url, "b")
	a.BlocklistChanged(context.Background(), jid.MustParse("bob@example.org"))
	eventually(t, "b forgets", func() bool { return len(b.list(&b.forgotten)) == 1 })
	if got := b.list(&b.forgotten)[0]; got != "bob@example.org" {
		t.Errorf("b forgot the blocklist of %s, want bob@example.org", got)
	}
	time.Sleep(100 * time.Millisecond)
	if got := a.list(&a.forgotten); len(got) != 0 {
		t.Errorf("a, where it changed, forgot %q again", got)
	}
}

// TestEntriesComeBack checks that a node whose entries another node
// cleared (it took the node for dead) puts them back.
func TestEntriesComeBack(t *testing.T) {
	url := natstest.Run(t)
	a, b := startNode(t, url, "a"), startNode(t, url, "b")
	s := bind(t, a, "alice@example.org/x", 0)
	eventually(t, "alice on b", func() bool { return b.r.Session(s.jid) != nil })
	if err := b.purgeSessions(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alice's entry back", func() bool {
		_, err := b.sessions.Get(context.Background(), sessionKey("a", s.jid))
		return err == nil
	})
	eventually(t, "alice on b again", func() bool { return b.r.Session(s.jid) != nil })
}

// TestRelay checks that presence the IM core saw on one node, and iq
// responses nobody there expected, reach the services of the others.
func TestRelay(t *testing.T) {
	url := natstest.Run(t)
	a, b := startNode(t, url, "a"), startNode(t, url, "b")
	var mu sync.Mutex
	var got []string
	b.SetRelay(Relay{
		Presence: func(_ context.Context, user, from jid.JID, el *xmlel.Element, own bool) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprintf("presence %s %s own=%v nil=%v", user, from, own, el == nil))
		},
		IQResponse: func(_ context.Context, st *stanza.Stanza) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprintf("iq %s %s %s", st.To, st.From, st.ID()))
		},
	})
	ctx := context.Background()
	alice, bob := jid.MustParse("alice@example.org/x"), jid.MustParse("bob@example.org/y")
	a.PresenceSent(ctx, alice, xmlel.New("", "presence"), true)
	a.PresenceArrived(ctx, &stanza.Stanza{El: xmlel.New("", "presence", "type", "unavailable"), From: bob, To: alice.Bare()})
	if a.IQResponse(ctx, &stanza.Stanza{El: xmlel.New("", "iq", "type", "result", "id", "q1"), From: bob, To: alice.Bare()}) {
		t.Error("the relay claimed an iq response")
	}
	want := []string{
		"presence alice@example.org alice@example.org/x own=true nil=false",
		"presence alice@example.org bob@example.org/y own=false nil=true",
		"iq alice@example.org bob@example.org/y q1",
	}
	eventually(t, "three relayed events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 3
	})
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("relayed %q, want %q", got[i], want[i])
		}
	}
}

// TestNameTaken checks that a second node with a live node's name does
// not join.
func TestNameTaken(t *testing.T) {
	url := natstest.Run(t)
	startNode(t, url, "a")
	cfg := testConfig
	cfg.URL, cfg.Node = url, "a"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := Start(context.Background(), cfg, router.New(nil), Hooks{}, NewMetrics(metrics.NewRegistry()), log)
	if !errors.Is(err, ErrNameTaken) {
		if n != nil {
			n.Close(context.Background())
		}
		t.Fatalf("Start with a taken name = %v, want ErrNameTaken", err)
	}
}

// TestStaleEntries checks that the entries of a node that died while no
// other node was there are cleared once the next node has listened long
// enough.
func TestStaleEntries(t *testing.T) {
	url := natstest.Run(t)
	a := startNode(t, url, "a")
	bind(t, a, "alice@example.org/x", 0)
	a.flush(context.Background())
	a.crash()
	b := startNode(t, url, "b")
	eventually(t, "a's entries cleared", func() bool {
		l, err := b.sessions.ListKeysFiltered(context.Background(), "a.>")
		if err != nil {
			return true // no keys
		}
		n := 0
		for range l.Keys() {
			n++
		}
		return n == 0
	})
	if b.r.Session(jid.MustParse("alice@example.org/x")) != nil {
		t.Error("a dead node's session was mirrored")
	}
}

// TestRoomLost checks that a node that was taken for dead and lost a
// room's lease meanwhile hears of it.
func TestRoomLost(t *testing.T) {
	url := natstest.Run(t)
	var mu sync.Mutex
	var lost []string
	a := startNode(t, url, "a", func(h *Hooks) {
		h.RoomLost = func(room jid.JID) {
			mu.Lock()
			defer mu.Unlock()
			lost = append(lost, room.String())
		}
	})
	b := startNode(t, url, "b")
	room := jid.MustParse("lobby@conference.example.org")
	if owner, err := a.owner(context.Background(), room); err != nil || owner != "a" {
		t.Fatalf("owner = %q, %v; want a", owner, err)
	}
	eventually(t, "b sees a's lease", func() bool {
		b.Node.mu.Lock()
		defer b.Node.mu.Unlock()
		return b.owners[room].node == "a"
	})
	// b takes a for dead (a lives on, cut off) and the room over.
	b.nodeDied("a")
	if owner, err := b.owner(context.Background(), room); err != nil || owner != "b" {
		t.Fatalf("owner after a's death = %q, %v; want b", owner, err)
	}
	eventually(t, "a told", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lost) == 1 && lost[0] == room.String()
	})
}

// TestForgets checks that NATS keeps nothing of a session that ended
// once the marker of its removal expired: not even its key.
func TestForgets(t *testing.T) {
	defer func(d time.Duration) { markerTTL = d }(markerTTL)
	markerTTL = time.Second
	url := natstest.Run(t)
	a := startNode(t, url, "a")
	s := bind(t, a, "alice@example.org/x", 0)
	a.flush(context.Background())
	a.r.Unbind(s)
	a.flush(context.Background())
	js, err := jetstream.New(a.nc)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stream empty", func() bool {
		st, err := js.Stream(context.Background(), "KV_"+bucketSessions)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	})
}

// TestLeaseSweep checks that a node gives up the leases of rooms that do
// not run on it, and keeps those of rooms that do.
func TestLeaseSweep(t *testing.T) {
	url := natstest.Run(t)
	active := jid.MustParse("busy@conference.example.org")
	a := startNode(t, url, "a", func(h *Hooks) {
		h.RoomActive = func(room jid.JID) bool { return room.Equal(active) }
	})
	ctx := context.Background()
	idle := jid.MustParse("nobody-here@conference.example.org")
	for _, room := range []jid.JID{active, idle} {
		if owner, err := a.owner(ctx, room); err != nil || owner != "a" {
			t.Fatalf("owner(%s) = %q, %v; want a", room, owner, err)
		}
	}
	a.sweepLeases()
	if _, err := a.rooms.Get(ctx, roomKey(idle)); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("lease of an idle room after the sweep: %v, want none", err)
	}
	if e, err := a.rooms.Get(ctx, roomKey(active)); err != nil || string(e.Value()) != "a" {
		t.Errorf("lease of an active room after the sweep: %v, want a's", err)
	}
}

// parked is a session waiting for its client to resume it (XEP-0198),
// holding messages the client did not acknowledge. Closed, it ends as a
// c2s session does, on a goroutine of its own: it leaves the router, and
// each message goes where the router now sends its resource, as the IM
// core hands back what a session did not deliver
// (im.Service.Undelivered), or to offline storage when no session has
// the resource.
type parked struct {
	session
	tn      *testNode
	unacked []*xmlel.Element

	once    sync.Once
	done    chan struct{}
	routed  router.Session // where the router sent the resource when the session was closed
	offline []string       // ids; read after done
}

func (p *parked) CloseWithError(e stream.Error) {
	p.session.CloseWithError(e)
	p.once.Do(func() {
		p.routed = p.tn.r.Session(p.jid)
		go p.end()
	})
}

func (p *parked) end() {
	defer close(p.done)
	p.tn.r.Unbind(p)
	for _, el := range p.unacked {
		if s := p.tn.r.Session(p.jid); s != nil {
			s.Send(el)
			continue
		}
		p.offline = append(p.offline, el.Attr("id"))
	}
}

// TestConflictHandsOver checks that a session waiting to be resumed,
// which a bind of its resource on another node replaces (the client
// came back there and could not resume), hands the messages its client
// did not acknowledge to the new session on that node, each once. The
// node that binds asks the old one to end its session before its
// directory entry reaches it; the old node must route the resource to
// the new one before the session ends, or those messages go to offline
// storage, which the new session may have read already. Each of the
// user's devices moves, one after the other, so that a close that
// overtakes the directory is all but certain.
func TestConflictHandsOver(t *testing.T) {
	url := natstest.Run(t)
	a, b := startNode(t, url, "a"), startNode(t, url, "b")
	const devices, messages = 20, 5
	olds := make([]*parked, devices)
	for i := range olds {
		full := jid.MustParse(fmt.Sprintf("alice@example.org/phone%d", i))
		p := &parked{session: session{jid: full}, tn: a, done: make(chan struct{})}
		for j := range messages {
			p.unacked = append(p.unacked, message(fmt.Sprintf("m%d-%d", i, j), "chat"))
		}
		if _, err := a.r.Bind(p, true, 0); err != nil {
			t.Fatal(err)
		}
		a.r.SetPresence(full, xmlel.New("", "presence"), 0)
		olds[i] = p
	}
	eventually(t, "the phones on b", func() bool { return len(b.r.Resources(jid.MustParse("alice@example.org"))) == devices })

	// Each client binds its resource on b, which ends its session on a,
	// as c2s does on a conflict (RFC 6120 §7.7.2.2).
	news := make([]*session, devices)
	for i, old := range olds {
		news[i] = &session{jid: old.jid}
		replaced, err := b.r.Bind(news[i], true, 0)
		if _, remote := replaced.(*remoteSession); err != nil || !remote {
			t.Fatalf("Bind on b replaced %T, %v; want a's session", replaced, err)
		}
		replaced.CloseWithError(stream.Error{Condition: stream.Conflict})
	}
	for i, old := range olds {
		select {
		case <-old.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the session of %s on a did not end", old.jid)
		}
		if r, ok := old.routed.(*remoteSession); !ok || r.node != "b" {
			t.Errorf("%s: a routed the resource to %T when it ended the session, want to b", old.jid, old.routed)
		}
		if len(old.offline) > 0 {
			t.Errorf("%s: went to offline storage: %q, want every message on the new session", old.jid, old.offline)
		}
		var want []string
		for _, m := range old.unacked {
			want = append(want, m.String())
		}
		eventually(t, "the messages on the new session", func() bool { return len(news[i].received())+len(old.offline) >= messages })
		if got := news[i].received(); !slices.Equal(got, want) {
			t.Errorf("%s: the new session got %d messages:\n%q\nwant each of the %d once, in order", old.jid, len(got), got, messages)
		}
		if c := old.closes(); len(c) != 1 || c[0].Condition != stream.Conflict {
			t.Errorf("%s: the old session was closed with %v, want one conflict", old.jid, c)
		}
	}
}

// TestMovedOnTheWay checks that a message a third node routed to a
// session before the resource moved to another node, and that reaches
// the old node after it ended the session, goes on to the resource's new
// node rather than back to the sender's IM core, which may not know of
// the new session yet and would keep the message offline.
func TestMovedOnTheWay(t *testing.T) {
	url := natstest.Run(t)
	a, b, c := startNode(t, url, "a"), startNode(t, url, "b"), startNode(t, url, "c")
	full := jid.MustParse("alice@example.org/phone")
	old := &parked{session: session{jid: full}, tn: a, done: make(chan struct{})}
	if _, err := a.r.Bind(old, true, 0); err != nil {
		t.Fatal(err)
	}
	a.r.SetPresence(full, xmlel.New("", "presence"), 0)
	for _, tn := range []*testNode{b, c} {
		eventually(t, "the phone on "+tn.Name(), func() bool { return tn.r.Session(full) != nil })
	}
	// c's IM core picked the session on a for a message, and sends it
	// once the resource has moved to b.
	onTheWay := c.r.Session(full)
	fresh := &session{jid: full}
	replaced, err := b.r.Bind(fresh, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	replaced.CloseWithError(stream.Error{Condition: stream.Conflict})
	select {
	case <-old.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the session on a did not end")
	}
	onTheWay.Send(message("late", "chat"))
	if got := fresh.received(); len(got) != 1 || got[0] != message("late", "chat").String() {
		t.Errorf("the new session on b got %q, want the message", got)
	}
	if got := c.list(&c.undelivered); len(got) != 0 {
		t.Errorf("c took back %q, want the message on b", got)
	}
}

// TestLocation checks that a node learns the other nodes' locations from
// their heartbeats, and forgets a node's when it dies.
func TestLocation(t *testing.T) {
	url := natstest.Run(t)
	located := func(loc string) func(*Config) { return func(c *Config) { c.Location = loc } }
	a := startNodeWith(t, url, "a", located("a.example.org:5222"))
	b := startNodeWith(t, url, "b", located("b.example.org:5222"))
	c := startNodeWith(t, url, "c", located(""))
	eventually(t, "b's location on a", func() bool { loc, ok := a.Location("b"); return ok && loc == "b.example.org:5222" })
	eventually(t, "a's location on b", func() bool { loc, ok := b.Location("a"); return ok && loc == "a.example.org:5222" })
	eventually(t, "c heard on a", func() bool { return slices.Contains(a.Nodes(), "c") })
	for _, node := range []string{"a", "c", "d"} {
		if loc, ok := a.Location(node); ok {
			t.Errorf("a.Location(%q) = %q, want none (itself, no location, unknown)", node, loc)
		}
	}
	if _, ok := c.Location("a"); !ok {
		t.Error("c, without a location itself, does not know a's")
	}
	b.crash()
	eventually(t, "b's location forgotten on a", func() bool { _, ok := a.Location("b"); return !ok })
}

// beganSession is a client session that began at a time
// (router.Beginner).
type beganSession struct {
	*session
	began time.Time
}

func (s beganSession) Began() time.Time { return s.began }

// TestRevoke checks that an account disabled on one node ends its
// sessions on another, and that the other refuses to bind a session that
// logged in there before, until the account is enabled again.
func TestRevoke(t *testing.T) {
	url := natstest.Run(t)
	a, b := startNode(t, url, "a"), startNode(t, url, "b")
	alice := jid.MustParse("alice@example.org")
	began := time.Now()
	phone := bind(t, b, "alice@example.org/phone", 0)
	other := bind(t, b, "bob@example.org/phone", 0)
	disabled := stream.Error{Condition: stream.NotAuthorized, Text: "account disabled"}
	a.Revoke(alice, disabled)

	eventually(t, "b ends alice's session as a asked", func() bool {
		return slices.Contains(phone.closes(), disabled)
	})
	// A session that logged in on b with the account as it was before,
	// and binds now.
	bindEarly := func() error {
		s := beganSession{&session{jid: jid.MustParse("alice@example.org/tablet")}, began}
		_, err := b.r.Bind(s, false, 0)
		if err == nil {
			b.r.Unbind(s)
		}
		return err
	}
	var revoked *router.RevokedError
	eventually(t, "b refuses an early session", func() bool { return errors.As(bindEarly(), &revoked) })
	if revoked.Stream != disabled {
		t.Errorf("b refused with %v, want %v", revoked.Stream, disabled)
	}
	if len(other.closes()) != 0 {
		t.Errorf("another account's session ended: %v", other.closes())
	}

	a.Unrevoke(alice)
	eventually(t, "b binds an early session once alice is enabled", func() bool { return bindEarly() == nil })
}
