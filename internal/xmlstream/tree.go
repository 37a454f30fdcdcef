package xmlstream

import (
	"sync"

	"samtal.org/samtal/internal/xmlel"
)

// str is a string the scanner produced. It holds no pointer, so that the
// records below cost the garbage collector nothing while a stanza is read.
// Strings are made only when the element is complete, all at once (see
// build).
type str struct {
	off int32 // offset in s.sb; or the index in internTable or r.hns
	n   int32 // length in s.sb; or strInterned or strHeader
}

const (
	strInterned = -1 // internTable[off]
	strHeader   = -2 // r.hns[off].uri: a namespace the header declared
)

// binding is one namespace declaration; an empty prefix is the default.
type binding struct {
	prefix, uri str
}

// hbinding is a namespace declaration of the stream header, which outlives
// the scratch space.
type hbinding struct {
	prefix, uri string
}

// elemRec, attrRec and nodeRec are an element, attribute and child node
// before build makes them into xmlel values.
type elemRec struct {
	space, local str
	a0, a1       int32 // attributes: s.attrs[a0:a1]
	k0, k1       int32 // children: s.kids[k0:k1]
}

type attrRec struct {
	space, local, value str
}

type nodeRec struct {
	elem int32 // index in s.elems, or -1 for text
	text str
}

// openRec is an element whose end tag has not come yet.
type openRec struct {
	elem          int32
	prefix, local str   // the tag's name, which the end tag must repeat
	pend0         int32 // its children so far are s.pend[pend0:]
	ns0           int32 // its declarations are s.ns[ns0:]
}

// rawAttr is an attribute of the start tag being read: its name as offsets
// in the tag, its value decoded.
type rawAttr struct {
	name  qname
	value str
}

// scratch is the work space for reading one element. It is pooled: a
// stream holds it only while an element is arriving, so that thousands of
// idle streams do not each keep what their largest stanza needed.
type scratch struct {
	sb    []byte // decoded strings of the element
	elems []elemRec
	attrs []attrRec
	kids  []nodeRec // children of closed elements, each element's together
	pend  []nodeRec // children of open elements
	open  []openRec
	raw   []rawAttr
	ns    []binding // declarations of the open elements
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// reset empties s, dropping slices that a large element grew.
func (s *scratch) reset() {
	s.sb = trim(s.sb, 4096)
	s.elems = trim(s.elems, 64)
	s.attrs = trim(s.attrs, 64)
	s.kids = trim(s.kids, 64)
	s.pend = trim(s.pend, 64)
	s.open = trim(s.open, 32)
	s.raw = trim(s.raw, 64)
	s.ns = trim(s.ns, 16)
}

func trim[T any](x []T, keep int) []T {
	if cap(x) > keep {
		return nil
	}
	return x[:0]
}

// shareMax is the most string bytes of one element that share one
// allocation. Sharing makes a small stanza cost one allocation for all its
// strings instead of one each; the bound keeps a retained string (a JID
// kept in a roster, say) from holding a large stanza in memory.
const shareMax = 512

// build makes the element that the scratch space describes, elems[0] being
// the root, with one allocation each for the elements, attributes, child
// lists and strings (plus one per text node, which is an interface value).
func (r *Reader) build() *xmlel.Element {
	s := r.s
	var all string
	if len(s.sb) <= shareMax {
		all = string(s.sb)
	}
	es := make([]xmlel.Element, len(s.elems))
	// The root's attributes come first, with one free slot after them:
	// a server stamps 'from' (RFC 6120 §8.1.2.1) on nearly every stanza
	// it reads, and the slot saves copying the attributes to add it.
	// The other elements' attributes follow, shifted by one.
	rootA := int(s.elems[0].a1)
	var as []xmlel.Attr
	if len(s.attrs) > 0 {
		as = make([]xmlel.Attr, len(s.attrs)+1)
	}
	// A namespace is declared once and used by any number of elements
	// and attributes, each naming the same bytes of s.sb: made into a
	// string once, or a long namespace over many small elements would
	// cost its length for each of them, and a stanza within the limits
	// gigabytes.
	var spaces map[str]string
	space := func(x str) string {
		if all != "" || x.n <= 0 {
			return r.str(x, all)
		}
		if v, ok := spaces[x]; ok {
			return v
		}
		if spaces == nil {
			spaces = make(map[str]string)
		}
		v := r.str(x, all)
		spaces[x] = v
		return v
	}
	for i, a := range s.attrs {
		j := i
		if i >= rootA {
			j++
		}
		as[j] = xmlel.Attr{Space: space(a.space), Local: r.str(a.local, all), Value: r.str(a.value, all)}
	}
	var ns []xmlel.Node
	if len(s.kids) > 0 {
		ns = make([]xmlel.Node, len(s.kids))
		for i, k := range s.kids {
			if k.elem >= 0 {
				ns[i] = &es[k.elem]
			} else {
				ns[i] = xmlel.Text(r.str(k.text, all))
			}
		}
	}
	for i, e := range s.elems {
		el := &es[i]
		el.Space = space(e.space)
		el.Local = r.str(e.local, all)
		// Full slice expressions: appending to one element's attributes
		// or children must not write over its neighbour's.
		switch {
		case i == 0:
			if rootA > 0 {
				el.Attrs = as[0 : rootA : rootA+1]
			}
		case e.a1 > e.a0:
			el.Attrs = as[e.a0+1 : e.a1+1 : e.a1+1]
		}
		if e.k1 > e.k0 {
			el.Children = ns[e.k0:e.k1:e.k1]
		}
	}
	return &es[0]
}

// str returns x as a string; all is s.sb as one string, or "" if the
// strings of this element do not share one allocation.
func (r *Reader) str(x str, all string) string {
	switch {
	case x.n == 0:
		return ""
	case x.n > 0 && all != "":
		return all[x.off : x.off+x.n]
	case x.n > 0:
		return string(r.s.sb[x.off : x.off+x.n])
	}
	return r.constant(x)
}

// constant returns x, which is not in s.sb, without allocating.
func (r *Reader) constant(x str) string {
	if x.n == strInterned {
		return internTable[x.off]
	}
	return r.hns[x.off].uri
}
