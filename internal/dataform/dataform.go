// Package dataform reads and writes the data forms of XEP-0004: the forms
// that archive queries (XEP-0313), publish options (XEP-0060, XEP-0357),
// ad-hoc commands (XEP-0050) and registration carry. It keeps what a
// server needs: the form type, the fields with their values, and the
// FORM_TYPE of XEP-0068.
package dataform

import (
	"errors"

	"samtal.org/samtal/internal/xmlel"
)

// NS is the namespace of data forms.
const NS = "jabber:x:data"

// Form types (XEP-0004 §3.1).
const (
	TypeForm   = "form"
	TypeSubmit = "submit"
	TypeCancel = "cancel"
	TypeResult = "result"
)

// Field types (XEP-0004 §3.3) that samtal's forms use.
const (
	Boolean     = "boolean"
	Fixed       = "fixed"
	Hidden      = "hidden"
	JIDMulti    = "jid-multi"
	JIDSingle   = "jid-single"
	ListMulti   = "list-multi"
	ListSingle  = "list-single"
	TextMulti   = "text-multi"
	TextPrivate = "text-private"
	TextSingle  = "text-single"
)

// FormTypeVar is the var of the hidden field that names what a form is
// for (XEP-0068 §2).
const FormTypeVar = "FORM_TYPE"

// ErrInvalid is returned by Parse for an element that is not a data form
// or breaks XEP-0004 (a field without var in a submitted form, a var that
// appears twice).
var ErrInvalid = errors.New("dataform: invalid form")

// Field is one field of a form.
type Field struct {
	Var    string
	Type   string // "" when the sender gave none
	Label  string
	Values []string
	// Extra holds child elements a form to send carries besides the
	// values, such as XEP-0122 <validate/>. Parse leaves it empty.
	Extra []*xmlel.Element
}

// Value returns the first value, or "".
func (f Field) Value() string {
	if len(f.Values) == 0 {
		return ""
	}
	return f.Values[0]
}

// Form is a data form.
type Form struct {
	Type         string
	Title        string
	Instructions string
	Fields       []Field
}

// Parse reads an <x xmlns='jabber:x:data'/> element.
func Parse(x *xmlel.Element) (Form, error) {
	var f Form
	if x == nil || x.Space != NS || x.Local != "x" {
		return f, ErrInvalid
	}
	f.Type = x.Attr("type")
	switch f.Type {
	case TypeForm, TypeSubmit, TypeCancel, TypeResult:
	default:
		return f, ErrInvalid
	}
	f.Title = x.ChildText(NS, "title")
	f.Instructions = x.ChildText(NS, "instructions")
	seen := map[string]bool{}
	for _, c := range x.Elements() {
		if c.Space != NS || c.Local != "field" {
			continue
		}
		fd := Field{Var: c.Attr("var"), Type: c.Attr("type"), Label: c.Attr("label")}
		// §3.2: var is required except on fixed fields, and unique.
		if fd.Var == "" && fd.Type != Fixed {
			return f, ErrInvalid
		}
		if fd.Var != "" {
			if seen[fd.Var] {
				return f, ErrInvalid
			}
			seen[fd.Var] = true
		}
		for _, v := range c.Elements() {
			if v.Space == NS && v.Local == "value" {
				fd.Values = append(fd.Values, v.Text())
			}
		}
		f.Fields = append(f.Fields, fd)
	}
	return f, nil
}

// Field returns the field with the var, and whether there is one.
func (f Form) Field(name string) (Field, bool) {
	for _, fd := range f.Fields {
		if fd.Var == name {
			return fd, true
		}
	}
	return Field{}, false
}

// Value returns the first value of the field with the var, or "".
func (f Form) Value(name string) string {
	fd, _ := f.Field(name)
	return fd.Value()
}

// FormType returns the value of the FORM_TYPE field, or "".
func (f Form) FormType() string { return f.Value(FormTypeVar) }

// Element returns the form as an <x/> element.
func (f Form) Element() *xmlel.Element {
	x := xmlel.New(NS, "x", "type", f.Type)
	if f.Title != "" {
		x.Append(xmlel.TextElement(NS, "title", f.Title))
	}
	if f.Instructions != "" {
		x.Append(xmlel.TextElement(NS, "instructions", f.Instructions))
	}
	for _, fd := range f.Fields {
		el := xmlel.New(NS, "field", "var", fd.Var, "type", fd.Type, "label", fd.Label)
		for _, v := range fd.Values {
			el.Append(xmlel.TextElement(NS, "value", v))
		}
		for _, e := range fd.Extra {
			el.Append(e.Copy())
		}
		x.Append(el)
	}
	return x
}

// ParseBool reads an XEP-0004 boolean value ("0", "1", "false", "true").
func ParseBool(s string) (v, ok bool) {
	switch s {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}
