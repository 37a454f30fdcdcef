package xmlstream

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"samtal.org/samtal/internal/xmlel"
)

// The scanner works on r.buf[r.pos:r.end]. Each state consumes what it can;
// when the bytes end inside a token it returns errShort with its progress
// saved (in r.tag for markup), run calls fill, and the state carries on
// where it stopped. Markup stays in the buffer from its '<' until it is
// complete; character data is decoded out of the buffer as it arrives. A
// state never scans again what it has passed when more input comes, so a
// peer that sends one byte at a time costs no more work per byte than one
// that sends a stanza at once, and errors come at the same byte however
// the input is split.

// nsXMLNS is the namespace that the xmlns prefix stands for; no
// declaration may name it (Namespaces in XML §3).
const nsXMLNS = "http://www.w3.org/2000/xmlns/"

// maxRef bounds the length of one entity or character reference.
// NOTSPEC(XML 1.0 §4.1): XML allows any number of leading zeros in a
// character reference; bounding the length keeps a reference that arrives
// one byte at a time from being scanned again on every byte.
const maxRef = 32

const cdataOpen = "<![CDATA["

// nsXMLIndex is the index of xmlel.NSXML in internTable.
var nsXMLIndex = intern([]byte(xmlel.NSXML))

// qname is a name in the token being read, as offsets from its '<': start,
// colon (-1 if none) and end.
type qname struct {
	s, c, e int
}

// split returns the prefix (nil if none) and local part of q in b.
func (q qname) split(b []byte) (prefix, local []byte) {
	if q.c < 0 {
		return nil, b[q.s:q.e]
	}
	return b[q.s:q.c], b[q.c+1 : q.e]
}

// tagState is the progress through a start or end tag, as offsets from its '<'.
type tagState struct {
	phase uint8
	i     int   // next byte to look at
	colon int   // colon of the name being scanned, or -1
	el    qname // the element's name
	an    qname // the current attribute's name
	quote byte
	space bool // white space since the previous attribute
	v0    int  // where the attribute value began in s.sb
}

// Phases of a start tag.
const (
	tName uint8 = iota
	tSpace
	tAttrName
	tEq
	tQuote
	tValue
	tSlash
)

// step runs the scanner over the buffered bytes until it produces an event
// or needs more input (errShort).
func (r *Reader) step() (event, error) {
	for {
		var err error
		switch r.st {
		case sProlog:
			err = r.prolog()
		case sDecl:
			err = r.xmlDecl()
		case sTop:
			err = r.top()
		case sMarkup:
			err = r.markup()
		case sStart:
			var ev event
			if ev, err = r.startTag(); ev != evNone {
				return ev, nil
			}
		case sEnd:
			var ev event
			if ev, err = r.endTag(); ev != evNone {
				return ev, nil
			}
		case sText:
			err = r.text()
		case sCDATA:
			err = r.cdata()
		case sClosed:
			return evClose, nil
		}
		if err != nil {
			return evNone, err
		}
	}
}

// prolog skips white space (and a UTF-8 byte order mark) before the stream
// header, or before Parse's element, and finds the declaration or the tag.
func (r *Reader) prolog() error {
	i := r.pos
	if r.base+int64(i) == 0 && i < r.end && r.buf[i] == 0xEF {
		// XML 1.0 §4.3.3 allows a byte order mark.
		if r.end-i < 3 {
			return errShort
		}
		if r.buf[i+1] == 0xBB && r.buf[i+2] == 0xBF {
			i += 3
		}
	}
	for i < r.end && isSpace(r.buf[i]) {
		i++
	}
	r.pos = i
	if i == r.end {
		r.discard()
		return errShort
	}
	r.seen = true
	if c := r.buf[i]; c != '<' {
		if c == 0 || c >= 0xFE {
			// The start of UTF-16 or UTF-32 (XML 1.0 appendix F).
			return r.errAt(ErrBadEncoding, i, "stream is not UTF-8")
		}
		return r.errAt(ErrNotWellFormed, i, "expected '<'")
	}
	r.begin(i)
	if r.end-i < 2 {
		return errShort
	}
	if r.buf[i+1] != '?' {
		r.decl = true
		r.st = sMarkup
		return nil
	}
	if !r.decl {
		if r.end-i < 6 {
			return errShort
		}
		if string(r.buf[i+2:i+5]) == "xml" && isSpace(r.buf[i+5]) {
			r.tag = tagState{i: 6}
			r.st = sDecl
			return nil
		}
	}
	return r.errAt(ErrRestricted, i, "processing instruction")
}

