package s2s

import (
	"encoding/base64"
	"strings"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// appendHeader writes the XML declaration and a server stream header that
// declares the dialback namespace with its customary prefix (XEP-0220
// §2.1.1: peers from before namespace-aware parsers expect "db").
func appendHeader(dst []byte, from, to, id string) []byte {
	dst = append(dst, "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='"+stream.NS+"' xmlns:db='"+NSDialback+"' version='1.0' xml:lang='en'"...)
	for _, a := range [][2]string{{"from", from}, {"to", to}, {"id", id}} {
		if a[1] == "" {
			continue
		}
		dst = append(dst, ' ')
		dst = append(dst, a[0]...)
		dst = append(dst, "='"...)
		dst = xmlel.EscapeAttr(dst, a[1])
		dst = append(dst, '\'')
	}
	return append(dst, '>')
}

// dbElement is a <db:result/> or <db:verify/>.
type dbElement struct {
	name     string // "result" or "verify"
	from, to string
	id       string
	typ      string
	key      string
	errCond  string // with typ "error": a stanza error condition
	errType  string // cancel, wait, ...
}

// append writes the element with the db prefix the header declared.
func (d dbElement) append(dst []byte) []byte {
	dst = append(dst, "<db:"...)
	dst = append(dst, d.name...)
	for _, a := range [][2]string{{"from", d.from}, {"to", d.to}, {"id", d.id}, {"type", d.typ}} {
		if a[1] == "" {
			continue
		}
		dst = append(dst, ' ')
		dst = append(dst, a[0]...)
		dst = append(dst, "='"...)
		dst = xmlel.EscapeAttr(dst, a[1])
		dst = append(dst, '\'')
	}
	switch {
	case d.errCond != "":
		// XEP-0220 §2.4: the error child is in the stream's content
		// namespace, its condition in the stanza error namespace.
		typ := d.errType
		if typ == "" {
			typ = "cancel"
		}
		dst = append(dst, "><error type='"+typ+"'><"+d.errCond+" xmlns='"+nsStanzas+"'/></error></db:"...)
	case d.key != "":
		dst = append(dst, '>')
		dst = xmlel.EscapeText(dst, d.key)
		dst = append(dst, "</db:"...)
	default:
		return append(dst, "/>"...)
	}
	dst = append(dst, d.name...)
	return append(dst, '>')
}

// parseDB reads a dialback element.
func parseDB(el *xmlel.Element) dbElement {
	d := dbElement{
		name: el.Local, from: el.Attr("from"), to: el.Attr("to"), id: el.Attr("id"),
		typ: el.Attr("type"), key: strings.TrimSpace(el.Text()),
	}
	if e := el.Child("", "error"); e != nil {
		if c := e.FirstElement(); c != nil {
			d.errCond = c.Local
		}
	}
	return d
}

// features is what a peer's <stream:features/> offers.
type features struct {
	startTLS    bool
	tlsRequired bool
	external    bool // SASL EXTERNAL among the mechanisms
	dialback    bool
	bidi        bool
}

func parseFeatures(el *xmlel.Element) features {
	var f features
	for _, c := range el.Elements() {
		switch {
		case c.Is(stream.NSTLS, "starttls"):
			f.startTLS = true
			f.tlsRequired = c.Child(stream.NSTLS, "required") != nil
		case c.Is(stream.NSSASL, "mechanisms"):
			for _, m := range c.Elements() {
				if m.Is(stream.NSSASL, "mechanism") && strings.TrimSpace(m.Text()) == mechanismEXTERNAL {
					f.external = true
				}
			}
		case c.Is(NSDialbackFeature, "dialback"):
			f.dialback = true
		case c.Is(NSBidiFeature, "bidi"):
			f.bidi = true
		}
	}
	return f
}

// domainOf prepares a domain named in a stream header or a dialback
// element; "" if it is not a bare domain.
func domainOf(s string) string {
	if s == "" {
		return ""
	}
	j, err := jid.Parse(s)
	if err != nil || !j.IsDomain() {
		return ""
	}
	return j.Domain()
}

// checkAddress prepares the addresses of a stanza that arrived from a
// peer, as RFC 6120 §8.1.1.2 and §8.1.2.2 require on server streams:
// both present, 'to' served here, 'from' at a domain that authenticated
// for the pair (see allowed).
func checkAddress(el *xmlel.Element, isLocal func(string) bool, allowed func(local, remote string) bool, anyFrom func(remote string) bool) (*stanza.Stanza, error) {
	fromAttr, toAttr := el.Attr("from"), el.Attr("to")
	if fromAttr == "" || toAttr == "" {
		return nil, stream.Error{Condition: stream.ImproperAddressing}
	}
	from, err := jid.Parse(fromAttr)
	if err != nil {
		return nil, stream.Error{Condition: stream.InvalidFrom}
	}
	to, err := jid.Parse(toAttr)
	if err != nil {
		return nil, stream.Error{Condition: stream.ImproperAddressing}
	}
	if !isLocal(to.Domain()) {
		return nil, stream.Error{Condition: stream.HostUnknown}
	}
	if !allowed(to.Domain(), from.Domain()) {
		if anyFrom(from.Domain()) {
			// The sender authenticated, but not towards this target.
			return nil, stream.Error{Condition: stream.ImproperAddressing}
		}
		return nil, stream.Error{Condition: stream.InvalidFrom}
	}
	if from.String() != fromAttr {
		el.SetAttr("from", from.String())
	}
	if to.String() != toAttr {
		el.SetAttr("to", to.String())
	}
	return &stanza.Stanza{El: el, From: from, To: to}, nil
}

// saslAuth is the initiating side's <auth/> for EXTERNAL: the
// authorization identity is the sending domain (XEP-0178 §3 step 7).
func saslAuth(local string) []byte {
	el := xmlel.New(stream.NSSASL, "auth", "mechanism", mechanismEXTERNAL)
	el.AppendText(base64.StdEncoding.EncodeToString([]byte(local)))
	return el.AppendXML(nil, xmlel.NSServer)
}

// streamError returns the bytes that end a stream with an error.
func streamError(e stream.Error) []byte {
	b := stream.AppendElement(nil, e.Element(), xmlel.NSServer)
	return append(b, stream.Close...)
}
