package muc_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"samtal.org/samtal/internal/im"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/muc"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// memSession is a bound client session kept in memory. Like a c2s
// session, its Send serializes the stanza into a bounded queue and never
// blocks; a session whose queue grows past its limit closes itself,
// which unbinds it and tells the IM core, as c2s does. A reading session
// empties its queue as soon as it is written (a client that keeps up); a
// stalled one never does.
type memSession struct {
	full    jid.JID
	w       *world
	stalled bool
	limit   int

	mu     sync.Mutex
	queue  []byte
	closed bool

	messages atomic.Int64 // group chat messages with a body received
	sid      atomic.Value // the id of the last iq result received
}

func (s *memSession) JID() jid.JID { return s.full }

func (s *memSession) Send(el *xmlel.Element) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.queue = stream.AppendElement(s.queue, el, xmlel.NSClient)
	over := len(s.queue) > s.limit
	if !s.stalled {
		s.queue = s.queue[:0]
	}
	if over {
		s.closed = true
	}
	s.mu.Unlock()
	if over {
		// The session ends in its own goroutine, as a c2s session's
		// reader does when its writer gives up.
		go s.w.end(s)
		return
	}
	switch {
	case el.Local == "message" && el.Attr("type") == "groupchat" && el.Child("", "body") != nil:
		s.messages.Add(1)
		s.w.delivered.Add(1)
	case el.Local == "iq" && el.Attr("type") == "result":
		s.sid.Store(el.Attr("id"))
	}
}

