package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/dns/dnstest"
)

// rawPeer is a hand-written server-to-server peer: it says exactly what
// the test wants, including what no real server would.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
	buf  bytes.Buffer
}

func dialPeer(t *testing.T, port int) *rawPeer {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, conn: c}
}

func (p *rawPeer) send(s string) {
	p.t.Helper()
	_ = p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.conn.Write([]byte(s)); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// expect reads until the input holds want, and drops what was read.
func (p *rawPeer) expect(want string) string {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	b := make([]byte, 4096)
	for !strings.Contains(p.buf.String(), want) {
		_ = p.conn.SetReadDeadline(deadline)
		n, err := p.conn.Read(b)
		p.buf.Write(b[:n])
		if err != nil {
			p.t.Fatalf("reading for %q: %v; got %q", want, err, p.buf.String())
		}
	}
	got := p.buf.String()
	p.buf.Reset()
	return got
}

func header(from, to string) string {
	return fmt.Sprintf("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0' from='%s' to='%s'>", from, to)
}

// authenticate runs STARTTLS and SASL EXTERNAL as domain with the given
// certificate files.
func (p *rawPeer) authenticate(domain, to, certFile, keyFile, caFile string) {
	p.t.Helper()
	p.send(header(domain, to))
	p.expect("</stream:features>")
	p.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	p.expect("<proceed")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		p.t.Fatal(err)
	}
	pem, _ := os.ReadFile(caFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tc := tls.Client(p.conn, &tls.Config{ServerName: to, RootCAs: roots, Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		p.t.Fatalf("TLS: %v", err)
	}
	p.conn = tc
	p.send(header(domain, to))
	f := p.expect("</stream:features>")
	if !strings.Contains(f, "EXTERNAL") || !strings.Contains(f, "urn:xmpp:features:bidi") {
		p.t.Fatalf("no SASL EXTERNAL or bidi offered: %s", f)
	}
	// XEP-0288: answers come back on this stream; the peer has no DNS.
	p.send("<bidi xmlns='urn:xmpp:bidi'/>")
	p.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>" + base64.StdEncoding.EncodeToString([]byte(domain)) + "</auth>")
	p.expect("<success")
	p.send(header(domain, to))
	p.expect("features")
}

// TestS2SAddressing checks what samtal does with a peer that does not
// keep to its domain: a forged 'from' ends the stream with invalid-from,
// a 'to' samtal does not serve with host-unknown, a stanza without 'to'
// with improper-addressing, and a stream to an unknown host with
// host-unknown.
func TestS2SAddressing(t *testing.T) {
	d := newTestDNS(t)
	ca := newPKI(t, "test CA")
	s := startFederating(t, d, "samtal.example", ca, ca, "verify", "")
	s.AddUser("sam", "password")
	evilCert, evilKey := ca.issue(t, "evil.example")

	t.Run("unknown host", func(t *testing.T) {
		p := dialPeer(t, s.S2SPort)
		p.send(header("evil.example", "nobody.example"))
		p.expect("<host-unknown")
	})
	tests := []struct {
		name, stanza, want string
	}{
		{"valid", "<message from='eve@evil.example/x' to='sam@samtal.example' id='1'><body>hi</body></message><iq type='get' id='p1' from='eve@evil.example/x' to='samtal.example'><ping xmlns='urn:xmpp:ping'/></iq>", "id='p1'"},
		{"forged from", "<message from='romeo@montague.example' to='sam@samtal.example'><body>hi</body></message>", "<invalid-from"},
		{"foreign to", "<message from='eve@evil.example' to='juliet@capulet.example'><body>hi</body></message>", "<host-unknown"},
		{"no to", "<message from='eve@evil.example'><body>hi</body></message>", "<improper-addressing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := dialPeer(t, s.S2SPort)
			p.authenticate("evil.example", "samtal.example", evilCert, evilKey, ca.CA)
			p.send(tc.stanza)
			got := p.expect(tc.want)
			if strings.Contains(tc.want, "<") {
				// A stream error ends the stream.
				if !strings.Contains(got, "</stream:stream>") {
					p.expect("</stream:stream>")
				}
			} else if !strings.Contains(got, "type='result'") {
				t.Errorf("ping answered with %s", got)
			}
		})
	}
}

// TestCheck runs `samtal check` against a federating samtal: with its
// records in place it finds nothing wrong; without them it says so and
// exits 1.
func TestCheck(t *testing.T) {
	d := newTestDNS(t)
	ca := newPKI(t, "test CA")
	s := startFederating(t, d, "samtal.example", ca, ca, "verify", "")
	c2s, _ := strconv.Atoi(Port(s.C2S))
	tlsPort, _ := strconv.Atoi(Port(s.TLS))
	d.mu.Lock()
	d.zone.SRV["_xmpp-client._tcp.samtal.example"] = []dnstest.SRV{{Priority: 5, Weight: 1, Port: uint16(c2s), Target: "localhost"}}
	d.zone.SRV["_xmpps-client._tcp.samtal.example"] = []dnstest.SRV{{Priority: 5, Weight: 1, Port: uint16(tlsPort), Target: "localhost"}}
	d.srv.SetZone(d.zone)
	d.mu.Unlock()

	check := func() (string, error) {
		out, err := exec.Command(binary, "check", "--config", s.Config, "samtal.example").CombinedOutput()
		t.Logf("samtal check:\n%s", out)
		return string(out), err
	}
	out, err := check()
	if err != nil {
		t.Fatalf("samtal check: %v", err)
	}
	for _, want := range []string{
		"ok    _xmpp-server._tcp.samtal.example: priority 10 weight 1 port " + strconv.Itoa(s.S2SPort),
		"ok    _xmpps-client._tcp.samtal.example",
		"ok    names samtal.example",
		"ok    trusted",
		"port " + strconv.Itoa(s.S2SPort) + " (127.0.0.1, server) accepts connections",
		"ok    _xmpps-server._tcp.samtal.example: priority 5",
		"conference.samtal.example (group chat of samtal.example)",
		"ok    _xmpp-server._tcp.conference.samtal.example: priority 10 weight 1 port " + strconv.Itoa(s.S2SPort),
		"ok    names conference.samtal.example",
		"0 problem(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("samtal check does not say %q", want)
		}
	}
	if strings.Contains(out, "_xmpp-client._tcp.conference") {
		t.Error("samtal check looks for client records of the group chat service")
	}

	// The group chat service without records: other servers cannot
	// reach its rooms.
	d.mu.Lock()
	delete(d.zone.SRV, "_xmpp-server._tcp.conference.samtal.example")
	delete(d.zone.SRV, "_xmpps-server._tcp.conference.samtal.example")
	delete(d.zone.Hosts, "conference.samtal.example")
	d.srv.SetZone(d.zone)
	d.mu.Unlock()
	out, err = check()
	if err == nil {
		t.Error("samtal check exited 0 without records for the group chat service")
	}
	if !strings.Contains(out, "FAIL  conference.samtal.example has no address") {
		t.Error("samtal check did not report the group chat service's missing records")
	}

	// Records pointing at a port where nothing listens.
	d.mu.Lock()
	d.zone.SRV["_xmpp-server._tcp.samtal.example"] = []dnstest.SRV{{Priority: 10, Weight: 1, Port: uint16(freePort(t)), Target: "localhost"}}
	d.srv.SetZone(d.zone)
	d.mu.Unlock()
	out, err = check()
	if err == nil {
		t.Error("samtal check exited 0 with a dead server port")
	}
	if !strings.Contains(out, "FAIL") || !strings.Contains(out, "port forward") {
		t.Error("samtal check did not report the dead port")
	}
}
