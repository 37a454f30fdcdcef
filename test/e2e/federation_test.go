package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/dns/dnstest"
)

// pki is a certificate authority that the test makes, and the
// certificates it issued, as PEM files in a directory.
type pki struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	CA   string // path of the CA certificate
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{dir: dir, cert: cert, key: key, CA: filepath.Join(dir, "ca.crt")}
	writePEM(t, p.CA, "CERTIFICATE", der)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes a certificate and key for domain and its subdomains and
// returns their paths.
func (p *pki) issue(t *testing.T, domain string) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: domain},
		DNSNames:  []string{domain, "*." + domain},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile = filepath.Join(p.dir, domain+".crt")
	keyFile = filepath.Join(p.dir, domain+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

// testDNS is the name server every federating server in a test asks:
// each domain is on 127.0.0.1 with its SRV record for its s2s port.
type testDNS struct {
	srv  *dnstest.Server
	mu   sync.Mutex
	zone dnstest.Zone
}

func newTestDNS(t *testing.T) *testDNS {
	t.Helper()
	d := &testDNS{zone: dnstest.Zone{Hosts: map[string][]netip.Addr{}, SRV: map[string][]dnstest.SRV{}}}
	srv, err := dnstest.Start(d.zone)
	if err != nil {
		t.Fatal(err)
	}
	d.srv = srv
	t.Cleanup(srv.Close)
	return d
}

// add publishes domain: its address and the SRV records of its STARTTLS
// and, when tlsPort is not 0, direct TLS server ports.
func (d *testDNS) add(domain string, port, tlsPort int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// The SRV target is "localhost": ejabberd looks the target up with
	// the system's getaddrinfo, which knows localhost without DNS.
	lo := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	d.zone.Hosts[domain] = lo
	d.zone.Hosts["localhost"] = lo
	d.zone.SRV["_xmpp-server._tcp."+domain] = []dnstest.SRV{{Priority: 10, Weight: 1, Port: uint16(port), Target: "localhost"}}
	if tlsPort != 0 {
		d.zone.SRV["_xmpps-server._tcp."+domain] = []dnstest.SRV{{Priority: 10, Weight: 1, Port: uint16(tlsPort), Target: "localhost"}}
	}
	d.srv.SetZone(d.zone)
}

func freePort(t *testing.T) int {
	t.Helper()
	p, _ := strconv.Atoi(Port(freeAddr(t)))
	return p
}

// fedServer is a samtal that federates.
type fedServer struct {
	*Server
	S2SPort int
}

// startFederating starts samtal for domain with a certificate from ca,
// trusting trust, resolving through dns, with policy and extra [s2s]
// keys.
func startFederating(t *testing.T, d *testDNS, domain string, ca, trust *pki, policy, extra string) *fedServer {
	t.Helper()
	cert, key := ca.issue(t, domain)
	port := freePort(t)
	d.add(domain, port, 0)
	s := StartServer(t, Options{
		Domain: domain, Cert: cert, Key: key, CAFile: ca.CA,
		Top:    "sasl_channel_binding = false",
		Listen: fmt.Sprintf("s2s = [\"127.0.0.1:%d\"]", port),
		Extra: fmt.Sprintf(`[s2s]
policy = %q
ca_file = %q
connect_timeout = "10s"
%s
[s2s.resolver]
nameserver = %q
`, policy, trust.CA, extra, d.srv.Addr()),
	})
	return &fedServer{Server: s, S2SPort: port}
}

// federate runs the slixmpp federation scenario between two accounts,
// each "jid,c2s-port,ca-file".
func federate(t *testing.T, a, b, password, register string) {
	t.Helper()
	requireSlixmpp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "interop/federation.py", "--a", a, "--b", b,
		"--password", password, "--register", register)
	out, err := cmd.CombinedOutput()
	t.Logf("slixmpp federation:\n%s", out)
	if err != nil || !bytes.Contains(out, []byte("PASS federation")) {
		t.Fatalf("federation scenario failed: %v", err)
	}
}

func account(jid string, c2sPort int, ca string) string {
	return fmt.Sprintf("%s,%d,%s", jid, c2sPort, ca)
}

func c2sPort(s *Server) int {
	p, _ := strconv.Atoi(Port(s.C2S))
	return p
}

// TestFederationSamtal federates two samtal instances whose
// certificates both sides trust (SASL EXTERNAL).
func TestFederationSamtal(t *testing.T) {
	d := newTestDNS(t)
	ca := newPKI(t, "test CA")
	a := startFederating(t, d, "a.samtal.test", ca, ca, "verify", "")
	b := startFederating(t, d, "b.samtal.test", ca, ca, "verify", "")
	const pw = "federation-password"
	a.AddUser("alice", pw)
	b.AddUser("bob", pw)
	federate(t, account("alice@a.samtal.test", c2sPort(a.Server), ca.CA), account("bob@b.samtal.test", c2sPort(b.Server), ca.CA), pw, "none")
}

var _ = net.Listen

// TestFederationProsody federates samtal with Prosody 0.12 in both
// directions, each trusting the other's certificate (SASL EXTERNAL).
func TestFederationProsody(t *testing.T) {
	d := newTestDNS(t)
	ca := newPKI(t, "test CA")
	s := startFederating(t, d, "samtal.test", ca, ca, "verify", "")
	cert, key := ca.issue(t, "prosody.test")
	p := startProsody(t, d, "prosody.test", cert, key, ca.CA, ca.CA, true)
	const pw = "federation-password"
	s.AddUser("sam", pw)
	s.AddUser("sara", pw)
	t.Run("samtal-first", func(t *testing.T) {
		federate(t, account("sam@samtal.test", c2sPort(s.Server), ca.CA), account("pat@prosody.test", p.C2S, p.CA), pw, "b")
	})
	t.Run("prosody-first", func(t *testing.T) {
		federate(t, account("polly@prosody.test", p.C2S, p.CA), account("sara@samtal.test", c2sPort(s.Server), ca.CA), pw, "a")
	})
}

// TestFederationEjabberd federates samtal with ejabberd 23.01 in both
// directions, each trusting the other's certificate.
func TestFederationEjabberd(t *testing.T) {
	d := newTestDNS(t)
	ca := newPKI(t, "test CA")
	s := startFederating(t, d, "samtal.test", ca, ca, "verify", "")
	cert, key := ca.issue(t, "ejabberd.test")
	e := startEjabberd(t, d, "ejabberd.test", cert, key, ca.CA, ca.CA)
	const pw = "federation-password"
	s.AddUser("sam", pw)
	s.AddUser("sara", pw)
	t.Run("samtal-first", func(t *testing.T) {
		federate(t, account("sam@samtal.test", c2sPort(s.Server), ca.CA), account("eve@ejabberd.test", e.C2S, e.CA), pw, "b")
	})
	t.Run("ejabberd-first", func(t *testing.T) {
		federate(t, account("ed@ejabberd.test", e.C2S, e.CA), account("sara@samtal.test", c2sPort(s.Server), ca.CA), pw, "a")
	})
}
