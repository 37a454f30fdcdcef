package sasl

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"
)

func selfSigned(t *testing.T, key crypto.Signer, alg x509.SignatureAlgorithm) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(1),
		Subject:            pkix.Name{CommonName: "example.com"},
		DNSNames:           []string{"example.com"},
		NotBefore:          time.Now().Add(-time.Hour),
		NotAfter:           time.Now().Add(time.Hour),
		SignatureAlgorithm: alg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
}

func TestTLSServerEndPoint(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	sha384 := func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }
	sha256 := func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		alg  x509.SignatureAlgorithm
		want func([]byte) []byte // nil: undefined
	}{
		{"ecdsa-sha1", p256, x509.ECDSAWithSHA1, sha256}, // RFC 5929 §4.1: SHA-1 → SHA-256
		{"ecdsa-sha256", p256, x509.ECDSAWithSHA256, sha256},
		{"ecdsa-sha384", p384, x509.ECDSAWithSHA384, sha384},
		{"ed25519", edKey, x509.PureEd25519, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, _ := selfSigned(t, tc.key, tc.alg)
			got := TLSServerEndPoint(cert)
			if tc.want == nil {
				if got != nil {
					t.Errorf("TLSServerEndPoint = %x, want nil", got)
				}
				return
			}
			if want := tc.want(cert.Raw); !bytes.Equal(got, want) {
				t.Errorf("TLSServerEndPoint = %x, want %x", got, want)
			}
		})
	}
	if TLSServerEndPoint(nil) != nil {
		t.Errorf("TLSServerEndPoint(nil) != nil")
	}
}

// handshake connects a TLS client and server over net.Pipe and returns
// both connection states.
func handshake(t *testing.T, maxVersion uint16) (server, client tls.ConnectionState) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, tc := selfSigned(t, key, x509.ECDSAWithSHA256)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{tc}, MaxVersion: maxVersion})
	cli := tls.Client(b, &tls.Config{RootCAs: pool, ServerName: "example.com", MaxVersion: maxVersion})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return srv.ConnectionState(), cli.ConnectionState()
}

// TestTLSPlus runs SCRAM-SHA-256-PLUS over the channel-binding data of a
// real TLS 1.3 handshake, each side computing its own.
func TestTLSPlus(t *testing.T) {
	srv, cli := handshake(t, tls.VersionTLS13)
	data, err := TLSExporter(srv)
	if err != nil || len(data) != 32 {
		t.Fatalf("TLSExporter = %x, %v", data, err)
	}
	clientData, err := cli.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Bindings = []ChannelBinding{{Type: CBTLSExporter, Data: data}, {Type: CBTLSServerEndPoint, Data: TLSServerEndPoint(cli.PeerCertificates[0])}}
	cfg.Advertised = Names(true, cfg.Bindings)
	for _, b := range []ChannelBinding{
		{Type: CBTLSExporter, Data: clientData},
		{Type: CBTLSServerEndPoint, Data: TLSServerEndPoint(cli.PeerCertificates[0])},
	} {
		c := newClient(cfg, SCRAMSHA256Plus, "juliet", "pencil")
		c.flag, c.cbData = "p="+b.Type, b.Data
		if _, _, err := run(t, cfg, SCRAMSHA256Plus, c); err != nil {
			t.Errorf("%s: %v", b.Type, err)
		}
	}

	// Another connection's exporter data does not bind.
	_, other := handshake(t, tls.VersionTLS13)
	otherData, err := other.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(cfg, SCRAMSHA256Plus, "juliet", "pencil")
	c.flag, c.cbData = "p="+CBTLSExporter, otherData
	if _, _, err := run(t, cfg, SCRAMSHA256Plus, c); err == nil {
		t.Errorf("channel binding of another connection accepted")
	}
}

// TestDerivedBinding checks that data a binding derives on need is
// derived only by an exchange that binds to it, and then binds.
func TestDerivedBinding(t *testing.T) {
	srv, cli := handshake(t, tls.VersionTLS13)
	clientData, err := cli.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	derived := 0
	cfg := testConfig(t)
	cfg.Bindings = []ChannelBinding{{Type: CBTLSExporter, Derive: func() []byte {
		derived++
		data, _ := TLSExporter(srv)
		return data
	}}}
	cfg.Advertised = Names(true, cfg.Bindings)
	if !slices.Contains(cfg.Advertised, SCRAMSHA256Plus) {
		t.Fatalf("a derived binding is not offered: %q", cfg.Advertised)
	}
	if _, _, err := run(t, cfg, SCRAMSHA256, newClient(cfg, SCRAMSHA256, "juliet", "pencil")); err != nil {
		t.Fatal(err)
	}
	if derived != 0 {
		t.Errorf("an exchange without channel binding derived the data %d times", derived)
	}
	c := newClient(cfg, SCRAMSHA256Plus, "juliet", "pencil")
	c.flag, c.cbData = "p="+CBTLSExporter, clientData
	if _, _, err := run(t, cfg, SCRAMSHA256Plus, c); err != nil {
		t.Fatal(err)
	}
	if derived != 1 {
		t.Errorf("SCRAM-SHA-256-PLUS derived the data %d times, want once", derived)
	}
}

func TestTLSExporterTLS12(t *testing.T) {
	srv, _ := handshake(t, tls.VersionTLS12)
	if TLSExporterAvailable(srv) {
		t.Error("TLSExporterAvailable on TLS 1.2")
	}
	if data, err := TLSExporter(srv); err == nil {
		t.Errorf("TLSExporter on TLS 1.2 = %x, want an error", data)
	}
	if data, err := TLSExporter(tls.ConnectionState{}); err == nil {
		t.Errorf("TLSExporter before the handshake = %x, want an error", data)
	}
}
