package stanza

import (
	"iter"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/xmlel"
)

// Outline describes a message that may travel as the bytes its sender
// wrote, without an element tree: what the services that see messages go
// by need to tell whether they have anything to do with it.
type Outline struct {
	From jid.JID // the sender's full JID
	To   jid.JID
	Type string // as RFC 6121 §5.2.2 reads it: chat, groupchat, headline, error or normal
	ID   []byte // valid during the call that is given the outline
	Kids Names  // the message's child elements
}

// Has reports whether the message has a child element in namespace
// space, with name local unless local is "".
func (o *Outline) Has(space, local string) bool { return o.Kids.Has(space, local) }

// Names names an element's child elements; "" is the content namespace.
// A stanza read but not made into a tree has them (xmlstream.View), and
// so has a tree (NamesOf).
type Names interface {
	// Has reports whether a child element is in namespace space, with
	// name local unless local is "".
	Has(space, local string) bool
	// Children yields the namespace and name of each child element, in
	// order.
	Children() iter.Seq2[string, string]
}

// NamesOf returns the names of el's child elements.
func NamesOf(el *xmlel.Element) Names { return treeNames{el} }

type treeNames struct{ el *xmlel.Element }

func (t treeNames) Has(space, local string) bool {
	for _, c := range t.el.Children {
		if c, ok := c.(*xmlel.Element); ok && c.Space == space && (local == "" || c.Local == local) {
			return true
		}
	}
	return false
}

func (t treeNames) Children() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, c := range t.el.Children {
			if c, ok := c.(*xmlel.Element); ok && !yield(c.Space, c.Local) {
				return
			}
		}
	}
}

// WithFrom returns a copy of raw, a message's bytes that start with
// "<message" and have no from attribute, with from put in first.
func WithFrom(raw []byte, from string) []byte {
	const open = "<" + Message
	b := make([]byte, 0, len(raw)+len(from)+16)
	b = append(b, open...)
	b = append(b, " from='"...)
	b = xmlel.EscapeAttr(b, from)
	b = append(b, '\'')
	return append(b, raw[len(open):]...)
}
