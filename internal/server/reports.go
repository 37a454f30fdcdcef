package server

import (
	"samtal.org/samtal/internal/abuse"
	"samtal.org/samtal/internal/im"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
)

// reports hooks spam and abuse reports (XEP-0377) into the IM core: the
// reports that users make when they block someone, and those other
// servers send to a host, go to the host's administrators.
func (s *Server) reports(core *im.Service, mux *iq.Mux) error {
	cfg := s.cfg
	admins := make(map[string][]jid.JID, len(cfg.Hosts))
	for _, h := range cfg.Hosts {
		admins[h.Domain] = hostAdmins(h)
	}
	ac := abuse.Config{
		Admins: admins,
		// Half a stanza for the reported messages leaves room for the
		// rest of the report.
		MaxBytes: cfg.Limits.MaxStanzaBytes / 2,
	}
	if err := ac.Validate(); err != nil {
		return err
	}
	var archive abuse.Archive
	if cfg.Archive.Enabled {
		archive = s.store.Archive()
	}
	a := abuse.New(ac, s.router, archive, s.log, abuse.NewMetrics(s.reg))
	mux.AddHostFeatures(a.Features)
	core.AddHooks(im.Hooks{Blocked: a.Blocked, ServerMessage: a.ServerMessage})
	return nil
}
