package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
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
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
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
// each domain is on 127.0.0.1 with its SRV record for its s2s port. The
// test domains are under .example: Prosody's resolver, libunbound,
// answers NXDOMAIN for .test itself (a default local zone, RFC 6761)
// without asking any server.
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
		// Direct TLS first (XEP-0368), so that both ways of starting TLS
		// are exercised: peers with a direct TLS port get direct TLS.
		d.zone.SRV["_xmpps-server._tcp."+domain] = []dnstest.SRV{{Priority: 5, Weight: 1, Port: uint16(tlsPort), Target: "localhost"}}
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
	S2SPort, S2STLSPort int
}

// startFederating starts samtal for domain with a certificate from ca,
// trusting trust, resolving through dns, with policy and extra [s2s]
// keys.
func startFederating(t *testing.T, d *testDNS, domain string, ca, trust *pki, policy, extra string) *fedServer {
	t.Helper()
	cert, key := ca.issue(t, domain)
	port, tlsPort := freePort(t), freePort(t)
	d.add(domain, port, tlsPort)
	// The group chat service (conference.<domain>) is reached through
	// records of its own, as an operator publishes them.
	d.add("conference."+domain, port, tlsPort)
	// So is the publish-subscribe service (pubsub.<domain>), which
	// `samtal check` looks up as well.
	d.add("pubsub."+domain, port, tlsPort)
	s := StartServer(t, Options{
		Domain: domain, Cert: cert, Key: key, CAFile: ca.CA,
		Top:    "sasl_channel_binding = false",
		Listen: fmt.Sprintf("s2s = [\"127.0.0.1:%d\"]\ns2s_tls = [\"127.0.0.1:%d\"]", port, tlsPort),
		Extra: fmt.Sprintf(`[s2s]
policy = %q
ca_file = %q
connect_timeout = "10s"
%s
[s2s.resolver]
nameserver = %q
`, policy, trust.CA, extra, d.srv.Addr()),
	})
	return &fedServer{Server: s, S2SPort: port, S2STLSPort: tlsPort}
}

// federate runs the slixmpp federation scenario between two accounts,
// each "jid,c2s-port,ca-file"; more are extra arguments (--refused).
func federate(t *testing.T, a, b, password, register string, more ...string) {
	t.Helper()
	requireSlixmpp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"interop/federation.py", "--a", a, "--b", b,
		"--password", password, "--register", register}, more...)
	cmd := exec.CommandContext(ctx, python, args...)
	out, err := cmd.CombinedOutput()
	t.Logf("slixmpp federation:\n%s", out)
	if err != nil || !bytes.Contains(out, []byte("PASS federation")) {
		t.Fatalf("federation scenario failed: %v", err)
	}
}

