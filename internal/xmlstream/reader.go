package xmlstream

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"samtal.org/samtal/internal/xmlel"
)

const (
	// bufSize is the read buffer an idle stream holds. Stanzas are mostly
	// far smaller; only a single tag larger than this grows the buffer.
	bufSize = 4096
	// maxEmptyReads bounds calls to a Read that returns nothing, as bufio does.
	maxEmptyReads = 100
	// waitSize is the buffer a stream with nothing pending reads into:
	// the read that waits for the peer's next stanza holds only this.
	waitSize = 128
	// maxHeaderBytes bounds the XML declaration and the stream header,
	// each. Real headers are a few hundred bytes; MaxStanzaBytes is about
	// what comes after them, and may be set lower than a header.
	maxHeaderBytes = 4096
)

// errShort says that the bytes in the buffer end inside a token; it never
// leaves the package.
var errShort = errors.New("xmlstream: need more input")

var (
	errNoHeader    = errors.New("xmlstream: Next called before Header")
	errHeaderTwice = errors.New("xmlstream: Header called twice without Reset")
	errNegRead     = errors.New("xmlstream: source returned an invalid count from Read")
)

// state is where the scanner is in the stream's grammar.
type state uint8

const (
	sProlog state = iota // before the root: white space, byte order mark, XML declaration
	sDecl                // inside <?xml ... ?>
	sTop                 // between stanzas
	sMarkup              // at a '<'
	sStart               // inside a start tag
	sEnd                 // inside an end tag
	sText                // character data inside an element
	sCDATA               // inside a CDATA section
	sClosed              // after the stream's close tag or Parse's element
)

// event is what a run of the scanner produced.
type event uint8

const (
	evNone event = iota
	evHeader
	evElement
	evClose
)

// Reader reads one XMPP stream. It is not safe for concurrent use: in
// samtal one goroutine per connection reads, parses and handles.
//
// If src returns an error other than io.EOF, Header and Next return it
// unchanged and keep their place, so that the call may be repeated (after a
// read deadline, say). Every other error is final until Reset.
type Reader struct {
	src  io.Reader
	lim  Limits
	buf  []byte
	pos  int   // next unread byte in buf
	w    int   // end of the bytes read into buf
	end  int   // end of the bytes the scanner may use: w, or less where MaxStanzaBytes cuts
	base int64 // stream offset of buf[0]
	rerr error // read error held back until the bytes read with it are used

	fixed      bool // Parse: buf is the caller's data, never written or refilled
	standalone bool // Parse: one element, no stream header

	st      state
	err     error // final error; io.EOF after the close tag
	seen    bool  // a byte other than white space arrived: EOF is no longer clean
	decl    bool  // an XML declaration may no longer come
	limited bool  // in an element (or the header): max counts from start
	start   int64 // stream offset of the current element's '<'
	max     int   // bytes the current element may have: MaxStanzaBytes, or maxHeaderBytes
	// declared counts the namespace declarations that writing the
	// current element (xmlel) adds to what it was read as (see
	// countDeclarations).
	declared int
	tag      tagState
	text0    int // where the current run of character data began in s.sb

	headerDone bool
	root       [2]string // prefix and local name of the stream tag
	content    string
	hns        []hbinding // the header's namespace declarations, in scope for every stanza

	s   *scratch // per-element work space; nil between stanzas
	out *xmlel.Element

	// viewMode makes the element being read a View (see NextView);
	// viewHeld says the last one still holds s and the buffer.
	viewMode, viewHeld bool
	view               View
	// foreign says the element's bytes do not mean on another stream
	// what its tree does: it used a prefix that the stream header
	// declared, or declared a stanza namespace other than the stream's,
	// which the tree keeps as the content namespace.
	foreign bool

	// wait is what a read with nothing pending goes into, so that an
	// idle stream gives its buffer back while it waits (see fill).
	wait [waitSize]byte
}

