// Package ircgw is the IRC gateway: it serves IRC clients (RFC 1459,
// RFC 2812 and the Modern IRC Client Protocol, with the IRCv3
// capabilities listed in the README) as sessions of their samtal
// accounts.
//
// An IRC connection authenticates (IRCv3 SASL 3.2 with PLAIN, SCRAM or
// EXTERNAL, or PASS account:password) and then binds a resource
// user@host/irc-<random> in the router, exactly as a client stream
// binds one (RFC 6120 §7): to the rest of the server it is a client
// session like any other. Its commands become stanzas handed to the IM
// core — JOIN is presence to a room (XEP-0045 §7.2), PRIVMSG to a
// channel a groupchat message, PRIVMSG to a nick a chat message
// (RFC 6121 §5), MODE muc#admin and muc#owner requests (XEP-0045 §8–§10),
// CHATHISTORY archive queries (XEP-0313) — and the stanzas it is sent
// become IRC lines. Rooms, archives, carbons, offline storage and push
// need to know nothing of IRC.
//
// # Names
//
// A nick is the account's localpart and, in a room, the occupant nick; a
// channel #name is the room name@<group chat service>. Names are mapped
// by an injective escaping (names.go): a character that cannot stand
// for itself in an IRC nick or channel name (or in a JID) is written as
// '|', its code point in lower-case hexadecimal and '|'. Only canonical
// escapes are accepted, so an IRC name stands for at most one room or
// account, and every XMPP name has exactly one IRC name. Such a name may
// be too long for an IRC line; it is never cut, and what comes from it
// is shown as sources.go describes.
//
// # Presence
//
// Whether someone is online is presence, which an account shares with
// the contacts it approved (RFC 6121). The gateway answers ISON,
// USERHOST, WHOIS, WHO and MONITOR from the presence the connection is
// sent, as an XMPP client would show it (monitor.go), never from who is
// connected to the server.
//
// # Concurrency
//
// Each connection has a reader goroutine that handles its commands in
// order, waiting for the answers some of them need, and a writer
// (transport.Queue). Send translates under the session's lock and never
// calls the router. See docs/CONCURRENCY.md.
package ircgw
