package server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/certs"
	"samtal.org/samtal/internal/config"
)

// Check looks at each host's group chat and publish-subscribe services
// as other servers do: their server records, their addresses and ports,
// and whether the certificate names them.
func TestCheckServices(t *testing.T) {
	for _, svc := range []struct{ name, prefix, what string }{
		{"muc", "conference.", "group chat"},
		{"pubsub", "pubsub.", "publish-subscribe"},
	} {
		t.Run(svc.name, func(t *testing.T) { testCheckService(t, svc.prefix, svc.what) })
	}
}

// testCheckService checks one service, prefix+domain, with the other
// service turned off.
func testCheckService(t *testing.T, prefix, what string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	const domain = "example.test"
	service := prefix + domain
	for _, tc := range []struct {
		name     string
		certFor  []string
		records  bool
		problems int
		want     []string
		notWant  []string
	}{
		{
			name: "published and named", certFor: []string{domain, "*." + domain}, records: true,
			want: []string{
				service + " (" + what + " of " + domain + ")",
				fmt.Sprintf("ok    _xmpp-server._tcp.%s: priority 5 weight 0 port %d target xmpp.%s", service, port, domain),
				"ok    names " + service,
				fmt.Sprintf("xmpp.%s port %d (127.0.0.1, server) accepts connections", domain, port),
			},
			notWant: []string{"_xmpp-client._tcp." + service},
		},
		{
			name: "not named", certFor: []string{domain}, records: true, problems: 1,
			want: []string{"FAIL  does not name " + service},
		},
		{
			name: "not published", certFor: []string{domain, "*." + domain}, problems: 1,
			want: []string{"FAIL  " + service + " has no address"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			certPEM, keyPEM, err := certs.SelfSigned(tc.certFor, 90*24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			if err := os.WriteFile(cert, certPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := config.Default()
			cfg.Hosts = []config.Host{{Domain: domain, Cert: cert, Key: key}}
			cfg.MUC.Domain, cfg.Pubsub.Domain = "", ""
			switch prefix {
			case "conference.":
				cfg.MUC.Domain = "conference." + config.HostPlaceholder
			case "pubsub.":
				cfg.Pubsub.Domain = "pubsub." + config.HostPlaceholder
			}
			addr := ln.Addr().String()
			cfg.Listen.C2S, cfg.Listen.C2STLS = []string{addr}, nil
			cfg.Listen.S2S, cfg.Listen.S2STLS = []string{addr}, nil
			rec := fmt.Sprintf("5 0 %d xmpp.%s", port, domain)
			cfg.S2S.Resolver = config.Resolver{
				// The domain's own entry keeps every name under it in
				// the table, away from the system's DNS.
				Hosts: map[string][]string{domain: {"127.0.0.1"}, "xmpp." + domain: {"127.0.0.1"}},
				SRV: map[string][]string{
					"_xmpp-client._tcp." + domain: {rec},
					"_xmpp-server._tcp." + domain: {rec},
				},
			}
			if tc.records {
				cfg.S2S.Resolver.SRV["_xmpp-server._tcp."+service] = []string{rec}
			}
			var out bytes.Buffer
			n := Check(context.Background(), cfg, nil, &out)
			t.Logf("check:\n%s", out.String())
			if n != tc.problems {
				t.Errorf("Check() = %d problems, want %d", n, tc.problems)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("Check() does not say %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("Check() says %q", w)
				}
			}
		})
	}
}