// xmlDecl reads the XML declaration (XML 1.0 §2.8).
func (r *Reader) xmlDecl() error {
	from := r.pos + r.tag.i
	j := bytes.Index(r.buf[from:r.end], []byte("?>"))
	if j < 0 {
		// Look again from the last byte, which may be the '?'.
		r.tag.i = max(r.tag.i, r.end-1-r.pos)
		return errShort
	}
	e := from + j + 2
	if msg, kind := checkDecl(string(r.buf[r.pos+6 : e-2])); kind != nil {
		return r.errAt(kind, r.pos, msg)
	}
	r.pos = e
	r.decl = true
	r.unlimit()
	r.st = sProlog
	return nil
}

// checkDecl checks the pseudo-attributes of an XML declaration: version,
// then optionally encoding and standalone, in that order.
func checkDecl(s string) (msg string, kind error) {
	names := [...]string{"version", "encoding", "standalone"}
	next := 0
	for first := true; ; first = false {
		t := strings.TrimLeft(s, " \t\r\n")
		if t == "" {
			break
		}
		if !first && len(t) == len(s) {
			return "bad XML declaration", ErrNotWellFormed
		}
		name, rest, ok := strings.Cut(t, "=")
		if !ok {
			return "bad XML declaration", ErrNotWellFormed
		}
		name = strings.TrimRight(name, " \t\r\n")
		rest = strings.TrimLeft(rest, " \t\r\n")
		if rest == "" || rest[0] != '\'' && rest[0] != '"' {
			return "bad XML declaration", ErrNotWellFormed
		}
		value, rest, ok := strings.Cut(rest[1:], rest[:1])
		if !ok {
			return "bad XML declaration", ErrNotWellFormed
		}
		k := next
		for k < len(names) && names[k] != name {
			k++
		}
		if k == len(names) || next == 0 && k != 0 {
			return "bad XML declaration", ErrNotWellFormed
		}
		next = k + 1
		switch name {
		case "version":
			// RFC 6120 §11.8: XML 1.0.
			if value != "1.0" {
				return "XML version is not 1.0", ErrNotWellFormed
			}
		case "encoding":
			// RFC 6120 §11.6: UTF-8 only.
			if !strings.EqualFold(value, "UTF-8") {
				return "declared encoding is not UTF-8", ErrBadEncoding
			}
		case "standalone":
			if value != "yes" && value != "no" {
				return "bad XML declaration", ErrNotWellFormed
			}
		}
		s = rest
	}
	if next == 0 {
		return "XML declaration without version", ErrNotWellFormed
	}
	return "", nil
}

// top skips white space between stanzas (keepalives) and finds the next
// element's '<'. The white space is dropped as it is read, so no amount of
// it is buffered.
func (r *Reader) top() error {
	i := r.pos
	for i < r.end && isSpace(r.buf[i]) {
		i++
	}
	r.pos = i
	if i == r.end {
		r.discard()
		return errShort
	}
	if r.buf[i] != '<' {
		return r.errAt(ErrNotWellFormed, i, "character data between stanzas")
	}
	r.begin(i)
	r.st = sMarkup
	return nil
}

// markup decides what the '<' at pos starts.
func (r *Reader) markup() error {
	b := r.buf[r.pos:r.end]
	if len(b) < 2 {
		return errShort
	}
	depth := len(r.s.open)
	switch b[1] {
	case '/':
		if depth == 0 && (r.standalone || !r.headerDone) {
			return r.errAt(ErrNotWellFormed, r.pos, "end tag without start tag")
		}
		r.flushText()
		r.tag = tagState{i: 2, colon: -1}
		r.st = sEnd
	case '?':
		return r.errAt(ErrRestricted, r.pos, "processing instruction")
	case '!':
		if len(b) < 3 {
			return errShort
		}
		if b[2] == '[' && depth > 0 {
			n := min(len(b), len(cdataOpen))
			if string(b[:n]) != cdataOpen[:n] {
				return r.errAt(ErrNotWellFormed, r.pos, "bad markup")
			}
			if n < len(cdataOpen) {
				return errShort
			}
			r.pos += n
			r.st = sCDATA
			return nil
		}
		if b[2] == '-' || b[2] >= 'A' && b[2] <= 'Z' {
			// <!-- and <!DOCTYPE, <!ENTITY ...: RFC 6120 §11.1.
			return r.errAt(ErrRestricted, r.pos, "comment or DTD")
		}
		return r.errAt(ErrNotWellFormed, r.pos, "bad markup")
	default:
		r.flushText()
		r.tag = tagState{i: 1, colon: -1}
		r.s.raw = r.s.raw[:0]
		r.st = sStart
	}
	return nil
}

