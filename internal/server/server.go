// Package server builds every part of samtal from a Config, starts them in
// order and stops them in reverse: storage, certificates, routing, the
// services, then the listeners. It is the only package that knows them
// all.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"samtal.org/samtal/internal/adhoc"
	"samtal.org/samtal/internal/c2s"
	"samtal.org/samtal/internal/carbons"
	"samtal.org/samtal/internal/certs"
	"samtal.org/samtal/internal/cluster"
	"samtal.org/samtal/internal/component"
	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/im"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/listener"
	"samtal.org/samtal/internal/mam"
	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/muc"
	"samtal.org/samtal/internal/pep"
	"samtal.org/samtal/internal/register"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/s2s"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/postgres"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/transport"
	"samtal.org/samtal/internal/upload"
	"samtal.org/samtal/internal/xmlstream"
)

// Version is the samtal version, set at build time.
var Version = "0.1.0-dev"

// Server is a running samtal.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	store   storage.Store
	reg     *metrics.Registry
	router  *router.Router
	invites register.Invites
	carbons *carbons.Service
	archive *mam.Service // nil when the archive is off
	c2s     *c2s.Service
	mucs    []*muc.Service
	upload  *upload.Service // nil when file upload is off
	fed     *s2s.Service    // nil when federation is off
	cluster *cluster.Node   // nil on a single node
	closers []func(ctx context.Context)
	// c2sCloser is the index of the c2s service's closer: services whose
	// streams the c2s service runs close after it.
	c2sCloser int
	addrs     []string
	cancel    context.CancelFunc
	done      chan struct{}
}

// OpenStore opens the store the configuration names for the server:
// SQLite or PostgreSQL.
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger, observe func(string, time.Duration)) (storage.Store, error) {
	return openStore(ctx, cfg, sqlite.Options{Logger: log, Observe: observe}, postgres.Options{Observe: observe})
}

// OpenAdminStore opens the store for an administration command that may
// share it with a running server. SQLite favours the process that is
// already writing, so the command waits its turn for up to a minute.
func OpenAdminStore(ctx context.Context, cfg config.Config) (storage.Store, error) {
	return openStore(ctx, cfg, sqlite.Options{BusyTimeout: time.Minute}, postgres.Options{})
}

func openStore(ctx context.Context, cfg config.Config, sopt sqlite.Options, popt postgres.Options) (storage.Store, error) {
	if url := cfg.StorageURL(); url != "" {
		return postgres.Open(ctx, url, popt)
	}
	path := cfg.StoragePath()
	if path == "" {
		// Never the value itself: it may hold a password.
		return nil, errors.New("storage: unknown kind of storage")
	}
	return sqlite.Open(ctx, path, sopt)
}

