// Package iq dispatches info/query requests that the server answers itself
// (RFC 6120 §8.2.3) to the service that handles their payload namespace,
// and keeps what those services advertise in service discovery (XEP-0030):
// features, identities and items.
package iq

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"sync"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// Target says who a request is addressed to.
type Target int

// Targets of requests the server answers.
const (
	// Server: the request is to a host domain ("to" is the domain).
	Server Target = iota
	// Account: the request is to a user's bare JID, answered by the server
	// on the user's behalf (RFC 6120 §10.3.3); a request with no "to" from
	// the user is addressed to their own account.
	Account
)

// Handler answers one request. It returns the payload of the result (nil
// for an empty result) or an error; a stanza.Error goes to the requester
// as it is, any other error as internal-server-error and into the log.
type Handler func(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error)

// Identity is a disco#info identity.
type Identity struct{ Category, Type, Name string }

// Mux routes requests by target and payload namespace. Register handlers
// before serving; lookups are safe for concurrent use.
type Mux struct {
	mu         sync.RWMutex
	handlers   map[Target]map[string]Handler
	features   map[Target]map[string]bool
	hostFeats  []func(domain string) []string
	identities []Identity
	accountIDs []Identity
	items      []ItemsFunc
	extensions []func(domain string) *xmlel.Element
	log        *slog.Logger

	pmu     sync.Mutex
	pending map[string]pending // requests the server sent, by id
}

// pending is a request the server sent and waits an answer to.
type pending struct {
	peer jid.JID // who must answer
	ch   chan *stanza.Stanza
}

// NewMux returns an empty mux.
func NewMux(log *slog.Logger) *Mux {
	return &Mux{
		handlers: map[Target]map[string]Handler{Server: {}, Account: {}},
		features: map[Target]map[string]bool{Server: {}, Account: {}},
		log:      log,
		pending:  make(map[string]pending),
	}
}

// MaxPending bounds the requests the server waits answers to at once.
const MaxPending = 1000

// ErrTooManyPending is returned by Await when MaxPending requests wait.
var ErrTooManyPending = errors.New("iq: too many requests waiting for an answer")

// Await registers a request with id that the server is about to send to
// peer, and returns a channel that gets the answer (a result or error iq
// from peer, passed to Serve) and a function to call when done waiting.
// The id must be unguessable, so that no one else can answer in peer's
// place.
func (m *Mux) Await(id string, peer jid.JID) (<-chan *stanza.Stanza, func(), error) {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	if len(m.pending) >= MaxPending {
		return nil, nil, ErrTooManyPending
	}
	ch := make(chan *stanza.Stanza, 1)
	m.pending[id] = pending{peer: peer, ch: ch}
	return ch, func() {
		m.pmu.Lock()
		delete(m.pending, id)
		m.pmu.Unlock()
	}, nil
}

// answer hands a result or error iq to the request it answers, if the
// server waits for one with that id from that sender.
func (m *Mux) answer(st *stanza.Stanza) {
	if t := st.Type(); t != "result" && t != "error" {
		return
	}
	m.pmu.Lock()
	p, ok := m.pending[st.ID()]
	if ok && p.peer.Equal(st.From) {
		delete(m.pending, st.ID())
	}
	m.pmu.Unlock()
	if ok && p.peer.Equal(st.From) {
		p.ch <- st // buffered, and each id is answered once
	}
}

// Handle registers h for requests to t whose payload is in namespace ns.
func (m *Mux) Handle(t Target, ns string, h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handlers[t][ns] = h
}

// AddFeature advertises features for t in disco#info.
func (m *Mux) AddFeature(t Target, features ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range features {
		m.features[t][f] = true
	}
}

// AddHostFeatures advertises in the disco#info of each host the
// features f returns for it: those that depend on the host's
// configuration, such as reporting (XEP-0377), which a host offers only
// when someone there receives the reports.
func (m *Mux) AddHostFeatures(f func(domain string) []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hostFeats = append(m.hostFeats, f)
}

// AddIdentity advertises a server identity.
func (m *Mux) AddIdentity(id Identity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.identities = append(m.identities, id)
}

