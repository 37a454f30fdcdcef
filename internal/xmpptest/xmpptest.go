// Package xmpptest has in-memory stand-ins for tests of the services: a
// client session that records what the server sends it, helpers to bind
// it and have it send stanzas to the IM core, and helpers to build
// stanzas and iq requests from XML text and check the answers.
package xmpptest

import (
	"context"
	"sync"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// Session is a router.Session that keeps what is sent to it.
type Session struct {
	full jid.JID

	mu     sync.Mutex
	sent   []*xmlel.Element
	closed *stream.Error
}

// NewSession returns a session for a full JID.
func NewSession(full string) *Session {
	return &Session{full: jid.MustParse(full)}
}

// JID returns the session's full JID.
func (s *Session) JID() jid.JID { return s.full }

// Send records el.
func (s *Session) Send(el *xmlel.Element) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, el)
}

// CloseWithError records the stream error.
func (s *Session) CloseWithError(e stream.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = &e
}

// Closed returns the stream error the session was closed with, or nil.
func (s *Session) Closed() *stream.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Take returns what was sent since the last Take and forgets it.
func (s *Session) Take() []*xmlel.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sent
	s.sent = nil
	return out
}

// Parse parses one element of XML text; an element without a namespace,
// or in jabber:client, is a stanza (empty Space, see xmlel). It fails the
// test on bad XML.
func Parse(t testing.TB, s string) *xmlel.Element {
	t.Helper()
	el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
	if err != nil {
		t.Fatalf("xmlstream.Parse(%q) = %v", s, err)
	}
	return el
}

// Stanza parses a stanza and its addresses, as a session hands it on.
func Stanza(t testing.TB, s string) *stanza.Stanza {
	t.Helper()
	el := Parse(t, s)
	st := &stanza.Stanza{El: el}
	if f := el.Attr("from"); f != "" {
		st.From = jid.MustParse(f)
	}
	if to := el.Attr("to"); to != "" {
		st.To = jid.MustParse(to)
	}
	return st
}

// IQ builds an iq request as a session hands it on: of type typ, with the
// id "iq1", from and to (none when to is ""), and the payload.
func IQ(typ, from, to string, payload ...*xmlel.Element) *stanza.Stanza {
	el := xmlel.New("", stanza.IQ, "type", typ, "id", "iq1", "from", from, "to", to).Append(payload...)
	st := &stanza.Stanza{El: el, From: jid.MustParse(from)}
	if to != "" {
		st.To = jid.MustParse(to)
	}
	return st
}

// CheckAnswer fails the test unless resp, the answer to an iq request, is
// an error with the condition cond or, when cond is "", a result whose
// payload is want as XML text ("" for none). what names the request in
// the messages.
func CheckAnswer(t testing.TB, what string, resp *xmlel.Element, cond stanza.Condition, want string) {
	t.Helper()
	if cond != "" {
		if e, ok := stanza.ParseError(resp); !ok || e.Condition != cond {
			t.Fatalf("%s: answer %v, want error %s", what, resp, cond)
		}
		return
	}
	if resp.Attr("type") != "result" {
		t.Fatalf("%s: answer %v, want a result", what, resp)
	}
	var got string
	if p := resp.FirstElement(); p != nil {
		got = p.String()
	}
	if got != want {
		t.Errorf("%s: payload = %s, want %s", what, got, want)
	}
}

// Core is what a client session hands its stanzas to: the IM core
// (im.Service), in the tests of the features that hook into it.
type Core interface {
	Outbound(ctx context.Context, s router.Session, st *stanza.Stanza)
}

// Bind returns a new session for the full JID, bound in r as an
// interested resource.
func Bind(t testing.TB, r *router.Router, full string) *Session {
	t.Helper()
	s := NewSession(full)
	if _, err := r.Bind(s, true, 0); err != nil {
		t.Fatal(err)
	}
	return s
}

// Send has s send the stanza in the XML text x to core, stamped with the
// session's address, as c2s hands it on (RFC 6120 §8.1.2.1).
func Send(t testing.TB, core Core, s *Session, x string) {
	t.Helper()
	st := Stanza(t, x)
	st.From = s.JID()
	st.El.SetAttr("from", s.JID().String())
	core.Outbound(t.Context(), s, st)
}

// Ask has s send the iq in the XML text x to core and returns the iq it
// gets back, dropping whatever s got before; it fails the test when no
// iq comes back.
func Ask(t testing.TB, core Core, s *Session, x string) *xmlel.Element {
	t.Helper()
	s.Take()
	Send(t, core, s, x)
	for _, el := range s.Take() {
		if el.Local == "iq" {
			return el
		}
	}
	t.Fatalf("no response to %s", x)
	return nil
}

// CreateAccounts creates an account, without keys, for each user.
func CreateAccounts(t testing.TB, a storage.Accounts, users ...string) {
	t.Helper()
	for _, u := range users {
		if err := a.Create(t.Context(), storage.Account{User: u}); err != nil {
			t.Fatal(err)
		}
	}
}
