// Package ping answers XMPP Ping (XEP-0199) requests that the server
// handles itself: client-to-server and server-to-server pings to a host
// (§4.2, §4.3), and pings to a user's bare JID, which the server answers
// on the user's behalf (§4.2 note, §4.4 note).
package ping

import (
	"context"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// NS is the XMPP Ping namespace (XEP-0199 §3).
const NS = "urn:xmpp:ping"

// New registers the ping handler for hosts and accounts in mux and
// advertises urn:xmpp:ping for both (XEP-0199 §5).
//
// A ping to a bare JID is answered for any sender: the account exists
// (the caller answers service-unavailable otherwise), and XEP-0199 §4.4
// says the server handles such a ping on the client's behalf.
func New(mux *iq.Mux) {
	mux.Handle(iq.Server, NS, handle)
	mux.Handle(iq.Account, NS, handle)
	mux.AddFeature(iq.Server, NS)
	mux.AddFeature(iq.Account, NS)
}

// handle answers a ping with an empty result, the "pong" (XEP-0199 §3).
func handle(_ context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	if st.Type() != "get" || st.Payload().Local != "ping" {
		// XEP-0199 §3: a ping is an IQ-get carrying <ping/>; nothing else
		// in the namespace is defined.
		return nil, stanza.E(stanza.BadRequest)
	}
	return nil, nil
}
