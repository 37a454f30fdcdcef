// Package sasl implements the server side of the SASL mechanisms samtal
// offers, as pure step functions: no I/O, no goroutines, no mutable
// package state. The caller (c2s) moves the base64-decoded payloads of
// <auth/>, <challenge/> and <response/> in and out and maps the errors to
// RFC 6120 §6.5 failure conditions.
//
// Mechanisms and the specifications they follow:
//
//   - SASL framework: RFC 4422; XMPP profile: RFC 6120 §6.
//   - SCRAM-SHA-1 and SCRAM-SHA-1-PLUS: RFC 5802; SCRAM-SHA-256 and
//     SCRAM-SHA-256-PLUS: RFC 7677. Usernames are prepared with the PRECIS
//     UsernameCaseMapped profile and passwords with OpaqueString
//     (RFC 8265, which replaces SASLprep).
//   - PLAIN: RFC 4616, offered only on encrypted streams, verified
//     against the stored SCRAM keys so that no plaintext password is
//     ever stored.
//   - Channel binding: tls-exporter (RFC 9266) and tls-server-end-point
//     (RFC 5929); the types are announced with XEP-0440
//     (urn:xmpp:sasl-cb:0).
//   - Downgrade protection: XEP-0474 (SSDP) version 0.5.0, the "h"
//     attribute of the SCRAM server-first-message.
//
// Failures are reported as errors that wrap one of the sentinels
// ErrNotAuthorized, ErrMalformed, ErrInvalidMechanism,
// ErrIncorrectEncoding, ErrInvalidAuthzid, ErrEncryptionRequired or
// ErrTemporaryAuthFailure; the wrapped detail is for logs only and must
// never be sent to the peer.
//
// An unknown user is not distinguishable from a wrong password: SCRAM
// answers with a salt derived from the username and Config.FakeSecret
// and the same iteration count as always, and fails only at the final
// step; PLAIN runs the same key derivation and fails the same way.
package sasl