// federateFeatures runs the slixmpp scenario of what federates beyond
// messages (PEP notifications, the archive of a federated conversation,
// group chat rooms joined from the other server) between local, a samtal
// account whose archive is checked, and remote; each "jid,c2s-port,ca-file".
// With end "ghost" or "shutdown", the scenario ends with the remote
// user in a local room, and act is called to kill the remote server
// (the room must then let its user go) or to stop samtal (the remote
// user must learn that the room and the local user are gone). more are
// extra arguments (--remote-samtal).
func federateFeatures(t *testing.T, local, remote, localMUC, remoteMUC, password, register, end string, act func(), more ...string) {
	t.Helper()
	requireSlixmpp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// A stranger on the remote server: same domain, a local part of its
	// own.
	rjid, _, _ := strings.Cut(remote, ",")
	rlocal, rdomain, _ := strings.Cut(rjid, "@")
	cmd := exec.CommandContext(ctx, python, "interop/federation_features.py", "--local", local, "--remote", remote,
		"--stranger", "stranger-"+rlocal+"@"+rdomain,
		"--local-muc", localMUC, "--remote-muc", remoteMUC, "--password", password, "--register", register)
	cmd.Args = append(cmd.Args, more...)
	if end != "" {
		cmd.Args = append(cmd.Args, "--end", end)
	}
	if os.Getenv("SAMTAL_E2E_DEBUG") != "" {
		cmd.Args = append(cmd.Args, "--debug")
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		done <- err
	}()
	var out bytes.Buffer
	sc := bufio.NewScanner(pr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out.Write(sc.Bytes())
		out.WriteByte('\n')
		if sc.Text() == "READY" && act != nil {
			act()
			_, _ = io.WriteString(stdin, "go\n") // a dead scenario fails below
		}
	}
	_, _ = io.Copy(io.Discard, pr) // a line longer than the buffer: let the scenario end
	err = <-done
	t.Logf("slixmpp federation features:\n%s", out.Bytes())
	if err != nil || !bytes.Contains(out.Bytes(), []byte("PASS federation features")) {
		t.Fatalf("federation features scenario failed: %v", err)
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
	a := startFederating(t, d, "a.samtal.example", ca, ca, "verify", "")
	b := startFederating(t, d, "b.samtal.example", ca, ca, "verify", "")
	const pw = "federation-password"
	a.AddUser("alice", pw)
	b.AddUser("bob", pw)
	federate(t, account("alice@a.samtal.example", c2sPort(a.Server), ca.CA), account("bob@b.samtal.example", c2sPort(b.Server), ca.CA), pw, "none")
	a.AddUser("anna", pw)
	b.AddUser("bert", pw)
	b.AddUser("stranger-bert", pw)
	federateFeatures(t, account("anna@a.samtal.example", c2sPort(a.Server), ca.CA), account("bert@b.samtal.example", c2sPort(b.Server), ca.CA),
		"conference.a.samtal.example", "conference.b.samtal.example", pw, "none", "", nil, "--remote-samtal")
	// Each publishes its direct TLS port first (XEP-0368).
	if connCount(t, a.Server, "out", "direct") == 0 || connCount(t, b.Server, "in", "direct") == 0 {
		t.Error("a did not connect to b with direct TLS")
	}
}

// TestFederationSamtalDialback federates two samtal instances that do not
// trust each other's certificate authority: both authenticate with Server
// Dialback, each verifying the other's key while its own request waits.
func TestFederationSamtalDialback(t *testing.T) {
	d := newTestDNS(t)
	caA, caB := newPKI(t, "CA of a"), newPKI(t, "CA of b")
	a := startFederating(t, d, "a.samtal.example", caA, caA, "dialback", "")
	b := startFederating(t, d, "b.samtal.example", caB, caB, "dialback", "")
	const pw = "federation-password"
	a.AddUser("alice", pw)
	b.AddUser("bob", pw)
	federate(t, account("alice@a.samtal.example", c2sPort(a.Server), caA.CA), account("bob@b.samtal.example", c2sPort(b.Server), caB.CA), pw, "none")
	if authCount(t, b.Server, "in", "dialback") == 0 || authCount(t, a.Server, "out", "dialback") == 0 {
		t.Error("a did not authenticate to b with dialback")
	}
	// The group chat services authenticate with dialback too, each
	// verified by its own domain's authoritative server. At the end a
	// shuts down, and b's user learns it.
	a.AddUser("anna", pw)
	b.AddUser("bert", pw)
	b.AddUser("stranger-bert", pw)
	federateFeatures(t, account("anna@a.samtal.example", c2sPort(a.Server), caA.CA), account("bert@b.samtal.example", c2sPort(b.Server), caB.CA),
		"conference.a.samtal.example", "conference.b.samtal.example", pw, "none", "shutdown", a.Stop, "--remote-samtal")
}

// metric returns the value of a metric line of the server's /metrics,
// for example `samtal_s2s_auth_total{direction="in",method="dialback",result="success"}`,
// 0 when absent.
func (s *Server) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

func connCount(t *testing.T, s *Server, direction, tls string) float64 {
	return s.metric(t, fmt.Sprintf(`samtal_s2s_connections_total{direction=%q,tls=%q}`, direction, tls))
}

func authCount(t *testing.T, s *Server, direction, method string) float64 {
	return s.metric(t, fmt.Sprintf(`samtal_s2s_auth_total{direction=%q,method=%q,result="success"}`, direction, method))
}

// TestFederationProsody federates samtal with Prosody 0.12 in both
// directions, each trusting the other's certificate (SASL EXTERNAL).
func TestFederationProsody(t *testing.T) {
	d := newTestDNS(t)
	ca := newPKI(t, "test CA")
	s := startFederating(t, d, "samtal.example", ca, ca, "verify", "")
	cert, key := ca.issue(t, "prosody.example")
	p := startProsody(t, d, "prosody.example", cert, key, ca.CA, ca.CA, true)
	const pw = "federation-password"
	s.AddUser("sam", pw)
	s.AddUser("sara", pw)
	// Prosody first: it connects and authenticates with SASL EXTERNAL,
	// and asks for a bidirectional stream (XEP-0288), which samtal then
	// uses for its own stanzas to Prosody.
	t.Run("prosody-first", func(t *testing.T) {
		federate(t, account("polly@prosody.example", p.C2S, p.CA), account("sara@samtal.example", c2sPort(s.Server), ca.CA), pw, "a")
	})
	t.Run("samtal-first", func(t *testing.T) {
		federate(t, account("sam@samtal.example", c2sPort(s.Server), ca.CA), account("pat@prosody.example", p.C2S, p.CA), pw, "b")
	})
	// The scenario ends with Prosody killed.
	t.Run("features", func(t *testing.T) {
		federateFeatures(t, account("sara@samtal.example", c2sPort(s.Server), ca.CA), account("pia@prosody.example", p.C2S, p.CA),
			"conference.samtal.example", "conference.prosody.example", pw, "remote", "ghost", p.kill)
	})
	if authCount(t, s.Server, "in", "external") == 0 {
		t.Error("Prosody did not authenticate to samtal with SASL EXTERNAL")
	}
}

// TestFederationUntrusted federates with a Prosody whose certificate
// samtal does not trust: with the dialback policy Prosody authenticates
// with Server Dialback (samtal verifies the key with Prosody, and
// connects to it despite its certificate); with the verify policy
// nothing gets through either way, and the senders get errors.
func TestFederationUntrusted(t *testing.T) {
	d := newTestDNS(t)
	ca := newPKI(t, "test CA")
	rogue := newPKI(t, "unknown CA")
	cert, key := rogue.issue(t, "prosody.example")
	p := startProsody(t, d, "prosody.example", cert, key, rogue.CA, ca.CA, false)
	const pw = "federation-password"
	t.Run("dialback", func(t *testing.T) {
		s := startFederating(t, d, "samtal.example", ca, ca, "dialback", "")
		s.AddUser("sam", pw)
		s.AddUser("sara", pw)
		// Prosody first, so that its stream to samtal is its own and
		// not samtal's stream made bidirectional.
		federate(t, account("polly@prosody.example", p.C2S, p.CA), account("sara@samtal.example", c2sPort(s.Server), ca.CA), pw, "a")
		if authCount(t, s.Server, "in", "dialback") == 0 {
			t.Error("samtal did not authenticate Prosody with dialback")
		}
		federate(t, account("sam@samtal.example", c2sPort(s.Server), ca.CA), account("pat@prosody.example", p.C2S, p.CA), pw, "b")
		// The group chat services authenticate with dialback too, each
		// verified by the authoritative server of its own domain.
		federateFeatures(t, account("sara@samtal.example", c2sPort(s.Server), ca.CA), account("pia@prosody.example", p.C2S, p.CA),
			"conference.samtal.example", "conference.prosody.example", pw, "remote", "", nil)
	})
	t.Run("refused", func(t *testing.T) {
		s := startFederating(t, d, "samtal.example", ca, ca, "verify", "")
		s.AddUser("sam", pw)
		federate(t, account("sam@samtal.example", c2sPort(s.Server), ca.CA), account("pat@prosody.example", p.C2S, p.CA), pw, "b", "--refused")
		if n := authCount(t, s.Server, "in", "dialback") + authCount(t, s.Server, "in", "external"); n != 0 {
			t.Errorf("samtal authenticated Prosody %v times", n)
		}
	})
}

// TestFederationEjabberd federates samtal with ejabberd 23.01 in both
// directions, each trusting the other's certificate.
func TestFederationEjabberd(t *testing.T) {
	d := newTestDNS(t)
	ca := newPKI(t, "test CA")
	s := startFederating(t, d, "samtal.example", ca, ca, "verify", "")
	cert, key := ca.issue(t, "ejabberd.example")
	e := startEjabberd(t, d, "ejabberd.example", cert, key, ca.CA, ca.CA)
	const pw = "federation-password"
	s.AddUser("sam", pw)
	s.AddUser("sara", pw)
	t.Run("samtal-first", func(t *testing.T) {
		federate(t, account("sam@samtal.example", c2sPort(s.Server), ca.CA), account("eve@ejabberd.example", e.C2S, e.CA), pw, "b")
	})
	t.Run("ejabberd-first", func(t *testing.T) {
		federate(t, account("ed@ejabberd.example", e.C2S, e.CA), account("sara@samtal.example", c2sPort(s.Server), ca.CA), pw, "a")
	})
	if authCount(t, s.Server, "in", "external") == 0 || authCount(t, s.Server, "out", "external") == 0 {
		t.Error("samtal and ejabberd did not authenticate each other with SASL EXTERNAL")
	}
	// ejabberd has no direct TLS port: samtal used STARTTLS.
	if connCount(t, s.Server, "out", "starttls") == 0 {
		t.Error("samtal did not connect to ejabberd with STARTTLS")
	}
	// The scenario ends with samtal shutting down. ejabberd has no
	// bidirectional streams: the goodbyes go on samtal's own streams.
	t.Run("features", func(t *testing.T) {
		federateFeatures(t, account("sara@samtal.example", c2sPort(s.Server), ca.CA), account("elin@ejabberd.example", e.C2S, e.CA),
			"conference.samtal.example", "conference.ejabberd.example", pw, "remote", "shutdown", s.Stop)
	})
}

// TestFederationEjabberdDialback federates samtal with an ejabberd whose
// certificate samtal does not trust, and which does not trust samtal's:
// both authenticate with Server Dialback (XEP-0220), the hosts and the
// group chat services alike, and everything federates as with
// certificates.
func TestFederationEjabberdDialback(t *testing.T) {
	d := newTestDNS(t)
	ca := newPKI(t, "test CA")
	rogue := newPKI(t, "unknown CA")
	s := startFederating(t, d, "samtal.example", ca, ca, "dialback", "")
	cert, key := rogue.issue(t, "ejabberd.example")
	e := startEjabberd(t, d, "ejabberd.example", cert, key, rogue.CA, rogue.CA)
	const pw = "federation-password"
	s.AddUser("sam", pw)
	s.AddUser("sara", pw)
	federate(t, account("sam@samtal.example", c2sPort(s.Server), ca.CA), account("eve@ejabberd.example", e.C2S, e.CA), pw, "b")
	federateFeatures(t, account("sara@samtal.example", c2sPort(s.Server), ca.CA), account("elin@ejabberd.example", e.C2S, e.CA),
		"conference.samtal.example", "conference.ejabberd.example", pw, "remote", "", nil)
	if authCount(t, s.Server, "in", "dialback") == 0 || authCount(t, s.Server, "out", "dialback") == 0 {
		t.Error("samtal and ejabberd did not authenticate each other with dialback")
	}
	if n := authCount(t, s.Server, "in", "external") + authCount(t, s.Server, "out", "external"); n != 0 {
		t.Errorf("%v SASL EXTERNAL authentications between untrusted servers", n)
	}
}

// TestFederationProsodyPubsub uses samtal's publish-subscribe service
// (pubsub.samtal.example, XEP-0060) from a Prosody user: requests go
// from Prosody to the service, notifications and the answer to a
// pending subscription come back from the service's own domain.
func TestFederationProsodyPubsub(t *testing.T) {
	d := newTestDNS(t)
	ca := newPKI(t, "test CA")
	// startFederating publishes the service's own records.
	s := startFederating(t, d, "samtal.example", ca, ca, "verify", "")
	cert, key := ca.issue(t, "prosody.example")
	p := startProsody(t, d, "prosody.example", cert, key, ca.CA, ca.CA, true)
	const pw = "federation-password"
	s.AddUser("sal", pw)
	requireSlixmpp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "interop/federation_pubsub.py",
		"--local", account("sal@samtal.example", c2sPort(s.Server), ca.CA),
		"--remote", account("pip@prosody.example", p.C2S, p.CA), "--password", pw, "--register", "remote")
	out, err := cmd.CombinedOutput()
	t.Logf("slixmpp federation pubsub:\n%s", out)
	if err != nil || !bytes.Contains(out, []byte("PASS federation pubsub")) {
		t.Fatalf("federation pubsub scenario failed: %v", err)
	}
}
