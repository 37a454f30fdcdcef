package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"samtal.org/samtal/internal/certs"
	"samtal.org/samtal/internal/ircgw"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/listener"
	"samtal.org/samtal/internal/storage"
)

// startIRC starts the IRC gateway: each IRC connection becomes a
// session of the IM core, like a client stream.
func (s *Server) startIRC(certStore *certs.Store, core ircgw.Core, secret []byte) error {
	cfg, l := s.cfg, s.cfg.Limits
	var hosts []string
	for _, h := range cfg.Hosts {
		hosts = append(hosts, h.Domain)
	}
	gc := ircgw.Config{
		TLS:                certStore.ServerConfig(),
		Hosts:              hosts,
		MUCDomain:          cfg.MUCDomain,
		ServerName:         cfg.IRC.ServerName,
		Network:            cfg.IRC.Network,
		Guests:             cfg.IRC.Guests,
		PersistentChannels: cfg.IRC.PersistentChannels,
		PublicAddresses:    cfg.IRC.PublicAddresses,
		Archive:            s.archive != nil,
		DefaultOccupants:   cfg.MUC.DefaultOccupants,
		ReadRate:           l.ReadRate,
		ReadBurst:          l.ReadBurst,
		LineRate:           cfg.IRC.LineRate,
		AuthTimeout:        time.Duration(l.AuthTimeout),
		IdleTimeout:        time.Duration(l.IdleTimeout),
		OutQueueBytes:      l.OutQueueBytes,
		SessionsPerAcct:    l.SessionsPerAccount,
		UnauthPerIP:        l.UnauthPerIP,
		UnauthTotal:        l.UnauthTotal,
		MaxChannels:        cfg.IRC.MaxChannels,
		MaxHistory:         cfg.IRC.MaxHistory,
		FakeSecret:         secret,
		AuthFailuresPerIP:  l.AuthFailuresPerIP,
		SCRAMIterations:    cfg.SCRAMIterations,
	}
	if cfg.IRC.MOTD != "" {
		gc.MOTD = strings.Split(strings.TrimRight(cfg.IRC.MOTD, "\n"), "\n")
	}
	if cfg.IRC.ClientCA != "" {
		pem, err := os.ReadFile(cfg.IRC.ClientCA)
		if err != nil {
			return fmt.Errorf("irc client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("irc client_ca: no certificate in %s", cfg.IRC.ClientCA)
		}
		gc.ClientCAs = pool
		// The gateway verifies the certificate itself when the client
		// asks for EXTERNAL; a client without one still logs in with a
		// password.
		gc.TLS.ClientAuth = tls.RequestClientCert
	}
	gw := ircgw.New(gc, s.router, credentials{s.store.Accounts()}, ircAccounts{s.store.Accounts()}, core, s.log)
	s.closers = append(s.closers, gw.Close)
	listen := func(addr string, tlsOn bool) error {
		ln, err := listener.Listen(addr)
		if err != nil {
			return fmt.Errorf("irc listener: %w", err)
		}
		gw.Listen(ln, tlsOn)
		kind := "TLS"
		if !tlsOn {
			kind = "plaintext"
		}
		s.addrs = append(s.addrs, "IRC ("+kind+") on "+ln.Addr().String())
		return nil
	}
	for _, a := range cfg.IRC.Listen {
		if err := listen(a, true); err != nil {
			return err
		}
	}
	for _, a := range cfg.IRC.ListenPlain {
		if err := listen(a, false); err != nil {
			return err
		}
	}
	return nil
}

// ircAccounts tells the gateway whether an account exists, and whether
// it is disabled.
type ircAccounts struct{ accounts storage.Accounts }

func (a ircAccounts) Exists(ctx context.Context, bare jid.JID) (bool, error) {
	_, err := a.accounts.Get(ctx, bare.String())
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (a ircAccounts) Disabled(ctx context.Context, bare jid.JID) (bool, error) {
	return credentials(a).Disabled(ctx, bare.String())
}