// freeBufs keeps a few read buffers of streams that wait for input, for
// the next stream that has input. It is bounded, unlike a sync.Pool that
// a quiet server would not empty for minutes: after a burst of sessions
// that went idle, their buffers are garbage, not kept.
var freeBufs = make(chan *[bufSize]byte, 64)

func getBuf() []byte {
	select {
	case b := <-freeBufs:
		return b[:]
	default:
		return new([bufSize]byte)[:]
	}
}

func putBuf(b []byte) {
	if len(b) != bufSize {
		return
	}
	select {
	case freeBufs <- (*[bufSize]byte)(b):
	default:
	}
}

// NewReader returns a reader of the stream that src carries; zero fields of
// lim take their defaults.
func NewReader(src io.Reader, lim Limits) *Reader {
	return &Reader{src: src, lim: lim.WithDefaults()}
}

// Reset makes the reader read a fresh stream from src (stream restart after
// STARTTLS or SASL success, RFC 6120 §4.3.3). Buffered bytes are dropped:
// after STARTTLS they were sent in the clear and must not be trusted
// (RFC 6120 §5.4), and after SASL the peer waits for our features before
// it sends anything.
func (r *Reader) Reset(src io.Reader) {
	r.release()
	buf := r.buf
	if len(buf) > bufSize {
		buf = nil
	}
	*r = Reader{src: src, lim: r.lim.WithDefaults(), buf: buf}
}

// Header reads an optional XML declaration (<?xml version='1.0'?>; an
// encoding, if named, must be UTF-8) and the stream open tag
// <stream:stream ...> (any prefix, or none) and returns it as an element
// with its attributes: Space is the tag's namespace (normally
// http://etherx.jabber.org/streams, which the caller checks), Local its
// name, no children. Namespace declarations are not among the attributes;
// ContentNS gives the default one. White space before the declaration or
// the header is allowed. If the source ends before anything but white
// space, Header returns io.EOF.
func (r *Reader) Header() (*xmlel.Element, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.headerDone {
		return nil, errHeaderTwice
	}
	if _, err := r.run(); err != nil {
		return nil, err
	}
	el := r.out
	r.out = nil
	return el, nil
}

// ContentNS returns the default namespace the header declared (for example
// jabber:client), or "".
func (r *Reader) ContentNS() string {
	return r.content
}

// Next returns the next complete top-level element (a stanza or a nonza
// like <auth/> or <r/>), skipping white space between elements (white
// space keepalives, RFC 6120 §4.6). It returns io.EOF after the stream
// close tag, and io.ErrUnexpectedEOF if the source ends inside the stream.
func (r *Reader) Next() (*xmlel.Element, error) {
	r.finishView()
	if r.err != nil {
		return nil, r.err
	}
	if !r.headerDone {
		return nil, errNoHeader
	}
	ev, err := r.run()
	if err != nil {
		return nil, err
	}
	if ev == evClose {
		r.err = io.EOF
		return nil, io.EOF
	}
	el := r.out
	r.out = nil
	return el, nil
}

// ParseStored parses one element that the server wrote to its store
// itself. The limits are not a stream's, which it came in under: written
// out on its own, an element declares the namespace of each namespaced
// attribute itself, so one that arrived with a stream's 64 attributes,
// their prefixes declared further up, may be stored with up to 129, and
// would be stored but never read again. They are above anything the
// server writes, and still a bound on a damaged store; the size is the
// stored data's, which is in memory already.
func ParseStored(data string) (*xmlel.Element, error) {
	return Parse([]byte(data), Limits{MaxStanzaBytes: len(data) + 1, MaxDepth: 64, MaxAttrs: 256})
}

// Parse parses one complete standalone element from data (a WebSocket frame
// or a BOSH body), with the same restrictions and limits as a stream. White
// space and an XML declaration may come before the element, white space
// after it. An element in a content namespace gets the empty Space, like
// every stanza (see xmlel). Parse does not keep data.
func Parse(data []byte, lim Limits) (*xmlel.Element, error) {
	r := readerPool.Get().(*Reader)
	*r = Reader{
		lim:        lim.WithDefaults(),
		buf:        data,
		w:          len(data),
		end:        len(data),
		fixed:      true,
		standalone: true,
	}
	el, err := r.parse()
	r.release()
	*r = Reader{}
	readerPool.Put(r)
	return el, err
}

