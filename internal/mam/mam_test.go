package mam

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/archive"
	"samtal.org/samtal/internal/im"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/rsm"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

// env is a server with the IM core and the archive wired as
// internal/server does.
type env struct {
	t      *testing.T
	store  *sqlite.Store
	router *router.Router
	core   *im.Service
	mam    *Service
	clock  *clock
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func testConfig() Config {
	return Config{Default: storage.ArchiveAlways, DefaultPage: 5, MaxPage: 10, Retention: 24 * time.Hour}
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	c := &clock{now: time.Now()}
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "samtal.db"), sqlite.Options{Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	xmpptest.CreateAccounts(t, store.Accounts(), "alice@example.org", "bob@example.org")
	r := router.New([]string{"example.org"})
	log := slog.New(slog.DiscardHandler)
	mux := iq.NewMux(log)
	core := im.New(im.Config{}, r, store, mux, log)
	r.SetLocal(core)
	cfg.Now = c.Now
	m := New(cfg, store.Archive(), store.Roster(), r, mux, log)
	core.AddHooks(im.Hooks{
		MessageSent: m.MessageSent, MessageArrived: m.MessageArrived,
		PresenceSent: m.PresenceSent, OfflineMessage: m.OfflineMessage, SessionEnded: m.SessionEnded,
	})
	core.AddHooks(im.Hooks{MessageSent: m.AfterSent})
	return &env{t: t, store: store, router: r, core: core, mam: m, clock: c}
}

// online binds a session and sends its initial presence.
func (e *env) online(full string) *xmpptest.Session {
	e.t.Helper()
	s := e.bind(full)
	e.send(s, `<presence/>`)
	s.Take()
	return s
}

func (e *env) bind(full string) *xmpptest.Session {
	e.t.Helper()
	return xmpptest.Bind(e.t, e.router, full)
}

// send has the session send a stanza, as c2s hands it to the core.
func (e *env) send(s *xmpptest.Session, x string) {
	e.t.Helper()
	xmpptest.Send(e.t, e.core, s, x)
}

// chat has s send a chat message with a body.
func (e *env) chat(s *xmpptest.Session, to, body string) {
	e.t.Helper()
	e.send(s, `<message to='`+to+`' type='chat' id='m'><body>`+body+`</body></message>`)
}

// archived returns the bodies in user's archive.
func (e *env) archived(user string) []string {
	e.t.Helper()
	p, err := e.store.Archive().Query(e.t.Context(), user, storage.ArchiveQuery{Max: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, m := range p.Messages {
		el := xmpptest.Parse(e.t, m.Stanza)
		out = append(out, el.ChildText("", "body"))
	}
	return out
}

// result is one query result as the client sees it.
type result struct {
	id, queryID, body, stamp string
}

// query sends an archive query and returns the results and the iq
// response.
func (e *env) query(s *xmpptest.Session, q archive.Query) ([]result, *xmlel.Element) {
	e.t.Helper()
	s.Take() // what arrived before
	iqEl := xmlel.New("", "iq", "type", "set", "id", "q1").Append(q.Element())
	e.core.Outbound(e.t.Context(), s, &stanza.Stanza{El: iqEl, From: s.JID()})
	var out []result
	var resp *xmlel.Element
	for _, el := range s.Take() {
		switch el.Local {
		case "message":
			r := el.Child(archive.NS, "result")
			if r == nil {
				e.t.Fatalf("unexpected message during the query: %s", el)
			}
			if el.Attr("from") != s.JID().Bare().String() || el.Attr("to") != s.JID().String() {
				e.t.Errorf("result addressed from %q to %q, want from the archive to the session", el.Attr("from"), el.Attr("to"))
			}
			fwd := r.Child(archive.NSForward, "forwarded")
			out = append(out, result{
				id: r.Attr("id"), queryID: r.Attr("queryid"),
				body:  fwd.Child("", "message").ChildText("", "body"),
				stamp: fwd.Child(stanza.NSDelay, "delay").Attr("stamp"),
			})
		case "iq":
			resp = el
		}
	}
	if resp == nil {
		e.t.Fatal("no iq response to the query")
	}
	return out, resp
}

func bodies(rs []result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.body
	}
	return out
}

// fin returns the page and completeness of a query response.
func fin(t *testing.T, resp *xmlel.Element) (rsm.Page, bool) {
	t.Helper()
	f := resp.Child(archive.NS, "fin")
	if resp.Attr("type") != "result" || f == nil {
		t.Fatalf("query response = %s, want a result with <fin/>", resp)
	}
	p, err := rsm.ParsePage(f.Child(rsm.NS, "set"))
	if err != nil {
		t.Fatalf("<fin/> set: %v", err)
	}
	return p, f.Attr("complete") == "true"
}

func errorCondition(resp *xmlel.Element) stanza.Condition {
	e, _ := stanza.ParseError(resp)
	return e.Condition
}

func TestArchivable(t *testing.T) {
	tests := []struct {
		name string
		xml  string
		want bool
	}{
		{"chat body", `<message type='chat'><body>hi</body></message>`, true},
		{"normal body", `<message><body>hi</body></message>`, true},
		{"chat state alone", `<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
		{"chat state with body", `<message type='chat'><body>hi</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, true},
		{"no-store", `<message type='chat'><body>hi</body><no-store xmlns='urn:xmpp:hints'/></message>`, false},
		{"no-permanent-store", `<message type='chat'><body>hi</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>`, false},
		{"store hint", `<message type='chat'><x xmlns='urn:example'/><store xmlns='urn:xmpp:hints'/></message>`, true},
		{"omemo", `<message type='chat'><encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'/></encrypted></message>`, true},
		{"omemo 2", `<message type='chat'><encrypted xmlns='urn:xmpp:omemo:2'><header sid='1'/></encrypted></message>`, true},
		{"displayed marker", `<message type='chat'><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/></message>`, true},
		{"markable alone", `<message type='chat'><markable xmlns='urn:xmpp:chat-markers:0'/></message>`, false},
		{"receipt", `<message type='chat'><received xmlns='urn:xmpp:receipts' id='x'/></message>`, true},
		{"receipt request alone", `<message type='chat'><request xmlns='urn:xmpp:receipts'/></message>`, false},
		{"retraction", `<message type='chat'><retract xmlns='urn:xmpp:message-retract:1' id='x'/></message>`, true},
		{"call proposal", `<message type='chat'><propose xmlns='urn:xmpp:jingle-message:0' id='x'/></message>`, true},
		{"group chat", `<message type='groupchat'><body>hi</body></message>`, false},
		{"headline", `<message type='headline'><body>hi</body></message>`, false},
		{"error", `<message type='error'><body>hi</body></message>`, false},
		{"pep event", `<message><event xmlns='http://jabber.org/protocol/pubsub#event'/></message>`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Archivable(xmpptest.Parse(t, tc.xml)); got != tc.want {
				t.Errorf("Archivable(%s) = %v, want %v", tc.xml, got, tc.want)
			}
		})
	}
}

func TestArchiveBothSides(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.online("alice@example.org/a")
	b := e.online("bob@example.org/b")
	// A client's forged stanza-id of the recipient's archive is dropped.
	e.send(a, `<message to='bob@example.org' type='chat'><body>hello</body><stanza-id xmlns='urn:xmpp:sid:0' by='bob@example.org' id='forged'/><stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='forged2'/></message>`)
	got := b.Take()
	if len(got) != 1 {
		t.Fatalf("bob got %d stanzas, want the message", len(got))
	}
	var ids []*xmlel.Element
	for _, c := range got[0].Elements() {
		if c.Is(archive.NSStanzaID, "stanza-id") {
			ids = append(ids, c)
		}
	}
	if len(ids) != 1 || ids[0].Attr("by") != "bob@example.org" || ids[0].Attr("id") == "forged" {
		t.Fatalf("bob's message carries stanza-ids %v, want one of bob's archive", ids)
	}
	if got := e.archived("alice@example.org"); len(got) != 1 || got[0] != "hello" {
		t.Errorf("alice's archive = %q, want the sent message", got)
	}
	if got := e.archived("bob@example.org"); len(got) != 1 || got[0] != "hello" {
		t.Errorf("bob's archive = %q, want the received message", got)
	}
	p, err := e.store.Archive().Query(t.Context(), "bob@example.org", storage.ArchiveQuery{Max: 1})
	if err != nil || p.Messages[0].ID != ids[0].Attr("id") || p.Messages[0].With != "alice@example.org/a" {
		t.Errorf("bob's archive holds %+v, %v, want the stanza-id's message with alice/a", p.Messages, err)
	}
	if strings.Contains(p.Messages[0].Stanza, "forged") {
		t.Errorf("the archive kept a forged stanza-id: %s", p.Messages[0].Stanza)
	}
	q, _ := e.store.Archive().Query(t.Context(), "alice@example.org", storage.ArchiveQuery{Max: 1})
	if q.Messages[0].With != "bob@example.org" || strings.Contains(q.Messages[0].Stanza, "by='alice@example.org'") {
		t.Errorf("alice's archive holds %+v, want the message to bob without alice's stanza-ids", q.Messages[0])
	}
}

func TestNotArchived(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.online("alice@example.org/a")
	e.online("bob@example.org/b")
	e.send(a, `<message to='bob@example.org' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	e.send(a, `<message to='bob@example.org' type='chat'><body>secret</body><no-store xmlns='urn:xmpp:hints'/></message>`)
	e.send(a, `<message to='bob@example.org' type='headline'><body>news</body></message>`)
	if got := e.archived("alice@example.org"); len(got) != 0 {
		t.Errorf("alice's archive = %q, want nothing", got)
	}
	if got := e.archived("bob@example.org"); len(got) != 0 {
		t.Errorf("bob's archive = %q, want nothing", got)
	}
}

func TestSelfMessageOnce(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.online("alice@example.org/a")
	e.online("alice@example.org/b")
	e.chat(a, "alice@example.org", "note to self")
	if got := e.archived("alice@example.org"); len(got) != 1 {
		t.Fatalf("alice's archive = %q, want the message once", got)
	}
	rs, _ := e.query(a, archive.Query{Page: rsm.NewQuery(), With: jid.MustParse("alice@example.org")})
	if len(rs) != 1 || rs[0].body != "note to self" {
		t.Errorf("query with=own JID = %q, want the note", bodies(rs))
	}
}

func TestQueryPaging(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.online("alice@example.org/a")
	b := e.online("bob@example.org/b")
	for i := range 12 {
		e.chat(b, "alice@example.org", fmt.Sprint("m", i))
	}
	// No page size: the default, 5.
	rs, resp := e.query(a, archive.Query{QueryID: "f27", Page: rsm.NewQuery()})
	page, complete := fin(t, resp)
	if got := bodies(rs); strings.Join(got, ",") != "m0,m1,m2,m3,m4" || complete {
		t.Fatalf("first page = %q complete %v, want m0..m4, not complete", got, complete)
	}
	if rs[0].queryID != "f27" || page.First != rs[0].id || page.Last != rs[4].id || page.Count != 12 || page.FirstIndex != 0 {
		t.Errorf("first page fin = %+v, results %+v", page, rs)
	}
	if _, err := archive.ParseTime(rs[0].stamp); err != nil {
		t.Errorf("delay stamp %q: %v", rs[0].stamp, err)
	}
	// Forward with after.
	rs, resp = e.query(a, archive.Query{Page: rsm.Query{Max: 5, After: page.Last, Index: -1}})
	page, complete = fin(t, resp)
	if got := bodies(rs); strings.Join(got, ",") != "m5,m6,m7,m8,m9" || complete || page.FirstIndex != 5 {
		t.Fatalf("second page = %q complete %v %+v", got, complete, page)
	}
	rs, resp = e.query(a, archive.Query{Page: rsm.Query{Max: 5, After: page.Last, Index: -1}})
	_, complete = fin(t, resp)
	if got := bodies(rs); strings.Join(got, ",") != "m10,m11" || !complete {
		t.Fatalf("last page = %q complete %v", got, complete)
	}
	// Backward: the last page, then the one before, flipped.
	rs, resp = e.query(a, archive.Query{Page: rsm.Query{Max: 4, HasBefore: true, Index: -1}})
	page, complete = fin(t, resp)
	if got := bodies(rs); strings.Join(got, ",") != "m8,m9,m10,m11" || complete || page.FirstIndex != 8 {
		t.Fatalf("last page backward = %q complete %v %+v", got, complete, page)
	}
	rs, resp = e.query(a, archive.Query{Page: rsm.Query{Max: 4, HasBefore: true, Before: page.First, Index: -1}, Flip: true})
	flipped, _ := fin(t, resp)
	if got := bodies(rs); strings.Join(got, ",") != "m7,m6,m5,m4" {
		t.Fatalf("flipped page = %q, want m7..m4", got)
	}
	if flipped.First != rs[3].id || flipped.Last != rs[0].id {
		t.Errorf("flipped page fin %+v: first and last stay in archive order", flipped)
	}
	// Beyond the largest page.
	rs, resp = e.query(a, archive.Query{Page: rsm.Query{Max: 50, Index: -1}})
	if _, complete = fin(t, resp); len(rs) != 10 || complete {
		t.Errorf("max 50 gave %d results complete %v, want the largest page, 10, incomplete", len(rs), complete)
	}
}

func TestQueryFilters(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.online("alice@example.org/a")
	b := e.online("bob@example.org/b")
	e.chat(b, "alice@example.org", "from bob 1")
	e.chat(a, "carol@remote.example", "to carol") // goes nowhere; archived as sent
	e.chat(b, "alice@example.org", "from bob 2")
	rs, resp := e.query(a, archive.Query{Page: rsm.NewQuery(), With: jid.MustParse("bob@example.org")})
	if got := bodies(rs); strings.Join(got, ",") != "from bob 1,from bob 2" {
		t.Fatalf("with bob = %q (%s)", got, resp)
	}
	rs, _ = e.query(a, archive.Query{Page: rsm.NewQuery(), With: jid.MustParse("bob@example.org/other")})
	if len(rs) != 0 {
		t.Errorf("with another resource of bob = %q, want none", bodies(rs))
	}
	all, _ := e.query(a, archive.Query{Page: rsm.NewQuery()})
	rs, _ = e.query(a, archive.Query{Page: rsm.NewQuery(), AfterID: all[0].id, BeforeID: all[2].id})
	if got := bodies(rs); len(got) != 1 || got[0] != "to carol" {
		t.Errorf("between ids = %q, want the middle message", got)
	}
	rs, _ = e.query(a, archive.Query{Page: rsm.NewQuery(), IDs: []string{all[2].id}})
	if got := bodies(rs); len(got) != 1 || got[0] != "from bob 2" {
		t.Errorf("ids = %q", got)
	}
	start, _ := archive.ParseTime(all[1].stamp)
	rs, _ = e.query(a, archive.Query{Page: rsm.NewQuery(), Start: start, End: start})
	if got := bodies(rs); len(got) == 0 || got[0] != "to carol" && got[0] != "from bob 1" {
		t.Errorf("start=end=time of the second = %q", got)
	}
	for _, tc := range []struct {
		name string
		q    archive.Query
		want stanza.Condition
	}{
		{"unknown after-id", archive.Query{Page: rsm.NewQuery(), AfterID: "nope"}, stanza.ItemNotFound},
		{"unknown rsm after", archive.Query{Page: rsm.Query{Max: 1, After: "nope", Index: -1}}, stanza.ItemNotFound},
		{"unknown id", archive.Query{Page: rsm.NewQuery(), IDs: []string{all[0].id, "nope"}}, stanza.ItemNotFound},
		{"node", archive.Query{Page: rsm.NewQuery(), Node: "urn:xmpp:microblog:0"}, stanza.ItemNotFound},
	} {
		if _, resp := e.query(a, tc.q); errorCondition(resp) != tc.want {
			t.Errorf("%s: response %s, want %s", tc.name, resp, tc.want)
		}
	}
}

func TestQueryOthersArchive(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.online("alice@example.org/a")
	e.online("bob@example.org/b")
	iqEl := xmlel.New("", "iq", "type", "set", "id", "q1", "to", "bob@example.org").Append(archive.Query{Page: rsm.NewQuery()}.Element())
	e.core.Outbound(t.Context(), a, &stanza.Stanza{El: iqEl, From: a.JID(), To: jid.MustParse("bob@example.org")})
	var resp *xmlel.Element
	for _, el := range a.Take() {
		if el.Local == "iq" {
			resp = el
		}
	}
	if resp == nil || errorCondition(resp) != stanza.Forbidden {
		t.Errorf("query of another user's archive = %v, want forbidden", resp)
	}
}

func TestMetadataAndForm(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.online("alice@example.org/a")
	get := func(payload string) *xmlel.Element {
		t.Helper()
		e.core.Outbound(t.Context(), a, &stanza.Stanza{El: xmpptest.Parse(t, `<iq type='get' id='g'>`+payload+`</iq>`), From: a.JID()})
		for _, el := range a.Take() {
			if el.Local == "iq" {
				return el
			}
		}
		t.Fatal("no response")
		return nil
	}
	md := get(`<metadata xmlns='urn:xmpp:mam:2'/>`)
	if m := md.Child(NS, "metadata"); m == nil || len(m.Elements()) != 0 {
		t.Errorf("metadata of an empty archive = %s, want an empty <metadata/>", md)
	}
	b := e.online("bob@example.org/b")
	e.chat(b, "alice@example.org", "one")
	e.chat(b, "alice@example.org", "two")
	rs, _ := e.query(a, archive.Query{Page: rsm.NewQuery()})
	md = get(`<metadata xmlns='urn:xmpp:mam:2'/>`).Child(NS, "metadata")
	if md.Child(NS, "start").Attr("id") != rs[0].id || md.Child(NS, "end").Attr("id") != rs[1].id || md.Child(NS, "end").Attr("timestamp") != rs[1].stamp {
		t.Errorf("metadata = %s, want the first and last of %+v", md, rs)
	}
	form := get(`<query xmlns='urn:xmpp:mam:2'/>`)
	if form.Child(NS, "query").Child("jabber:x:data", "x") == nil {
		t.Errorf("form request = %s", form)
	}
}

func TestPrefs(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.online("alice@example.org/a")
	b := e.online("bob@example.org/b")
	setGet := func(typ, payload string) *xmlel.Element {
		t.Helper()
		e.core.Outbound(t.Context(), a, &stanza.Stanza{El: xmpptest.Parse(t, `<iq type='`+typ+`' id='p'>`+payload+`</iq>`), From: a.JID()})
		for _, el := range a.Take() {
			if el.Local == "iq" {
				return el
			}
		}
		t.Fatal("no response")
		return nil
	}
	got := setGet("get", `<prefs xmlns='urn:xmpp:mam:2'/>`)
	if p := got.Child(NS, "prefs"); p == nil || p.Attr("default") != "always" {
		t.Fatalf("default prefs = %s, want always", got)
	}
	got = setGet("set", `<prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>carol@remote.example</jid><jid>dave@remote.example</jid></always><never><jid>bob@example.org</jid><jid>dave@remote.example</jid></never></prefs>`)
	want := `<prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>carol@remote.example</jid></always><never><jid>bob@example.org</jid><jid>dave@remote.example</jid></never></prefs>`
	if p := got.Child(NS, "prefs"); p == nil || p.String() != want {
		t.Fatalf("set prefs answered %s, want %s", got, want)
	}
	e.chat(b, "alice@example.org", "never")     // bob is in never
	e.chat(a, "carol@remote.example", "always") // carol is in always
	e.chat(a, "erin@remote.example", "roster?") // erin is not in the roster
	if got := e.archived("alice@example.org"); strings.Join(got, ",") != "always" {
		t.Errorf("alice's archive = %q, want only the message to carol", got)
	}
	// bob's archive follows bob's preferences: the default.
	if got := e.archived("bob@example.org"); strings.Join(got, ",") != "never" {
		t.Errorf("bob's archive = %q", got)
	}
	if _, err := e.store.Roster().Put(t.Context(), "alice@example.org", storage.RosterItem{Contact: "erin@remote.example", Subscription: storage.SubBoth}, 0); err != nil {
		t.Fatal(err)
	}
	e.chat(a, "erin@remote.example", "in the roster")
	if got := e.archived("alice@example.org"); strings.Join(got, ",") != "always,in the roster" {
		t.Errorf("alice's archive = %q, want the roster contact's message", got)
	}
	bad := setGet("set", `<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/>`)
	if errorCondition(bad) != stanza.BadRequest {
		t.Errorf("prefs with an unknown default = %s, want bad-request", bad)
	}
}

func TestOfflineNotTwice(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.online("alice@example.org/a")
	for i := range 3 {
		e.chat(a, "bob@example.org", fmt.Sprint("offline ", i))
	}
	// bob fetches the last two from the archive before he is available.
	b := e.bind("bob@example.org/b")
	rs, _ := e.query(b, archive.Query{Page: rsm.Query{Max: 2, HasBefore: true, Index: -1}})
	if len(rs) != 2 {
		t.Fatalf("query = %q", bodies(rs))
	}
	e.send(b, `<presence/>`)
	var got []string
	for _, el := range b.Take() {
		if el.Local == "message" {
			got = append(got, el.ChildText("", "body"))
		}
	}
	if strings.Join(got, ",") != "offline 0" {
		t.Errorf("offline delivery = %q, want only the message the query did not return", got)
	}
	// Another session that did not query gets them all.
	for i := range 2 {
		e.chat(a, "bob@example.org", fmt.Sprint("later ", i))
	}
	e.send(b, `<presence type='unavailable'/>`)
	b.Take()
	for i := range 2 {
		e.chat(a, "bob@example.org", fmt.Sprint("while away ", i))
	}
	c := e.bind("bob@example.org/c")
	e.send(c, `<presence/>`)
	got = nil
	for _, el := range c.Take() {
		if el.Local == "message" {
			got = append(got, el.ChildText("", "body"))
		}
	}
	if strings.Join(got, ",") != "while away 0,while away 1" {
		t.Errorf("offline delivery to a new session = %q", got)
	}
}

func TestSessionEndedForgets(t *testing.T) {
	e := newEnv(t, testConfig())
	b := e.bind("bob@example.org/b")
	e.query(b, archive.Query{Page: rsm.NewQuery()})
	e.mam.mu.Lock()
	n := len(e.mam.sessions)
	e.mam.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d sessions remembered after a query, want 1", n)
	}
	last, _ := e.router.Unbind(b)
	e.core.Ended(t.Context(), b, last)
	e.mam.mu.Lock()
	n = len(e.mam.sessions)
	e.mam.mu.Unlock()
	if n != 0 {
		t.Errorf("%d sessions remembered after the session ended, want 0", n)
	}
}

func TestExpireAndEmpty(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.online("alice@example.org/a")
	b := e.online("bob@example.org/b")
	start := e.clock.Now()
	e.chat(b, "alice@example.org", "old")
	e.clock.Set(start.Add(2 * 24 * time.Hour))
	e.chat(b, "alice@example.org", "new")
	n, err := e.mam.Expire(t.Context())
	if err != nil || n != 2 { // alice's and bob's copies of "old"
		t.Errorf("Expire = %d, %v, want 2", n, err)
	}
	if got := e.archived("alice@example.org"); strings.Join(got, ",") != "new" {
		t.Errorf("after Expire = %q", got)
	}
	if n, err := e.mam.Empty(t.Context(), a.JID()); err != nil || n != 1 {
		t.Errorf("Empty = %d, %v, want 1", n, err)
	}
	if got := e.archived("alice@example.org"); len(got) != 0 {
		t.Errorf("after Empty = %q", got)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		if len(id) != 36 || id[14] != '4' || strings.Count(id, "-") != 4 || seen[id] {
			t.Fatalf("newID() = %q: not a new version 4 UUID", id)
		}
		seen[id] = true
	}
}

func TestConfigValidate(t *testing.T) {
	if err := testConfig().Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	bad := Config{Default: "sometimes", DefaultPage: 20, MaxPage: 10}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "policy") || !strings.Contains(err.Error(), "retention") {
		t.Errorf("Validate of a bad config = %v", err)
	}
}

// TestOriginID checks that the client's origin-id (XEP-0359 §3.2) is
// kept: in the delivered message, in the archive and in query results.
func TestOriginID(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.online("alice@example.org/a")
	b := e.online("bob@example.org/b")
	e.send(a, `<message to='bob@example.org' type='chat'><body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='de305d54-75b4-431b-adb2-eb6b9e546013'/></message>`)
	got := b.Take()
	if len(got) != 1 || got[0].Child(archive.NSStanzaID, "origin-id").Attr("id") != "de305d54-75b4-431b-adb2-eb6b9e546013" {
		t.Fatalf("bob got %v, want the message with its origin-id", got)
	}
	for _, s := range []*xmpptest.Session{a, b} {
		s.Take()
		iqEl := xmlel.New("", "iq", "type", "set", "id", "q").Append(archive.Query{Page: rsm.NewQuery()}.Element())
		e.core.Outbound(t.Context(), s, &stanza.Stanza{El: iqEl, From: s.JID()})
		res := s.Take()
		if len(res) != 2 {
			t.Fatalf("%s: %d stanzas, want a result and the fin", s.JID(), len(res))
		}
		msg := res[0].Child(archive.NS, "result").Child(archive.NSForward, "forwarded").Child("", "message")
		if msg.Child(archive.NSStanzaID, "origin-id").Attr("id") != "de305d54-75b4-431b-adb2-eb6b9e546013" {
			t.Errorf("%s's archived message = %s, want its origin-id", s.JID(), msg)
		}
	}
}

// TestPageBytes checks that a page is cut to MaxPageBytes, keeping the
// end the client pages from, and that paging on gets the rest.
func TestPageBytes(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPageBytes = 3000
	e := newEnv(t, cfg)
	a := e.online("alice@example.org/a")
	b := e.online("bob@example.org/b")
	big := strings.Repeat("x", 1000)
	for i := range 6 {
		e.chat(b, "alice@example.org", fmt.Sprint(i, big))
	}
	first := func(rs []result) string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.body[:1]
		}
		return strings.Join(out, ",")
	}
	rs, resp := e.query(a, archive.Query{Page: rsm.Query{Max: 10, Index: -1}})
	page, complete := fin(t, resp)
	if first(rs) != "0,1" || complete || page.Last != rs[1].id {
		t.Fatalf("forward page = %s complete %v, want 0,1 (cut)", first(rs), complete)
	}
	rs, resp = e.query(a, archive.Query{Page: rsm.Query{Max: 10, After: page.Last, Index: -1}})
	if _, complete = fin(t, resp); first(rs) != "2,3" || complete {
		t.Fatalf("next page = %s complete %v", first(rs), complete)
	}
	rs, resp = e.query(a, archive.Query{Page: rsm.Query{Max: 10, HasBefore: true, Index: -1}})
	page, complete = fin(t, resp)
	if first(rs) != "4,5" || complete || page.First != rs[0].id || page.FirstIndex != 4 {
		t.Fatalf("last page = %s complete %v %+v, want 4,5 (cut at the start)", first(rs), complete, page)
	}
	// One message larger than the limit still comes.
	e.chat(b, "alice@example.org", "7"+strings.Repeat("y", 5000))
	rs, _ = e.query(a, archive.Query{Page: rsm.Query{Max: 1, HasBefore: true, Index: -1}})
	if first(rs) != "7" {
		t.Errorf("a message over the limit = %s", first(rs))
	}
}

// A message may travel as bytes (im.Hooks.RawMessage) only when neither
// party's archive keeps it, by its content and by each user's
// preferences, and when it carries no stanza-id for the archive to check.
func TestRawMessage(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.online("alice@example.org/a")
	b := e.online("bob@example.org/b")
	raw := func(typ, x string) bool {
		t.Helper()
		el := xmpptest.Parse(t, x)
		m := stanza.Outline{From: a.JID(), To: b.JID().Bare(), Type: typ, Kids: stanza.NamesOf(el)}
		return e.mam.RawMessage(t.Context(), &m, a, []router.Session{b}) && e.mam.RawAfterSent(t.Context(), &m, a, []router.Session{b})
	}
	prefs := func(s *xmpptest.Session, p string) {
		t.Helper()
		e.core.Outbound(t.Context(), s, &stanza.Stanza{El: xmpptest.Parse(t, `<iq type='set' id='p'>`+p+`</iq>`), From: s.JID()})
		for _, el := range s.Take() {
			if el.Local == "iq" && el.Attr("type") != "result" {
				t.Fatalf("prefs: %s", el)
			}
		}
	}
	body := `<message type='chat'><body>hi</body></message>`
	cases := []struct {
		name, typ, xml string
		want           bool
	}{
		{"body, both archive", "chat", body, false},
		{"chat state", "chat", `<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, true},
		{"receipt request", "normal", `<message><request xmlns='urn:xmpp:receipts'/></message>`, true},
		{"receipt", "chat", `<message type='chat'><received xmlns='urn:xmpp:receipts' id='x'/></message>`, false},
		{"no-store", "chat", `<message type='chat'><body>hi</body><no-store xmlns='urn:xmpp:hints'/></message>`, true},
		{"a stanza-id to check", "chat", `<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/><stanza-id xmlns='urn:xmpp:sid:0' by='bob@example.org' id='x'/></message>`, false},
		{"an invitation, maybe", "normal", `<message><x xmlns='http://jabber.org/protocol/muc#user'/></message>`, false},
	}
	for _, c := range cases {
		if got := raw(c.typ, c.xml); got != c.want {
			t.Errorf("%s: RawMessage = %v, want %v", c.name, got, c.want)
		}
	}
	prefs(a, `<prefs xmlns='urn:xmpp:mam:2' default='roster'/>`)
	if raw("chat", body) {
		t.Error("bob's archive keeps it, yet it may travel as bytes")
	}
	prefs(b, `<prefs xmlns='urn:xmpp:mam:2' default='never'/>`)
	if !raw("chat", body) {
		t.Error("neither archive keeps it (alice's: not in her roster; bob's: never), yet it may not travel as bytes")
	}
	if _, err := e.store.Roster().Put(t.Context(), "alice@example.org", storage.RosterItem{Contact: "bob@example.org", Subscription: storage.SubBoth}, 0); err != nil {
		t.Fatal(err)
	}
	if raw("chat", body) {
		t.Error("alice's archive keeps messages with her roster, yet it may travel as bytes")
	}
}
