package private

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

// memPrivate is an in-memory storage.Private.
type memPrivate struct {
	mu  sync.Mutex
	m   map[[2]string]string
	err error
}

func (s *memPrivate) Get(_ context.Context, user, ns string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return "", s.err
	}
	v, ok := s.m[[2]string{user, ns}]
	if !ok {
		return "", storage.ErrNotFound
	}
	return v, nil
}

func (s *memPrivate) Put(_ context.Context, user, ns, xml string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.m[[2]string{user, ns}] = xml
	return nil
}

func (s *memPrivate) Namespaces(_ context.Context, user string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var out []string
	for k := range s.m {
		if k[0] == user {
			out = append(out, k[1])
		}
	}
	slices.Sort(out)
	return out, nil
}

// request builds an iq as the IM core hands it to the mux: To is the
// account's bare JID, also when the client sent no 'to'.
func request(typ, from, to string, children ...*xmlel.Element) *stanza.Stanza {
	return xmpptest.IQ(typ, from, to, xmlel.New(NS, "query").Append(children...))
}

func prefs(nick string) *xmlel.Element {
	return xmlel.New("exodus:prefs", "exodus").Append(xmlel.TextElement("exodus:prefs", "defaultnick", nick))
}

const (
	hamlet  = "hamlet@shakespeare.lit"
	hamletR = hamlet + "/denmark"
	macbeth = "macbeth@shakespeare.lit/castle"
)