// readerPool saves Parse allocating a Reader per frame.
var readerPool = sync.Pool{New: func() any { return new(Reader) }}

func (r *Reader) parse() (*xmlel.Element, error) {
	if _, err := r.run(); err != nil {
		return nil, err
	}
	for i := r.pos; i < r.w; i++ {
		if !isSpace(r.buf[i]) {
			return nil, r.errAt(ErrNotWellFormed, i, "data after the element")
		}
	}
	return r.out, nil
}

// run drives the scanner, reading more input when it runs out, until it
// produces an event.
func (r *Reader) run() (event, error) {
	for {
		ev, err := r.step()
		if err == nil {
			return ev, nil
		}
		if err != errShort {
			return evNone, r.fail(err)
		}
		err = r.fill()
		switch {
		case err == nil:
			continue
		case err == io.EOF:
			switch {
			case r.standalone && !r.seen:
				err = fmt.Errorf("xmlstream: no element: %w", ErrNotWellFormed)
			case r.standalone:
				err = fmt.Errorf("xmlstream: element ends early: %w: %w", ErrNotWellFormed, io.ErrUnexpectedEOF)
			case r.seen:
				err = io.ErrUnexpectedEOF
			}
			return evNone, r.fail(err)
		case errors.Is(err, ErrTooLarge):
			return evNone, r.fail(err)
		}
		// A read error of the source: keep our place so that the call
		// can be repeated.
		return evNone, err
	}
}

// fail makes err final and returns it.
func (r *Reader) fail(err error) error {
	r.err = err
	r.release()
	return err
}

// errAt returns an error of the given kind at buffer index i. The detail
// names what was wrong and where, never the peer's bytes: errors are
// logged, and stanzas are private.
func (r *Reader) errAt(kind error, i int, msg string) error {
	return fmt.Errorf("xmlstream: %s at byte %d: %w", msg, r.base+int64(i), kind)
}

// begin marks the '<' at buffer index i as the start of an element (or of
// the header), from which MaxStanzaBytes (or maxHeaderBytes) counts.
func (r *Reader) begin(i int) {
	r.start = r.base + int64(i)
	r.foreign = false
	r.declared = 0
	r.limited = true
	r.max = r.lim.MaxStanzaBytes
	if !r.headerDone && !r.standalone {
		r.max = maxHeaderBytes
	}
	r.setEnd()
	if r.s == nil {
		r.s = scratchPool.Get().(*scratch)
	}
	r.text0 = len(r.s.sb)
}

// unlimit ends the element that begin started.
func (r *Reader) unlimit() {
	r.limited = false
	r.setEnd()
}

// setEnd sets end: the element being read may use at most MaxStanzaBytes
// bytes from its start, so the scanner never looks past them, and an
// element that needs more fails in fill however the input was chunked.
func (r *Reader) setEnd() {
	r.end = r.w
	if r.limited {
		if m := r.start + int64(r.max) - r.base; m < int64(r.end) {
			r.end = int(m)
		}
	}
}

// discard drops the buffered bytes, which have all been used.
func (r *Reader) discard() {
	if r.fixed {
		return
	}
	r.base += int64(r.w)
	r.pos, r.w, r.end = 0, 0, 0
}

