package vcard

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

// memVCards is an in-memory storage.VCards.
type memVCards struct {
	mu  sync.Mutex
	m   map[string]string
	err error
}

func (s *memVCards) Get(_ context.Context, user string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return "", s.err
	}
	v, ok := s.m[user]
	if !ok {
		return "", storage.ErrNotFound
	}
	return v, nil
}

func (s *memVCards) Put(_ context.Context, user, vcard string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if vcard == "" {
		delete(s.m, user)
		return nil
	}
	s.m[user] = vcard
	return nil
}

func card(fn string) *xmlel.Element {
	return xmlel.New(NS, "vCard").Append(
		xmlel.TextElement(NS, "FN", fn),
		xmlel.New(NS, "N").Append(xmlel.TextElement(NS, "GIVEN", "Peter"), xmlel.New(NS, "MIDDLE")),
	)
}

const (
	peter  = "stpeter@jabber.org"
	jer    = "jer@jabber.org"
	peterR = peter + "/roundabout"
	jerR   = jer + "/laptop"
)

func TestVCard(t *testing.T) {
	type step struct {
		typ, from, to string
		payload       *xmlel.Element
		want          string // the result payload as XML, "" for none
		cond          stanza.Condition
	}
	empty := `<vCard xmlns='vcard-temp'/>`
	tests := []struct {
		name  string
		steps []step
	}{
		{"own empty vCard", []step{
			{typ: "get", from: peterR, to: peter, payload: xmlel.New(NS, "vCard"), want: empty},
		}},
		{"someone else's missing vCard", []step{
			{typ: "get", from: jerR, to: peter, payload: xmlel.New(NS, "vCard"), cond: stanza.ServiceUnavailable},
		}},
		{"set then read by owner and others", []step{
			{typ: "set", from: peterR, to: peter, payload: card("Peter Saint-Andre")},
			{typ: "get", from: peterR, to: peter, payload: xmlel.New(NS, "vCard"), want: card("Peter Saint-Andre").String()},
			{typ: "get", from: jerR, to: peter, payload: xmlel.New(NS, "vCard"), want: card("Peter Saint-Andre").String()},
			{typ: "get", from: "romeo@montague.net/orchard", to: peter, payload: xmlel.New(NS, "vCard"), want: card("Peter Saint-Andre").String()},
		}},
		{"replace", []step{
			{typ: "set", from: peterR, to: peter, payload: card("Peter")},
			{typ: "set", from: peterR, to: peter, payload: card("stpeter")},
			{typ: "get", from: jerR, to: peter, payload: xmlel.New(NS, "vCard"), want: card("stpeter").String()},
		}},
		{"empty set removes", []step{
			{typ: "set", from: peterR, to: peter, payload: card("Peter")},
			{typ: "set", from: peterR, to: peter, payload: xmlel.New(NS, "vCard")},
			{typ: "get", from: peterR, to: peter, payload: xmlel.New(NS, "vCard"), want: empty},
			{typ: "get", from: jerR, to: peter, payload: xmlel.New(NS, "vCard"), cond: stanza.ServiceUnavailable},
		}},
		{"set someone else's vCard", []step{
			{typ: "set", from: jerR, to: peter, payload: card("Jer was here"), cond: stanza.Forbidden},
			{typ: "get", from: peterR, to: peter, payload: xmlel.New(NS, "vCard"), want: empty},
		}},
		{"too large", []step{
			{typ: "set", from: peterR, to: peter, payload: card(strings.Repeat("x", 1000)), cond: stanza.NotAcceptable},
			{typ: "get", from: peterR, to: peter, payload: xmlel.New(NS, "vCard"), want: empty},
		}},
		{"wrong element", []step{
			{typ: "get", from: peterR, to: peter, payload: xmlel.New(NS, "vcard"), cond: stanza.BadRequest},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mux := iq.NewMux(slog.New(slog.DiscardHandler))
			New(Config{MaxBytes: 512}, &memVCards{m: map[string]string{}}, mux)
			for i, s := range tc.steps {
				resp := mux.Serve(context.Background(), iq.Account, xmpptest.IQ(s.typ, s.from, s.to, s.payload))
				xmpptest.CheckAnswer(t, fmt.Sprintf("step %d", i), resp, s.cond, s.want)
			}
		})
	}
}

func TestStorageErrors(t *testing.T) {
	tests := []struct {
		name  string
		store *memVCards
		typ   string
	}{
		{"get fails", &memVCards{err: errors.New("disk on fire")}, "get"},
		{"put fails", &memVCards{err: errors.New("disk on fire")}, "set"},
		{"stored vCard is broken", &memVCards{m: map[string]string{peter: "<vCard xmlns='vcard-temp'><FN>"}}, "get"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mux := iq.NewMux(slog.New(slog.DiscardHandler))
			New(Config{}, tc.store, mux)
			resp := mux.Serve(context.Background(), iq.Account, xmpptest.IQ(tc.typ, peterR, peter, card("Peter")))
			if e, ok := stanza.ParseError(resp); !ok || e.Condition != stanza.InternalServerError {
				t.Fatalf("Serve = %v, want internal-server-error", resp)
			}
		})
	}
}

func TestFeatures(t *testing.T) {
	mux := iq.NewMux(slog.New(slog.DiscardHandler))
	New(Config{}, &memVCards{m: map[string]string{}}, mux)
	for _, target := range []iq.Target{iq.Server, iq.Account} {
		if !slices.Contains(mux.Features(target), NS) {
			t.Errorf("Features(%v) = %v, want %s", target, mux.Features(target), NS)
		}
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

// TestNamespacedAttributesReadBack checks that a vCard whose element
// carries as many namespaced attributes as a stream lets in reads back:
// stored on its own, it declares each namespace itself.
func TestNamespacedAttributesReadBack(t *testing.T) {
	mux := iq.NewMux(slog.New(slog.DiscardHandler))
	New(Config{MaxBytes: 1 << 16}, &memVCards{m: map[string]string{}}, mux)
	vc := card("Peter")
	for i := range 32 {
		vc.Attrs = append(vc.Attrs, xmlel.Attr{Space: fmt.Sprintf("urn:p%d", i), Local: "a", Value: "v"})
	}
	resp := mux.Serve(context.Background(), iq.Account, xmpptest.IQ("set", peterR, peter, vc))
	xmpptest.CheckAnswer(t, "set", resp, "", "")
	resp = mux.Serve(context.Background(), iq.Account, xmpptest.IQ("get", jerR, peter, xmlel.New(NS, "vCard")))
	xmpptest.CheckAnswer(t, "get", resp, "", vc.String())
}
