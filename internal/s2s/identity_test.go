package s2s

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"
)

// testCA issues certificates for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

type otherName struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue
}

// issue returns a leaf with the given DNS-IDs, SRV-IDs and XmppAddrs.
func (ca *testCA) issue(t testing.TB, dnsNames, srv, xmpp []string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var names []asn1.RawValue
	for _, n := range dnsNames {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(n)})
	}
	add := func(oid asn1.ObjectIdentifier, s string, tag int) {
		inner, _ := asn1.MarshalWithParams(s, map[int]string{22: "ia5", 12: "utf8"}[tag])
		val := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}
		on, _ := asn1.MarshalWithParams(otherName{ID: oid, Value: val}, "tag:0")
		names = append(names, asn1.RawValue{FullBytes: on})
	}
	for _, s := range srv {
		add(oidSRVName, s, 22)
	}
	for _, s := range xmpp {
		add(oidXmppAddr, s, 12)
	}
	san, err := asn1.Marshal(names)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "ignored.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		ExtraExtensions: []pkix.Extension{{Id: oidSAN, Value: san}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestVerifyCert(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	dnsCert, _ := ca.issue(t, []string{"example.org", "*.wild.example"}, nil, nil)
	srvCert, _ := ca.issue(t, nil, []string{"_xmpp-server.srv.example"}, nil)
	xmppCert, _ := ca.issue(t, nil, nil, []string{"xmpp.example"})
	clientSRV, _ := ca.issue(t, nil, []string{"_xmpp-client.srv.example"}, nil)
	untrusted, _ := other.issue(t, []string{"example.org"}, nil, nil)
	now := time.Now()
	tests := []struct {
		name   string
		cert   *x509.Certificate
		domain string
		want   error // nil, ErrIdentity, or errAny
	}{
		{"dns-id", dnsCert, "example.org", nil},
		{"dns-id case", dnsCert, "Example.ORG", nil},
		{"dns-id other", dnsCert, "example.com", ErrIdentity},
		{"wildcard one label", dnsCert, "a.wild.example", nil},
		{"wildcard two labels", dnsCert, "a.b.wild.example", ErrIdentity},
		{"wildcard not the base", dnsCert, "wild.example", ErrIdentity},
		{"cn is not used", dnsCert, "ignored.example", ErrIdentity},
		{"srv-id", srvCert, "srv.example", nil},
		{"srv-id client service", clientSRV, "srv.example", ErrIdentity},
		{"xmppaddr", xmppCert, "xmpp.example", nil},
		{"untrusted", untrusted, "example.org", errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyCert([]*x509.Certificate{tc.cert}, ca.pool, tc.domain, now)
			switch {
			case tc.want == nil && err != nil,
				tc.want == errAny && err == nil,
				tc.want == ErrIdentity && !errors.Is(err, ErrIdentity):
				t.Errorf("VerifyCert(%s) = %v, want %v", tc.domain, err, tc.want)
			}
		})
	}
	if err := VerifyCert([]*x509.Certificate{dnsCert}, ca.pool, "example.org", now.Add(2*time.Hour)); err == nil {
		t.Error("VerifyCert accepted an expired certificate")
	}
}

var errAny = errors.New("any error")
