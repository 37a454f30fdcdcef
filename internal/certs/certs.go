// Package certs provides the TLS certificates of the server's domains:
// files the operator names, or, for a zero-config start, a self-signed
// certificate generated once into the data directory. It builds the
// server's tls.Config: TLS 1.2 or later, certificates chosen by SNI.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Domain names one host's certificate files; empty paths ask for a
// self-signed certificate.
type Domain struct {
	Name     string
	CertFile string
	KeyFile  string
	AltNames []string // extra names a generated certificate covers
}

// Store holds the loaded certificates.
type Store struct {
	byName map[string]*tls.Certificate
	first  *tls.Certificate
}

// selfSignedLifetime is how long a generated certificate is valid; it is
// renewed at start when less than a month is left.
const selfSignedLifetime = 365 * 24 * time.Hour

// Load loads or generates the certificate of every domain. Generated
// ones live in dir (created 0700).
func Load(domains []Domain, dir string) (*Store, error) {
	s := &Store{byName: make(map[string]*tls.Certificate)}
	for _, d := range domains {
		certFile, keyFile := d.CertFile, d.KeyFile
		if certFile == "" {
			certFile = filepath.Join(dir, d.Name+".crt")
			keyFile = filepath.Join(dir, d.Name+".key")
			if err := ensureSelfSigned(d, dir, certFile, keyFile); err != nil {
				return nil, err
			}
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("certs: %s: %w", d.Name, err)
		}
		s.add(d.Name, &cert)
	}
	return s, nil
}

func (s *Store) add(domain string, cert *tls.Certificate) {
	if s.first == nil {
		s.first = cert
	}
	s.byName[domain] = cert
	for _, n := range cert.Leaf.DNSNames {
		if _, ok := s.byName[n]; !ok {
			s.byName[strings.ToLower(n)] = cert
		}
	}
}

// Get returns the certificate for a server name: an exact name, a
// wildcard one level up, or the first certificate.
func (s *Store) Get(name string) *tls.Certificate {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if c := s.byName[name]; c != nil {
		return c
	}
	if _, rest, ok := strings.Cut(name, "."); ok {
		if c := s.byName["*."+rest]; c != nil {
			return c
		}
		// A service domain such as conference.example.org uses its
		// host's certificate when it has none of its own.
		if c := s.byName[rest]; c != nil {
			return c
		}
	}
	return s.first
}

// Leaf returns the parsed certificate for a name.
func (s *Store) Leaf(name string) *x509.Certificate {
	if c := s.Get(name); c != nil {
		return c.Leaf
	}
	return nil
}

// ServerConfig returns a TLS configuration for the listeners: TLS 1.2 as
// the minimum with Go's modern cipher suites, and the certificate chosen
// by SNI. alpn lists the protocols to offer (XEP-0368: xmpp-client).
func (s *Store) ServerConfig(alpn ...string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: alpn,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			c := s.Get(hello.ServerName)
			if c == nil {
				return nil, errors.New("certs: no certificate")
			}
			return c, nil
		},
	}
}

// StreamConfig is ServerConfig for XML streams (c2s, s2s): records are as
// large as the writes. TLS's dynamic record sizing splits the first
// writes of a connection into records of one TCP segment, so that a
// browser may start on a page before the rest arrives; a stream's peer
// can use nothing before a stanza's end, and the split only costs a write
// system call more for the stream features of every login.
func (s *Store) StreamConfig(alpn ...string) *tls.Config {
	c := s.ServerConfig(alpn...)
	c.DynamicRecordSizingDisabled = true
	return c
}

// ensureSelfSigned writes a self-signed certificate for d unless a valid
// one is already there.
func ensureSelfSigned(d Domain, dir, certFile, keyFile string) error {
	if cert, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil &&
		time.Until(cert.Leaf.NotAfter) > 30*24*time.Hour && cert.Leaf.VerifyHostname(d.Name) == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	certPEM, keyPEM, err := SelfSigned(append([]string{d.Name}, d.AltNames...), selfSignedLifetime)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

// SelfSigned returns a PEM certificate and key (ECDSA P-256) for names.
func SelfSigned(names []string, lifetime time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0], Organization: []string{"samtal self-signed"}},
		DNSNames:              names,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