// scanName continues the name that starts at offset s of the token, from
// offset i, and returns the offset after it. A name is an NCName with at
// most one colon inside it (a QName, Namespaces in XML §4).
func (r *Reader) scanName(i, s int, colon *int) (int, error) {
	b := r.buf[r.pos:r.end]
	for i < len(b) {
		c := b[i]
		first := i == s || *colon >= 0 && i == *colon+1
		if nameByte[c] {
			if first && !nameStart[c] {
				return i, r.errAt(ErrNotWellFormed, r.pos+i, "bad name")
			}
			i++
			for i < len(b) && nameByte[b[i]] {
				i++
			}
			continue
		}
		if c < utf8.RuneSelf {
			if c == ':' && !first && *colon < 0 {
				*colon = i
				i++
				continue
			}
			if first {
				return i, r.errAt(ErrNotWellFormed, r.pos+i, "bad name")
			}
			return i, nil
		}
		if !utf8.FullRune(b[i:]) {
			return i, errShort
		}
		ru, n := utf8.DecodeRune(b[i:])
		if ru == utf8.RuneError && n == 1 {
			return i, r.errAt(ErrBadEncoding, r.pos+i, "invalid UTF-8")
		}
		if first && !isNameStartRune(ru) || !isNameRune(ru) {
			return i, r.errAt(ErrNotWellFormed, r.pos+i, "bad name")
		}
		i += n
	}
	return i, errShort
}

// checkRune checks the UTF-8 sequence at b[i] and returns its length.
func (r *Reader) checkRune(b []byte, i int) (int, error) {
	if !utf8.FullRune(b[i:]) {
		return 0, errShort
	}
	ru, n := utf8.DecodeRune(b[i:])
	if ru == utf8.RuneError && n == 1 {
		return 0, r.errAt(ErrBadEncoding, r.pos+i, "invalid UTF-8")
	}
	if ru == 0xFFFE || ru == 0xFFFF {
		return 0, r.errAt(ErrNotWellFormed, r.pos+i, "character not allowed in XML")
	}
	return n, nil
}

// startTag continues the start tag at pos. When it is complete, it resolves
// its names and records the element (or returns the header).
func (r *Reader) startTag() (event, error) {
	t := &r.tag
	s := r.s
	for {
		b := r.buf[r.pos:r.end]
		switch t.phase {
		case tName:
			i, err := r.scanName(t.i, 1, &t.colon)
			t.i = i
			if err != nil {
				return evNone, err
			}
			t.el = qname{1, t.colon, i}
			t.phase = tSpace
		case tSpace:
			i := t.i
			for i < len(b) && isSpace(b[i]) {
				i++
				t.space = true
			}
			t.i = i
			if i == len(b) {
				return evNone, errShort
			}
			switch b[i] {
			case '>':
				t.i++
				return r.tagDone(false)
			case '/':
				t.i++
				t.phase = tSlash
			default:
				if !t.space {
					return evNone, r.errAt(ErrNotWellFormed, r.pos+i, "no white space before attribute")
				}
				if len(s.raw) >= r.lim.MaxAttrs {
					return evNone, r.errAt(ErrTooLarge, r.pos+i, fmt.Sprintf("more than %d attributes", r.lim.MaxAttrs))
				}
				t.an = qname{i, -1, i}
				t.colon = -1
				t.phase = tAttrName
			}
		case tAttrName:
			i, err := r.scanName(t.i, t.an.s, &t.colon)
			t.i = i
			if err != nil {
				return evNone, err
			}
			t.an.c, t.an.e = t.colon, i
			t.phase = tEq
		case tEq:
			i := t.i
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			t.i = i
			if i == len(b) {
				return evNone, errShort
			}
			if b[i] != '=' {
				return evNone, r.errAt(ErrNotWellFormed, r.pos+i, "attribute without value")
			}
			t.i++
			t.phase = tQuote
		case tQuote:
			i := t.i
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			t.i = i
			if i == len(b) {
				return evNone, errShort
			}
			if b[i] != '\'' && b[i] != '"' {
				return evNone, r.errAt(ErrNotWellFormed, r.pos+i, "attribute value not quoted")
			}
			t.quote = b[i]
			t.i++
			t.v0 = len(s.sb)
			t.phase = tValue
		case tValue:
			i, err := r.attrValue(t.i, t.quote)
			t.i = i
			if err != nil {
				return evNone, err
			}
			s.raw = append(s.raw, rawAttr{name: t.an, value: r.valueStr(t.v0)})
			t.space = false
			t.phase = tSpace
		case tSlash:
			if t.i == len(b) {
				return evNone, errShort
			}
			if b[t.i] != '>' {
				return evNone, r.errAt(ErrNotWellFormed, r.pos+t.i, "'/' not followed by '>'")
			}
			t.i++
			return r.tagDone(true)
		}
	}
}

