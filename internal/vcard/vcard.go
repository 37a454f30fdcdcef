// Package vcard stores and serves vcard-temp documents (XEP-0054): a user
// sets and reads their own vCard at their account, and anyone may read
// it at the user's bare JID, answered by the server on the user's behalf
// (XEP-0054 §3.3, RFC 6120 §10.3.3).
package vcard

import (
	"context"
	"errors"
	"fmt"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// NS is the vcard-temp namespace (XEP-0054 §9.1).
const NS = "vcard-temp"

// DefaultMaxBytes is the default size limit of one vCard: room for a
// small avatar photo, which clients embed in it (XEP-0153).
const DefaultMaxBytes = 128 << 10

// Config holds the vCard limits.
type Config struct {
	// MaxBytes bounds a vCard as stored, in bytes of XML; 0 is
	// DefaultMaxBytes.
	MaxBytes int
}

// Validate reports problems of c.
func (c Config) Validate() error {
	if c.MaxBytes < 0 {
		return fmt.Errorf("vcard: max bytes %d is negative", c.MaxBytes)
	}
	return nil
}

// Service answers vcard-temp requests. It is safe for concurrent use.
type Service struct {
	max   int
	store storage.VCards
}

// New registers the vcard-temp handler for accounts in mux and advertises
// the vcard-temp feature (XEP-0054 §4) for hosts and accounts.
func New(cfg Config, store storage.VCards, mux *iq.Mux) *Service {
	s := &Service{max: cfg.MaxBytes, store: store}
	if s.max == 0 {
		s.max = DefaultMaxBytes
	}
	mux.Handle(iq.Account, NS, s.handle)
	mux.AddFeature(iq.Server, NS)
	mux.AddFeature(iq.Account, NS)
	return s
}

// handle answers a get or set of a vCard at a bare JID (st.To), which the
// caller has checked to be an existing account.
func (s *Service) handle(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	if st.Payload().Local != "vCard" {
		return nil, stanza.E(stanza.BadRequest)
	}
	owner := st.From.Bare().Equal(st.To)
	if st.Type() == "set" {
		if !owner {
			// XEP-0054 §3.2: setting another user's vCard is forbidden.
			return nil, stanza.E(stanza.Forbidden)
		}
		return nil, s.set(ctx, st)
	}
	data, err := s.store.Get(ctx, st.To.String())
	if errors.Is(err, storage.ErrNotFound) {
		if owner {
			// XEP-0054 §3.1: an empty vCard when the user has none.
			return xmlel.New(NS, "vCard"), nil
		}
		// XEP-0054 §3.3: service-unavailable, the same error as for an
		// account that does not exist, against directory harvesting.
		return nil, stanza.E(stanza.ServiceUnavailable)
	}
	if err != nil {
		return nil, err
	}
	el, err := xmlstream.ParseStored(data)
	if err != nil {
		return nil, fmt.Errorf("vcard: stored vCard of %s: %w", st.To, err)
	}
	return el, nil
}

// set stores the user's vCard (XEP-0054 §3.2); an empty <vCard/> removes
// it.
func (s *Service) set(ctx context.Context, st *stanza.Stanza) error {
	v := st.Payload()
	var data string
	if len(v.Children) > 0 {
		data = v.String()
	}
	if len(data) > s.max {
		// Neither XEP-0054 nor RFC 6120 names a condition for this.
		// not-acceptable (type modify) says that this request cannot be
		// processed as it is and can be fixed by the sender, with a
		// smaller photo, which is what a client shows its user.
		return stanza.E(stanza.NotAcceptable).WithText(fmt.Sprintf("the vCard is larger than %d bytes", s.max))
	}
	return s.store.Put(ctx, st.To.String(), data)
}
