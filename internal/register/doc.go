// Package register is in-band registration (XEP-0077): creating an
// account before authentication, and changing its password or removing
// it afterwards; with invitations (XEP-0401 Easy User Onboarding, tokens
// presented as XEP-0445 Pre-Authenticated In-Band Registration describes)
// for hosts that only let invited people in.
//
// Each host has a Policy: closed (no in-band registration at all), invite
// (registration needs an invitation token) or open.
//
// # Before authentication
//
// The c2s layer hands every iq of a stream that has not authenticated to
// PreAuth, with a State it keeps for that stream. PreAuth answers:
//
//   - jabber:iq:register get: the registration form (XEP-0077 §3.1), the
//     legacy <username/> and <password/> fields and the same as a data
//     form (XEP-0077 §4) with FORM_TYPE jabber:iq:register;
//   - jabber:iq:register set: the account is created;
//   - <preauth xmlns='urn:xmpp:pars:0' token='…'/> set (XEP-0445 §3): the
//     invitation is checked and used up, and the stream may then register
//     one account;
//   - anything else: service-unavailable.
//
// An invitation token can also come with the registration itself, as the
// field "token" of the submitted data form or as a <preauth/> element
// inside the <query/>. The form that an invite-only host offers to a
// stream without an accepted invitation has that field, required, and
// leaves out the legacy fields (XEP-0077 §6: a form with a required
// field that has no legacy equivalent comes with instructions only).
//
// Once an account is registered, the stream cannot register another
// (XEP-0077 §3.1.1 allows not-acceptable): one connection, one account.
//
// # After authentication
//
// A user sends jabber:iq:register to their host or their own account:
// a get answers <registered/> with the username (XEP-0077 §3.1), a set
// with <username/> and <password/> changes the password (§3.3), and a set
// with <remove/> deletes the account (§3.2): the result goes to the
// requesting session, every session of the account is closed with the
// stream error not-authorized, and Config.OnRemove runs so that other
// parts can clean up what they keep outside the store.
//
// # Privacy
//
// Passwords are never logged or stored: SCRAM keys for SHA-1 and SHA-256
// are derived from them, each with a fresh salt. Key derivation, the
// expensive step, runs before the store is asked whether the username is
// taken, so that the time a registration takes does not say more about
// existing accounts than the conflict error itself does.
package register
