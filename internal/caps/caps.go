// Package caps reads Entity Capabilities (XEP-0115): the <c/> element a
// client puts in its presence, and the verification string that names
// the client's disco#info answer, which a server checks before it trusts
// the answer for every entity that sends the same string (§5.4).
package caps

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"hash"
	"slices"
	"sort"
	"strings"
	"sync"

	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// NS is the entity capabilities namespace (XEP-0115 §9.1).
const NS = "http://jabber.org/protocol/caps"

// Caps is what a <c/> element announces (XEP-0115 §4).
type Caps struct {
	Hash string // the hash function's name (IANA), e.g. sha-1
	Node string // the software's URI
	Ver  string // the verification string
}

// Parse returns the capabilities a presence element carries.
func Parse(presence *xmlel.Element) (Caps, bool) {
	c := presence.Child(NS, "c")
	if c == nil {
		return Caps{}, false
	}
	cs := Caps{Hash: c.Attr("hash"), Node: c.Attr("node"), Ver: c.Attr("ver")}
	if cs.Ver == "" || cs.Node == "" {
		return Caps{}, false
	}
	return cs, true
}

// Key names the capabilities for a cache: the hash and the verification
// string.
func (c Caps) Key() string { return c.Hash + " " + c.Ver }

// newHash returns the hash function of an IANA name, nil when samtal has
// none by that name (§5.4: then the answer is not cached by its ver).
func newHash(name string) func() hash.Hash {
	switch name {
	case "sha-1":
		return sha1.New
	case "sha-224":
		return sha256.New224
	case "sha-256":
		return sha256.New
	case "sha-384":
		return sha512.New384
	case "sha-512":
		return sha512.New
	}
	return nil
}

// Supported reports whether samtal can verify a ver made with the hash
// function of this name.
func Supported(name string) bool { return newHash(name) != nil }

// ErrIllFormed is returned for a disco#info answer that the rules of
// XEP-0115 §5.4 call ill-formed.
var ErrIllFormed = errors.New("caps: ill-formed disco#info answer")

// ErrHash is returned for a hash function samtal does not have.
var ErrHash = errors.New("caps: unsupported hash function")

// Ver computes the verification string of a disco#info <query/> answer
// with the named hash function (XEP-0115 §5.1), after checking the
// answer as §5.4 says: duplicate identities, features or forms make it
// ill-formed; a form without a hidden FORM_TYPE is left out.
func Ver(query *xmlel.Element, hashName string) (string, error) {
	newH := newHash(hashName)
	if newH == nil {
		return "", ErrHash
	}
	var ids, features []string
	type form struct {
		typ    string
		fields [][]string // var, then sorted values
	}
	var forms []form
	for _, c := range query.Elements() {
		switch {
		case c.Is(stanza.NSDiscoInfo, "identity"):
			ids = append(ids, c.Attr("category")+"/"+c.Attr("type")+"/"+c.Lang()+"/"+c.Attr("name"))
		case c.Is(stanza.NSDiscoInfo, "feature"):
			features = append(features, c.Attr("var"))
		case c.Is(stanza.NSDataForm, "x"):
			var f form
			ok, hidden := false, false
			for _, fld := range c.Elements() {
				if !fld.Is(stanza.NSDataForm, "field") {
					continue
				}
				var values []string
				for _, v := range fld.Elements() {
					if v.Is(stanza.NSDataForm, "value") {
						values = append(values, v.Text())
					}
				}
				if fld.Attr("var") == "FORM_TYPE" {
					if ok {
						return "", ErrIllFormed
					}
					ok = true
					hidden = fld.Attr("type") == "hidden"
					for _, v := range values[min(1, len(values)):] {
						if v != values[0] {
							return "", ErrIllFormed
						}
					}
					if len(values) > 0 {
						f.typ = values[0]
					}
					continue
				}
				sort.Strings(values)
				f.fields = append(f.fields, append([]string{fld.Attr("var")}, values...))
			}
			if !ok || !hidden {
				continue // §5.4: ignore the form
			}
			forms = append(forms, f)
		}
	}
	sort.Strings(ids)
	sort.Strings(features)
	if dup(ids) || dup(features) {
		return "", ErrIllFormed
	}
	sort.Slice(forms, func(i, j int) bool { return forms[i].typ < forms[j].typ })
	for i := 1; i < len(forms); i++ {
		if forms[i].typ == forms[i-1].typ {
			return "", ErrIllFormed
		}
	}
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(id)
		b.WriteByte('<')
	}
	for _, f := range features {
		b.WriteString(f)
		b.WriteByte('<')
	}
	for _, f := range forms {
		b.WriteString(f.typ)
		b.WriteByte('<')
		sort.SliceStable(f.fields, func(i, j int) bool { return f.fields[i][0] < f.fields[j][0] })
		for _, fld := range f.fields {
			for _, s := range fld {
				b.WriteString(s)
				b.WriteByte('<')
			}
		}
	}
	h := newH()
	h.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

// dup reports whether a sorted list has a duplicate.
func dup(sorted []string) bool {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return true
		}
	}
	return false
}

// Features returns the features of a disco#info <query/> answer.
func Features(query *xmlel.Element) []string {
	var out []string
	for _, c := range query.Elements() {
		if c.Is(stanza.NSDiscoInfo, "feature") {
			out = append(out, c.Attr("var"))
		}
	}
	return out
}

// Cache keeps values by capabilities key, at most a fixed number of
// them: verification strings are as many as software versions, but an
// entity can make up any number, so the oldest go first. It is safe for
// concurrent use.
type Cache[V any] struct {
	mu    sync.Mutex
	max   int
	m     map[string]V
	order []string
}

// NewCache returns a cache of at most max entries.
func NewCache[V any](max int) *Cache[V] {
	return &Cache[V]{max: max, m: make(map[string]V)}
}

// Get returns the value of key.
func (c *Cache[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

// Put stores the value of key, dropping the oldest entry when full.
func (c *Cache[V]) Put(key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok {
		if len(c.order) >= c.max {
			delete(c.m, c.order[0])
			c.order = slices.Delete(c.order, 0, 1)
		}
		c.order = append(c.order, key)
	}
	c.m[key] = v
}

// Len returns the number of entries.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