// fill reads more input, keeping buf[pos:]: the token that the scanner is
// in the middle of.
func (r *Reader) fill() error {
	if r.end < r.w {
		return r.errAt(ErrTooLarge, r.end, fmt.Sprintf("element over %d bytes", r.max))
	}
	if r.rerr != nil {
		err := r.rerr
		if err != io.EOF {
			r.rerr = nil
		}
		return err
	}
	if r.fixed || r.src == nil {
		return io.EOF
	}
	if keep := r.keep(); keep > 0 {
		n := copy(r.buf, r.buf[keep:r.w])
		r.base += int64(keep)
		r.pos -= keep
		r.w = n
	}
	if r.w == 0 && r.base > 0 {
		// Nothing pending: this read may wait long for the peer. Give
		// the buffer back while it does, and take one when bytes come.
		return r.fillIdle()
	}
	if r.buf == nil {
		// A stream's first read: its peer sends the stream header at
		// once, and a header is larger than the wait buffer, so a read
		// into that would cost a second read for the rest.
		r.buf = getBuf()
	}
	if r.w == len(r.buf) {
		// One token fills the buffer: grow it, but never past what the
		// stanza limit lets a token be.
		n := max(2*len(r.buf), bufSize)
		n = min(n, max(r.lim.MaxStanzaBytes, maxHeaderBytes)+bufSize)
		if n <= r.w {
			return r.errAt(ErrTooLarge, r.w, "token over the buffer limit")
		}
		nb := make([]byte, n)
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	top := len(r.buf)
	if r.limited {
		// Do not read much past the end of an element that may be too
		// large: the peer could be sending an endless one.
		if m := r.start + int64(r.max) + bufSize - r.base; m < int64(top) {
			top = int(m)
		}
	}
	for range maxEmptyReads {
		n, err := r.src.Read(r.buf[r.w:top])
		if n < 0 || n > top-r.w {
			return errNegRead
		}
		r.w += n
		if n > 0 {
			r.rerr = err
			r.setEnd()
			return nil
		}
		if err != nil {
			if err == io.EOF {
				r.rerr = err
			}
			return err
		}
	}
	return io.ErrNoProgress
}

// keep returns where the bytes fill keeps begin: the token the scanner is
// in, or, for NextView, the element's start, while the element so far
// leaves the buffer room, so that a stanza that came in several reads
// keeps its bytes for View.Raw. A larger one gives them up rather than
// grow the buffer.
func (r *Reader) keep() int {
	if r.viewMode && r.limited && r.start >= r.base {
		if s := int(r.start - r.base); r.w-s < len(r.buf) {
			return s
		}
	}
	return r.pos
}

// fillIdle reads into the small wait buffer while the reader holds no
// pending bytes, then moves what came into a pooled buffer.
func (r *Reader) fillIdle() error {
	putBuf(r.buf)
	r.buf = nil
	top := waitSize
	if r.limited {
		if m := r.start + int64(r.max) + bufSize - r.base; m < int64(top) {
			top = int(max(m, 1))
		}
	}
	for range maxEmptyReads {
		n, err := r.src.Read(r.wait[:top])
		if n < 0 || n > top {
			return errNegRead
		}
		if n > 0 {
			r.buf = getBuf()
			r.w = copy(r.buf, r.wait[:n])
			r.rerr = err
			r.setEnd()
			return nil
		}
		if err != nil {
			if err == io.EOF {
				r.rerr = err
			}
			return err
		}
	}
	return io.ErrNoProgress
}

// shrink gives back a buffer that one large tag grew, so that an idle
// stream holds little.
func (r *Reader) shrink() {
	if r.fixed || len(r.buf) <= bufSize || r.w-r.pos > bufSize {
		return
	}
	nb := make([]byte, bufSize)
	n := copy(nb, r.buf[r.pos:r.w])
	r.base += int64(r.pos)
	r.buf, r.pos, r.w = nb, 0, n
	r.setEnd()
}

// Release gives the reader's buffers back for other streams to use, once
// its stream is over; the reader reads nothing after it. Most streams end
// with the peer's closing tag in a pooled buffer, so without it a login
// would cost a fresh buffer.
func (r *Reader) Release() {
	r.viewHeld = false
	r.release()
	if !r.fixed {
		putBuf(r.buf)
	}
	r.buf, r.pos, r.w, r.end = nil, 0, 0, 0
	r.src = nil
}

// release returns the scratch space to the pool.
func (r *Reader) release() {
	if r.s != nil {
		r.s.reset()
		scratchPool.Put(r.s)
		r.s = nil
	}
}