// Start builds and starts a server. It returns once every listener is
// open, or with the first error.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	s := &Server{cfg: cfg, log: log, reg: metrics.NewRegistry(), done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			s.shutdown(context.Background())
		}
	}()

	storeLatency := s.reg.NewHistogram("samtal_storage_seconds", "Storage operation latency.", metrics.DefaultBuckets, "op")
	store, err := OpenStore(ctx, cfg, log, func(op string, d time.Duration) { storeLatency.With(op).ObserveDuration(d) })
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	s.store = store
	s.closers = append(s.closers, func(context.Context) {
		if err := store.Close(); err != nil {
			log.Error("storage close failed", "err", err)
		}
	})

	var domains []certs.Domain
	var hosts []string
	for _, h := range cfg.Hosts {
		hosts = append(hosts, h.Domain)
		domains = append(domains, certs.Domain{Name: h.Domain, CertFile: h.Cert, KeyFile: h.Key, AltNames: []string{"*." + h.Domain}})
	}
	certStore, err := certs.Load(domains, filepath.Join(cfg.DataDir, "certs"))
	if err != nil {
		return nil, err
	}
	secret, err := loadSecret(filepath.Join(cfg.DataDir, "secret"))
	if err != nil {
		return nil, err
	}

	s.router = router.New(hosts)
	// Client and IRC connections bind within auth_timeout or not at all.
	s.router.SetBindWithin(time.Duration(cfg.Limits.AuthTimeout))
	s.invites = register.StoredInvites{Store: store.Invites()}
	mux := iq.NewMux(log)
	core := im.New(im.Config{RosterItems: cfg.Limits.RosterItems, OfflineMessages: cfg.Limits.OfflineMessages}, s.router, store, mux, log)
	s.router.SetLocal(core)
	// Closers run in reverse: this one after every kind of session has
	// ended, before the store closes.
	s.closers = append(s.closers, func(context.Context) { core.Close() })
	if err := s.startCluster(ctx, core); err != nil {
		return nil, err
	}
	up, err := s.startUpload()
	if err != nil {
		return nil, err
	}
	s.upload = up
	reg, d := s.services(mux, store, up)
	s.watchAccounts(store)
	if err := s.startMUC(d, secret); err != nil {
		return nil, err
	}
	if err := s.startPubsub(d); err != nil {
		return nil, err
	}
	// After the vCard and private storage services, whose handlers PEP
	// wraps for its conversions.
	pepService := pep.New(pep.Config{
		MaxNodes:         cfg.Limits.PEPNodes,
		MaxItems:         cfg.Limits.PEPItems,
		MaxItemBytes:     cfg.Limits.PEPItemBytes,
		MaxVCardBytes:    cfg.Limits.VCardBytes,
		MaxSubscribers:   cfg.Limits.PEPSubscribers,
		MaxSubscriptions: cfg.Limits.PEPSubscriptions,
		Blocks:           core.Blocks,
	}, s.router, store, mux, log)
	s.closers = append(s.closers, func(context.Context) { pepService.Close() })
	core.AddHooks(im.Hooks{
		PresenceSent:     pepService.PresenceSent,
		PresenceArrived:  pepService.PresenceArrived,
		PresenceDirected: pepService.PresenceDirected,
	})
	commands := adhoc.New(s.router, mux, d)
	s.administration(commands, reg, store)
	if err := s.messaging(core, mux, d, store, commands); err != nil {
		return nil, err
	}
	if err := s.reports(core, mux); err != nil {
		return nil, err
	}
	if err := s.startCalls(mux, d, certStore); err != nil {
		return nil, err
	}
	s.clusterHooks(core, mux, pepService)

	l := cfg.Limits
	var resumeNode string
	var resumeElsewhere func(string) (string, bool)
	if s.cluster != nil {
		resumeNode, resumeElsewhere = s.cluster.Name(), s.cluster.Location
	}
	s.c2s = c2s.New(c2s.Config{
		TLS:                    certStore.StreamConfig("xmpp-client"),
		Limits:                 xmlstream.Limits{MaxStanzaBytes: l.MaxStanzaBytes, MaxDepth: l.MaxDepth},
		ReadRate:               l.ReadRate,
		ReadBurst:              l.ReadBurst,
		StanzaRate:             l.StanzaRate,
		AuthTimeout:            time.Duration(l.AuthTimeout),
		IdleTimeout:            time.Duration(l.IdleTimeout),
		SessionsPerAcct:        l.SessionsPerAccount,
		OutQueueBytes:          l.OutQueueBytes,
		ReplaceOnConflict:      cfg.ResourceConflict != config.ConflictReject,
		UnauthPerIP:            l.UnauthPerIP,
		UnauthTotal:            l.UnauthTotal,
		AuthFailuresPerIP:      l.AuthFailuresPerIP,
		AuthFailuresPerAccount: l.AuthFailuresPerAccount,
		FakeSecret:             secret,
		SCRAMIterations:        cfg.SCRAMIterations,
		NoChannelBinding:       !cfg.SASLChannelBinding,
		ResumeWindow:           time.Duration(cfg.Stream.ResumeWindow),
		MaxUnacked:             cfg.Stream.MaxUnacked,
		MaxUnackedBytes:        cfg.Stream.MaxUnackedBytes,
		AckEvery:               cfg.Stream.AckEvery,
		AckDelay:               time.Duration(cfg.Stream.AckDelay),
		Location:               cfg.Stream.Location,
		ResumeNode:             resumeNode,
		ResumeElsewhere:        resumeElsewhere,
		CSIBuffer:              cfg.Stream.CSIBuffer,
		FastTokens:             store.FastTokens(),
		AccountDisabled:        credentials{store.Accounts()}.Disabled,
		Carbons:                s.carbons,
		FASTLifetime:           time.Duration(cfg.Stream.FASTTokenLifetime),
	}, s.router, credentials{store.Accounts()}, core, preAuth(reg), log, c2s.NewMetrics(s.reg))
	// Closers run in reverse: the rooms say goodbye while the client
	// sessions can still carry it, and federation closes last, once it
	// has carried the goodbyes of both to other servers' users.
	s.closers = append(s.closers, s.closeS2S)
	s.c2sCloser = len(s.closers)
	s.closers = append(s.closers, s.c2s.Close)
	if cfg.IRC.Enabled() {
		// IRC sessions, like client streams, carry the rooms' goodbyes.
		if err := s.startIRC(certStore, core, secret); err != nil {
			return nil, err
		}
	}
	s.closers = append(s.closers, s.closeMUC)

	for _, addr := range cfg.Listen.C2S {
		ln, err := listener.Listen(addr)
		if err != nil {
			return nil, fmt.Errorf("c2s listener: %w", err)
		}
		s.c2s.Listen(ln, false, cfg.Listen.AllowPlaintext && transport.IsLoopback(addr))
		s.addrs = append(s.addrs, "c2s (STARTTLS) on "+ln.Addr().String())
	}
	for _, addr := range cfg.Listen.C2STLS {
		ln, err := listener.Listen(addr)
		if err != nil {
			return nil, fmt.Errorf("c2s direct TLS listener: %w", err)
		}
		s.c2s.Listen(ln, true, false)
		s.addrs = append(s.addrs, "c2s (direct TLS) on "+ln.Addr().String())
	}
	if len(cfg.Listen.Component) > 0 {
		secrets := make(map[string]string, len(cfg.Components))
		for _, c := range cfg.Components {
			secrets[c.Domain] = c.Secret
		}
		comp := component.New(component.Config{
			Secrets:       secrets,
			Limits:        xmlstream.Limits{MaxStanzaBytes: l.MaxStanzaBytes, MaxDepth: l.MaxDepth},
			AuthTimeout:   time.Duration(l.AuthTimeout),
			IdleTimeout:   time.Duration(l.IdleTimeout),
			OutQueueBytes: l.OutQueueBytes,
		}, s.router, log)
		s.closers = append(s.closers, comp.Close)
		for _, addr := range cfg.Listen.Component {
			ln, err := listener.Listen(addr)
			if err != nil {
				return nil, fmt.Errorf("component listener: %w", err)
			}
			comp.Listen(ln)
			s.addrs = append(s.addrs, "components (XEP-0114) on "+ln.Addr().String())
		}
	}
	if cfg.S2S.Enabled {
		if err := s.startS2S(certStore, secret); err != nil {
			return nil, err
		}
	}
	var upHandler http.Handler
	if up != nil {
		upHandler = up
	}
	if err := s.startWeb(certStore, upHandler); err != nil {
		return nil, err
	}
	if err := s.startAdmin(); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.retention(bg)
	go trimMemory(bg)
	keepHeapFloor()
	ok = true
	return s, nil
}

