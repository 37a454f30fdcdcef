// Package xmlstream reads XMPP streams: the restricted XML of RFC 6120 §11,
// one top-level element at a time, into xmlel trees.
//
// A Reader reads the stream header (RFC 6120 §4.2) with Header and then
// each stanza or nonza with Next; Parse reads one standalone element, as
// WebSocket frames (RFC 7395) and BOSH bodies (XEP-0124) carry them.
//
// # Restricted XML
//
// RFC 6120 §11.1 forbids comments, processing instructions (other than the
// XML declaration that may open the stream), document type declarations and
// entity references other than the five predefined ones. Such input fails
// with ErrRestricted, so that the caller sends <restricted-xml/>. The other
// errors map to stream errors in the same way (RFC 6120 §4.9.3):
// ErrNotWellFormed to <not-well-formed/>, ErrBadPrefix to
// <bad-namespace-prefix/>, ErrBadEncoding to <unsupported-encoding/> and
// ErrTooLarge to <policy-violation/>. They wrap a detail that gives the
// stream offset but never the peer's data, so that they can be logged.
//
// # Limits
//
// Every byte comes from a peer that may be hostile, so Limits bound what one
// stream can make the server hold:
//
//   - MaxStanzaBytes bounds the bytes of one top-level element, counted from
//     its '<' to its last '>'. The reader stops reading as soon as an
//     element would pass it. (The XML declaration and the stream header
//     have a bound of their own, 4 KiB each.)
//   - MaxDepth bounds element nesting, which bounds the work of every
//     recursive walk over the tree later on.
//   - MaxAttrs bounds the attributes of one element, namespace
//     declarations included, which keeps the duplicate check cheap. It
//     also bounds the declarations in scope at once within a stanza (the
//     header's aside), through which every name is resolved.
//
// Only markup (a start or end tag) must be whole in the read buffer; the
// buffer starts at 4 KiB, grows only while one tag does not fit, and shrinks
// back after it. Character data is decoded out of the buffer as it
// arrives, and white space between stanzas is dropped as it is read. So
// the buffer never holds more than about MaxStanzaBytes plus 4 KiB, and no
// more than that is read ahead, whatever the peer sends. The decoded
// strings of an element are no larger than its bytes; its tree is (each
// element is an xmlel.Element of about 90 bytes, so 256 KiB of <a/> is
// some 10 MB while it is read), which is one reason to keep MaxStanzaBytes
// modest. Between stanzas a reader holds only its 4 KiB buffer: the
// scratch space for the element being read comes from a pool.
//
// # Trees
//
// Namespaces are resolved with their XML scoping and prefixes are dropped;
// declarations on the stream header are in scope for every stanza. As
// everywhere in samtal, elements in a content namespace (jabber:client,
// jabber:server, jabber:component:accept) get the empty Space. Character
// data and attribute values are decoded and normalised as XML 1.0 says;
// consecutive character data, CDATA sections included, is one xmlel.Text.
package xmlstream
