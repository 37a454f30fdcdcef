package abuse

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

	"samtal.org/samtal/internal/archive"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

// The tests run the service on a real router, whose local and remote
// handlers record what is routed, and a real SQLite archive. Routing is
// synchronous: what was sent is known when the call returns.

const (
	host  = "example.org"
	quiet = "quiet.example.org" // a host without administrators
	evil  = "evil.example"
)

type env struct {
	t     *testing.T
	store *sqlite.Store
	svc   *Service
	m     *Metrics
	now   time.Time

	mu     sync.Mutex
	local  []*xmlel.Element // routed to local hosts
	remote []*xmlel.Element // routed to other servers
}

func newEnv(t *testing.T) *env {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "samtal.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	xmpptest.CreateAccounts(t, store.Accounts(), "alice@"+host, "admin@"+host, "root@"+host, "carol@"+quiet)
	e := &env{t: t, store: store, m: NewMetrics(metrics.NewRegistry()), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	r := router.New([]string{host, quiet})
	r.SetLocal(router.HandlerFunc(func(_ context.Context, st *stanza.Stanza) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.local = append(e.local, st.El)
	}))
	r.SetRemote(router.HandlerFunc(func(_ context.Context, st *stanza.Stanza) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.remote = append(e.remote, st.El)
	}))
	r.AddDomain("conference."+host, router.HandlerFunc(func(context.Context, *stanza.Stanza) {}))
	cfg := Config{
		Admins: map[string][]jid.JID{
			host:  {jid.MustParse("admin@" + host), jid.MustParse("root@" + host)},
			quiet: nil,
		},
		Now: func() time.Time { return e.now },
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
	e.svc = New(cfg, r, store.Archive(), slog.New(slog.DiscardHandler), e.m)
	return e
}

// take returns what was routed to local hosts and to other servers since
// the last take.
func (e *env) take() (local, remote []*xmlel.Element) {
	e.mu.Lock()
	defer e.mu.Unlock()
	local, remote = e.local, e.remote
	e.local, e.remote = nil, nil
	return local, remote
}

// archive puts a message in user's archive, exchanged with with, and
// returns its archive ID.
func (e *env) archive(user, with, x string) string {
	e.t.Helper()
	m, err := e.store.Archive().Append(e.t.Context(), user, storage.ArchivedMessage{With: with, Stanza: x})
	if err != nil {
		e.t.Fatal(err)
	}
	return m.ID
}

// block hands the service the items of a block command, as the IM core
// does after the block.
func (e *env) block(user string, items ...string) {
	e.t.Helper()
	var els []*xmlel.Element
	for _, it := range items {
		els = append(els, xmpptest.Parse(e.t, it))
	}
	e.svc.Blocked(e.t.Context(), jid.MustParse(user), els)
}

func item(reported, report string) string {
	return `<item xmlns='urn:xmpp:blocking' jid='` + reported + `'>` + report + `</item>`
}

func sid(id string) string {
	return `<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='` + id + `'/>`
}

func (e *env) metric(source, result string) uint64 {
	return e.m.Reports.With(source, result).Value()
}

// forwardedBodies returns the bodies of the messages forwarded in el
// (XEP-0297), in order.
func forwardedBodies(el *xmlel.Element) []string {
	var out []string
	for _, f := range el.Elements() {
		if f.Is(archive.NSForward, "forwarded") {
			if f.Child(stanza.NSDelay, "delay") == nil {
				out = append(out, "(no delay)")
			}
			out = append(out, f.Child("", stanza.Message).ChildText("", "body"))
		}
	}
	return out
}

func recipients(els []*xmlel.Element) []string {
	var out []string
	for _, el := range els {
		out = append(out, el.Attr("to"))
	}
	slices.Sort(out)
	return out
}

