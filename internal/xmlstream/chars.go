package xmlstream

import "unicode/utf8"

// Byte classes for the scanning loops. The loops copy runs of "plain" bytes
// and stop at anything that needs a decision; bytes from 0x80 up always
// stop, so that UTF-8 is checked rune by rune only where it occurs.
var (
	// textPlain: bytes copied as they are in character data. Not '<' and
	// '&' (markup), ']' ("]]>" is forbidden, XML 1.0 §2.4), CR (§2.11
	// line-end handling) or other control characters (§2.2).
	textPlain = byteTable(func(c byte) bool {
		return c == '\t' || c == '\n' || (c >= 0x20 && c < 0x80 && c != '<' && c != '&' && c != ']')
	})
	// cdataPlain: as textPlain, but '<' and '&' are data in a CDATA section.
	cdataPlain = byteTable(func(c byte) bool {
		return c == '\t' || c == '\n' || (c >= 0x20 && c < 0x80 && c != ']')
	})
	// attrPlain: bytes copied as they are in an attribute value. Not the
	// quotes, '<' or '&'; tab, LF and CR become spaces (XML 1.0 §3.3.3).
	attrPlain = byteTable(func(c byte) bool {
		return c >= 0x20 && c < 0x80 && c != '<' && c != '&' && c != '\'' && c != '"'
	})
	// nameStart and nameByte: ASCII bytes that may start and continue an
	// NCName (Namespaces in XML §3); the colon is handled on its own.
	nameStart = byteTable(func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
	})
	nameByte = byteTable(func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' ||
			c >= '0' && c <= '9' || c == '-' || c == '.'
	})
)

func byteTable(f func(byte) bool) (t [256]bool) {
	for i := range t {
		t[i] = f(byte(i))
	}
	return t
}

// isSpace reports whether c is XML white space (S, XML 1.0 §2.3).
func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\t' || c == '\r'
}

// isChar reports whether XML 1.0 allows the character at all (Char, §2.2).
func isChar(r rune) bool {
	switch {
	case r < 0x20:
		return r == '\t' || r == '\n' || r == '\r'
	case r <= 0xD7FF:
		return true
	case r < 0xE000:
		return false
	case r <= 0xFFFD:
		return true
	default:
		return r >= 0x10000 && r <= utf8.MaxRune
	}
}

// isNameStartRune and isNameRune are NameStartChar and NameChar of XML 1.0
// fifth edition §2.3, for runes from U+0080 up.
func isNameStartRune(r rune) bool {
	switch {
	case r >= 0xC0 && r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF,
		r >= 0x370 && r <= 0x37D, r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D,
		r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	}
	return false
}

func isNameRune(r rune) bool {
	return isNameStartRune(r) || r == 0xB7 || r >= 0x300 && r <= 0x36F || r >= 0x203F && r <= 0x2040
}
