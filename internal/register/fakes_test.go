package register

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// memAccounts is an in-memory storage.Accounts.
type memAccounts struct {
	mu  sync.Mutex
	m   map[string]storage.Account
	err error // returned by every call when set
}

func newMemAccounts() *memAccounts { return &memAccounts{m: map[string]storage.Account{}} }

func (s *memAccounts) Create(_ context.Context, a storage.Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if _, ok := s.m[a.User]; ok {
		return storage.ErrExists
	}
	s.m[a.User] = a
	return nil
}

func (s *memAccounts) Get(_ context.Context, user string) (storage.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return storage.Account{}, s.err
	}
	a, ok := s.m[user]
	if !ok {
		return storage.Account{}, storage.ErrNotFound
	}
	return a, nil
}

func (s *memAccounts) SetDisabled(_ context.Context, user string, disabled bool) error {
	return s.update(user, func(a *storage.Account) { a.Disabled = disabled })
}

func (s *memAccounts) SetKeys(_ context.Context, user string, keys map[storage.Hash]storage.SCRAMKeys) error {
	return s.update(user, func(a *storage.Account) { a.Keys = keys })
}

// update changes an existing account with f.
func (s *memAccounts) update(user string, f func(*storage.Account)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	a, ok := s.m[user]
	if !ok {
		return storage.ErrNotFound
	}
	f(&a)
	s.m[user] = a
	return nil
}

func (s *memAccounts) Delete(_ context.Context, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if _, ok := s.m[user]; !ok {
		return storage.ErrNotFound
	}
	delete(s.m, user)
	return nil
}

func (s *memAccounts) List(_ context.Context, domain string) ([]string, error) {
	return s.list(domain, false), nil
}

func (s *memAccounts) ListDisabled(_ context.Context, domain string) ([]string, error) {
	return s.list(domain, true), nil
}

