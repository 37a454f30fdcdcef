package e2e

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/xmlstream"
)

// TestTLSPolicy connects to the direct TLS listener and to STARTTLS with
// old protocol versions and weak cipher suites, which must be refused, and
// with modern ones, which must work.
func TestTLSPolicy(t *testing.T) {
	s := StartServer(t, Options{})
	cases := []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"TLS 1.0", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, false},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false},
		{"TLS 1.2 RSA key exchange", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_RSA_WITH_AES_128_CBC_SHA}}, false},
		{"TLS 1.2 CBC", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}}, false},
		{"TLS 1.2 3DES and RC4", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA}}, false},
		{"TLS 1.2 ECDHE AEAD", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true},
		{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, starttls := range []bool{false, true} {
				cfg := tc.cfg.Clone()
				cfg.ServerName = "localhost"
				cfg.InsecureSkipVerify = true
				addr := s.TLS
				if starttls {
					addr = s.C2S
				}
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if starttls {
					r := dialRawConn(t, c)
					r.open("localhost")
					r.next()
					r.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
					if el := r.next(); el.Local != "proceed" {
						t.Fatalf("starttls: %v", el)
					}
				}
				tc2 := tls.Client(c, cfg)
				err = tc2.Handshake()
				c.Close()
				if err != nil {
					t.Logf("starttls %v: %v", starttls, err)
				}
				if err != nil && !strings.Contains(err.Error(), "remote error") {
					// The client must have offered it: only the
					// server's refusal counts.
					t.Errorf("starttls %v: the client failed on its own: %v", starttls, err)
				}
				if (err == nil) != tc.ok {
					t.Errorf("starttls %v: handshake error %v, want success %v", starttls, err, tc.ok)
				}
				if err == nil {
					if v := tc2.ConnectionState().Version; v < tls.VersionTLS12 {
						t.Errorf("negotiated version %x", v)
					}
				}
			}
		})
	}
}

// TestNoPlaintextAuth tries PLAIN and SCRAM on a stream without TLS: the
// server refuses both unless allow_plaintext is set for a loopback
// listener, and even then PLAIN, which would send the password in the
// clear, stays refused.
func TestNoPlaintextAuth(t *testing.T) {
	plain := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00pw-a"))
	scramFirst := base64.StdEncoding.EncodeToString([]byte("n,,n=alice,r=abcdefghijklmnop"))
	t.Run("default", func(t *testing.T) {
		s := StartServer(t, Options{})
		s.AddUser("alice", "pw-a")
		for _, auth := range []string{
			"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + plain + "</auth>",
			"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>" + scramFirst + "</auth>",
			"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>" + scramFirst + "</auth>",
		} {
			c := dialRaw(t, s.C2S)
			c.open("localhost")
			f := c.next()
			if f.Child(xSASL, "mechanisms") != nil {
				t.Errorf("mechanisms offered before TLS: %v", f)
			}
			if st := f.Child("urn:ietf:params:xml:ns:xmpp-tls", "starttls"); st == nil || st.Child("urn:ietf:params:xml:ns:xmpp-tls", "required") == nil {
				t.Errorf("STARTTLS not required: %v", f)
			}
			c.send(auth)
			if cond := c.streamError(); cond != "policy-violation" {
				t.Errorf("auth before TLS: stream error %q, want policy-violation", cond)
			}
		}
	})
	t.Run("allow_plaintext", func(t *testing.T) {
		s := StartServer(t, Options{Listen: "allow_plaintext = true"})
		s.AddUser("alice", "pw-a")
		c := dialRaw(t, s.C2S)
		c.open("localhost")
		f := c.next()
		if f.Child(xSASL, "mechanisms") == nil {
			t.Fatalf("no mechanisms with allow_plaintext: %v", f)
		}
		for _, m := range texts(f.Child(xSASL, "mechanisms"), xSASL, "mechanism") {
			if m == "PLAIN" {
				t.Errorf("PLAIN offered without TLS")
			}
		}
		c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + plain + "</auth>")
		if el := c.next(); el.Local != "failure" || el.Child(xSASL, "encryption-required") == nil {
			t.Errorf("PLAIN without TLS: %v, want <failure><encryption-required/>", el)
		}
		c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>" + scramFirst + "</auth>")
		if el := c.next(); el.Local != "challenge" {
			t.Errorf("SCRAM with allow_plaintext on loopback: %v, want a challenge", el)
		}
	})
}

// dialRawConn wraps an open connection as a raw client.
func dialRawConn(t *testing.T, c net.Conn) *raw {
	return &raw{t: t, conn: c, r: xmlstream.NewReader(c, xmlstream.Limits{})}
}

// TestAdminLoopbackOnly checks that the admin (metrics) listener is on
// loopback unless the configuration says otherwise in so many words.
func TestAdminLoopbackOnly(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		cfg  string
		ok   bool
		want string
	}{
		{"[listen]\nadmin = \"0.0.0.0:5280\"\n", false, "admin_public"},
		{"[listen]\nadmin = \":5280\"\n", false, "admin_public"},
		{"[listen]\nadmin = \"127.0.0.1:5280\"\n", true, ""},
		{"[listen]\nadmin = \"0.0.0.0:5280\"\nadmin_public = true\n", true, ""},
	} {
		path := filepath.Join(dir, "samtal.toml")
		if err := os.WriteFile(path, []byte(tc.cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(binary, "config", "check", path).CombinedOutput()
		if (err == nil) != tc.ok || !strings.Contains(string(out), tc.want) {
			t.Errorf("config check of %q: %v\n%s", tc.cfg, err, out)
		}
	}
}
