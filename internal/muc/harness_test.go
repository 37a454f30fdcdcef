package muc

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// fakeRouter delivers what rooms send to in-memory clients by full JID,
// or to whoever registered the bare JID.
type fakeRouter struct {
	mu      sync.Mutex
	clients map[jid.JID]*client
	svc     *Service
	// tap, when set, sees every stanza the service routes.
	tap func(*stanza.Stanza)
}

func (f *fakeRouter) Route(ctx context.Context, st *stanza.Stanza) {
	f.mu.Lock()
	tap := f.tap
	f.mu.Unlock()
	if tap != nil {
		tap(st)
	}
	if st.To.Domain() == f.svc.Domain() {
		f.svc.Handle(ctx, st)
		return
	}
	f.mu.Lock()
	c := f.clients[st.To]
	if c == nil {
		c = f.clients[st.To.Bare()]
	}
	f.mu.Unlock()
	if c == nil {
		return
	}
	c.deliver(st.El)
}

// client is an in-memory session that records what it receives.
type client struct {
	t   testing.TB
	h   *harness
	jid jid.JID

	mu   sync.Mutex
	got  []*xmlel.Element
	wake chan struct{}
}

func (c *client) deliver(el *xmlel.Element) {
	// Serialize and parse again, as a stream would: what the client sees
	// is exactly what was written.
	cp, err := xmlstream.Parse([]byte(el.String()), xmlstream.Limits{MaxStanzaBytes: 1 << 20, MaxDepth: 64, MaxAttrs: 256})
	if err != nil {
		c.t.Errorf("%s received XML that does not parse: %v: %s", c.jid, err, el)
		return
	}
	c.mu.Lock()
	c.got = append(c.got, cp)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

type harness struct {
	t      testing.TB
	svc    *Service
	router *fakeRouter
	store  storage.Store
	path   string
	cfg    Config
	errs   errorLog
}

// errorLog keeps what the service logs as errors. A room recovers from
// a panic and logs it, so that a test would not see it otherwise.
type errorLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *errorLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }

func (l *errorLog) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.errs = append(l.errs, b.String())
	l.mu.Unlock()
	return nil
}

func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLog) WithGroup(string) slog.Handler      { return l }

// take returns the errors logged since the last call.
func (l *errorLog) take() (errs []string) {
	l.mu.Lock()
	errs, l.errs = l.errs, nil
	l.mu.Unlock()
	return errs
}

func testConfig() Config {
	return Config{
		Domain: "conference.example.org", MaxRoomsPerUser: 5, DefaultOccupants: 50, MaxOccupants: 100,
		HistoryDefault: 20, HistoryMax: 50, ArchiveDefault: true, ArchiveRetention: 24 * time.Hour,
		MaxPage: 10, MaxVCardBytes: 1 << 16, Secret: []byte("0123456789abcdef0123456789abcdef"),
		MayCreate: func(u jid.JID) bool { return u.Domain() == "example.org" },
	}
}

func newHarness(t testing.TB, adjust ...func(*Config)) *harness {
	return newHarnessIn(t, t.TempDir(), adjust...)
}

// newHarnessIn is newHarness with the database in dir.
func newHarnessIn(t testing.TB, dir string, adjust ...func(*Config)) *harness {
	h := &harness{t: t, path: filepath.Join(dir, "samtal.db"), cfg: testConfig()}
	for _, f := range adjust {
		f(&h.cfg)
	}
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) start() {
	store, err := sqlite.Open(context.Background(), h.path, sqlite.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = store
	if h.router == nil {
		h.router = &fakeRouter{clients: map[jid.JID]*client{}}
	}
	svc, err := New(h.cfg, h.router, store.Rooms(), store.RoomArchive(), slog.New(&h.errs))
	if err != nil {
		h.t.Fatal(err)
	}
	h.svc = svc
	h.router.svc = svc
}

func (h *harness) stop() {
	if h.svc == nil {
		return
	}
	h.svc.Close(context.Background())
	if err := h.store.Close(); err != nil {
		h.t.Error(err)
	}
	h.svc = nil
}

// restart closes the service and its store and opens them again on the
// same file, as a server restart does.
func (h *harness) restart() {
	h.stop()
	h.start()
}

func (h *harness) client(full string) *client {
	j := mustJID(h.t, full)
	c := &client{t: h.t, h: h, jid: j, wake: make(chan struct{}, 1)}
	h.router.mu.Lock()
	h.router.clients[j] = c
	if _, ok := h.router.clients[j.Bare()]; !ok {
		h.router.clients[j.Bare()] = c
	}
	h.router.mu.Unlock()
	return c
}

func mustJID(t testing.TB, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatalf("jid.Parse(%q) = %v", s, err)
	}
	return j
}

// send sends XML from the client, as its server would route it.
func (c *client) send(format string, args ...any) {
	c.t.Helper()
	el, err := xmlstream.Parse([]byte(fmt.Sprintf(format, args...)), xmlstream.Limits{MaxStanzaBytes: 1 << 20, MaxDepth: 64, MaxAttrs: 256})
	if err != nil {
		c.t.Fatalf("bad test XML: %v", err)
	}
	el.SetAttr("from", c.jid.String())
	to := mustJID(c.t, el.Attr("to"))
	c.h.svc.Handle(context.Background(), &stanza.Stanza{El: el, From: c.jid, To: to})
}

