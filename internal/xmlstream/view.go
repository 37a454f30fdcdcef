package xmlstream

import (
	"io"
	"iter"

	"samtal.org/samtal/internal/xmlel"
)

// View is a stanza that has been read and checked but not yet made into
// an element tree: enough to decide where it goes (its name, attributes
// and children's names) and, where they can be, its bytes as they came,
// for a stanza that is forwarded as it is. Element makes the tree when
// something needs it. A view is valid until the reader's next Next,
// NextView, Release or Reset.
type View struct {
	r   *Reader
	el  *xmlel.Element
	raw []byte
}

// NextView reads the next element like Next, but stops before making its
// tree. The bytes of a stanza that the reader still holds whole, and that
// mean the same on another stream of the same content namespace, are kept
// for Raw.
func (r *Reader) NextView() (*View, error) {
	r.finishView()
	if r.err != nil {
		return nil, r.err
	}
	if !r.headerDone {
		return nil, errNoHeader
	}
	r.viewMode = true
	ev, err := r.run()
	r.viewMode = false
	if err != nil {
		return nil, err
	}
	if ev == evClose {
		r.err = io.EOF
		return nil, io.EOF
	}
	r.view = View{r: r}
	if r.start >= r.base && !r.foreign {
		r.view.raw = r.buf[r.start-r.base : r.pos]
	}
	return &r.view, nil
}

// finishView lets go of the last view: its scratch space, and the
// buffer's shrinking that waited because Raw pointed into it.
func (r *Reader) finishView() {
	if !r.viewHeld {
		return
	}
	r.viewHeld = false
	r.view = View{}
	r.release()
	r.shrink()
}

// Raw returns the stanza's bytes as read, or nil if they are not whole
// in the reader's buffer, depend on the stream header's namespace
// declarations, or declare a stanza namespace other than the stream's
// (which the tree keeps as the content namespace). They are the reader's
// own: copy what must outlive the view. Without a namespace declaration
// of their own, the stanza's elements are in the stream's content
// namespace, as the receiving stream must be for the bytes to mean the
// same there.
func (v *View) Raw() []byte { return v.raw }

// Element returns the stanza's tree, made on the first call. It is the
// caller's to keep, as Next's are.
func (v *View) Element() *xmlel.Element {
	if v.el == nil && v.r != nil && v.r.s != nil {
		v.el = v.r.build()
		v.r.release()
	}
	return v.el
}

// Local returns the name of the stanza's element.
func (v *View) Local() string {
	if v.el != nil {
		return v.el.Local
	}
	return v.r.str(v.r.s.elems[0].local, "")
}

// Space returns the namespace of the stanza's element; "" is the
// stream's content namespace, as in xmlel.
func (v *View) Space() string {
	if v.el != nil {
		return v.el.Space
	}
	return v.r.str(v.r.s.elems[0].space, "")
}

// Attr returns the value of the stanza's attribute local (in no
// namespace), and whether it has one. The bytes are valid as long as the
// view is.
func (v *View) Attr(local string) ([]byte, bool) {
	if v.el != nil {
		for _, a := range v.el.Attrs {
			if a.Space == "" && a.Local == local {
				return []byte(a.Value), true
			}
		}
		return nil, false
	}
	s := v.r.s
	e := &s.elems[0]
	for _, a := range s.attrs[e.a0:e.a1] {
		if a.space.n == 0 && v.r.eqString(a.local, local) {
			return v.r.bytes(a.value), true
		}
	}
	return nil, false
}

// Children yields the namespace and name of each child element of the
// stanza, in order.
func (v *View) Children() iter.Seq2[string, string] {
	return func(yield func(space, local string) bool) {
		if v.el != nil {
			for _, c := range v.el.Children {
				if c, ok := c.(*xmlel.Element); ok && !yield(c.Space, c.Local) {
					return
				}
			}
			return
		}
		for c := range v.kids() {
			if !yield(v.r.str(c.space, ""), v.r.str(c.local, "")) {
				return
			}
		}
	}
}

// Has reports whether the stanza has a child element in namespace space
// ("" the content namespace), with name local unless local is "". It
// compares without making strings.
func (v *View) Has(space, local string) bool {
	if v.el != nil {
		for _, c := range v.el.Elements() {
			if c.Space == space && (local == "" || c.Local == local) {
				return true
			}
		}
		return false
	}
	for c := range v.kids() {
		if v.r.eqString(c.space, space) && (local == "" || v.r.eqString(c.local, local)) {
			return true
		}
	}
	return false
}

// kids yields the scratch records of the stanza's child elements, before
// its tree is made.
func (v *View) kids() iter.Seq[*elemRec] {
	return func(yield func(*elemRec) bool) {
		s := v.r.s
		e := &s.elems[0]
		for _, k := range s.kids[e.k0:e.k1] {
			if k.elem >= 0 && !yield(&s.elems[k.elem]) {
				return
			}
		}
	}
}

// bytes returns x's bytes without copying a string that s.sb holds.
func (r *Reader) bytes(x str) []byte {
	if x.n >= 0 {
		return r.s.sb[x.off : x.off+x.n]
	}
	return []byte(r.constant(x))
}
