// Package disco answers Service Discovery (XEP-0030) requests for the
// server's hosts and its users' accounts, and publishes each host's
// contact addresses (XEP-0157) as a Service Discovery Extensions form
// (XEP-0128).
//
// What a host advertises comes from the iq.Mux that every service
// registers into: identities, features and extension forms. Items of a
// host (the group chat service, the upload service) are added with
// AddItem by the services that own them.
//
// Requests to a bare JID are answered by the server on the account's
// behalf (XEP-0030 §3.1, §4.1) under the access rules of XEP-0030 §8:
// only the account's owner, the server itself and contacts who may see
// the account's presence learn anything; everyone else gets
// service-unavailable for disco#info and an empty disco#items, which is
// also what they would get for an account that does not exist.
package disco