// attrValue decodes an attribute value from offset i up to the closing
// quote, normalising it as XML 1.0 §3.3.3 says, and returns the offset
// after the quote.
func (r *Reader) attrValue(i int, quote byte) (int, error) {
	s := r.s
	b := r.buf[r.pos:r.end]
	for {
		j := i
		for j < len(b) && attrPlain[b[j]] {
			j++
		}
		s.sb = append(s.sb, b[i:j]...)
		i = j
		if i == len(b) {
			return i, errShort
		}
		switch c := b[i]; {
		case c == quote:
			return i + 1, nil
		case c == '\'' || c == '"':
			s.sb = append(s.sb, c)
			i++
		case c == '\t' || c == '\n':
			s.sb = append(s.sb, ' ')
			i++
		case c == '\r':
			// CR LF is one line end (§2.11), so one space.
			if i+1 == len(b) {
				return i, errShort
			}
			s.sb = append(s.sb, ' ')
			i++
			if b[i] == '\n' {
				i++
			}
		case c == '&':
			n, err := r.ref(b, i)
			if err != nil {
				return i, err
			}
			i += n
		case c == '<':
			return i, r.errAt(ErrNotWellFormed, r.pos+i, "'<' in attribute value")
		case c < 0x20:
			return i, r.errAt(ErrNotWellFormed, r.pos+i, "control character")
		default:
			n, err := r.checkRune(b, i)
			if err != nil {
				return i, err
			}
			s.sb = append(s.sb, b[i:i+n]...)
			i += n
		}
	}
}

// ref decodes the entity or character reference at b[i] (an '&'), appends
// its character to s.sb and returns its length.
func (r *Reader) ref(b []byte, i int) (int, error) {
	j := i + 1
	// more reports errShort, or an error if the reference is too long
	// to be one.
	more := func() (int, error) {
		if j-i >= maxRef {
			return 0, r.errAt(ErrNotWellFormed, r.pos+i, "reference too long")
		}
		return 0, errShort
	}
	if j == len(b) {
		return more()
	}
	if b[j] == '#' {
		j++
		base := rune(10)
		if j < len(b) && b[j] == 'x' {
			base = 16
			j++
		}
		var v rune
		digits := 0
		for {
			if j == len(b) {
				return more()
			}
			c := b[j]
			if c == ';' {
				break
			}
			var d rune
			switch {
			case c >= '0' && c <= '9':
				d = rune(c - '0')
			case base == 16 && c >= 'a' && c <= 'f':
				d = rune(c-'a') + 10
			case base == 16 && c >= 'A' && c <= 'F':
				d = rune(c-'A') + 10
			default:
				return 0, r.errAt(ErrNotWellFormed, r.pos+i, "bad character reference")
			}
			if v <= utf8.MaxRune {
				v = v*base + d
			}
			digits++
			j++
			if j-i >= maxRef {
				return more()
			}
		}
		if digits == 0 || !isChar(v) {
			// WFC Legal Character (XML 1.0 §4.1).
			return 0, r.errAt(ErrNotWellFormed, r.pos+i, "bad character reference")
		}
		r.s.sb = utf8.AppendRune(r.s.sb, v)
		return j + 1 - i, nil
	}
	for {
		if j == len(b) {
			return more()
		}
		c := b[j]
		if c == ';' {
			break
		}
		if c >= utf8.RuneSelf || !nameByte[c] || j == i+1 && !nameStart[c] {
			return 0, r.errAt(ErrNotWellFormed, r.pos+i, "bad entity reference")
		}
		j++
		if j-i >= maxRef {
			return more()
		}
	}
	var c byte
	switch string(b[i+1 : j]) {
	case "lt":
		c = '<'
	case "gt":
		c = '>'
	case "amp":
		c = '&'
	case "apos":
		c = '\''
	case "quot":
		c = '"'
	case "":
		return 0, r.errAt(ErrNotWellFormed, r.pos+i, "bad entity reference")
	default:
		// RFC 6120 §11.1: no entities but the predefined ones. (XML
		// would call an undeclared one not well-formed; restricted-xml
		// tells the peer more.)
		return 0, r.errAt(ErrRestricted, r.pos+i, "entity reference")
	}
	r.s.sb = append(r.s.sb, c)
	return j + 1 - i, nil
}

