package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"time"

	"samtal.org/samtal/internal/disco"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/muc"
	"samtal.org/samtal/internal/router"
)

// startMUC starts the group chat service of every host (XEP-0045), routes
// its domain to it and lists it in the host's disco#items (§6.1).
func (s *Server) startMUC(d *disco.Disco, secret []byte) error {
	cfg := s.cfg
	// The occupant-ids of XEP-0421 are keyed by a secret of their own,
	// derived from the server's, so that they stay the same across
	// restarts.
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("samtal muc occupant-id"))
	key := m.Sum(nil)
	for _, h := range cfg.Hosts {
		domain := cfg.MUCDomain(h.Domain)
		if domain == "" {
			continue
		}
		// The host's administrators act as owners of every room of its
		// service, so that a room left without owners can be repaired.
		admins := hostAdmins(h)
		svc, err := muc.New(muc.Config{
			Domain:           domain,
			Admins:           admins,
			MaxRoomsPerUser:  cfg.MUC.MaxRoomsPerUser,
			DefaultOccupants: cfg.MUC.DefaultOccupants,
			MaxOccupants:     cfg.MUC.MaxOccupants,
			HistoryDefault:   cfg.MUC.HistoryDefault,
			HistoryMax:       cfg.MUC.HistoryMax,
			ArchiveDefault:   cfg.MUC.ArchiveDefault,
			ArchiveRetention: time.Duration(cfg.MUC.ArchiveRetention),
			MaxPage:          cfg.MUC.MaxPage,
			MaxVCardBytes:    cfg.Limits.VCardBytes,
			Secret:           key,
			// Users of the server's hosts create rooms; anyone may join
			// them.
			MayCreate: func(u jid.JID) bool { return s.router.IsLocal(u.Domain()) },
		}, s.router, s.store.Rooms(), s.store.RoomArchive(), s.log)
		if err != nil {
			return fmt.Errorf("group chat: %w", err)
		}
		var handler router.Handler = svc
		if s.cluster != nil {
			// Each room is served by the node that holds its lease.
			handler = s.cluster.Rooms(domain, svc)
		}
		s.router.AddDomain(domain, handler)
		d.AddItem(h.Domain, disco.Item{JID: domain, Name: "Group chat"})
		s.mucs = append(s.mucs, svc)
	}
	return nil
}

// closeMUC tells the occupants of every room that the service shuts down
// (XEP-0045 §11.2), before the client listeners close.
func (s *Server) closeMUC(ctx context.Context) {
	for _, m := range s.mucs {
		m.Close(ctx)
	}
}

// accountRemoved takes what the store does not delete with the account
// away: its group chat affiliations and its uploaded files.
func (s *Server) accountRemoved(ctx context.Context, user jid.JID) {
	for _, m := range s.mucs {
		m.RemoveAccount(ctx, user)
	}
	if s.upload != nil {
		if _, err := s.upload.RemoveUser(user); err != nil {
			s.log.Error("removing the uploads of an account failed", "err", err)
		}
	}
}
