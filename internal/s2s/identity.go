package s2s

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"samtal.org/samtal/internal/jid"
)

// Object identifiers of the subjectAltName otherName forms XMPP uses.
var (
	oidSAN      = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidSRVName  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 7} // RFC 4985 id-on-dnsSRV
	oidXmppAddr = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5} // RFC 6120 §13.7.1.4 id-on-xmppAddr
)

// Identities are the names a certificate presents (RFC 6125 §1.8).
type Identities struct {
	DNS      []string // DNS-IDs, lowercase A-labels
	SRV      []string // SRV-IDs, "_xmpp-server.example.org"
	XmppAddr []string // id-on-xmppAddr
}

// CertIdentities reads the DNS-IDs, SRV-IDs and XmppAddrs of cert.
func CertIdentities(cert *x509.Certificate) Identities {
	id := Identities{}
	for _, n := range cert.DNSNames {
		id.DNS = append(id.DNS, strings.ToLower(n))
	}
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidSAN) {
			continue
		}
		var names []asn1.RawValue
		if _, err := asn1.Unmarshal(ext.Value, &names); err != nil {
			continue
		}
		for _, n := range names {
			// otherName [0] { type-id OID, value [0] EXPLICIT ANY }
			if n.Class != asn1.ClassContextSpecific || n.Tag != 0 {
				continue
			}
			var on struct {
				ID    asn1.ObjectIdentifier
				Value asn1.RawValue `asn1:"explicit,tag:0"`
			}
			if _, err := asn1.UnmarshalWithParams(n.FullBytes, &on, "tag:0"); err != nil {
				continue
			}
			var s string
			if _, err := asn1.Unmarshal(on.Value.Bytes, &s); err != nil || !utf8.ValidString(s) {
				continue
			}
			switch {
			case on.ID.Equal(oidSRVName):
				id.SRV = append(id.SRV, strings.ToLower(s))
			case on.ID.Equal(oidXmppAddr):
				id.XmppAddr = append(id.XmppAddr, s)
			}
		}
	}
	return id
}

// MatchDomain reports whether the identities name domain (RFC 6125 §6,
// RFC 6120 §13.7.2.1): a DNS-ID equal to it or a wildcard standing for
// its leftmost label only (§6.4.3), an SRV-ID for the XMPP server
// service of it (§6.5.1), or an XmppAddr equal to it. The Common Name is
// not used: RFC 6125 §6.4.4 allows it only without subjectAltNames, and
// certificates without them are long gone.
func (id Identities) MatchDomain(domain string) bool {
	d := normDomain(domain)
	if d == "" {
		return false
	}
	for _, n := range id.DNS {
		if matchDNS(n, d) {
			return true
		}
	}
	for _, n := range id.SRV {
		// SRV-IDs name the service and the source domain; XEP-0368's
		// direct TLS service is the same XMPP server service.
		svc, name, ok := strings.Cut(n, ".")
		if ok && (svc == "_xmpp-server" || svc == "_xmpps-server") && matchDNS(name, d) {
			return true
		}
	}
	for _, n := range id.XmppAddr {
		if normDomain(n) == d {
			return true
		}
	}
	return false
}

// normDomain prepares a domain as a JID domainpart (RFC 7622 §3.2), in
// which A-labels and U-labels of the same name are equal; "" if it is not
// one.
func normDomain(s string) string {
	j, err := jid.Parse(strings.TrimSuffix(s, "."))
	if err != nil || !j.IsDomain() {
		return ""
	}
	return j.Domain()
}

// matchDNS compares a presented DNS-ID with a reference identifier; a
// wildcard is only the whole leftmost label and matches exactly one label
// (RFC 6125 §6.4.3).
func matchDNS(presented, ref string) bool {
	if rest, ok := strings.CutPrefix(presented, "*."); ok {
		rest = normDomain(rest)
		_, refRest, ok := strings.Cut(ref, ".")
		return ok && rest != "" && refRest == rest && strings.Contains(rest, ".")
	}
	p := normDomain(presented)
	return p != "" && p == ref
}

// ErrIdentity is returned when a certificate chains to a trusted root but
// does not name the domain.
var ErrIdentity = errors.New("s2s: certificate does not name the domain")

// VerifyCert checks a peer's certificate chain (leaf first) with PKIX
// against roots and then its identity against domain. The chain may be
// for either end of the connection: a server presents its server
// certificate as a TLS client certificate too, so both extended key
// usages are accepted.
func VerifyCert(chain []*x509.Certificate, roots *x509.CertPool, domain string, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("s2s: no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("s2s: certificate: %w", err)
	}
	if !CertIdentities(chain[0]).MatchDomain(domain) {
		return ErrIdentity
	}
	return nil
}