// text decodes character data inside an element up to the next '<'.
func (r *Reader) text() error {
	s := r.s
	b := r.buf[r.pos:r.end]
	i := 0
	for {
		j := i
		for j < len(b) && textPlain[b[j]] {
			j++
		}
		s.sb = append(s.sb, b[i:j]...)
		i = j
		if i == len(b) {
			break
		}
		c := b[i]
		if c == '<' {
			r.pos += i
			r.st = sMarkup
			return nil
		}
		n, err := r.special(b, i, false)
		if err == errShort {
			break
		}
		if err != nil {
			return err
		}
		i += n
	}
	r.pos += i
	return errShort
}

// cdata decodes a CDATA section up to its "]]>"; its text joins the
// character data around it.
func (r *Reader) cdata() error {
	s := r.s
	b := r.buf[r.pos:r.end]
	i := 0
	for {
		j := i
		for j < len(b) && cdataPlain[b[j]] {
			j++
		}
		s.sb = append(s.sb, b[i:j]...)
		i = j
		if i == len(b) {
			break
		}
		if b[i] == ']' && i+2 < len(b) && b[i+1] == ']' && b[i+2] == '>' {
			r.pos += i + 3
			r.st = sText
			return nil
		}
		n, err := r.special(b, i, true)
		if err == errShort {
			break
		}
		if err != nil {
			return err
		}
		i += n
	}
	r.pos += i
	return errShort
}

// special handles the byte at b[i] in character data that the plain-byte
// loop stopped at, appends what it stands for and returns how many bytes
// it took.
func (r *Reader) special(b []byte, i int, cdata bool) (int, error) {
	s := r.s
	switch c := b[i]; {
	case c == ']':
		// "]]>" ends a CDATA section and is not allowed in other
		// character data (XML 1.0 §2.4). Deciding needs three bytes.
		if i+2 >= len(b) {
			return 0, errShort
		}
		if !cdata && b[i+1] == ']' && b[i+2] == '>' {
			return 0, r.errAt(ErrNotWellFormed, r.pos+i, "']]>' in character data")
		}
		s.sb = append(s.sb, ']')
		return 1, nil
	case c == '&' && !cdata:
		return r.ref(b, i)
	case c == '\r':
		// XML 1.0 §2.11: CR LF and a lone CR are read as LF.
		if i+1 == len(b) {
			return 0, errShort
		}
		s.sb = append(s.sb, '\n')
		if b[i+1] == '\n' {
			return 2, nil
		}
		return 1, nil
	case c < 0x20:
		return 0, r.errAt(ErrNotWellFormed, r.pos+i, "control character")
	}
	n, err := r.checkRune(b, i)
	if err != nil {
		return 0, err
	}
	s.sb = append(s.sb, b[i:i+n]...)
	return n, nil
}

// flushText ends the current run of character data, if any, as a child of
// the innermost open element.
func (r *Reader) flushText() {
	s := r.s
	if len(s.open) > 0 && len(s.sb) > r.text0 {
		s.pend = append(s.pend, nodeRec{elem: -1, text: str{off: int32(r.text0), n: int32(len(s.sb) - r.text0)}})
	}
}

// endTag continues the end tag at pos and closes its element.
func (r *Reader) endTag() (event, error) {
	t := &r.tag
	for {
		b := r.buf[r.pos:r.end]
		switch t.phase {
		case tName:
			i, err := r.scanName(t.i, 2, &t.colon)
			t.i = i
			if err != nil {
				return evNone, err
			}
			t.el = qname{2, t.colon, i}
			t.phase = tSpace
		default:
			i := t.i
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			t.i = i
			if i == len(b) {
				return evNone, errShort
			}
			if b[i] != '>' {
				return evNone, r.errAt(ErrNotWellFormed, r.pos+i, "bad end tag")
			}
			t.i++
			return r.closeElement()
		}
	}
}

