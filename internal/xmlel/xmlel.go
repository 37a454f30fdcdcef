// Package xmlel is the small element tree that every part of samtal passes
// stanzas around in.
//
// A stanza's own namespace (jabber:client on client streams, jabber:server
// on server streams, jabber:component:accept on component streams) is stored
// as the empty Space: the same element can then be written to any kind of
// stream, and the writer puts the right content namespace back where XML
// needs it (RFC 6120 §4.8.3). Prefixes are not kept: an element is written
// with default namespace declarations, which is the same XML.
package xmlel

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Namespaces that the tree itself knows about.
const (
	NSXML       = "http://www.w3.org/XML/1998/namespace"
	NSClient    = "jabber:client"
	NSServer    = "jabber:server"
	NSComponent = "jabber:component:accept"
)

// IsContentNS reports whether ns is one of the stanza namespaces that the
// tree stores as the empty Space.
func IsContentNS(ns string) bool {
	return ns == NSClient || ns == NSServer || ns == NSComponent
}

// Attr is one attribute. Space is empty for an unprefixed attribute and
// NSXML for xml:lang and its kin.
type Attr struct {
	Space string
	Local string
	Value string
}

// Node is a child of an element: an *Element or a Text.
type Node interface{ isNode() }

// Text is character data, unescaped.
type Text string

func (Text) isNode() {}

// Element is one XML element with its attributes and children.
type Element struct {
	Space    string // namespace URI; "" is the stream's content namespace
	Local    string
	Attrs    []Attr
	Children []Node
}

func (*Element) isNode() {}

// New returns an element with the given namespace, name and unprefixed
// attributes given as name, value pairs.
func New(space, local string, attrs ...string) *Element {
	e := &Element{Space: space, Local: local}
	if len(attrs) > 0 {
		e.Attrs = make([]Attr, 0, len(attrs)/2)
		for i := 0; i+1 < len(attrs); i += 2 {
			if attrs[i+1] != "" {
				e.Attrs = append(e.Attrs, Attr{Local: attrs[i], Value: attrs[i+1]})
			}
		}
	}
	return e
}

// Is reports whether e has the given namespace and local name.
func (e *Element) Is(space, local string) bool {
	return e != nil && e.Local == local && e.Space == space
}

// Attr returns the value of the unprefixed attribute name, or "".
func (e *Element) Attr(name string) string {
	for i := range e.Attrs {
		if e.Attrs[i].Local == name && e.Attrs[i].Space == "" {
			return e.Attrs[i].Value
		}
	}
	return ""
}

// HasAttr reports whether the unprefixed attribute name is present.
func (e *Element) HasAttr(name string) bool {
	for i := range e.Attrs {
		if e.Attrs[i].Local == name && e.Attrs[i].Space == "" {
			return true
		}
	}
	return false
}

// Lang returns xml:lang.
func (e *Element) Lang() string {
	for i := range e.Attrs {
		if e.Attrs[i].Local == "lang" && e.Attrs[i].Space == NSXML {
			return e.Attrs[i].Value
		}
	}
	return ""
}

// SetAttr sets the unprefixed attribute name; an empty value removes it.
func (e *Element) SetAttr(name, value string) {
	for i := range e.Attrs {
		if e.Attrs[i].Local == name && e.Attrs[i].Space == "" {
			if value == "" {
				e.Attrs = append(e.Attrs[:i], e.Attrs[i+1:]...)
				return
			}
			e.Attrs[i].Value = value
			return
		}
	}
	if value != "" {
		e.Attrs = append(e.Attrs, Attr{Local: name, Value: value})
	}
}

// Child returns the first child element with the namespace and name, or nil.
// An empty local matches any name in the namespace.
func (e *Element) Child(space, local string) *Element {
	if e == nil {
		return nil
	}
	for _, n := range e.Children {
		if c, ok := n.(*Element); ok && c.Space == space && (local == "" || c.Local == local) {
			return c
		}
	}
	return nil
}

// Elements returns the child elements, in order.
func (e *Element) Elements() []*Element {
	var out []*Element
	for _, n := range e.Children {
		if c, ok := n.(*Element); ok {
			out = append(out, c)
		}
	}
	return out
}

// FirstElement returns the first child element, or nil.
func (e *Element) FirstElement() *Element {
	if e == nil {
		return nil
	}
	for _, n := range e.Children {
		if c, ok := n.(*Element); ok {
			return c
		}
	}
	return nil
}

