// Package jid parses, prepares and compares XMPP addresses (RFC 7622).
//
// A JID is "localpart@domainpart/resourcepart" where only the domainpart
// is required. Parse and New prepare and enforce every part so that two
// JIDs that mean the same address compare equal with ==:
//
//   - localpart: the PRECIS UsernameCaseMapped profile (RFC 8265 §3.3),
//     then the characters " & ' / : < > @ are rejected (RFC 7622 §3.3.1);
//   - domainpart: lowercase Unicode form with NFC, A-labels decoded to
//     U-labels, one trailing dot removed (RFC 7622 §3.2), or an IPv4
//     address, or an IPv6 literal in brackets;
//   - resourcepart: the PRECIS OpaqueString profile (RFC 8265 §4.2).
//
// Each part is at most 1023 octets after preparation; an "@" or "/"
// separator must not be followed or preceded by an empty part.
//
// Parse is on the path of every stanza, so an all-ASCII JID is checked
// byte by byte against the exact ASCII behaviour of those profiles and
// never enters the PRECIS machinery; it allocates nothing when the input
// is already in prepared form and once when it is not (upper case, a
// trailing dot). The package is pure: no I/O, no goroutines, no mutable
// package state.
package jid

import (
	"encoding"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// ErrMalformed is wrapped by every error that Parse, New and WithResource
// return.
var ErrMalformed = errors.New("jid: malformed")

// maxPart is the longest a prepared part may be, in octets
// (RFC 7622 §3.2, §3.3, §3.4).
const maxPart = 1023

// maxRaw bounds a part before preparation, so that PRECIS never runs on
// arbitrarily large input. Preparation (width folding, NFC) shrinks a
// string by far less than a factor of 4.
const maxRaw = 4 * maxPart

// JID is a prepared XMPP address. It is comparable: == and Equal agree,
// and a JID can be a map key. The zero value is the empty JID.
type JID struct {
	// s is the whole address in canonical form "local@domain/resource".
	// d is where the domainpart starts (0 without a localpart) and r
	// where it ends (len(s) without a resourcepart). Both are fully
	// determined by s, which keeps == meaningful.
	s    string
	d, r uint16
}

var (
	_ encoding.TextMarshaler   = JID{}
	_ encoding.TextUnmarshaler = (*JID)(nil)
)

// Parse prepares and enforces s as a JID (RFC 7622 §3).
func Parse(s string) (JID, error) {
	return parse(s, true)
}

// MustParse is like Parse but panics on error. Use it for tests and
// constants only.
func MustParse(s string) JID {
	j, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return j
}

// New prepares and enforces each part and returns the JID they form. An
// empty local or resource means the JID has no such part; the domain is
// required.
func New(local, domain, resource string) (JID, error) {
	var lp, dp, rp part
	var err error
	if local != "" {
		if lp, err = prepLocal(local, true); err != nil {
			return JID{}, err
		}
	}
	if dp, err = prepDomain(domain, true); err != nil {
		return JID{}, err
	}
	if resource != "" {
		if rp, err = prepResource(resource, true); err != nil {
			return JID{}, err
		}
	}
	return build("", local != "", lp, dp, resource != "", rp), nil
}

// part is one prepared part. When lower is set, s still needs its ASCII
// upper-case letters mapped to lower case (the fast path defers this so
// that the whole JID is built with a single allocation).
type part struct {
	s     string
	lower bool
}

// parse splits s at the first "/" and then at the first "@" before it
// (RFC 7622 §3.1) and prepares each part; fast selects the ASCII fast
// path (tests turn it off to compare both paths).
func parse(s string, fast bool) (JID, error) {
	if len(s) > 3*maxRaw+2 {
		return JID{}, fmt.Errorf("jid: %d octets is too long: %w", len(s), ErrMalformed)
	}
	rest, res, hasRes := strings.Cut(s, "/")
	loc, dom, hasLoc := strings.Cut(rest, "@")
	if !hasLoc {
		loc, dom = "", rest
	}
	var lp, dp, rp part
	var err error
	if hasLoc {
		if lp, err = prepLocal(loc, fast); err != nil {
			return JID{}, err
		}
	}
	if dp, err = prepDomain(dom, fast); err != nil {
		return JID{}, err
	}
	if hasRes {
		if rp, err = prepResource(res, fast); err != nil {
			return JID{}, err
		}
	}
	return build(s, hasLoc, lp, dp, hasRes, rp), nil
}

// build assembles a JID from prepared parts. When orig is the input and
// every part is unchanged, orig itself is the canonical form and nothing
// is allocated; otherwise the string is built once.
func build(orig string, hasLoc bool, lp, dp part, hasRes bool, rp part) JID {
	var j JID
	n := len(dp.s)
	if hasLoc {
		n += len(lp.s) + 1
		j.d = uint16(len(lp.s) + 1)
	}
	j.r = uint16(int(j.d) + len(dp.s))
	if hasRes {
		n += len(rp.s) + 1
	}
	if n == len(orig) && !lp.lower && !dp.lower && !rp.lower &&
		(!hasLoc || orig[j.d-1] == '@' && orig[:j.d-1] == lp.s) &&
		orig[j.d:j.r] == dp.s &&
		(!hasRes || orig[j.r] == '/' && orig[j.r+1:] == rp.s) {
		// orig is byte for byte the string built below.
		j.s = orig
		return j
	}
	var b strings.Builder
	b.Grow(n)
	if hasLoc {
		writePart(&b, lp)
		b.WriteByte('@')
	}
	writePart(&b, dp)
	if hasRes {
		b.WriteByte('/')
		writePart(&b, rp)
	}
	j.s = b.String()
	return j
}

func writePart(b *strings.Builder, p part) {
	if !p.lower {
		b.WriteString(p.s)
		return
	}
	for i := 0; i < len(p.s); i++ {
		c := p.s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
}

// Byte classes for the ASCII fast path. Each bit says that PRECIS (and
// RFC 7622) accept the byte unchanged in that part, except that
// upper-case letters are accepted in the localpart and domainpart and
// mapped to lower case, exactly as UsernameCaseMapped does for ASCII.
const (
	// localOK: the IdentifierClass allows %x21-7E (RFC 8264 §9.11,
	// ASCII7); RFC 7622 §3.3.1 then forbids " & ' / : < > @.
	localOK = 1 << iota
	// resourceOK: the FreeformClass allows %x20-7E; OpaqueString maps
	// no ASCII character.
	resourceOK
	// ldhOK: letters, digits and hyphen, the only ASCII allowed in a
	// domain label (NR-LDH labels, RFC 5890 §2.3.1).
	ldhOK
	// upper: A-Z, lowered in localpart and domainpart.
	upper
)

var class = func() (t [256]uint8) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] |= resourceOK
		if c > 0x20 && !strings.ContainsRune(`"&'/:<>@`, rune(c)) {
			t[c] |= localOK
		}
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
			t[c] |= ldhOK
		case 'A' <= c && c <= 'Z':
			t[c] |= ldhOK | upper
		}
	}
	return t
}()

