package s2s

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
)

// FuzzCertIdentities feeds arbitrary subjectAltName extensions, which a
// peer controls, to the identity reader: it must never panic, and what
// it reads must be usable for matching.
func FuzzCertIdentities(f *testing.F) {
	ca := newTestCA(f)
	for _, c := range []*x509.Certificate{
		first(ca.issue(f, []string{"example.org"}, []string{"_xmpp-server.example.org"}, []string{"example.org"})),
	} {
		for _, e := range c.Extensions {
			if e.Id.Equal(oidSAN) {
				f.Add(e.Value, "example.org")
			}
		}
	}
	f.Fuzz(func(t *testing.T, san []byte, domain string) {
		cert := &x509.Certificate{Extensions: []pkix.Extension{{Id: oidSAN, Value: san}}}
		ids := CertIdentities(cert)
		ids.MatchDomain(domain)
	})
}

func first[T, U any](t T, _ U) T { return t }
