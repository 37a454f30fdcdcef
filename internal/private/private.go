// Package private stores Private XML Storage (XEP-0049): a user keeps
// arbitrary XML fragments on the server, one per namespace, that only
// the user can read and change.
package private

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// NS is the private XML storage namespace (XEP-0049 §2.1).
const NS = "jabber:iq:private"

// DefaultMaxBytes is the default size limit of the data of one
// namespace.
const DefaultMaxBytes = 128 << 10

// DefaultMaxNamespaces is the default number of namespaces one account
// may store data in.
const DefaultMaxNamespaces = 64

// Config holds the private storage limits.
type Config struct {
	// MaxBytes bounds what one namespace holds, in bytes of XML as
	// stored; 0 is DefaultMaxBytes.
	MaxBytes int
	// MaxNamespaces bounds the namespaces one account stores data in,
	// so that the space an account takes is bounded too; 0 is
	// DefaultMaxNamespaces.
	MaxNamespaces int
}

// Validate reports problems of c.
func (c Config) Validate() error {
	if c.MaxBytes < 0 {
		return fmt.Errorf("private: max bytes %d is negative", c.MaxBytes)
	}
	if c.MaxNamespaces < 0 {
		return fmt.Errorf("private: max namespaces %d is negative", c.MaxNamespaces)
	}
	return nil
}

// Service answers private storage requests. It is safe for concurrent
// use.
type Service struct {
	max    int
	spaces int
	store  privateStore
}

// New registers the private storage handler for accounts in mux.
func New(cfg Config, store privateStore, mux *iq.Mux) *Service {
	s := &Service{max: cfg.MaxBytes, spaces: cfg.MaxNamespaces, store: store}
	if s.max == 0 {
		s.max = DefaultMaxBytes
	}
	if s.spaces == 0 {
		s.spaces = DefaultMaxNamespaces
	}
	mux.Handle(iq.Account, NS, s.handle)
	return s
}

// handle answers a get or set of private data (XEP-0049 §2.3).
//
// The data of one namespace is stored as a <query/> element that holds
// every element of that namespace the user set, since a set "MAY contain
// multiple elements qualified by the same namespace"; a get returns that
// element as it is.
func (s *Service) handle(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	if !st.From.Bare().Equal(st.To) {
		// XEP-0049 §2.3: forbidden, which it prefers to
		// service-unavailable; §5: only the user's own resources.
		return nil, stanza.E(stanza.Forbidden)
	}
	q := st.Payload()
	if q.Local != "query" {
		return nil, stanza.E(stanza.BadRequest)
	}
	children := q.Elements()
	if len(children) == 0 {
		// XEP-0049 §2.3: "At least one child element with a proper
		// namespace MUST be included; otherwise the server MUST respond
		// with a Not Acceptable error".
		return nil, stanza.E(stanza.NotAcceptable)
	}
	// Group the children by namespace, in order of first appearance.
	var spaces []string
	groups := map[string]*xmlel.Element{}
	for _, c := range children {
		if reserved(c.Space) {
			// XEP-0049 §2.3 lets a server refuse reserved namespaces with
			// not-acceptable; samtal does, so that nothing stored here can
			// pass for data of a protocol the server implements.
			return nil, stanza.E(stanza.NotAcceptable).WithText("namespace " + c.Space + " is reserved")
		}
		g := groups[c.Space]
		if g == nil {
			g = xmlel.New(NS, "query")
			groups[c.Space] = g
			spaces = append(spaces, c.Space)
		}
		g.Append(c)
	}
	user := st.To.String()
	if st.Type() == "get" {
		if len(spaces) != 1 {
			// XEP-0049 §2.3: "A client MUST NOT query for more than one
			// namespace in a single IQ get request."
			return nil, stanza.E(stanza.BadRequest)
		}
		return s.get(ctx, user, spaces[0], groups[spaces[0]])
	}
	// Check every namespace before storing any, so that a refused set
	// changes nothing.
	data := make([]string, len(spaces))
	for i, ns := range spaces {
		data[i] = groups[ns].String()
		if len(data[i]) > s.max {
			return nil, stanza.E(stanza.NotAcceptable).WithText(fmt.Sprintf("the data of %s is larger than %d bytes", ns, s.max))
		}
	}
	stored, err := s.store.Namespaces(ctx, user)
	if err != nil {
		return nil, err
	}
	n := len(stored)
	for _, ns := range spaces {
		if !slices.Contains(stored, ns) {
			n++
		}
	}
	if n > s.spaces {
		// Two concurrent sets of new namespaces may pass this check
		// together; the bound is the number of an account's sessions
		// above the limit, which keeps it a bound.
		return nil, stanza.E(stanza.NotAcceptable).WithText(fmt.Sprintf("an account may store data in at most %d namespaces", s.spaces))
	}
	for i, ns := range spaces {
		if err := s.store.Put(ctx, user, ns, data[i]); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// privateStore is what the service needs of storage.Private.
type privateStore interface {
	Get(ctx context.Context, user, namespace string) (string, error)
	Put(ctx context.Context, user, namespace, xml string) error
	Namespaces(ctx context.Context, user string) ([]string, error)
}

// get returns the stored data of namespace ns. With nothing stored, the
// request's own query comes back, as the existing implementations answer:
// an empty element of the namespace tells the client there is no data.
func (s *Service) get(ctx context.Context, user, ns string, req *xmlel.Element) (*xmlel.Element, error) {
	data, err := s.store.Get(ctx, user, ns)
	if errors.Is(err, storage.ErrNotFound) {
		return req, nil
	}
	if err != nil {
		return nil, err
	}
	el, err := xmlstream.ParseStored(data)
	if err != nil {
		return nil, fmt.Errorf("private: stored data of %s in %s: %w", user, ns, err)
	}
	return el, nil
}

// reserved reports whether private data may not use namespace ns
// (XEP-0049 §2.3): those beginning with "jabber:" or
// "http://jabber.org/", and vcard-temp. The empty namespace is the
// stream's content namespace (jabber:client), so it is reserved too.
func reserved(ns string) bool {
	return ns == "" || ns == "vcard-temp" ||
		strings.HasPrefix(ns, "jabber:") || strings.HasPrefix(ns, "http://jabber.org/")
}
