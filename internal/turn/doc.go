// Package turn is samtal's STUN/TURN relay for voice and video calls and
// the discovery that tells clients about it.
//
// The embedded server (Start) runs pion/turn on UDP, TCP and TLS: STUN
// Binding (RFC 8489) to learn one's public address, and TURN allocations
// (RFC 8656, TCP relays of RFC 6062) to relay media when two clients
// cannot reach each other. It checks the time-limited credentials of the
// TURN REST scheme (draft-uberti-behave-turn-rest, coturn's
// use-auth-secret: Credentials), bounds the allocations of each user and
// of everyone, bounds the rate of each relay, and refuses to relay to the
// server's own services and to loopback, private and other special
// addresses (Policy), so that the relay is no way into the operator's
// network.
//
// Discovery answers External Service Discovery (XEP-0215) for local
// users: the STUN and TURN services, the embedded one and any external
// ones (coturn sharing a secret), each TURN service with fresh
// credentials.
package turn
