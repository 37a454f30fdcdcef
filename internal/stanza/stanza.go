// Package stanza holds the three XMPP stanza kinds (RFC 6120 §8) as a thin
// view over an element tree, the stanza errors of RFC 6120 §8.3, and the
// namespaces that many packages share.
package stanza

import (
	"errors"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces shared across packages.
const (
	NSStanzas    = "urn:ietf:params:xml:ns:xmpp-stanzas"
	NSDelay      = "urn:xmpp:delay"
	NSDiscoInfo  = "http://jabber.org/protocol/disco#info"
	NSDiscoItems = "http://jabber.org/protocol/disco#items"
	NSDataForm   = "jabber:x:data"
)

// Kinds of stanza.
const (
	Message  = "message"
	Presence = "presence"
	IQ       = "iq"
)

// Stanza is a parsed view of a stanza element: its addressing is prepared
// once at the edge so that routing does not parse JIDs again.
type Stanza struct {
	El   *xmlel.Element
	From jid.JID
	To   jid.JID
}

// Kind returns message, presence or iq.
func (s *Stanza) Kind() string { return s.El.Local }

// Type returns the type attribute.
func (s *Stanza) Type() string { return s.El.Attr("type") }

// ID returns the id attribute.
func (s *Stanza) ID() string { return s.El.Attr("id") }

// MessageType returns a message's type attribute t as RFC 6121 §5.2.2
// reads it: a missing or unknown type is normal. The result is always one
// of the five constants, never t itself.
func MessageType(t string) string {
	switch t {
	case "chat":
		return "chat"
	case "groupchat":
		return "groupchat"
	case "headline":
		return "headline"
	case "error":
		return "error"
	}
	return "normal"
}

// IsStanza reports whether el is a message, presence or iq in the stanza
// namespace.
func IsStanza(el *xmlel.Element) bool {
	if el.Space != "" {
		return false
	}
	switch el.Local {
	case Message, Presence, IQ:
		return true
	}
	return false
}

// Payload returns the first child element of an iq, the query it carries.
func (s *Stanza) Payload() *xmlel.Element { return s.El.FirstElement() }

// IsRequest reports whether the stanza is an iq get or set.
func (s *Stanza) IsRequest() bool {
	if s.El.Local != IQ {
		return false
	}
	t := s.Type()
	return t == "get" || t == "set"
}

// WithAddress returns a shallow copy of the stanza element carrying from
// and to, for delivery.
func WithAddress(el *xmlel.Element, from, to jid.JID) *xmlel.Element {
	c := el.ShallowCopy()
	c.SetAttr("from", from.String())
	c.SetAttr("to", to.String())
	return c
}

// Result returns an empty iq result for the request s, with the addressing
// reversed, ready to carry a payload.
func (s *Stanza) Result(payload ...*xmlel.Element) *xmlel.Element {
	r := xmlel.New("", IQ, "type", "result", "id", s.ID())
	if !s.To.IsZero() {
		r.SetAttr("from", s.To.String())
	}
	if !s.From.IsZero() {
		r.SetAttr("to", s.From.String())
	}
	return r.Append(payload...)
}

// Answer returns the answer to the request s: its result carrying
// payload or, when err is not nil, its error. An Error reaches the
// requester as it is; any other error becomes internal-server-error
// after failed is called with it, to log it, since the requester learns
// nothing of it. It is nil when s is itself an error.
func (s *Stanza) Answer(payload *xmlel.Element, err error, failed func(error)) *xmlel.Element {
	if err == nil {
		return s.Result(payload)
	}
	var se Error
	if !errors.As(err, &se) {
		failed(err)
		se = E(InternalServerError)
	}
	return ErrorReply(s.El, se)
}

// Reply returns a new stanza of the same kind addressed back to the sender,
// with the given type.
func (s *Stanza) Reply(typ string) *xmlel.Element {
	r := xmlel.New("", s.Kind(), "type", typ, "id", s.ID())
	if !s.To.IsZero() {
		r.SetAttr("from", s.To.String())
	}
	if !s.From.IsZero() {
		r.SetAttr("to", s.From.String())
	}
	return r
}