// ChildText returns the text of the first matching child, or "".
func (e *Element) ChildText(space, local string) string {
	if c := e.Child(space, local); c != nil {
		return c.Text()
	}
	return ""
}

// Text returns the element's own character data, concatenated.
func (e *Element) Text() string {
	if e == nil {
		return ""
	}
	if len(e.Children) == 1 {
		if t, ok := e.Children[0].(Text); ok {
			return string(t)
		}
	}
	var b strings.Builder
	for _, n := range e.Children {
		if t, ok := n.(Text); ok {
			b.WriteString(string(t))
		}
	}
	return b.String()
}

// Append adds children and returns e, so that trees can be built inline.
func (e *Element) Append(children ...*Element) *Element {
	for _, c := range children {
		if c != nil {
			e.Children = append(e.Children, c)
		}
	}
	return e
}

// AppendText adds character data and returns e.
func (e *Element) AppendText(s string) *Element {
	if s != "" {
		e.Children = append(e.Children, Text(s))
	}
	return e
}

// TextElement returns <local xmlns=space>text</local>.
func TextElement(space, local, text string) *Element {
	return New(space, local).AppendText(text)
}

// RemoveChildren drops every child element that matches keep == false.
func (e *Element) RemoveChildren(drop func(*Element) bool) {
	out := e.Children[:0]
	for _, n := range e.Children {
		if c, ok := n.(*Element); ok && drop(c) {
			continue
		}
		out = append(out, n)
	}
	for i := len(out); i < len(e.Children); i++ {
		e.Children[i] = nil
	}
	e.Children = out
}

// Copy returns a deep copy of e.
func (e *Element) Copy() *Element {
	if e == nil {
		return nil
	}
	c := &Element{Space: e.Space, Local: e.Local}
	if len(e.Attrs) > 0 {
		c.Attrs = append([]Attr(nil), e.Attrs...)
	}
	if len(e.Children) > 0 {
		c.Children = make([]Node, len(e.Children))
		for i, n := range e.Children {
			if ce, ok := n.(*Element); ok {
				c.Children[i] = ce.Copy()
			} else {
				c.Children[i] = n
			}
		}
	}
	return c
}

// ShallowCopy returns a copy of e with its own attribute slice and children
// slice; the children themselves are shared. It is the cheap way to change a
// stanza's addressing before passing it on.
func (e *Element) ShallowCopy() *Element {
	c := &Element{Space: e.Space, Local: e.Local}
	c.Attrs = append(make([]Attr, 0, len(e.Attrs)+1), e.Attrs...)
	c.Children = append([]Node(nil), e.Children...)
	return c
}

// AppendXML writes e to dst as XML. content is the namespace that the
// empty Space stands for on the stream being written (for example
// jabber:client); the top-level element does not repeat it.
//
// A stanza embedded in an extension element, such as a forwarded one
// (XEP-0297) in an archive result or a carbon, is not the stream's: it
// is written in jabber:client whatever the stream. XEP-0297 §3: "The
// namespace of the forwarded stanza MUST be preserved (this is
// typically 'jabber:client')" — and the tree keeps no other for it. On
// a server stream, jabber:server there would reach the recipient's
// client unchanged through its server, which relays the payload as it
// is, and the client would find no message in it.
func (e *Element) AppendXML(dst []byte, content string) []byte {
	return e.appendXML(dst, "", content, true)
}

