// Package stream holds what RFC 6120 §4 says about XML streams apart from
// parsing: the stream header, stream errors (§4.9) and the namespaces of
// stream negotiation (STARTTLS §5, SASL §6, resource binding §7).
package stream

import (
	"errors"

	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// Namespaces of stream negotiation.
const (
	NS        = "http://etherx.jabber.org/streams"
	NSErrors  = "urn:ietf:params:xml:ns:xmpp-streams"
	NSTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	NSSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	NSBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	NSSession = "urn:ietf:params:xml:ns:xmpp-session"
)

// Condition is a stream error condition (RFC 6120 §4.9.3).
type Condition string

// Stream error conditions.
const (
	BadFormat              Condition = "bad-format"
	BadNamespacePrefix     Condition = "bad-namespace-prefix"
	Conflict               Condition = "conflict"
	ConnectionTimeout      Condition = "connection-timeout"
	HostGone               Condition = "host-gone"
	HostUnknown            Condition = "host-unknown"
	ImproperAddressing     Condition = "improper-addressing"
	InternalServerError    Condition = "internal-server-error"
	InvalidFrom            Condition = "invalid-from"
	InvalidNamespace       Condition = "invalid-namespace"
	InvalidXML             Condition = "invalid-xml"
	NotAuthorized          Condition = "not-authorized"
	NotWellFormed          Condition = "not-well-formed"
	PolicyViolation        Condition = "policy-violation"
	RemoteConnectionFailed Condition = "remote-connection-failed"
	Reset                  Condition = "reset"
	ResourceConstraint     Condition = "resource-constraint"
	RestrictedXML          Condition = "restricted-xml"
	SeeOtherHost           Condition = "see-other-host"
	SystemShutdown         Condition = "system-shutdown"
	UndefinedCondition     Condition = "undefined-condition"
	UnsupportedEncoding    Condition = "unsupported-encoding"
	UnsupportedFeature     Condition = "unsupported-feature"
	UnsupportedStanzaType  Condition = "unsupported-stanza-type"
	UnsupportedVersion     Condition = "unsupported-version"
)

// Error is a stream error: sending it ends the stream.
type Error struct {
	Condition Condition
	Text      string
	// Extra is an application-specific condition (RFC 6120 §4.9.4),
	// such as XEP-0198's <handled-count-too-high/>, or nil.
	Extra *xmlel.Element
	// Host is the content of <see-other-host/>: the "host:port" where
	// the client is to connect instead (RFC 6120 §4.9.3.19).
	Host string
}

func (e Error) Error() string {
	if e.Text != "" {
		return "stream error: " + string(e.Condition) + ": " + e.Text
	}
	return "stream error: " + string(e.Condition)
}

// Element returns the <stream:error/> element.
func (e Error) Element() *xmlel.Element {
	cond := xmlel.New(NSErrors, string(e.Condition))
	if e.Host != "" {
		cond.AppendText(e.Host)
	}
	el := xmlel.New(NS, "error").Append(cond)
	if e.Text != "" {
		el.Append(xmlel.TextElement(NSErrors, "text", e.Text))
	}
	if e.Extra != nil {
		el.Append(e.Extra)
	}
	return el
}

// FromParseError maps an error of the XML reader to the stream error that
// RFC 6120 §4.9.3 prescribes for it. ok is false for I/O errors.
func FromParseError(err error) (Error, bool) {
	switch {
	case errors.Is(err, xmlstream.ErrRestricted):
		return Error{Condition: RestrictedXML}, true
	case errors.Is(err, xmlstream.ErrTooLarge):
		return Error{Condition: PolicyViolation, Text: "stanza too large"}, true
	case errors.Is(err, xmlstream.ErrBadPrefix):
		return Error{Condition: BadNamespacePrefix}, true
	case errors.Is(err, xmlstream.ErrBadEncoding):
		return Error{Condition: UnsupportedEncoding}, true
	case errors.Is(err, xmlstream.ErrNotWellFormed):
		return Error{Condition: NotWellFormed}, true
	}
	return Error{}, false
}

// Header describes a stream open tag to write.
type Header struct {
	From, To, ID, Lang string
	ContentNS          string // jabber:client, jabber:server, ...
	NoVersion          bool   // XEP-0114 component streams have none
	Extra              []xmlel.Attr
}

// Append writes the XML declaration and the stream open tag.
func (h Header) Append(dst []byte) []byte {
	dst = append(dst, "<?xml version='1.0'?><stream:stream xmlns='"...)
	dst = append(dst, h.ContentNS...)
	dst = append(dst, "' xmlns:stream='"+NS+"'"...)
	if !h.NoVersion {
		dst = append(dst, " version='1.0'"...)
	}
	dst = attr(dst, "from", h.From)
	dst = attr(dst, "to", h.To)
	dst = attr(dst, "id", h.ID)
	if h.Lang != "" {
		dst = attr(dst, "xml:lang", h.Lang)
	}
	for _, a := range h.Extra {
		if a.Space == "" {
			dst = attr(dst, a.Local, a.Value)
		} else {
			dst = append(dst, " xmlns:x='"...)
			dst = xmlel.EscapeAttr(dst, a.Space)
			dst = append(dst, '\'')
			dst = attr(dst, "x:"+a.Local, a.Value)
		}
	}
	return append(dst, '>')
}

// Close is the stream close tag.
const Close = "</stream:stream>"

func attr(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, '=', '\'')
	dst = xmlel.EscapeAttr(dst, value)
	return append(dst, '\'')
}

// AppendElement writes a top-level element in stream-namespace aware form:
// elements of the streams namespace are written with the stream: prefix
// that the header declared, everything else as xmlel writes it.
func AppendElement(dst []byte, el *xmlel.Element, contentNS string) []byte {
	if el.Space != NS {
		return el.AppendXML(dst, contentNS)
	}
	// <stream:features>, <stream:error>: write the children in their own
	// namespaces inside the prefixed element.
	dst = append(dst, "<stream:"...)
	dst = append(dst, el.Local...)
	for _, a := range el.Attrs {
		if a.Space == "" {
			dst = attr(dst, a.Local, a.Value)
		}
	}
	if len(el.Children) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	for _, n := range el.Children {
		switch c := n.(type) {
		case *xmlel.Element:
			dst = c.AppendXML(dst, contentNS)
		case xmlel.Text:
			dst = xmlel.EscapeText(dst, string(c))
		}
	}
	dst = append(dst, "</stream:"...)
	dst = append(dst, el.Local...)
	return append(dst, '>')
}
