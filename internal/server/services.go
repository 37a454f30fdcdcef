package server

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"time"

	"samtal.org/samtal/internal/adhoc"
	"samtal.org/samtal/internal/admin"
	"samtal.org/samtal/internal/c2s"
	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/disco"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/ping"
	"samtal.org/samtal/internal/private"
	"samtal.org/samtal/internal/register"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/upload"
	"samtal.org/samtal/internal/vcard"
	"samtal.org/samtal/internal/version"
	"samtal.org/samtal/internal/xmlel"
)

// services registers the basic services in mux and returns what the
// client listener needs for in-band registration.
func (s *Server) services(mux *iq.Mux, store storage.Store, up *upload.Service) (*register.Register, *disco.Disco) {
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
	if up != nil {
		for _, h := range cfg.Hosts {
			// XEP-0363 §3: the server lists its upload service.
			d.AddItem(h.Domain, disco.Item{JID: "upload." + h.Domain, Name: "HTTP File Upload"})
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
		s.invites, s.accountSessions(), mux, s.log)
	return reg, d
}

// administration offers the service administration commands (XEP-0133)
// to the administrators of the hosts.
func (s *Server) administration(commands *adhoc.Service, reg *register.Register, store storage.Store) {
	var admins []jid.JID
	for _, h := range s.cfg.Hosts {
		admins = append(admins, hostAdmins(h)...)
	}
	admin.Register(commands, admins, reg, store.Accounts(), s.router)
}

// hostAdmins returns the administrators of a host.
func hostAdmins(h config.Host) []jid.JID {
	var admins []jid.JID
	for _, a := range h.Admins {
		admins = append(admins, jid.MustParse(a)) // validated: a bare JID of the host
	}
	return admins
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

// UploadDir is where the upload service keeps its files.
func UploadDir(cfg config.Config) string {
	return filepath.Join(cfg.DataDir, "uploads")
}

// startUpload starts the upload service (XEP-0363) at upload.<host> of
// every host, or returns nil when it is off.
func (s *Server) startUpload() (*upload.Service, error) {
	uc := s.cfg.Upload
	if !uc.Enabled {
		return nil, nil
	}
	up, err := upload.New(upload.Config{
		Dir:         UploadDir(s.cfg),
		MaxFileSize: uc.MaxFileSize,
		Quota:       uc.Quota,
		Retention:   time.Duration(uc.Retention),
		BaseURL:     s.webBaseURL,
	}, s.router, s.log)
	if err != nil {
		return nil, err
	}
	for _, h := range s.cfg.Hosts {
		s.router.AddDomain("upload."+h.Domain, up)
	}
	return up, nil
}

// webBaseURL is the URL of the web server for a host: the public URL, or
// the host's name with the port of the first HTTPS listener (of the first
// plain one on loopback when there is no HTTPS).
func (s *Server) webBaseURL(host string) string {
	wc := s.cfg.Web
	if wc.PublicURL != "" {
		return strings.TrimSuffix(wc.PublicURL, "/")
	}
	scheme, addrs := "https", wc.HTTPS
	if len(addrs) == 0 {
		scheme, addrs = "http", wc.HTTP
	}
	if len(addrs) == 0 {
		return scheme + "://" + host
	}
	_, port, _ := net.SplitHostPort(addrs[0])
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		return scheme + "://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