// next returns the next stanza the client receives.
func (c *client) next() *xmlel.Element {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		if len(c.got) > 0 {
			el := c.got[0]
			c.got = c.got[1:]
			c.mu.Unlock()
			return el
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-deadline:
			c.t.Fatalf("%s received nothing in time", c.jid)
		}
	}
}

// expect returns the next stanza that matches, failing after others that
// do not... it skips nothing: the next stanza must match.
func (c *client) expect(what string, match func(*xmlel.Element) bool) *xmlel.Element {
	c.t.Helper()
	el := c.next()
	if !match(el) {
		c.t.Fatalf("%s: got %s, want %s", c.jid, el, what)
	}
	return el
}

// until skips stanzas until one matches.
func (c *client) until(what string, match func(*xmlel.Element) bool) *xmlel.Element {
	c.t.Helper()
	for range 1000 {
		el := c.next()
		if match(el) {
			return el
		}
	}
	c.t.Fatalf("%s: no %s", c.jid, what)
	return nil
}

// quiet checks that the client receives nothing more for a moment.
func (c *client) quiet() {
	c.t.Helper()
	time.Sleep(50 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.got) > 0 {
		c.t.Fatalf("%s: unexpected %s", c.jid, c.got[0])
	}
}

// drain forgets what the client received so far, after the room has
// caught up.
func (c *client) drain() {
	time.Sleep(30 * time.Millisecond)
	c.mu.Lock()
	c.got = nil
	c.mu.Unlock()
}

// Matchers.

func codes(el *xmlel.Element) []string {
	var out []string
	for _, s := range el.Child(NSUser, "x").Elements() {
		if s.Local == "status" {
			out = append(out, s.Attr("code"))
		}
	}
	return out
}

func hasCodes(el *xmlel.Element, want ...string) bool {
	return slices.Equal(codes(el), want)
}

func item(el *xmlel.Element) *xmlel.Element { return el.Child(NSUser, "x").Child(NSUser, "item") }

func isPresence(from, typ string) func(*xmlel.Element) bool {
	return func(el *xmlel.Element) bool {
		return el.Local == "presence" && el.Attr("from") == from && el.Attr("type") == typ
	}
}

func isError(cond stanza.Condition) func(*xmlel.Element) bool {
	return func(el *xmlel.Element) bool {
		e, ok := stanza.ParseError(el)
		return el.Attr("type") == "error" && ok && e.Condition == cond
	}
}

func isMessage(from string, body string) func(*xmlel.Element) bool {
	return func(el *xmlel.Element) bool {
		return el.Local == "message" && el.Attr("from") == from && el.ChildText("", "body") == body
	}
}

func isResult(id string) func(*xmlel.Element) bool {
	return func(el *xmlel.Element) bool {
		return el.Local == "iq" && el.Attr("type") == "result" && el.Attr("id") == id
	}
}

const coven = "coven@conference.example.org"

// join enters a room and reads the answer up to and including the
// subject; it returns the self-presence.
func (c *client) join(roomJID, nick, extra string) *xmlel.Element {
	c.t.Helper()
	c.send(`<presence to='%s/%s'><x xmlns='%s'>%s</x></presence>`, roomJID, nick, NS, extra)
	var self *xmlel.Element
	for self == nil {
		el := c.next()
		if el.Attr("type") == "error" {
			c.t.Fatalf("%s: joining %s as %s: %s", c.jid, roomJID, nick, el)
		}
		if el.Local == "presence" && strings.HasPrefix(el.Attr("from"), roomJID+"/") && contains(codes(el), "110") {
			self = el
		}
	}
	c.until("subject", func(el *xmlel.Element) bool { return el.Local == "message" && el.Child("", "subject") != nil })
	return self
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// create creates a room as an instant room and configures it with the
// given fields.
func (c *client) create(roomJID, nick string, fields map[string]string) {
	c.t.Helper()
	self := c.join(roomJID, nick, "")
	if !contains(codes(self), "201") {
		c.t.Fatalf("%s: creating %s: self-presence %s has no 201", c.jid, roomJID, self)
	}
	c.configure(roomJID, fields)
}

func (c *client) configure(roomJID string, fields map[string]string) {
	c.t.Helper()
	var b strings.Builder
	for k, v := range fields {
		vals := ""
		for _, x := range strings.Split(v, "\n") {
			vals += "<value>" + x + "</value>"
		}
		fmt.Fprintf(&b, "<field var='%s'>%s</field>", k, vals)
	}
	c.send(`<iq type='set' id='cfg' to='%s'><query xmlns='%s'><x xmlns='jabber:x:data' type='submit'>%s</x></query></iq>`, roomJID, NSOwner, b.String())
	c.until("configuration result", isResult("cfg"))
}

func (c *client) say(roomJID, id, body string) {
	c.send(`<message type='groupchat' id='%s' to='%s'><body>%s</body></message>`, id, roomJID, body)
}

// affList asks the room for the bare JIDs with an affiliation, as c.
func (c *client) affList(roomJID, aff string) string {
	c.t.Helper()
	c.send(`<iq type='get' id='list-%s' to='%s'><query xmlns='%s'><item affiliation='%s'/></query></iq>`, aff, roomJID, NSAdmin, aff)
	return c.until(aff+" list", isResult("list-"+aff)).String()
}