// closeElement checks that the end tag at pos matches the innermost open
// element and closes it.
func (r *Reader) closeElement() (event, error) {
	s := r.s
	prefix, local := r.tag.el.split(r.buf[r.pos:])
	if len(s.open) == 0 {
		// The stream's close tag (RFC 6120 §4.4).
		if string(prefix) != r.root[0] || string(local) != r.root[1] {
			return evNone, r.errAt(ErrNotWellFormed, r.pos, "end tag does not match the stream header")
		}
		r.pos += r.tag.i
		r.release()
		r.st = sClosed
		return evClose, nil
	}
	o := s.open[len(s.open)-1]
	if !r.eqBytes(o.prefix, prefix) || !r.eqBytes(o.local, local) {
		return evNone, r.errAt(ErrNotWellFormed, r.pos, "end tag does not match start tag")
	}
	r.pos += r.tag.i
	s.open = s.open[:len(s.open)-1]
	s.ns = s.ns[:o.ns0]
	k0 := len(s.kids)
	s.kids = append(s.kids, s.pend[o.pend0:]...)
	s.pend = s.pend[:o.pend0]
	e := &s.elems[o.elem]
	e.k0, e.k1 = int32(k0), int32(len(s.kids))
	return r.closed(o.elem)
}

// closed files the element elem, whose end tag (or "/>") has been read,
// under its parent, or finishes the stanza if it has none.
func (r *Reader) closed(elem int32) (event, error) {
	s := r.s
	if len(s.open) > 0 {
		s.pend = append(s.pend, nodeRec{elem: elem})
		r.text0 = len(s.sb)
		r.st = sText
		return evNone, nil
	}
	if r.viewMode {
		// NextView: the tree waits for View.Element, the scratch space
		// and the buffer for the next read.
		r.viewHeld = true
		r.unlimit()
		r.st = sTop
		return evElement, nil
	}
	r.out = r.build()
	r.release()
	r.unlimit()
	if r.standalone {
		r.st = sClosed
	} else {
		r.st = sTop
		r.shrink()
	}
	return evElement, nil
}

// countDeclarations adds what writing the element being opened, in
// namespace space and with the attributes s.attrs[a0:], adds in namespace
// declarations: xmlel declares an element's namespace where it is not
// its parent's, and the namespace of each namespaced attribute on the
// element, however often the input used one declaration for them. A long
// namespace declared once over many small elements would make a stanza
// within the limits gigabytes when written (to another stream, the
// archive, a room's occupants), so an element that would be written over
// the limit is as much too large as one that was read over it. Two
// declarations of one namespace count as two namespaces: the count is
// then over, never under, by at most the bytes of those declarations.
func (r *Reader) countDeclarations(space str, a0 int) error {
	s := r.s
	parent := str{}
	if len(s.open) > 0 {
		parent = s.elems[s.open[len(s.open)-1].elem].space
	}
	if space != parent {
		r.declared += r.strLen(space) + len(" xmlns=''")
	}
	for _, a := range s.attrs[a0:] {
		if a.space.n != 0 && a.space != (str{off: nsXMLIndex, n: strInterned}) {
			r.declared += r.strLen(a.space) + len(" xmlns:ns0=''")
		}
	}
	if r.declared > r.max {
		return r.errAt(ErrTooLarge, r.pos, fmt.Sprintf("namespace declarations that would write the element over %d bytes", r.max))
	}
	return nil
}

// strLen returns the length of x.
func (r *Reader) strLen(x str) int {
	if x.n >= 0 {
		return int(x.n)
	}
	return len(r.constant(x))
}

