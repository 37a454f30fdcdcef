package server

import (
	"context"

	"samtal.org/samtal/internal/c2s"
	"samtal.org/samtal/internal/disco"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/ping"
	"samtal.org/samtal/internal/private"
	"samtal.org/samtal/internal/register"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/vcard"
	"samtal.org/samtal/internal/version"
	"samtal.org/samtal/internal/xmlel"
)

// services registers the basic services in mux and returns what the
// client listener needs for in-band registration.
func (s *Server) services(mux *iq.Mux, store storage.Store) (*register.Register, *disco.Disco) {
	cfg := s.cfg
	contacts := make(map[string]disco.Contacts, len(cfg.Hosts))
	for _, h := range cfg.Hosts {
		c := h.Contact
		contacts[h.Domain] = disco.Contacts{
			"abuse": c.Abuse, "admin": c.Admin, "feedback": c.Feedback, "sales": c.Sales,
			"security": c.Security, "status": c.Status, "support": c.Support,
		}
	}
	d := disco.New(disco.Config{Contacts: contacts}, mux, store.Roster())
	for _, c := range cfg.Components {
		for _, h := range cfg.Hosts {
			d.AddItem(h.Domain, disco.Item{JID: c.Domain})
		}
	}
	ping.New(mux)
	version.New(mux, Version, version.Config{Hide: cfg.HideVersion}, nil)
	vcard.New(vcard.Config{MaxBytes: cfg.Limits.VCardBytes}, store.VCards(), mux)
	private.New(private.Config{MaxBytes: cfg.Limits.PrivateBytes, MaxNamespaces: cfg.Limits.PrivateNamespaces}, store.Private(), mux)
	policy := func(host string) register.Policy {
		h, ok := cfg.Host(host)
		if !ok {
			return register.Closed
		}
		return register.Policy(h.Policy(cfg.Registration))
	}
	reg := register.New(register.Config{Iterations: cfg.SCRAMIterations, OnRemove: s.accountRemoved}, policy, store.Accounts(),
		s.invites, s.router, mux, s.log)
	return reg, d
}

// preAuth gives each client connection its own registration state.
func preAuth(reg *register.Register) c2s.PreAuthFactory {
	return func() c2s.PreAuth {
		var st register.State
		return c2s.PreAuth{
			Serve: func(ctx context.Context, host string, el *stanza.Stanza) *xmlel.Element {
				return reg.PreAuth(ctx, host, &st, el)
			},
			Features: reg.Features,
		}
	}
}