// AddAccountIdentity advertises an identity of every account besides
// account/registered, such as pubsub/pep (XEP-0163 §6.1).
func (m *Mux) AddAccountIdentity(id Identity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.accountIDs = append(m.accountIDs, id)
}

// AccountIdentities returns the identities added with AddAccountIdentity.
func (m *Mux) AccountIdentities() []Identity {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]Identity(nil), m.accountIDs...)
}

// ItemsFunc lists disco#items of an account (XEP-0030 §4) that a
// requester may see, such as PEP nodes (XEP-0163 §6.2).
type ItemsFunc func(ctx context.Context, account, requester jid.JID) ([]*xmlel.Element, error)

// AddAccountItems adds a source of disco#items for accounts.
func (m *Mux) AddAccountItems(f ItemsFunc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.items = append(m.items, f)
}

// AccountItems returns the items of an account that requester may see.
func (m *Mux) AccountItems(ctx context.Context, account, requester jid.JID) ([]*xmlel.Element, error) {
	m.mu.RLock()
	fs := append([]ItemsFunc(nil), m.items...)
	m.mu.RUnlock()
	var out []*xmlel.Element
	for _, f := range fs {
		items, err := f(ctx, account, requester)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
	}
	return out, nil
}

// Handler returns the handler registered for t and ns, or nil; a service
// that extends another wraps it and registers the wrapper.
func (m *Mux) Handler(t Target, ns string) Handler {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.handlers[t][ns]
}

// AddExtension adds a XEP-0128 data form to the server's disco#info
// (XEP-0157 contact addresses use it). f may return nil.
func (m *Mux) AddExtension(f func(domain string) *xmlel.Element) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.extensions = append(m.extensions, f)
}

// Features returns the sorted features advertised for t.
func (m *Mux) Features(t Target) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.features[t]))
	for f := range m.features[t] {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// HostFeatures returns the sorted features advertised for a host
// domain: those of Server and those AddHostFeatures adds for it.
func (m *Mux) HostFeatures(domain string) []string {
	m.mu.RLock()
	fs := append([]func(string) []string(nil), m.hostFeats...)
	m.mu.RUnlock()
	out := m.Features(Server)
	for _, f := range fs {
		out = append(out, f(domain)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Identities returns the server identities.
func (m *Mux) Identities() []Identity {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]Identity(nil), m.identities...)
}

// Extensions returns the extension forms for a host domain.
func (m *Mux) Extensions(domain string) []*xmlel.Element {
	m.mu.RLock()
	fs := append([]func(string) *xmlel.Element(nil), m.extensions...)
	m.mu.RUnlock()
	var out []*xmlel.Element
	for _, f := range fs {
		if el := f(domain); el != nil {
			out = append(out, el)
		}
	}
	return out
}

// Has reports whether a handler exists for t and ns.
func (m *Mux) Has(t Target, ns string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.handlers[t][ns] != nil
}

// Serve answers a request and returns the response to send back: a result
// or an error iq (service-unavailable for an unknown namespace, RFC 6120
// §8.4). A response goes to the request the server sent (see Await);
// Serve returns nil for it.
func (m *Mux) Serve(ctx context.Context, t Target, st *stanza.Stanza) *xmlel.Element {
	if !st.IsRequest() {
		if st.Kind() == stanza.IQ {
			m.answer(st)
		}
		return nil
	}
	payload := st.Payload()
	if payload == nil || len(st.El.Elements()) != 1 {
		// RFC 6120 §8.2.3: a get or set carries exactly one payload.
		return stanza.ErrorReply(st.El, stanza.E(stanza.BadRequest))
	}
	m.mu.RLock()
	h := m.handlers[t][payload.Space]
	m.mu.RUnlock()
	if h == nil {
		return stanza.ErrorReply(st.El, stanza.E(stanza.ServiceUnavailable))
	}
	res, err := h(ctx, st)
	return st.Answer(res, err, func(err error) { m.log.Error("iq handler failed", "ns", payload.Space, "err", err) })
}