// list returns the accounts of domain, only the disabled ones when
// disabled is set.
func (s *memAccounts) list(domain string, disabled bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for u, a := range s.m {
		if j, err := jid.Parse(u); err == nil && j.Domain() == domain && (a.Disabled || !disabled) {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// add creates an account with a password, as registration would.
func (s *memAccounts) add(t *testing.T, user, password string) {
	t.Helper()
	keys := map[storage.Hash]storage.SCRAMKeys{}
	for _, h := range []sasl.Hash{sasl.SHA1, sasl.SHA256} {
		k, err := sasl.DeriveKeys(h, password, sasl.NewSalt(), testIterations)
		if err != nil {
			t.Fatal(err)
		}
		keys[storage.Hash(h)] = storage.SCRAMKeys{Salt: k.Salt, Iterations: k.Iterations, StoredKey: k.StoredKey, ServerKey: k.ServerKey}
	}
	s.m[user] = storage.Account{User: user, Keys: keys}
}

// checkPassword fails the test unless user exists and password matches
// its keys for both hashes, each with its own salt.
func (s *memAccounts) checkPassword(t *testing.T, user, password string) {
	t.Helper()
	s.mu.Lock()
	a, ok := s.m[user]
	s.mu.Unlock()
	if !ok {
		t.Fatalf("account %s does not exist", user)
	}
	if len(a.Keys) != 2 {
		t.Fatalf("account %s has keys for %d hashes, want 2", user, len(a.Keys))
	}
	if slices.Equal(a.Keys[storage.SHA1].Salt, a.Keys[storage.SHA256].Salt) {
		t.Errorf("account %s: SHA-1 and SHA-256 keys share a salt", user)
	}
	for _, h := range []sasl.Hash{sasl.SHA1, sasl.SHA256} {
		stored := a.Keys[storage.Hash(h)]
		if stored.Iterations != testIterations {
			t.Errorf("account %s: %s iterations = %d, want %d", user, h, stored.Iterations, testIterations)
		}
		k, err := sasl.DeriveKeys(h, password, stored.Salt, stored.Iterations)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(k.StoredKey, stored.StoredKey) || !slices.Equal(k.ServerKey, stored.ServerKey) {
			t.Errorf("account %s: %s keys do not match the password", user, h)
		}
	}
}

// fakeSession is a bound session that records what happens to it in a
// log shared by every session of a test.
type fakeSession struct {
	jid    jid.JID
	log    *[]string
	closed bool
	r      *router.Router // unbinds from it when closed
	began  time.Time
}

// Began makes it a router.Beginner, as client sessions are.
func (s *fakeSession) Began() time.Time { return s.began }

func (s *fakeSession) JID() jid.JID { return s.jid }

func (s *fakeSession) Send(el *xmlel.Element) {
	if s.closed {
		return
	}
	*s.log = append(*s.log, s.jid.String()+" got "+el.String())
}

func (s *fakeSession) CloseWithError(e stream.Error) {
	if s.closed {
		return
	}
	s.closed = true
	*s.log = append(*s.log, s.jid.String()+" closed: "+e.Error())
	s.r.Unbind(s)
}

const testIterations = 16

func mustJID(s string) jid.JID {
	j, err := jid.Parse(s)
	if err != nil {
		panic(err)
	}
	return j
}

func policies(host string) Policy {
	switch host {
	case "open.lit":
		return Open
	case "invite.lit":
		return Invite
	case "closed.lit":
		return Closed
	}
	return "bogus"
}

// fixture is one registration service with its fakes.
type fixture struct {
	r         *Register
	mux       *iq.Mux
	accounts  *memAccounts
	invites   *MemoryInvites
	now       time.Time
	lastToken string // the token a scenario made, if any
	removed   []jid.JID
	sessions  *router.Router
	log       []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		accounts: newMemAccounts(),
		now:      time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC),
		sessions: router.New(nil),
	}
	f.invites = NewMemoryInvites(func() time.Time { return f.now })
	cfg := Config{
		Iterations: testIterations,
		OnRemove:   func(_ context.Context, user jid.JID) { f.removed = append(f.removed, user) },
	}
	f.mux = iq.NewMux(slog.New(slog.DiscardHandler))
	f.r = New(cfg, policies, f.accounts, f.invites, f.sessions, f.mux, slog.New(slog.DiscardHandler))
	return f
}

// bind adds a session of a user that began now.
func (f *fixture) bind(full string) *fakeSession {
	s := f.begin(full)
	if _, err := f.sessions.Bind(s, false, 0); err != nil {
		panic(err)
	}
	return s
}

// begin starts a session of a user that is not bound yet.
func (f *fixture) begin(full string) *fakeSession {
	return &fakeSession{jid: mustJID(full), log: &f.log, r: f.sessions, began: time.Now()}
}

// invite makes a token for host that expires in an hour.
func (f *fixture) invite(t *testing.T, host string) string {
	t.Helper()
	token, err := f.invites.Create(context.Background(), host, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// iqStanza builds an iq. from and to may be empty.
func iqStanza(typ, from, to string, payload ...*xmlel.Element) *stanza.Stanza {
	el := xmlel.New("", stanza.IQ, "type", typ, "id", "r1", "from", from, "to", to).Append(payload...)
	st := &stanza.Stanza{El: el}
	if from != "" {
		st.From = mustJID(from)
	}
	if to != "" {
		st.To = mustJID(to)
	}
	return st
}

// legacy returns a registration query with the legacy fields.
func legacy(username, password string, extra ...*xmlel.Element) *xmlel.Element {
	return xmlel.New(NS, "query").Append(
		xmlel.TextElement(NS, "username", username),
		xmlel.TextElement(NS, "password", password),
	).Append(extra...)
}

// form returns a registration query with a submitted data form.
func form(formType string, fields ...string) *xmlel.Element {
	x := xmlel.New(stanza.NSDataForm, "x", "type", "submit").Append(
		xmlel.New(stanza.NSDataForm, "field", "var", "FORM_TYPE").Append(xmlel.TextElement(stanza.NSDataForm, "value", formType)))
	for i := 0; i+1 < len(fields); i += 2 {
		x.Append(xmlel.New(stanza.NSDataForm, "field", "var", fields[i]).Append(xmlel.TextElement(stanza.NSDataForm, "value", fields[i+1])))
	}
	return xmlel.New(NS, "query").Append(x)
}

// wantError fails unless resp is an error with condition c.
func wantError(t *testing.T, resp *xmlel.Element, c stanza.Condition) {
	t.Helper()
	if e, ok := stanza.ParseError(resp); !ok || e.Condition != c {
		t.Fatalf("response = %v, want error %s", resp, c)
	}
}

// wantResult fails unless resp is a result, and returns its payload.
func wantResult(t *testing.T, resp *xmlel.Element) *xmlel.Element {
	t.Helper()
	if resp == nil || resp.Attr("type") != "result" {
		t.Fatalf("response = %v, want a result", resp)
	}
	return resp.FirstElement()
}
