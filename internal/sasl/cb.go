package sasl

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"hash"
	"slices"
)

// Channel-binding types (RFC 9266, RFC 5929).
const (
	CBTLSExporter       = "tls-exporter"
	CBTLSServerEndPoint = "tls-server-end-point"
)

// ChannelBinding is one channel binding the TLS layer offers: its type
// and the data the client must bind to.
type ChannelBinding struct {
	Type string // CBTLSExporter or CBTLSServerEndPoint
	Data []byte
	// Derive, when set and Data is not, returns the data on first need:
	// tls-exporter's is a key derivation that a login without channel
	// binding never uses. It may be called more than once.
	Derive func() []byte
}

// Available reports whether the binding can be offered.
func (b ChannelBinding) Available() bool { return len(b.Data) > 0 || b.Derive != nil }

// Bytes returns the binding's data.
func (b ChannelBinding) Bytes() []byte {
	if len(b.Data) == 0 && b.Derive != nil {
		return b.Derive()
	}
	return b.Data
}

// ChannelBindingTypes returns the types to announce in the
// <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'/> stream feature
// (XEP-0440 §3), one <channel-binding type='…'/> each: the types of
// bindings that are available (see Available), without duplicates, in
// order. XEP-0440 §5 requires servers to offer tls-server-end-point.
func ChannelBindingTypes(bindings []ChannelBinding) []string {
	var types []string
	for _, b := range bindings {
		if b.Available() && !slices.Contains(types, b.Type) {
			types = append(types, b.Type)
		}
	}
	return types
}

// TLSExporter returns the tls-exporter channel-binding data of a
// connection (RFC 9266 §2): 32 bytes exported with the label
// "EXPORTER-Channel-Binding" and no context.
//
// It returns an error unless the connection is TLS 1.3, and then
// tls-exporter must not be offered.
// NOTSPEC(RFC 9266 §3): TLS 1.2 with the extended master secret would do
// too, but tls.ConnectionState does not say whether it was negotiated,
// and GODEBUG=tlsunsafeekm=1 makes crypto/tls export without it.
func TLSExporter(cs tls.ConnectionState) ([]byte, error) {
	if !TLSExporterAvailable(cs) {
		return nil, errors.New("sasl: tls-exporter: needs a complete TLS 1.3 handshake")
	}
	return cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
}

// TLSExporterAvailable reports whether TLSExporter can derive the
// tls-exporter data of a connection, without deriving it.
func TLSExporterAvailable(cs tls.ConnectionState) bool {
	return cs.HandshakeComplete && cs.Version >= tls.VersionTLS13
}

// TLSServerEndPoint returns the tls-server-end-point channel-binding data
// for the server's certificate (RFC 5929 §4.1): its hash with the hash
// function of its signature algorithm, SHA-256 when that is MD5 or SHA-1.
// It returns nil when the binding is undefined (a signature without a
// single hash, such as Ed25519): then tls-server-end-point cannot be
// offered.
func TLSServerEndPoint(cert *x509.Certificate) []byte {
	if cert == nil {
		return nil
	}
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.DSAWithSHA256, x509.ECDSAWithSHA256:
		h = sha256.New()
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = sha512.New()
	default:
		return nil
	}
	h.Write(cert.Raw)
	return h.Sum(nil)
}