// asciiPart reports whether every byte of s has the class bit want, and
// whether s holds an upper-case letter. It stops at the first byte that
// lacks the bit (any byte ≥ 0x80 lacks them all).
func asciiPart(s string, want uint8) (ok, up bool) {
	var acc uint8
	for i := 0; i < len(s); i++ {
		c := class[s[i]]
		if c&want == 0 {
			return false, false
		}
		acc |= c
	}
	return true, acc&upper != 0
}

func prepLocal(s string, fast bool) (part, error) {
	if s == "" {
		return part{}, partError("localpart", s, "empty")
	}
	if fast && len(s) <= maxPart {
		if ok, up := asciiPart(s, localOK); ok {
			return part{s: s, lower: up}, nil
		}
	}
	if len(s) > maxRaw {
		return part{}, partError("localpart", s, "too long")
	}
	// PRECIS would replace invalid UTF-8 with U+FFFD.
	if !utf8.ValidString(s) {
		return part{}, partError("localpart", s, "invalid UTF-8")
	}
	p, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return part{}, partError("localpart", s, err.Error())
	}
	// x/text's UsernameCaseMapped does not reject the empty string
	// (RFC 8265 §3.3.3 requires it).
	if p == "" {
		return part{}, partError("localpart", s, "empty")
	}
	if len(p) > maxPart {
		return part{}, partError("localpart", s, "too long")
	}
	if i := strings.IndexAny(p, `"&'/:<>@`); i >= 0 {
		// RFC 7622 §3.3.1.
		return part{}, partError("localpart", s, fmt.Sprintf("forbidden character %q", p[i]))
	}
	return part{s: p}, nil
}