// tagDone resolves the complete start tag at pos and opens its element.
func (r *Reader) tagDone(empty bool) (event, error) {
	s := r.s
	if !r.standalone && !r.headerDone {
		return r.header(empty)
	}
	if len(s.open) >= r.lim.MaxDepth {
		return evNone, r.errAt(ErrTooLarge, r.pos, fmt.Sprintf("elements nested deeper than %d", r.lim.MaxDepth))
	}
	ns0 := len(s.ns)
	a0 := len(s.attrs)
	space, local, prefix, err := r.resolve()
	if err != nil {
		return evNone, err
	}
	if space.n < 0 && xmlel.IsContentNS(r.constant(space)) {
		// Content namespaces are always interned (or the header's).
		if r.constant(space) != r.content {
			r.foreign = true
		}
		space = str{}
	}
	if err := r.countDeclarations(space, a0); err != nil {
		return evNone, err
	}
	elem := int32(len(s.elems))
	s.elems = append(s.elems, elemRec{space: space, local: local, a0: int32(a0), a1: int32(len(s.attrs))})
	r.pos += r.tag.i
	if empty {
		s.ns = s.ns[:ns0]
		return r.closed(elem)
	}
	s.open = append(s.open, openRec{elem: elem, prefix: prefix, local: local, pend0: int32(len(s.pend)), ns0: int32(ns0)})
	r.text0 = len(s.sb)
	r.st = sText
	return evNone, nil
}

// header makes the stream header from the complete start tag at pos. Its
// strings outlive the scratch space, and its declarations stay in scope
// for the whole stream.
func (r *Reader) header(empty bool) (event, error) {
	s := r.s
	space, local, prefix, err := r.resolve()
	if err != nil {
		return evNone, err
	}
	el := &xmlel.Element{Space: r.str(space, ""), Local: r.str(local, "")}
	if len(s.attrs) > 0 {
		el.Attrs = make([]xmlel.Attr, len(s.attrs))
		for i, a := range s.attrs {
			el.Attrs[i] = xmlel.Attr{Space: r.str(a.space, ""), Local: r.str(a.local, ""), Value: r.str(a.value, "")}
		}
	}
	r.hns = make([]hbinding, len(s.ns))
	for i, b := range s.ns {
		p, u := r.str(b.prefix, ""), r.str(b.uri, "")
		r.hns[i] = hbinding{prefix: p, uri: u}
		if p == "" {
			r.content = u
		}
	}
	r.root = [2]string{r.str(prefix, ""), el.Local}
	r.pos += r.tag.i
	r.headerDone = true
	r.out = el
	r.release()
	r.unlimit()
	r.st = sTop
	if empty {
		// <stream:stream/>: a stream that is over as soon as it began.
		r.st = sClosed
	}
	return evHeader, nil
}

// resolve applies the namespace declarations of the start tag at pos (to
// s.ns), resolves the names of the element and its attributes, appends the
// attributes to s.attrs, and returns the element's namespace, local name
// and prefix.
func (r *Reader) resolve() (space, local, prefix str, err error) {
	s := r.s
	b := r.buf[r.pos : r.pos+r.tag.i]
	ns0 := len(s.ns)
	decls := 0
	for _, a := range s.raw {
		p, l := a.name.split(b)
		switch {
		case p == nil && string(l) == "xmlns":
			err = r.declare(ns0, nil, a.value, a.name.s)
		case string(p) == "xmlns":
			err = r.declare(ns0, l, a.value, a.name.s)
		default:
			continue
		}
		if err != nil {
			return
		}
		decls++
	}
	p, l := r.tag.el.split(b)
	switch string(p) {
	case "xmlns":
		err = r.errAt(ErrBadPrefix, r.pos+1, "element with prefix xmlns")
		return
	case "xml":
		// NOTSPEC(Namespaces in XML §3): the xml prefix is bound, but no
		// XMPP element lives in that namespace, and the default
		// declarations that xmlel writes could not say it.
		err = r.errAt(ErrNotWellFormed, r.pos+1, "element in the xml namespace")
		return
	}
	space, ok := r.lookup(p)
	if !ok {
		err = r.errAt(ErrBadPrefix, r.pos+1, "undeclared element prefix")
		return
	}
	local, prefix = r.name(l), r.name(p)
	if decls == len(s.raw) {
		return
	}
	a0 := len(s.attrs)
	for _, a := range s.raw {
		p, l := a.name.split(b)
		if p == nil && string(l) == "xmlns" || string(p) == "xmlns" {
			continue
		}
		var sp str
		if p != nil {
			if sp, ok = r.lookup(p); !ok {
				err = r.errAt(ErrBadPrefix, r.pos+a.name.s, "undeclared attribute prefix")
				return
			}
		}
		lo := r.name(l)
		// WFC Unique Att Spec (XML 1.0 §3.1) and Namespaces in XML
		// §6.3: no two attributes with the same expanded name.
		for j := a0; j < len(s.attrs); j++ {
			if r.eq(s.attrs[j].local, lo) && r.eq(s.attrs[j].space, sp) {
				err = r.errAt(ErrNotWellFormed, r.pos+a.name.s, "duplicate attribute")
				return
			}
		}
		s.attrs = append(s.attrs, attrRec{space: sp, local: lo, value: a.value})
	}
	return
}

