// Package web is samtal's one HTTP server: XMPP over WebSocket (RFC 7395)
// at /xmpp-websocket, BOSH (XEP-0124, XEP-0206) at /http-bind, connection
// discovery (XEP-0156) at /.well-known/host-meta and host-meta.json, the
// HTTP file upload service's files (XEP-0363, from internal/upload) under
// /upload/, and the built-in web client (converse.js) at /.
//
// WebSocket and BOSH are transports only: each turns its framing into the
// classic XML stream byte pipe and hands the pipe to the client stream code
// (c2s), which negotiates SASL and binding and runs the session exactly as
// on TCP. The HTTP layer provides TLS, so those streams are secure and
// offer no STARTTLS.
//
// Every response carries security headers (a Content-Security-Policy with
// frame-ancestors 'none', nosniff, no referrer). CORS is granted only where
// a specification asks for it: host-meta (XEP-0156 §3.3) and the upload
// service (XEP-0363 §5). WebSocket upgrades and BOSH requests from a
// browser must come from the server's own origin or an allowed one.
//
// # Goroutines and locks
//
// A WebSocket has three goroutines: the HTTP handler reads messages into
// the pipe, one goroutine reads the stream code's output back and writes
// messages, and the stream code runs its session on the pipe's other end.
// Each ends when the pipe or the WebSocket closes, which the others then
// see. A BOSH session has the stream code's goroutine, one that writes
// what requests carried into the pipe and one that reads the output into
// the session's queue; requests wait in their HTTP handlers. A session's
// lock is taken before the manager's, never the other way round; the
// manager's sweep, every second, ends sessions past their inactivity.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"samtal.org/samtal/internal/xmlstream"
)

// Config is what the web server needs; the server fills it from the
// [web] section.
type Config struct {
	// Hosts are the XMPP domains; the web client logs in to the one the
	// page was asked for by name, else the first.
	Hosts []string
	// PublicURL is the base URL clients reach the server at
	// ("https://chat.example.org"), when a proxy stands in front; empty:
	// the URL of each request.
	PublicURL string
	// AllowedOrigins are browser origins ("https://app.example.org")
	// allowed to open WebSocket and BOSH sessions besides the server's
	// own.
	AllowedOrigins []string
	// Limits bound one WebSocket message or BOSH body as they bound one
	// stanza on TCP.
	Limits xmlstream.Limits
	// ServeXMPP runs a client stream on c until it ends (c2s ServeConn).
	ServeXMPP func(c net.Conn)
	// Upload serves the upload service's files under /upload/; nil: none.
	Upload http.Handler
	// Client holds the web client's files: index.html, samtal.js,
	// samtal.css and dist/ with converse.js. nil: no web client.
	Client fs.FS
	// BOSH bounds the BOSH sessions.
	BOSH BOSHConfig
	Log  *slog.Logger
}

// Server is the HTTP server. It is safe for concurrent use.
type Server struct {
	cfg     Config
	origins map[string]bool
	public  *url.URL
	handler http.Handler
	bosh    *boshManager
	client  *client

	mu      sync.Mutex
	servers []*http.Server
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New returns the server; call Serve for each listener.
func New(cfg Config) (*Server, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, origins: make(map[string]bool), ctx: ctx, cancel: cancel}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			cancel()
			return nil, errors.New("web: the public URL must be an http or https URL")
		}
		s.public = u
		s.origins[u.Scheme+"://"+u.Host] = true
	}
	for _, o := range cfg.AllowedOrigins {
		s.origins[strings.TrimSuffix(strings.ToLower(o), "/")] = true
	}
	s.bosh = newBOSHManager(ctx, cfg.BOSH, cfg.Limits, cfg.ServeXMPP, cfg.Log)
	if cfg.Client != nil {
		c, err := newClient(cfg.Client, cfg.Hosts)
		if err != nil {
			cancel()
			return nil, err
		}
		s.client = c
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /xmpp-websocket", s.serveWebSocket)
	mux.HandleFunc("/http-bind", s.serveBOSH)
	mux.HandleFunc("/http-bind/", s.serveBOSH)
	mux.HandleFunc("/.well-known/host-meta", s.serveHostMeta)
	mux.HandleFunc("/.well-known/host-meta.json", s.serveHostMetaJSON)
	if cfg.Upload != nil {
		mux.Handle("/upload/", cfg.Upload)
	}
	mux.HandleFunc("/", s.serveClient)
	s.handler = securityHeaders(s.public != nil && s.public.Scheme == "https", mux)
	return s, nil
}

// Handler returns the server's handler, for tests.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves HTTP on ln, with TLS when tlsConfig is not nil, until
// Close.
func (s *Server) Serve(ln net.Listener, tlsConfig *tls.Config) {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: BOSH requests wait up to their 'wait' and
		// WebSockets live long; IdleTimeout bounds kept-alive ones.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelDebug),
	}
	if tlsConfig != nil {
		tc := tlsConfig.Clone()
		tc.NextProtos = []string{"h2", "http/1.1"}
		srv.TLSConfig = tc
		ln = tls.NewListener(ln, tc)
	}
	s.mu.Lock()
	s.servers = append(s.servers, srv)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Log.Error("web listener failed", "err", err)
		}
	}()
}

// Close stops the listeners and ends the BOSH sessions; WebSocket streams
// end with the c2s service, which tells their clients system-shutdown.
func (s *Server) Close(ctx context.Context) {
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	s.cancel()
	s.bosh.close()
	for _, srv := range servers {
		_ = srv.Shutdown(ctx) // what does not stop in time is cut below
		_ = srv.Close()
	}
	s.wg.Wait()
}

// ClientBuilt reports whether the web client's files are present.
func (s *Server) ClientBuilt() bool { return s.client != nil && s.client.built }

// originAllowed applies the origin policy of WebSocket and BOSH: requests
// without an Origin (not from a browser) pass; a browser's must come from
// the page the server itself serves or from an allowed origin, so that
// another site cannot open streams with its visitors' browsers.
func (s *Server) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if s.origins[strings.ToLower(u.Scheme+"://"+u.Host)] {
		return true
	}
	return strings.EqualFold(u.Host, r.Host) && u.Scheme == requestScheme(r)
}

func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// baseURL returns the URL the client reached the server at: the public
// URL when configured, else the request's scheme and Host.
func (s *Server) baseURL(r *http.Request) *url.URL {
	if s.public != nil {
		u := *s.public
		u.Path = strings.TrimSuffix(u.Path, "/")
		return &u
	}
	return &url.URL{Scheme: requestScheme(r), Host: r.Host}
}

// defaultCSP is the policy of everything that is not the web client:
// nothing active at all.
const defaultCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// securityHeaders sets the headers every response carries; handlers that
// serve active content (the web client) replace the policy with their
// own.
func securityHeaders(hsts bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", defaultCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
		if hsts && r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// allowCORS grants any origin read access without credentials, as
// XEP-0156 §3.3 and XEP-0363 §5 ask for web clients on other domains.
func allowCORS(w http.ResponseWriter, methods, headers string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", methods)
	if headers != "" {
		h.Set("Access-Control-Allow-Headers", headers)
	}
	h.Set("Access-Control-Max-Age", "86400")
}

func hasToken(header, token string) bool {
	return slices.ContainsFunc(strings.Split(header, ","), func(s string) bool {
		return strings.EqualFold(strings.TrimSpace(s), token)
	})
}