func (s *memSession) CloseWithError(stream.Error) {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// world is a server in memory: the real router, IM core and group chat
// service over a SQLite store, with in-memory sessions.
type world struct {
	tb        testing.TB
	router    *router.Router
	core      *im.Service
	svc       *muc.Service
	delivered atomic.Int64
	ended     sync.WaitGroup
}

func newWorld(tb testing.TB) *world {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "samtal.db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	w := &world{tb: tb, router: router.New([]string{"example.org"})}
	w.core = im.New(im.Config{}, w.router, store, iq.NewMux(log), log)
	w.router.SetLocal(w.core)
	w.svc, err = muc.New(muc.Config{
		Domain: "conference.example.org", MaxRoomsPerUser: 10, DefaultOccupants: 10000, MaxOccupants: 10000,
		HistoryDefault: 0, HistoryMax: 20, ArchiveRetention: time.Hour, MaxPage: 10,
		Secret: []byte("0123456789abcdef0123456789abcdef"),
	}, w.router, store.Rooms(), store.RoomArchive(), log)
	if err != nil {
		tb.Fatal(err)
	}
	w.router.AddDomain("conference.example.org", w.svc)
	tb.Cleanup(func() {
		w.svc.Close(context.Background())
		w.ended.Wait()
		store.Close()
	})
	return w
}

func (w *world) end(s *memSession) {
	w.ended.Add(1)
	defer w.ended.Done()
	if last, ok := w.router.Unbind(s); ok {
		w.core.Ended(context.Background(), s, last)
	}
}

// session binds a new session.
func (w *world) session(local string, stalled bool, limit int) *memSession {
	full, err := jid.New(local, "example.org", "r")
	if err != nil {
		w.tb.Fatal(err)
	}
	s := &memSession{full: full, w: w, stalled: stalled, limit: limit}
	if _, err := w.router.Bind(s, true, 0); err != nil {
		w.tb.Fatal(err)
	}
	return s
}

// send hands XML from a session to the IM core, as c2s does.
func (w *world) send(s *memSession, xml string) {
	el, err := xmlstream.Parse([]byte(xml), xmlstream.Limits{MaxStanzaBytes: 1 << 20, MaxDepth: 64, MaxAttrs: 256})
	if err != nil {
		w.tb.Fatal(err)
	}
	el.SetAttr("from", s.full.String())
	st := &stanza.Stanza{El: el, From: s.full}
	if t := el.Attr("to"); t != "" {
		st.To, _ = jid.Parse(t)
	}
	w.core.Outbound(context.Background(), s, st)
}

const bigRoom = "big@conference.example.org"

// fill makes a room with n occupants: the first creates it; the room
// broadcasts the presence of its moderators only, as a large room does,
// so that entering costs O(n) rather than O(n²) presence stanzas.
func (w *world) fill(n int, stalled map[int]bool, limit int) []*memSession {
	sessions := make([]*memSession, n)
	sessions[0] = w.session("u0", false, limit)
	w.send(sessions[0], `<presence to='`+bigRoom+`/u0'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	w.send(sessions[0], `<iq type='set' id='c' to='`+bigRoom+`'><query xmlns='http://jabber.org/protocol/muc#owner'>`+
		`<x xmlns='jabber:x:data' type='submit'>`+
		`<field var='muc#roomconfig_presencebroadcast'><value>moderator</value></field>`+
		`<field var='muc#roomconfig_maxusers'><value>10000</value></field>`+
		`<field var='muc#maxhistoryfetch'><value>0</value></field></x></query></iq>`)
	for i := 1; i < n; i++ {
		nick := fmt.Sprintf("u%d", i)
		sessions[i] = w.session(nick, stalled[i], limit)
		w.send(sessions[i], `<presence to='`+bigRoom+`/`+nick+`'><x xmlns='http://jabber.org/protocol/muc'><history maxchars='0'/></x></presence>`)
	}
	// A self-ping of the last occupant answers once every join before
	// it was handled.
	w.send(sessions[n-1], `<iq type='get' id='sp' to='`+bigRoom+`/u`+fmt.Sprint(n-1)+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
	w.waitFor(func() bool { return sessions[n-1].lastIQ() == "sp" }, 30*time.Second)
	return sessions
}

func (s *memSession) lastIQ() string {
	v, _ := s.sid.Load().(string)
	return v
}

func (w *world) waitFor(cond func() bool, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			w.tb.Fatalf("timed out after %v", limit)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFanoutSlowOccupant fills a room with 5000 occupants, one of which
// stops reading. The room goes on delivering to the others; the stalled
// session closes itself when its queue is full, and leaves the room.
func TestFanoutSlowOccupant(t *testing.T) {
	if testing.Short() {
		t.Skip("5000 occupants")
	}
	const n, msgs, limit = 5000, 40, 16 << 10
	w := newWorld(t)
	t0 := time.Now()
	sessions := w.fill(n, map[int]bool{7: true}, limit)
	t.Logf("%d occupants entered in %v", n, time.Since(t0))
	slow := sessions[7]
	start := time.Now()
	body := fmt.Sprintf("%0200d", 0) // ~450 bytes a stanza: the stalled queue fills in ~35
	for i := range msgs {
		w.send(sessions[1], fmt.Sprintf(`<message type='groupchat' id='m%d' to='%s'><body>%s</body></message>`, i, bigRoom, body))
	}
	all := func(want int64) func() bool {
		return func() bool {
			for i, s := range sessions {
				if i != 7 && s.messages.Load() < want {
					return false
				}
			}
			return true
		}
	}
	w.waitFor(all(msgs), 60*time.Second)
	elapsed := time.Since(start)
	for i, s := range sessions {
		if i != 7 && s.messages.Load() != msgs {
			t.Fatalf("occupant %d got %d messages, want %d", i, s.messages.Load(), msgs)
		}
	}
	t.Logf("%d messages to %d occupants in %v", msgs, n, elapsed)
	// The stalled session ended itself and is no longer bound.
	w.waitFor(func() bool { return w.router.Session(slow.full) == nil }, 10*time.Second)
	slow.mu.Lock()
	closed := slow.closed
	slow.mu.Unlock()
	if !closed {
		t.Fatal("the stalled session did not close")
	}
	// The room saw it leave: a later message reaches the others and
	// not the stalled session.
	got := slow.messages.Load()
	w.send(sessions[1], `<message type='groupchat' id='late' to='`+bigRoom+`'><body>late</body></message>`)
	w.waitFor(all(msgs+1), 10*time.Second)
	if slow.messages.Load() != got {
		t.Fatal("the stalled session still receives")
	}
}

// BenchmarkFanout measures group chat fan-out: one occupant's messages
// delivered to every occupant of a room through the router and the IM
// core into in-memory sessions that serialize them, as c2s sessions do.
// stanzas/s counts delivered stanzas.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{100, 2000} {
		b.Run(fmt.Sprintf("occupants=%d", n), func(b *testing.B) {
			w := newWorld(b)
			sessions := w.fill(n, nil, 1<<20)
			w.delivered.Store(0)
			body := "Double, double toil and trouble; fire burn and cauldron bubble."
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				w.send(sessions[1], fmt.Sprintf(`<message type='groupchat' id='m%d' to='%s'><body>%s</body></message>`, i, bigRoom, body))
			}
			want := int64(b.N) * int64(n)
			w.waitFor(func() bool { return w.delivered.Load() >= want }, 10*time.Minute)
			b.StopTimer()
			b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "stanzas/s")
			// On a shared machine the wall clock counts others' work too;
			// the process's CPU time does not.
			b.ReportMetric(float64(want)/(cpuTime()-cpu0).Seconds(), "stanzas/cpu-s")
		})
	}
}

// cpuTime returns the CPU time the process used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