// declare adds a namespace declaration of the tag (a default one if prefix
// is nil) after checking the constraints of Namespaces in XML §3.
func (r *Reader) declare(ns0 int, prefix []byte, uri str, at int) error {
	s := r.s
	bad := func(msg string) error { return r.errAt(ErrNotWellFormed, r.pos+at, msg) }
	if r.eqString(uri, nsXMLNS) {
		return bad("declaration of the xmlns namespace")
	}
	if prefix != nil {
		switch string(prefix) {
		case "xmlns":
			return bad("declaration of the xmlns prefix")
		case "xml":
			if !r.eqString(uri, xmlel.NSXML) {
				return bad("xml prefix bound to another namespace")
			}
			return nil // predefined
		}
		if uri.n == 0 {
			return bad("prefix bound to the empty namespace")
		}
	}
	if r.eqString(uri, xmlel.NSXML) {
		return bad("xml namespace bound to another prefix")
	}
	for j := ns0; j < len(s.ns); j++ {
		if r.eqBytes(s.ns[j].prefix, prefix) {
			return bad("duplicate namespace declaration")
		}
	}
	if len(s.ns) >= r.lim.MaxAttrs {
		// NOTSPEC: every name is looked up through the declarations in
		// scope, so nesting thousands of them would make each element
		// of a stanza cost thousands of comparisons. MaxAttrs bounds
		// those of one element; real streams never have as many open.
		return r.errAt(ErrTooLarge, r.pos+at, fmt.Sprintf("more than %d namespace declarations in scope", r.lim.MaxAttrs))
	}
	s.ns = append(s.ns, binding{prefix: r.name(prefix), uri: uri})
	return nil
}

// lookup returns the namespace that prefix (nil: the default) stands for.
// Declarations of open elements shadow those of the header.
func (r *Reader) lookup(prefix []byte) (str, bool) {
	if string(prefix) == "xml" {
		return str{off: nsXMLIndex, n: strInterned}, true
	}
	ns := r.s.ns
	for j := len(ns) - 1; j >= 0; j-- {
		if r.eqBytes(ns[j].prefix, prefix) {
			return ns[j].uri, true
		}
	}
	for j := len(r.hns) - 1; j >= 0; j-- {
		if r.hns[j].prefix == string(prefix) {
			if prefix != nil {
				r.foreign = true
			}
			return str{off: int32(j), n: strHeader}, true
		}
	}
	// Without a declaration the default namespace is none at all.
	return str{}, prefix == nil
}

// name returns b as a str: interned if it is a common string, else copied
// to s.sb.
func (r *Reader) name(b []byte) str {
	if v := intern(b); v != 0 {
		return str{off: v, n: strInterned}
	}
	s := r.s
	off := len(s.sb)
	s.sb = append(s.sb, b...)
	return str{off: int32(off), n: int32(len(b))}
}

// valueStr returns s.sb[v0:], just decoded, as a str, interned if it is a
// common string (and then dropped from s.sb).
func (r *Reader) valueStr(v0 int) str {
	s := r.s
	if v := intern(s.sb[v0:]); v != 0 {
		s.sb = s.sb[:v0]
		return str{off: v, n: strInterned}
	}
	return str{off: int32(v0), n: int32(len(s.sb) - v0)}
}

func (r *Reader) eqString(x str, v string) bool {
	if x.n >= 0 {
		return string(r.s.sb[x.off:x.off+x.n]) == v
	}
	return r.constant(x) == v
}

func (r *Reader) eqBytes(x str, b []byte) bool {
	if x.n >= 0 {
		return bytes.Equal(r.s.sb[x.off:x.off+x.n], b)
	}
	return r.constant(x) == string(b)
}

func (r *Reader) eq(x, y str) bool {
	if y.n >= 0 {
		return r.eqBytes(x, r.s.sb[y.off:y.off+y.n])
	}
	return r.eqString(x, r.constant(y))
}
