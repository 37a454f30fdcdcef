package server

import (
	"fmt"

	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/disco"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/pubsub"
)

// startPubsub starts the publish-subscribe service of every host
// (XEP-0060), routes its domain to it and lists it in the host's
// disco#items (XEP-0060 §5.1). The service keeps nothing between
// requests, so every node of a cluster serves it from the shared store.
func (s *Server) startPubsub(d *disco.Disco) error {
	cfg := s.cfg
	for _, h := range cfg.Hosts {
		domain := cfg.PubsubDomain(h.Domain)
		if domain == "" {
			continue
		}
		admins := hostAdmins(h)
		host := h.Domain
		mayCreate := func(u jid.JID) bool { return u.Domain() == host }
		if cfg.Pubsub.Create == config.CreateAdmins {
			// The administrators may create nodes as owners of every node.
			mayCreate = nil
		}
		svc, err := pubsub.New(pubsub.Config{
			Domain:           domain,
			Admins:           admins,
			MayCreate:        mayCreate,
			MaxNodes:         cfg.Pubsub.MaxNodes,
			MaxUserNodes:     cfg.Pubsub.MaxUserNodes,
			MaxItems:         cfg.Pubsub.MaxItems,
			MaxItemBytes:     cfg.Pubsub.MaxItemBytes,
			MaxSubscriptions: cfg.Pubsub.MaxSubscriptions,
		}, s.router, s.store.PubsubServices(), s.log)
		if err != nil {
			return fmt.Errorf("pubsub: %w", err)
		}
		s.router.AddDomain(domain, svc)
		d.AddItem(h.Domain, disco.Item{JID: domain, Name: "Publish-Subscribe"})
	}
	return nil
}
