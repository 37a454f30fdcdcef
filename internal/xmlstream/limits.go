package xmlstream

import "errors"

// Limits bound what one peer can make the server hold.
type Limits struct {
	MaxStanzaBytes int // bytes of one top-level element (after the header), including its children; default 256*1024
	MaxDepth       int // element nesting below the stream root; default 32
	MaxAttrs       int // attributes per element (incl. namespace declarations); default 64
}

const (
	defaultMaxStanzaBytes = 256 * 1024
	defaultMaxDepth       = 32
	defaultMaxAttrs       = 64
)

// WithDefaults returns l with its zero fields set to the defaults. A
// negative field is treated as zero: a limit that lets nothing through would
// only turn every stream into an error.
func (l Limits) WithDefaults() Limits {
	if l.MaxStanzaBytes <= 0 {
		l.MaxStanzaBytes = defaultMaxStanzaBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = defaultMaxDepth
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = defaultMaxAttrs
	}
	return l
}

// Errors returned by the reader wrap one of these; check with errors.Is.
// Each is one stream error of RFC 6120 §4.9.3 that the caller sends.
var (
	// ErrNotWellFormed is <not-well-formed/> (§4.9.3.13): the input is not
	// well-formed XML or not namespace-well-formed.
	ErrNotWellFormed = errors.New("xmlstream: not well-formed")
	// ErrRestricted is <restricted-xml/> (§4.9.3.18): a comment, processing
	// instruction, DTD or entity reference that RFC 6120 §11.1 forbids.
	ErrRestricted = errors.New("xmlstream: restricted xml")
	// ErrTooLarge is <policy-violation/> (§4.9.3.14): an element over
	// MaxStanzaBytes, nested deeper than MaxDepth, or with more than
	// MaxAttrs attributes (or namespace declarations in scope).
	ErrTooLarge = errors.New("xmlstream: over limit")
	// ErrBadPrefix is <bad-namespace-prefix/> (§4.9.3.2): a prefix with no
	// declaration in scope.
	ErrBadPrefix = errors.New("xmlstream: undeclared namespace prefix")
	// ErrBadEncoding is <unsupported-encoding/> (§4.9.3.22): bytes that are
	// not UTF-8, or a declaration naming another encoding (§11.6).
	ErrBadEncoding = errors.New("xmlstream: unsupported encoding")
)