// Addrs describes the listeners, for the start-up message.
func (s *Server) Addrs() []string { return s.addrs }

// Store returns the server's store.
func (s *Server) Store() storage.Store { return s.store }

// Shutdown stops the server gracefully: listeners close, clients are told
// system-shutdown, queues drain, the store closes.
func (s *Server) Shutdown(ctx context.Context) {
	s.shutdown(ctx)
}

func (s *Server) shutdown(ctx context.Context) {
	if s.cancel != nil {
		s.cancel()
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i](ctx)
	}
	s.closers = nil
}

// startAdmin serves /metrics and /health on the admin address.
func (s *Server) startAdmin() error {
	addr := s.cfg.Listen.Admin
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	s.reg.NewGaugeFunc("samtal_goroutines", "Goroutines in the process.", func() float64 { return float64(numGoroutine()) })
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.reg.Handler())
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	if s.cfg.Listen.AdminProfiling {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin listener failed", "err", err)
		}
	}()
	s.closers = append(s.closers, func(ctx context.Context) { _ = srv.Shutdown(ctx) })
	s.addrs = append(s.addrs, "admin (metrics) on http://"+ln.Addr().String()+"/metrics")
	return nil
}

// retention removes what is older than the configured retention, hourly.
func (s *Server) retention(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		s.expire(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// expire removes what has outlived its time at now: offline messages
// older than their retention, and invitations past their expiry, which
// can no longer be used and need not be kept.
func (s *Server) expire(ctx context.Context, now time.Time) {
	type job struct {
		what string
		run  func() (int64, error)
	}
	jobs := []job{
		{"invitations", func() (int64, error) { return s.store.Invites().Expire(ctx, now) }},
		{"FAST tokens", func() (int64, error) { return s.store.FastTokens().Expire(ctx, now) }},
	}
	if s.archive != nil {
		jobs = append(jobs, job{"archived messages", func() (int64, error) { return s.archive.Expire(ctx) }})
	}
	if d := time.Duration(s.cfg.MUC.ArchiveRetention); d > 0 && s.cfg.MUC.Domain != "" {
		jobs = append(jobs, job{"room archive messages", func() (int64, error) { return s.store.RoomArchive().Expire(ctx, now.Add(-d)) }})
	}
	if d := time.Duration(s.cfg.Retention.Offline); d > 0 {
		jobs = append(jobs, job{"offline messages", func() (int64, error) { return s.store.Offline().Expire(ctx, now.Add(-d)) }})
	}
	if s.upload != nil {
		jobs = append(jobs, job{"uploaded files", func() (int64, error) {
			n, err := s.upload.Sweep()
			return int64(n), err
		}})
	}
	for _, j := range jobs {
		n, err := j.run()
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("retention failed", "what", j.what, "err", err)
		case n > 0:
			s.log.Info("retention removed", "what", j.what, "count", n)
		}
	}
}

// loadSecret reads the server secret, creating it on first start. It
// keys the fake SCRAM salts of unknown users, so it must not change
// between restarts.
func loadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("server secret: %w", err)
	}
	b = make([]byte, 32)
	_, _ = rand.Read(b) // never fails on Linux
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("server secret: %w", err)
	}
	return b, nil
}

// NewLogger returns the logger for a level name. At debug level logs may
// hold addresses and JIDs, and it says so.
func NewLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
	if l == slog.LevelDebug {
		log.Warn("debug logging is on: the log may contain IP addresses and JIDs")
	}
	return log
}
