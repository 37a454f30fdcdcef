package c2s

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// fakeCarbons records the sessions Bind 2 enabled carbons for.
type fakeCarbons struct {
	mu      sync.Mutex
	enabled []jid.JID
}

func (f *fakeCarbons) Enable(s router.Session) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enabled = append(f.enabled, s.JID())
}

type memCreds map[string]sasl.Keys

func (m memCreds) Keys(user string, h sasl.Hash) (sasl.Keys, error) {
	k, ok := m[user+" "+string(h)]
	if !ok {
		return sasl.Keys{}, sasl.ErrNoSuchUser
	}
	return k, nil
}

// listenJuliet starts a service on a loopback listener whose one
// account is juliet@example.org with the password "secret". cfg's TLS,
// timeouts and fake secret are filled in where unset. The caller closes
// the service.
func listenJuliet(t *testing.T, cfg Config) (*Service, string) {
	t.Helper()
	keys, err := sasl.DeriveKeys(sasl.SHA256, "secret", sasl.NewSalt(), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil {
		cfg.TLS = selfSigned(t)
	}
	if cfg.AuthTimeout == 0 {
		cfg.AuthTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = time.Minute
	}
	if cfg.FakeSecret == nil {
		cfg.FakeSecret = []byte("0123456789abcdef0123456789abcdef")
	}
	svc := New(cfg, router.New([]string{"example.org"}), memCreds{"juliet@example.org SHA-256": keys}, &fakeCore{},
		func() PreAuth { return PreAuth{} }, slog.New(slog.DiscardHandler), NewMetrics(metrics.NewRegistry()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc.Listen(ln, false, false)
	return svc, ln.Addr().String()
}

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "example.org"},
		DNSNames: []string{"example.org"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }}
}

// TestBind2EnablesCarbons drives a real connection through SASL2 and
// Bind 2 with an inline carbons <enable/>, and checks that the Carbons
// the server wires is asked to enable them for the new session.
func TestBind2EnablesCarbons(t *testing.T) {
	carbons := &fakeCarbons{}
	svc, addr := listenJuliet(t, Config{Carbons: carbons})
	t.Cleanup(func() { svc.Close(context.Background()) })

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := xmlstream.NewReader(conn, xmlstream.Limits{})
	var w io.Writer = conn
	open := func() *xmlel.Element {
		fmt.Fprint(w, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>")
		if _, err := r.Header(); err != nil {
			t.Fatal(err)
		}
		el, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		return el
	}
	next := func() *xmlel.Element {
		el, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		return el
	}
	open()
	fmt.Fprint(w, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	next()
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: "example.org"})
	w = tc
	r.Reset(tc)
	f := open()
	var vars []string
	for _, fe := range f.Child(nsSASL2, "authentication").Child(nsSASL2, "inline").Child(nsBind2, "bind").Child(nsBind2, "inline").Elements() {
		vars = append(vars, fe.Attr("var"))
	}
	if fmt.Sprint(vars) != fmt.Sprint([]string{nsSM, nsCSI, nsCarbons}) {
		t.Errorf("Bind 2 inline features %q, want sm, csi and carbons", vars)
	}
	fmt.Fprint(w, "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>"+
		base64.StdEncoding.EncodeToString([]byte("\x00juliet\x00secret"))+"</initial-response>"+
		"<bind xmlns='urn:xmpp:bind:0'><tag>Test</tag><enable xmlns='urn:xmpp:carbons:2'/></bind></authenticate>")
	succ := next()
	if !succ.Is(nsSASL2, "success") || succ.Child(nsBind2, "bound") == nil {
		t.Fatalf("want success with <bound/>: %v", succ)
	}
	full := succ.ChildText(nsSASL2, "authorization-identifier")
	carbons.mu.Lock()
	defer carbons.mu.Unlock()
	if len(carbons.enabled) != 1 || carbons.enabled[0].String() != full {
		t.Errorf("carbons enabled for %v, want [%s]", carbons.enabled, full)
	}
}
