package certs

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strings"
	"testing"

	"samtal.org/samtal/internal/conntest"
)

// TestStreamConfigOneWrite: a stream's features after the handshake (over
// a kilobyte with SASL2 and channel binding) leave in one write; with
// ServerConfig's dynamic record sizing they would be split in two.
func TestStreamConfigOneWrite(t *testing.T) {
	store, err := Load([]Domain{{Name: "example.test"}}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(store.Leaf("example.test"))
	payload := []byte(strings.Repeat("x", 3000))
	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		writes int32
	}{
		{"stream", store.StreamConfig("xmpp-client"), 1},
		{"server", store.ServerConfig(), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			counted := &conntest.CountingConn{Conn: a}
			srv := tls.Server(counted, tc.cfg)
			cli := tls.Client(b, &tls.Config{ServerName: "example.test", RootCAs: pool})
			errc := make(chan error, 1)
			go func() { errc <- cli.Handshake() }()
			if err := srv.Handshake(); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			before := counted.Writes.Load()
			go func() {
				_, err := srv.Write(payload)
				errc <- err
			}()
			if _, err := io.ReadFull(cli, make([]byte, len(payload))); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if got := counted.Writes.Load() - before; got != tc.writes {
				t.Errorf("%d writes for %d bytes, want %d", got, len(payload), tc.writes)
			}
		})
	}
}
