package web

import (
	"net"
	"net/netip"

	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// NSFraming is the namespace of the WebSocket framing elements <open/> and
// <close/> (RFC 7395 §3.3).
const NSFraming = "urn:ietf:params:xml:ns:xmpp-framing"

// pipeConn is the end of an in-memory pipe that the stream code reads and
// writes as if it were the client's TCP connection. Its RemoteAddr is the
// HTTP client's, which the connection limits count by.
type pipeConn struct {
	net.Conn
	remote net.Addr
}

func (c pipeConn) RemoteAddr() net.Addr { return c.remote }

// newPipe returns the stream's end (for the c2s service) and the
// transport's end of a new pipe. net.Pipe is synchronous and supports
// deadlines, which the stream code's idle detection and write timeouts
// use.
func newPipe(remoteAddr string) (streamEnd net.Conn, transportEnd net.Conn) {
	a, b := net.Pipe()
	var remote net.Addr = &net.TCPAddr{}
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		remote = net.TCPAddrFromAddrPort(ap)
	}
	return pipeConn{Conn: a, remote: remote}, b
}

// streamHeader returns the stream header the stream code reads for an
// <open/> (RFC 7395 §3.3.1) or a BOSH session request (XEP-0206 §4). The
// version is passed on as the client gave it, so that the stream code
// answers a missing or unknown one as it does on TCP.
func streamHeader(to, version, lang string) []byte {
	h := stream.Header{To: to, Lang: lang, ContentNS: xmlel.NSClient, NoVersion: true}
	if version != "" {
		h.Extra = []xmlel.Attr{{Local: "version", Value: version}}
	}
	return h.Append(nil)
}

// declare inserts a namespace declaration into the start tag of a
// serialized top-level element named local: RFC 7395 §3.3.3 and XEP-0206
// §5 want every element fully namespaced on its own.
func declare(b []byte, prefix int, decl string) []byte {
	out := make([]byte, 0, len(b)+len(decl))
	out = append(out, b[:prefix]...)
	out = append(out, decl...)
	return append(out, b[prefix:]...)
}

// appendInput serializes an element a client sent, for the stream code,
// if that takes at most max bytes. The reader refused an element whose
// namespace declarations would write it far larger than it was read
// (xmlstream's countDeclarations), so this costs at most about twice
// the limit before the check.
func appendInput(el *xmlel.Element, max int) ([]byte, bool) {
	b := el.AppendXML(nil, xmlel.NSClient)
	return b, len(b) <= max
}

// appendFramed serializes an element the stream code sent as a standalone
// fragment: stanzas with xmlns='jabber:client', <stream:features/> and
// <stream:error/> with the declaration of the stream: prefix, anything
// else in its own namespace.
func appendFramed(el *xmlel.Element) []byte {
	switch {
	case el.Space == stream.NS:
		b := stream.AppendElement(nil, el, xmlel.NSClient)
		return declare(b, len("<stream:")+len(el.Local), " xmlns:stream='"+stream.NS+"'")
	case el.Space == "":
		b := el.AppendXML(nil, xmlel.NSClient)
		return declare(b, 1+len(el.Local), " xmlns='"+xmlel.NSClient+"'")
	}
	return el.AppendXML(nil, xmlel.NSClient)
}