// A user's report goes to each administrator of the host: a body for any
// client, the report in the current form naming the reported JID, and
// the named messages of the reporter's archive that were exchanged with
// the reported JID, and no others.
func TestReportToAdmins(t *testing.T) {
	e := newEnv(t)
	alice, mallory := "alice@"+host, "mallory@"+evil
	spam := e.archive(alice, mallory+"/phone", `<message from='mallory@evil.example/phone' to='alice@example.org/pc' type='chat'><body>buy pills</body></message>`)
	reply := e.archive(alice, mallory, `<message from='alice@example.org/pc' to='mallory@evil.example' type='chat'><body>stop it</body></message>`)
	bob := e.archive(alice, "bob@"+host+"/x", `<message from='bob@example.org/x' to='alice@example.org' type='chat'><body>private</body></message>`)
	other := e.archive("admin@"+host, mallory, `<message from='mallory@evil.example' to='admin@example.org' type='chat'><body>not alice's</body></message>`)

	e.block(alice, item(mallory, `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'>`+
		sid(spam)+sid(bob)+sid(other)+sid("no-such-id")+sid(reply)+`<text xml:lang='en'>buy now spam</text></report>`))

	local, remote := e.take()
	if len(remote) != 0 {
		t.Errorf("sent to other servers: %v", remote)
	}
	if got, want := recipients(local), []string{"admin@" + host, "root@" + host}; !slices.Equal(got, want) {
		t.Fatalf("reports went to %v, want %v", got, want)
	}
	for _, m := range local {
		if m.Local != stanza.Message || m.Attr("from") != host || m.Attr("type") != "normal" || m.Attr("id") == "" {
			t.Errorf("report message %v: want a normal message from %s with an id", m, host)
		}
		body := m.ChildText("", "body")
		if !strings.HasPrefix(body, "alice@example.org reported spam from mallory@evil.example: buy now spam") ||
			!strings.Contains(body, "buy pills") || strings.Contains(body, "private") {
			t.Errorf("body = %q", body)
		}
		r, err := Parse(m.Child(NS, "report"))
		if err != nil {
			t.Fatalf("report in %v: %v", m, err)
		}
		if r.Reason != Spam || r.JID.String() != mallory || r.Text() != "buy now spam" || len(r.StanzaIDs) != 5 {
			t.Errorf("report = %+v", r)
		}
		if got, want := forwardedBodies(m), []string{"buy pills", "stop it"}; !slices.Equal(got, want) {
			t.Errorf("forwarded messages = %q, want %q", got, want)
		}
	}
	if n := e.metric(fromUser, forwarded); n != 1 {
		t.Errorf("reports counted as forwarded = %d, want 1", n)
	}
}

// The legacy form of older clients is accepted, and the administrators
// get it in the current form.
func TestLegacyReport(t *testing.T) {
	e := newEnv(t)
	e.block("alice@"+host, item("mallory@"+evil, `<report xmlns='urn:xmpp:reporting:0'><abuse/><text>threats</text></report>`))
	local, _ := e.take()
	if len(local) != 2 {
		t.Fatalf("sent %d reports, want 2", len(local))
	}
	r := local[0].Child(NS, "report")
	if r == nil || r.Attr("reason") != Abuse || r.ChildText(NSJID, "jid") != "mallory@"+evil || r.ChildText(NS, "text") != "threats" {
		t.Errorf("report = %v, want the current form", r)
	}
	if body := local[0].ChildText("", "body"); body != "alice@example.org reported abuse by mallory@evil.example: threats" {
		t.Errorf("body = %q", body)
	}
}

// A block item without a report, or with one that is malformed, makes no
// report; the other items of the block still do.
func TestMalformedReport(t *testing.T) {
	e := newEnv(t)
	e.block("alice@"+host,
		item("a@"+evil, `<report xmlns='urn:xmpp:reporting:1'><text>no reason</text></report>`),
		item("b@"+evil, `<report xmlns='urn:xmpp:reporting:0'/>`),
		item("c@"+evil, `<something xmlns='urn:example'/>`),
		item("d@"+evil, `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/>`),
	)
	local, _ := e.take()
	if len(local) != 2 || local[0].Child(NS, "report").ChildText(NSJID, "jid") != "d@"+evil {
		t.Errorf("sent %v, want the report about d to both administrators", local)
	}
	if n := e.metric(fromUser, malformed); n != 2 {
		t.Errorf("reports counted as malformed = %d, want 2", n)
	}
}

