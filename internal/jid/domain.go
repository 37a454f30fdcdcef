package jid

import (
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// maxLabel is the longest a DNS label may be, in octets of its ASCII
// (A-label) form (RFC 1035 §2.3.4, RFC 5890 §2.3.2.1).
const maxLabel = 63

// prepDomain prepares a domainpart (RFC 7622 §3.2).
//
// NOTSPEC(RFC 7622 §3.2.2): IDNA2008 (RFC 5891) and its mapping
// (RFC 5895) would need golang.org/x/net/idna, which samtal does not
// depend on. Each label is instead prepared with the PRECIS
// UsernameCaseMapped profile (width folding, lower case, NFC, the
// IdentifierClass, whose letters and digits are IDNA2008's, and the Bidi
// rule of RFC 5893), then held to the IDNA2008 label rules that do not
// need tables: only letters, digits and hyphens among ASCII, no hyphen at
// either end, no "--" in positions 3 and 4 unless it is an A-label, no
// leading combining mark, at most 63 octets as an A-label. A-labels are
// decoded to the U-labels they stand for, so "xn--bcher-kva.example" and
// "bücher.example" are the same domainpart.
func prepDomain(s string, fast bool) (part, error) {
	if s == "" {
		return part{}, partError("domainpart", s, "empty")
	}
	if fast && len(s) <= maxPart+1 {
		if p, ok := fastDomain(s); ok {
			return p, nil
		}
	}
	return slowDomain(s)
}

// fastDomain accepts a domainpart of ASCII letter-digit-hyphen labels,
// with an optional trailing dot. Such a domainpart needs nothing but
// lower case. Anything else (A-labels, IP literals, errors) is left to
// slowDomain. An IPv4 address is such a domainpart too.
func fastDomain(s string) (part, bool) {
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	if s == "" || len(s) > maxPart {
		return part{}, false
	}
	var acc uint8
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			n := i - start
			if n == 0 || n > maxLabel || s[start] == '-' || s[i-1] == '-' ||
				(n >= 4 && s[start+2] == '-' && s[start+3] == '-') {
				return part{}, false
			}
			start = i + 1
			continue
		}
		c := class[s[i]]
		if c&ldhOK == 0 {
			return part{}, false
		}
		acc |= c
	}
	return part{s: s, lower: acc&upper != 0}, true
}

func slowDomain(raw string) (part, error) {
	if len(raw) > maxRaw {
		return part{}, partError("domainpart", raw, "too long")
	}
	if !utf8.ValidString(raw) {
		return part{}, partError("domainpart", raw, "invalid UTF-8")
	}
	if raw[0] == '[' {
		return ipLiteral(raw)
	}
	// RFC 5895 §2 step 4 (and RFC 3490 §3.1 before it): the ideographic
	// and full-width full stops separate labels as "." does.
	s := strings.Map(func(r rune) rune {
		switch r {
		case '\u3002', '\uff0e', '\uff61':
			return '.'
		}
		return r
	}, raw)
	// RFC 7622 §3.2: a trailing dot is stripped.
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return part{}, partError("domainpart", raw, "empty")
	}
	var b strings.Builder
	b.Grow(len(s))
	for label := range strings.SplitSeq(s, ".") {
		l, why := prepLabel(label)
		if why != "" {
			return part{}, partError("domainpart", raw, why)
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(l)
	}
	if b.Len() > maxPart {
		return part{}, partError("domainpart", raw, "too long")
	}
	return part{s: b.String()}, nil
}

// ipLiteral prepares "[IPv6address]" (RFC 7622 §3.2, RFC 3986 §3.2.2) to
// its canonical text form (RFC 5952).
func ipLiteral(raw string) (part, error) {
	if len(raw) < 2 || raw[len(raw)-1] != ']' {
		return part{}, partError("domainpart", raw, "unterminated IP literal")
	}
	a, err := netip.ParseAddr(raw[1 : len(raw)-1])
	if err != nil || !a.Is6() || a.Zone() != "" {
		return part{}, partError("domainpart", raw, "invalid IPv6 literal")
	}
	return part{s: "[" + a.String() + "]"}, nil
}

// prepLabel prepares one label and returns it in lower-case Unicode
// form, or the reason it is invalid.
func prepLabel(raw string) (string, string) {
	if raw == "" {
		return "", "empty label"
	}
	p, err := precis.UsernameCaseMapped.String(raw)
	if err != nil {
		return "", err.Error()
	}
	if p == "" {
		return "", "empty label"
	}
	if isASCII(p) {
		if strings.HasPrefix(p, "xn--") {
			return aLabel(p)
		}
		return p, ldhLabel(p)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < utf8.RuneSelf && class[c]&ldhOK == 0 {
			return "", "invalid character in label"
		}
	}
	if why := hyphens(p); why != "" {
		return "", why
	}
	// RFC 5891 §4.2.3.2: a label must not begin with a combining mark.
	if r, _ := utf8.DecodeRuneInString(p); unicode.Is(unicode.M, r) {
		return "", "label starts with a combining mark"
	}
	// Every code point takes at least one octet of the A-label: a cheap
	// bound before encoding, which is quadratic.
	if utf8.RuneCountInString(p) > maxLabel-len("xn--") {
		return "", "label too long"
	}
	enc, ok := punyEncode(p)
	if !ok || len("xn--")+len(enc) > maxLabel {
		return "", "label too long"
	}
	return p, ""
}

// aLabel decodes an A-label (RFC 5890 §2.3.2.1) to its U-label, which must
// be valid and must encode back to the same A-label.
func aLabel(p string) (string, string) {
	if len(p) > maxLabel {
		return "", "label too long"
	}
	u, ok := punyDecode(p[len("xn--"):])
	if !ok || isASCII(u) {
		return "", "invalid A-label"
	}
	q, why := prepLabel(u)
	if why != "" {
		return "", why
	}
	if enc, ok := punyEncode(u); q != u || !ok || enc != p[len("xn--"):] {
		return "", "A-label is not in canonical form"
	}
	return u, ""
}

// ldhLabel checks an ASCII label: letters, digits, hyphens (RFC 5890
// §2.3.1), at most 63 octets.
func ldhLabel(p string) string {
	if len(p) > maxLabel {
		return "label too long"
	}
	if ok, _ := asciiPart(p, ldhOK); !ok {
		return "invalid character in label"
	}
	return hyphens(p)
}

// hyphens applies RFC 5891 §4.2.3.1: no hyphen first or last, and no
// "--" in the third and fourth positions (reserved for A-labels).
func hyphens(p string) string {
	if p[0] == '-' || p[len(p)-1] == '-' {
		return "label starts or ends with a hyphen"
	}
	var r [4]rune
	n := 0
	for _, c := range p {
		if n == len(r) {
			break
		}
		r[n] = c
		n++
	}
	if n == len(r) && r[2] == '-' && r[3] == '-' {
		return `label has "--" in positions 3 and 4`
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
