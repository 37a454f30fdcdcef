package c2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"

	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/transport"
	"samtal.org/samtal/internal/xmlel"
)

// Send queues el for the client. It never blocks. A bound session sends
// through its outbox, which holds back what can wait while the client is
// inactive and keeps what it has not acknowledged.
func (s *Session) Send(el *xmlel.Element) {
	if b := s.box; b != nil {
		b.send(el)
		return
	}
	s.write(el)
}

// write queues el on this connection and returns its size in bytes (0
// when the stream is closing). If the queue passes its byte limit the
// client is not reading fast enough and the stream ends with a
// policy-violation stream error; a resumable session waits for the
// client to come back.
func (s *Session) write(el *xmlel.Element) int {
	return s.writeVia(el, nil)
}

// reply queues el, an answer to what the client has just sent, as write
// does, for the reading goroutine to write itself before it next waits
// (s.batch) instead of starting a writer goroutine for it: a bind's
// result, SASL2's success. Only the reading goroutine calls it.
func (s *Session) reply(el *xmlel.Element) {
	s.writeVia(el, &s.batch)
}

// writeVia is write through a batch, which may be nil.
func (s *Session) writeVia(el *xmlel.Element, batch *transport.Batch) int {
	size, _ := s.appendVia(appendElement(el), batch)
	if size > 0 && el.Space == "" {
		s.svc.m.out.inc(el.Local)
	}
	return size
}

// writeEnd is write that also returns where el ends in the connection's
// queue (see transport.Queue.AppendEnd): el has left for the client once
// s.q.Written() reaches it. size is 0 when el was not queued. Unlike
// write, it leaves counting the stanza to the caller.
func (s *Session) writeEnd(el *xmlel.Element) (size int, end int64) {
	return s.appendEnd(appendElement(el))
}

// appendElement returns what appends el as the client's stream carries it.
func appendElement(el *xmlel.Element) func([]byte) []byte {
	return func(b []byte) []byte { return stream.AppendElement(b, el, xmlel.NSClient) }
}

// appendEnd queues what add appends, as writeEnd does.
func (s *Session) appendEnd(add func([]byte) []byte) (size int, end int64) {
	return s.appendVia(add, nil)
}

// appendVia is appendEnd through a batch (see writeRawEnd).
func (s *Session) appendVia(add func([]byte) []byte, batch *transport.Batch) (size int, end int64) {
	end, ok, over := s.q.AppendBatched(func(b []byte) []byte {
		n := len(b)
		b = add(b)
		size = len(b) - n
		return b
	}, batch)
	if !ok {
		return 0, 0
	}
	if over {
		s.svc.log.Info("c2s client too slow, closing its stream")
		s.closeStream(stream.Error{Condition: stream.PolicyViolation, Text: "too slow"}, false, true)
		return size, end
	}
	return size, end
}

// SendRaw queues a message that travels as the bytes its sender wrote
// (router.RawSender), as Send queues a tree. It never blocks.
func (s *Session) SendRaw(ctx context.Context, raw []byte) {
	if b := s.box; b != nil {
		b.sendRaw(raw, transport.BatchOf(ctx))
		return
	}
	if el := s.svc.tree(raw); el != nil {
		s.write(el)
	}
}

// writeRawEnd is writeEnd for a message's bytes, written by batch's
// Flush when no writer runs (transport.Batch); batch may be nil.
func (s *Session) writeRawEnd(raw []byte, batch *transport.Batch) (size int, end int64) {
	return s.appendVia(func(b []byte) []byte { return append(b, raw...) }, batch)
}

// writeNonza queues an element that is not a stanza (stream management).
func (s *Session) writeNonza(el *xmlel.Element) {
	s.q.Append(appendElement(el))
}

// Room tells a sender with much to send how much the session takes now
// (router.Pacer): what its queue and stream management hold is kept well
// under their bounds, so that a client that reads slowly gets a backlog
// at its own pace instead of losing its stream.
func (s *Session) Room() router.Room {
	if b := s.box; b != nil {
		return b.room()
	}
	// Not bound: nothing sends it much.
	return router.Unbounded
}

// CloseWithError ends the stream with a stream error, after what is
// already queued (the result of an account removal, for example), and
// with it the session.
func (s *Session) CloseWithError(e stream.Error) {
	if b := s.box; b != nil {
		b.closeWithError(e)
		return
	}
	s.closeStream(e, true, false)
}

// closeStream ends the stream with an error; a client too slow to read
// loses what was queued instead, so that the error is all it still gets.
// resumable tells whether the session may wait to be resumed (a lost
// client) or ends with the stream (a fault, a replaced session).
func (s *Session) closeStream(e stream.Error, keepPending, resumable bool) {
	if !resumable {
		s.ending.Store(true)
	}
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

// writeDirect writes el during negotiation, before the writer goroutine
// exists; only the reader goroutine writes then. It is serialized straight
// into the queue's buffer.
func (s *Session) writeDirect(el *xmlel.Element) {
	s.q.Append(appendElement(el))
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