func prepResource(s string, fast bool) (part, error) {
	if s == "" {
		return part{}, partError("resourcepart", s, "empty")
	}
	if fast && len(s) <= maxPart {
		if ok, _ := asciiPart(s, resourceOK); ok {
			return part{s: s}, nil
		}
	}
	if len(s) > maxRaw {
		return part{}, partError("resourcepart", s, "too long")
	}
	// PRECIS would replace invalid UTF-8 with U+FFFD.
	if !utf8.ValidString(s) {
		return part{}, partError("resourcepart", s, "invalid UTF-8")
	}
	p, err := precis.OpaqueString.String(s)
	if err != nil {
		return part{}, partError("resourcepart", s, err.Error())
	}
	if len(p) > maxPart {
		return part{}, partError("resourcepart", s, "too long")
	}
	return part{s: p}, nil
}

// partError reports a part that cannot be prepared. The input is clipped:
// errors end up in logs, which should not fill with attacker data.
func partError(name, s, why string) error {
	const max = 64
	if len(s) > max {
		i := max
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return fmt.Errorf("jid: %s %q: %s: %w", name, s, why, ErrMalformed)
}

// Local returns the localpart, or "" if there is none.
func (j JID) Local() string {
	if j.d == 0 {
		return ""
	}
	return j.s[:j.d-1]
}

// Domain returns the domainpart.
func (j JID) Domain() string { return j.s[j.d:j.r] }

// Resource returns the resourcepart, or "" if there is none.
func (j JID) Resource() string {
	if int(j.r) >= len(j.s) {
		return ""
	}
	return j.s[j.r+1:]
}

// Bare returns j without its resourcepart. It does not allocate.
func (j JID) Bare() JID { return JID{s: j.s[:j.r], d: j.d, r: j.r} }

// Domainpart returns the JID made of j's domainpart only. It does not
// allocate.
func (j JID) Domainpart() JID {
	return JID{s: j.s[j.d:j.r], r: j.r - j.d}
}

// WithResource returns j's bare JID with the resourcepart r, prepared.
// An empty r gives the bare JID.
func (j JID) WithResource(r string) (JID, error) {
	if j.IsZero() {
		return JID{}, fmt.Errorf("jid: resource on the empty JID: %w", ErrMalformed)
	}
	if r == "" {
		return j.Bare(), nil
	}
	rp, err := prepResource(r, true)
	if err != nil {
		return JID{}, err
	}
	return build("", j.d != 0, part{s: j.Local()}, part{s: j.Domain()}, true, rp), nil
}

// IsZero reports whether j is the empty JID.
func (j JID) IsZero() bool { return j.s == "" }

// IsBare reports whether j is not empty and has no resourcepart.
func (j JID) IsBare() bool { return j.s != "" && int(j.r) == len(j.s) }

// IsFull reports whether j has a resourcepart.
func (j JID) IsFull() bool { return int(j.r) < len(j.s) }

// IsDomain reports whether j is a domainpart only: not empty, no
// localpart, no resourcepart.
func (j JID) IsDomain() bool { return j.s != "" && j.d == 0 && int(j.r) == len(j.s) }

// String returns j as "local@domain/resource", without the parts j does
// not have. It does not allocate.
func (j JID) String() string { return j.s }

// Clone returns j in memory of its own: a JID parsed from part of a larger
// string (an attribute of a stanza) keeps all of it alive otherwise.
func (j JID) Clone() JID { return JID{s: strings.Clone(j.s), d: j.d, r: j.r} }

// Equal reports whether j and k are the same address; it is j == k.
func (j JID) Equal(k JID) bool { return j == k }

// MarshalText implements encoding.TextMarshaler.
func (j JID) MarshalText() ([]byte, error) { return []byte(j.s), nil }

// UnmarshalText implements encoding.TextUnmarshaler. Empty text gives the
// empty JID.
func (j *JID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*j = JID{}
		return nil
	}
	k, err := Parse(string(b))
	if err != nil {
		return err
	}
	*j = k
	return nil
}