// A host without administrators neither advertises reporting nor
// forwards anything.
func TestNoAdmins(t *testing.T) {
	e := newEnv(t)
	if f := e.svc.Features(quiet); len(f) != 0 {
		t.Errorf("Features(%s) = %v, want none", quiet, f)
	}
	if f := e.svc.Features(host); !slices.Contains(f, NS) || !slices.Contains(f, NSLegacy) {
		t.Errorf("Features(%s) = %v, want %s and %s", host, f, NS, NSLegacy)
	}
	e.block("carol@"+quiet, item("mallory@"+evil, `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'><report-origin/></report>`))
	if local, remote := e.take(); len(local)+len(remote) != 0 {
		t.Errorf("sent %v and %v, want nothing", local, remote)
	}
}

// Each reporter has DefaultBurst reports processed at once and one more
// every DefaultEvery; the others go nowhere.
func TestReporterLimit(t *testing.T) {
	e := newEnv(t)
	report := func(user string) int {
		e.block(user, item("mallory@"+evil, `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/>`))
		local, _ := e.take()
		return len(local) / 2
	}
	sent := 0
	for range DefaultBurst + 3 {
		sent += report("alice@" + host)
	}
	if sent != DefaultBurst {
		t.Errorf("%d reports at once sent %d, want %d", DefaultBurst+3, sent, DefaultBurst)
	}
	if n := report("admin@" + host); n != 1 {
		t.Errorf("another reporter's report sent %d times, want 1", n)
	}
	e.now = e.now.Add(DefaultEvery)
	if n := report("alice@"+host) + report("alice@"+host); n != 1 {
		t.Errorf("after %v, %d reports sent, want 1", DefaultEvery, n)
	}
	if n := e.metric(fromUser, limited); n != 4 {
		t.Errorf("reports counted as limited = %d, want 4", n)
	}
}