func TestPrivate(t *testing.T) {
	type step struct {
		typ, from string
		children  []*xmlel.Element
		want      string // the result's query as XML; "" for none
		cond      stanza.Condition
	}
	q := func(inner string) string { return `<query xmlns='jabber:iq:private'>` + inner + `</query>` }
	hamletPrefs := `<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>`
	tests := []struct {
		name  string
		steps []step
	}{
		{"nothing stored", []step{
			{typ: "get", from: hamletR, children: []*xmlel.Element{xmlel.New("exodus:prefs", "exodus")},
				want: q(`<exodus xmlns='exodus:prefs'/>`)},
		}},
		{"store and retrieve", []step{
			{typ: "set", from: hamletR, children: []*xmlel.Element{prefs("Hamlet")}},
			{typ: "get", from: hamletR, children: []*xmlel.Element{xmlel.New("exodus:prefs", "exodus")}, want: q(hamletPrefs)},
			{typ: "get", from: hamletR, children: []*xmlel.Element{xmlel.New("storage:bookmarks", "storage")},
				want: q(`<storage xmlns='storage:bookmarks'/>`)},
		}},
		{"several namespaces and elements", []step{
			{typ: "set", from: hamletR, children: []*xmlel.Element{
				prefs("Hamlet"),
				xmlel.New("storage:bookmarks", "storage", "n", "1"),
				xmlel.New("exodus:prefs", "colors"),
			}},
			{typ: "get", from: hamletR, children: []*xmlel.Element{xmlel.New("exodus:prefs", "exodus")},
				want: q(hamletPrefs + `<colors xmlns='exodus:prefs'/>`)},
			{typ: "get", from: hamletR, children: []*xmlel.Element{xmlel.New("storage:bookmarks", "storage")},
				want: q(`<storage xmlns='storage:bookmarks' n='1'/>`)},
		}},
		{"replace", []step{
			{typ: "set", from: hamletR, children: []*xmlel.Element{prefs("Hamlet")}},
			{typ: "set", from: hamletR, children: []*xmlel.Element{prefs("Prince")}},
			{typ: "get", from: hamletR, children: []*xmlel.Element{xmlel.New("exodus:prefs", "exodus")},
				want: q(`<exodus xmlns='exodus:prefs'><defaultnick>Prince</defaultnick></exodus>`)},
		}},
		{"another user", []step{
			{typ: "set", from: macbeth, children: []*xmlel.Element{prefs("Macbeth")}, cond: stanza.Forbidden},
			{typ: "get", from: macbeth, children: []*xmlel.Element{xmlel.New("exodus:prefs", "exodus")}, cond: stanza.Forbidden},
		}},
		{"no child", []step{
			{typ: "get", from: hamletR, cond: stanza.NotAcceptable},
			{typ: "set", from: hamletR, cond: stanza.NotAcceptable},
		}},
		{"get of two namespaces", []step{
			{typ: "get", from: hamletR, children: []*xmlel.Element{xmlel.New("a:b", "x"), xmlel.New("c:d", "y")}, cond: stanza.BadRequest},
		}},
		{"reserved namespaces", []step{
			{typ: "set", from: hamletR, children: []*xmlel.Element{xmlel.New("vcard-temp", "vCard")}, cond: stanza.NotAcceptable},
			{typ: "set", from: hamletR, children: []*xmlel.Element{xmlel.New("jabber:iq:roster", "query")}, cond: stanza.NotAcceptable},
			{typ: "set", from: hamletR, children: []*xmlel.Element{xmlel.New("http://jabber.org/protocol/muc", "x")}, cond: stanza.NotAcceptable},
			{typ: "set", from: hamletR, children: []*xmlel.Element{xmlel.New("", "message")}, cond: stanza.NotAcceptable},
			{typ: "get", from: hamletR, children: []*xmlel.Element{xmlel.New("jabber:x:data", "x")}, cond: stanza.NotAcceptable},
		}},
		{"refused set stores nothing", []step{
			{typ: "set", from: hamletR, children: []*xmlel.Element{prefs("Hamlet"), xmlel.New("vcard-temp", "vCard")}, cond: stanza.NotAcceptable},
			{typ: "get", from: hamletR, children: []*xmlel.Element{xmlel.New("exodus:prefs", "exodus")},
				want: q(`<exodus xmlns='exodus:prefs'/>`)},
		}},
		{"too many namespaces", []step{
			{typ: "set", from: hamletR, children: []*xmlel.Element{xmlel.New("a:1", "x"), xmlel.New("a:2", "x")}},
			{typ: "set", from: hamletR, children: []*xmlel.Element{xmlel.New("a:3", "x")}},
			{typ: "set", from: hamletR, children: []*xmlel.Element{xmlel.New("a:4", "x")}, cond: stanza.NotAcceptable},
			{typ: "set", from: hamletR, children: []*xmlel.Element{xmlel.New("a:1", "y"), xmlel.New("a:5", "x")}, cond: stanza.NotAcceptable},
			// Replacing what is there is still allowed.
			{typ: "set", from: hamletR, children: []*xmlel.Element{xmlel.New("a:1", "y"), xmlel.New("a:3", "y")}},
			{typ: "get", from: hamletR, children: []*xmlel.Element{xmlel.New("a:4", "x")}, want: q(`<x xmlns='a:4'/>`)},
		}},
		{"too large", []step{
			{typ: "set", from: hamletR, children: []*xmlel.Element{prefs(strings.Repeat("x", 300))}, cond: stanza.NotAcceptable},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mux := iq.NewMux(slog.New(slog.DiscardHandler))
			New(Config{MaxBytes: 256, MaxNamespaces: 3}, &memPrivate{m: map[[2]string]string{}}, mux)
			for i, s := range tc.steps {
				resp := mux.Serve(context.Background(), iq.Account, request(s.typ, s.from, hamlet, s.children...))
				xmpptest.CheckAnswer(t, fmt.Sprintf("step %d", i), resp, s.cond, s.want)
			}
		})
	}
}

func TestStorageErrors(t *testing.T) {
	tests := []struct {
		name  string
		store *memPrivate
		typ   string
	}{
		{"get fails", &memPrivate{err: errors.New("disk on fire")}, "get"},
		{"put fails", &memPrivate{err: errors.New("disk on fire")}, "set"},
		{"stored data is broken", &memPrivate{m: map[[2]string]string{{hamlet, "exodus:prefs"}: "<query"}}, "get"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mux := iq.NewMux(slog.New(slog.DiscardHandler))
			New(Config{}, tc.store, mux)
			resp := mux.Serve(context.Background(), iq.Account, request(tc.typ, hamletR, hamlet, prefs("Hamlet")))
			if e, ok := stanza.ParseError(resp); !ok || e.Condition != stanza.InternalServerError {
				t.Fatalf("Serve = %v, want internal-server-error", resp)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	if err := (Config{MaxBytes: -1}).Validate(); err == nil {
		t.Error("Validate(MaxBytes: -1) = nil, want an error")
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}
