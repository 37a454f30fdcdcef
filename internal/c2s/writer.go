package c2s

import (
	"crypto/tls"
	"crypto/x509"

	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// Send queues el for the client. It never blocks. If the queue passes its
// byte limit the client is not reading fast enough and the session ends
// with a policy-violation stream error.
func (s *Session) Send(el *xmlel.Element) {
	ok, over := s.q.Append(func(b []byte) []byte { return stream.AppendElement(b, el, xmlel.NSClient) })
	if !ok {
		return
	}
	if over {
		s.svc.log.Info("c2s client too slow, closing its session")
		s.closeStream(stream.Error{Condition: stream.PolicyViolation, Text: "too slow"}, false)
		return
	}
	if el.Space == "" {
		s.svc.m.StanzasOut.With(el.Local).Inc()
	}
}

// CloseWithError ends the stream with a stream error, after what is
// already queued (the result of an account removal, for example).
func (s *Session) CloseWithError(e stream.Error) {
	s.closeStream(e, true)
}

// closeStream ends the stream with an error; a client too slow to read
// loses what was queued instead, so that the error is all it still gets.
func (s *Session) closeStream(e stream.Error, keepPending bool) {
	if s.q.Closing() {
		return
	}
	s.svc.m.StreamErrs.With(string(e.Condition)).Inc()
	b := stream.AppendElement(nil, e.Element(), xmlel.NSClient)
	s.q.CloseWith(append(b, stream.Close...), keepPending)
}

// Close ends the stream with a close tag, after what is queued.
func (s *Session) Close() {
	s.q.CloseWith([]byte(stream.Close), true)
}

// writeDirect writes during negotiation, before the writer goroutine
// exists; only the reader goroutine writes then.
func (s *Session) writeDirect(b []byte) {
	s.q.Append(func(dst []byte) []byte { return append(dst, b...) })
}

// localCert returns the certificate this connection presented, for
// tls-server-end-point channel binding (RFC 5929).
func (s *Session) localCert() *x509.Certificate {
	cfg := s.svc.cfg.TLS
	if cfg == nil || cfg.GetCertificate == nil || s.tls == nil {
		return nil
	}
	cert, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: s.tls.ConnectionState().ServerName})
	if err != nil || cert == nil || len(cert.Certificate) == 0 {
		return nil
	}
	if cert.Leaf != nil {
		return cert.Leaf
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}
