package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/config"
)

// TestAdminProfiling checks that the runtime profiles are served on the
// admin listener only when admin_profiling is on.
func TestAdminProfiling(t *testing.T) {
	for _, on := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.Listen = config.Listen{Admin: freeAddr(t), AdminProfiling: on}
		s, err := Start(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Shutdown(ctx)
		var base string
		for _, a := range s.Addrs() {
			if i := strings.Index(a, "http://"); strings.HasPrefix(a, "admin") && i >= 0 {
				base = strings.TrimSuffix(a[i:], "/metrics")
			}
		}
		if base == "" {
			t.Fatalf("no admin address in %q", s.Addrs())
		}
		resp, err := http.Get(base + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		served := resp.StatusCode == http.StatusOK && strings.Contains(string(body), "goroutine profile")
		if served != on {
			t.Errorf("admin_profiling = %v: /debug/pprof/goroutine answered %d", on, resp.StatusCode)
		}
		s.Shutdown(ctx)
	}
}

// freeAddr returns a loopback address whose port was free a moment ago
// (the configuration refuses port 0).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