func (e *Element) appendXML(dst []byte, parent, content string, top bool) []byte {
	dst = append(dst, '<')
	dst = append(dst, e.Local...)
	if e.Space != parent {
		switch {
		case e.Space != "":
			dst = appendAttr(dst, "xmlns", e.Space)
		case !top:
			dst = appendAttr(dst, "xmlns", NSClient)
		}
	}
	for i, a := range e.Attrs {
		switch a.Space {
		case "":
			dst = appendAttr(dst, a.Local, a.Value)
		case NSXML:
			dst = append(dst, " xml:"...)
			dst = appendValue(dst, a.Local, a.Value)
		default:
			// One prefix per namespace, named after the first attribute
			// in it: a prefix declared twice on one element, or two
			// declarations per namespace, would not be well-formed or
			// would needlessly count against the reader's MaxAttrs.
			first := i
			for j := range i {
				if e.Attrs[j].Space == a.Space {
					first = j
					break
				}
			}
			if first == i {
				dst = append(dst, " xmlns:ns"...)
				dst = strconv.AppendInt(dst, int64(i), 10)
				dst = append(dst, '=', '\'')
				dst = EscapeAttr(dst, a.Space)
				dst = append(dst, '\'')
			}
			dst = append(dst, " ns"...)
			dst = strconv.AppendInt(dst, int64(first), 10)
			dst = append(dst, ':')
			dst = appendValue(dst, a.Local, a.Value)
		}
	}
	if len(e.Children) == 0 {
		return append(dst, '/', '>')
	}
	dst = append(dst, '>')
	for _, n := range e.Children {
		switch c := n.(type) {
		case *Element:
			dst = c.appendXML(dst, e.Space, content, false)
		case Text:
			dst = EscapeText(dst, string(c))
		}
	}
	dst = append(dst, '<', '/')
	dst = append(dst, e.Local...)
	return append(dst, '>')
}

func appendAttr(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	return appendValue(dst, name, value)
}

// appendValue appends name='value'.
func appendValue(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, '=', '\'')
	dst = EscapeAttr(dst, value)
	return append(dst, '\'')
}

// String returns e as XML on a client stream; for logs and tests.
func (e *Element) String() string {
	return string(e.AppendXML(nil, NSClient))
}

// EscapeText appends s escaped for character data. Characters that XML 1.0
// does not allow are replaced by U+FFFD so that the output stays
// well-formed whatever the input.
func EscapeText(dst []byte, s string) []byte {
	return escape(dst, s, false)
}

// EscapeAttr appends s escaped for a single-quoted attribute value.
func EscapeAttr(dst []byte, s string) []byte {
	return escape(dst, s, true)
}

// Constants for testing eight bytes at once (SWAR): ones has a 1 in each
// byte, highs the high bit of each byte.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// load64 returns the first eight bytes of s, little-endian.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// hasByte reports whether one of the eight bytes of x is c.
func hasByte(x uint64, c byte) bool {
	v := x ^ (ones * uint64(c))
	return (v-ones)&^v&highs != 0
}

// plainWord reports whether the eight bytes of x are all printable ASCII
// (0x20 to 0x7F) that escape copies as they are. Tab and LF, which are
// plain in text, are left to the byte loop.
func plainWord(x uint64, attr bool) bool {
	if x&highs != 0 || (x-ones*0x20)&^x&highs != 0 {
		return false // a byte from 0x80 up, or a control character
	}
	if hasByte(x, '<') || hasByte(x, '>') || hasByte(x, '&') {
		return false
	}
	return !attr || !hasByte(x, '\'') && !hasByte(x, '"')
}

// plainText and plainAttr mark the bytes that escape copies as they are:
// most of any text, so that the common case costs one lookup per byte.
var plainText, plainAttr = plainTables()

func plainTables() (text, attr [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		text[c] = c != '<' && c != '>' && c != '&'
		attr[c] = text[c] && c != '\'' && c != '"'
	}
	text['\n'], text['\t'] = true, true
	return text, attr
}

func escape(dst []byte, s string, attr bool) []byte {
	plain := &plainText
	if attr {
		plain = &plainAttr
	}
	last := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while they are all printable ASCII
		// that needs no escaping: most of any stanza.
		for i+8 <= len(s) && plainWord(load64(s[i:]), attr) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		var rep string
		width := 1
		switch {
		case c == '<':
			rep = "&lt;"
		case c == '>':
			rep = "&gt;"
		case c == '&':
			rep = "&amp;"
		case attr && c == '\'':
			rep = "&apos;"
		case attr && c == '"':
			rep = "&quot;"
		case attr && c == '\n':
			rep = "&#xA;"
		case attr && c == '\r':
			rep = "&#xD;"
		case attr && c == '\t':
			rep = "&#x9;"
		case c == '\r':
			rep = "&#xD;"
		case c < 0x20 && c != '\n' && c != '\t':
			rep = "\uFFFD"
		case c >= utf8.RuneSelf:
			r, w := utf8.DecodeRuneInString(s[i:])
			width = w
			if (r == utf8.RuneError && w == 1) || r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r <= 0xDFFF) {
				rep = "\uFFFD"
			}
		}
		if rep == "" {
			i += width
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, rep...)
		i += width
		last = i
	}
	return append(dst, s[last:]...)
}
