package server

import (
	"fmt"
	"net"
	"net/http"
	"slices"

	"samtal.org/samtal/internal/c2s"
	"samtal.org/samtal/internal/certs"
	"samtal.org/samtal/internal/web"
	"samtal.org/samtal/internal/webclient"
	"samtal.org/samtal/internal/xmlstream"
)

// startWeb starts the HTTP server of the [web] section: WebSocket and
// BOSH streams go to the c2s service, whose session code runs them as it
// runs TCP streams.
func (s *Server) startWeb(certStore *certs.Store, upload http.Handler) error {
	wc := s.cfg.Web
	if len(wc.HTTPS) == 0 && len(wc.HTTP) == 0 {
		return nil
	}
	hosts := make([]string, len(s.cfg.Hosts))
	for i, h := range s.cfg.Hosts {
		hosts[i] = h.Domain
	}
	l := s.cfg.Limits
	cfg := web.Config{
		Hosts:          hosts,
		PublicURL:      wc.PublicURL,
		AllowedOrigins: wc.AllowedOrigins,
		Limits:         xmlstream.Limits{MaxStanzaBytes: l.MaxStanzaBytes, MaxDepth: l.MaxDepth},
		ServeXMPP: func(c net.Conn) {
			// TLS is at the HTTP layer, or the listener is on loopback
			// (config validation allows plain HTTP nowhere else).
			s.c2s.ServeConn(c, c2s.ConnOptions{Secure: true})
		},
		Upload: upload,
		BOSH:   web.BOSHConfig{OutBytes: l.OutQueueBytes},
		Log:    s.log,
	}
	if wc.Client {
		cfg.Client = webclient.Files()
	}
	w, err := web.New(cfg)
	if err != nil {
		return err
	}
	// Closed after the c2s service, which tells the WebSocket and BOSH
	// clients system-shutdown through their transports.
	s.closers = slices.Insert(s.closers, s.c2sCloser, w.Close)
	tlsConfig := certStore.ServerConfig()
	for _, addr := range wc.HTTPS {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("web listener: %w", err)
		}
		w.Serve(ln, tlsConfig)
		s.addrs = append(s.addrs, "web (WebSocket, BOSH, upload, web client) on https://"+ln.Addr().String()+"/")
	}
	for _, addr := range wc.HTTP {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("web listener: %w", err)
		}
		w.Serve(ln, nil)
		s.addrs = append(s.addrs, "web without TLS (loopback) on http://"+ln.Addr().String()+"/")
	}
	switch {
	case !wc.Client:
	case w.ClientBuilt():
		s.addrs = append(s.addrs, "web client at / (converse.js with OMEMO)")
	default:
		s.addrs = append(s.addrs, "web client not built into this binary: `make build` builds it (npm in web/)")
	}
	return nil
}