// With report-origin, a report about a JID of another server goes to
// that server's domain too: only messages the reported entity sent, with
// no 'to', and nothing that names the reporter.
func TestReportOrigin(t *testing.T) {
	e := newEnv(t)
	alice, mallory := "alice@"+host, "mallory@"+evil
	spam := e.archive(alice, mallory+"/phone", `<message from='mallory@evil.example/phone' to='alice@example.org/pc' type='chat' id='s1'><body>buy pills</body></message>`)
	reply := e.archive(alice, mallory, `<message from='alice@example.org/pc' to='mallory@evil.example' type='chat'><body>stop it</body></message>`)
	e.block(alice, item(mallory, `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'>`+
		sid(spam)+sid(reply)+`<text>unwanted</text><report-origin/><third-party/></report>`))
	local, remote := e.take()
	if len(local) != 2 || len(remote) != 1 {
		t.Fatalf("sent %d local and %d remote, want 2 and 1", len(local), len(remote))
	}
	if body := local[0].ChildText("", "body"); !strings.Contains(body, "went to evil.example too") {
		t.Errorf("the administrators' body does not say the report went on: %q", body)
	}
	m := remote[0]
	if m.Attr("to") != evil || m.Attr("from") != host || m.Attr("type") != "normal" {
		t.Errorf("report %v: want a normal message from %s to %s", m, host, evil)
	}
	if x := m.String(); strings.Contains(x, "alice") {
		t.Errorf("the report to the origin names the reporter: %s", x)
	}
	r, err := Parse(m.Child(NS, "report"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Reason != Spam || r.JID.String() != mallory || r.Text() != "unwanted" || !r.ReportOrigin || !r.ThirdParty || len(r.StanzaIDs) != 0 {
		t.Errorf("report = %+v", r)
	}
	if got := forwardedBodies(m); !slices.Equal(got, []string{"buy pills"}) {
		t.Errorf("forwarded = %q, want the reported entity's message only", got)
	}
	fwd := m.Child(archive.NSForward, "forwarded").Child("", stanza.Message)
	if fwd.HasAttr("to") || fwd.Attr("from") != mallory+"/phone" || fwd.Attr("id") != "s1" {
		t.Errorf("forwarded message = %v, want it as sent, without 'to'", fwd)
	}
	if n := e.m.ToOrigin.Value(); n != 1 {
		t.Errorf("reports to origin counted = %d, want 1", n)
	}

	// Without the opt-in, or about one of our own, nothing goes out.
	for _, it := range []string{
		item(mallory, `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/>`),
		item("bob@"+host, `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'><report-origin/></report>`),
		item("room@conference."+host, `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'><report-origin/></report>`),
		item(mallory, `<report xmlns='urn:xmpp:reporting:0'><spam/><report-origin xmlns='urn:xmpp:reporting:1'/></report>`),
	} {
		e.block(alice, it)
		if local, remote := e.take(); len(local) != 2 || len(remote) != 0 {
			t.Errorf("%s: sent %d local and %v remote, want 2 and none", it, len(local), remote)
		}
	}
}

// A report about a domain names the messages of anyone at it.
func TestReportDomain(t *testing.T) {
	e := newEnv(t)
	alice := "alice@" + host
	a := e.archive(alice, "x@"+evil+"/r", `<message from='x@evil.example/r' to='alice@example.org'><body>one</body></message>`)
	b := e.archive(alice, "y@other.example", `<message from='y@other.example' to='alice@example.org'><body>two</body></message>`)
	e.block(alice, item(evil, `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'>`+sid(a)+sid(b)+`</report>`))
	local, _ := e.take()
	if len(local) != 2 {
		t.Fatalf("sent %d, want 2", len(local))
	}
	if got := forwardedBodies(local[0]); !slices.Equal(got, []string{"one"}) {
		t.Errorf("forwarded = %q, want the message from evil.example only", got)
	}
}

// The reported messages stay within MaxBytes.
func TestReportSize(t *testing.T) {
	e := newEnv(t)
	e.svc.cfg.MaxBytes = 400
	alice, mallory := "alice@"+host, "mallory@"+evil
	var ids string
	for i := range 3 {
		ids += sid(e.archive(alice, mallory, fmt.Sprintf(`<message from='mallory@evil.example' to='alice@example.org'><body>%d %s</body></message>`, i, strings.Repeat("x", 100))))
	}
	e.block(alice, item(mallory, `<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'>`+ids+`</report>`))
	local, _ := e.take()
	if got := forwardedBodies(local[0]); len(got) != 2 {
		t.Errorf("forwarded %d messages, want the 2 that fit", len(got))
	}
}

// remoteReport is a report that another server forwards to a host, in
// the form of Prosody's mod_report_forward.
func remoteReport(from, to, about string) string {
	return `<message from='` + from + `' to='` + to + `' id='r1'>` +
		`<body>SPAM/ABUSE REPORT</body>` +
		`<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'><jid xmlns='urn:xmpp:jid:0'>` + about + `</jid><text>from your user</text></report>` +
		`<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-03-01T11:00:00Z'/>` +
		`<message xmlns='jabber:client' from='` + about + `/x' type='chat'><body>buy pills</body></message></forwarded></message>`
}

// A report that another server sends about one of the host's users goes
// to the host's administrators; other messages to the host are not
// reports.
func TestServerReport(t *testing.T) {
	e := newEnv(t)
	serverMessage := func(x string) bool {
		return e.svc.ServerMessage(t.Context(), xmpptest.Stanza(t, x))
	}
	if !serverMessage(remoteReport(evil, host, "alice@"+host)) {
		t.Fatal("ServerMessage = false for a report from another server, want true")
	}
	local, remote := e.take()
	if got, want := recipients(local), []string{"admin@" + host, "root@" + host}; !slices.Equal(got, want) || len(remote) != 0 {
		t.Fatalf("reports went to %v and %v, want %v", got, remote, want)
	}
	m := local[0]
	if body := m.ChildText("", "body"); !strings.HasPrefix(body, "The server evil.example reported spam from alice@example.org: from your user") {
		t.Errorf("body = %q", body)
	}
	if r := m.Child(NS, "report"); r == nil || r.ChildText(NSJID, "jid") != "alice@"+host {
		t.Errorf("report = %v", r)
	}
	if got := forwardedBodies(m); !slices.Equal(got, []string{"buy pills"}) {
		t.Errorf("forwarded = %q", got)
	}

	for _, tc := range []struct {
		name, x string
		handled bool
	}{
		{"from a user of another server", remoteReport("mallory@"+evil, host, "alice@"+host), false},
		{"from one of our own services", remoteReport("conference."+host, host, "alice@"+host), false},
		{"to a user", remoteReport(evil, "alice@"+host, "alice@"+host), false},
		{"no report", `<message from='evil.example' to='example.org'><body>hello</body></message>`, false},
		{"an error", strings.Replace(remoteReport(evil, host, "alice@"+host), "id='r1'", "id='r1' type='error'", 1), false},
		{"about a user of another host", remoteReport(evil, host, "carol@"+quiet), true},
		{"about the host itself", remoteReport(evil, host, host), true},
		{"to a host without administrators", remoteReport(evil, quiet, "carol@"+quiet), true},
	} {
		if got := serverMessage(tc.x); got != tc.handled {
			t.Errorf("%s: ServerMessage = %v, want %v", tc.name, got, tc.handled)
		}
		if local, remote := e.take(); len(local)+len(remote) != 0 {
			t.Errorf("%s: sent %v and %v, want nothing", tc.name, local, remote)
		}
	}

	// Each server has its own limit.
	sent := 0
	for range DefaultBurst + 2 {
		serverMessage(remoteReport(evil, host, "alice@"+host))
		local, _ := e.take()
		sent += len(local) / 2
	}
	if sent != DefaultBurst-1 {
		t.Errorf("%d more reports from one server sent %d, want %d", DefaultBurst+2, sent, DefaultBurst-1)
	}
	serverMessage(remoteReport("other.example", host, "alice@"+host))
	if local, _ := e.take(); len(local) != 2 {
		t.Errorf("another server's report sent %d, want 2", len(local))
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := newLimiter(2, time.Minute, 2)
	for i, want := range []bool{true, true, false} {
		if got := l.allow("a", now); got != want {
			t.Errorf("allow(a) #%d = %v, want %v", i, got, want)
		}
	}
	if !l.allow("b", now) {
		t.Error("allow(b) = false, want true: there is room for a second key")
	}
	if l.allow("c", now) {
		t.Error("allow(c) = true with the map full of buckets in use, want false")
	}
	now = now.Add(time.Minute)
	if !l.allow("a", now) || l.allow("a", now) {
		t.Error("a minute later, a gets one report and no more")
	}
	now = now.Add(2 * time.Minute)
	if !l.allow("c", now) {
		t.Error("allow(c) = false once b's bucket is full again, want true")
	}
	if _, ok := l.full["b"]; ok {
		t.Error("b's full bucket was kept")
	}
}

func TestValidate(t *testing.T) {
	bad := Config{Burst: -1, Admins: map[string][]jid.JID{host: {jid.MustParse(host), jid.MustParse("a@" + host + "/r")}}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want errors")
	}
	for _, want := range []string{"negative", "administrator example.org ", "administrator a@example.org/r "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}
