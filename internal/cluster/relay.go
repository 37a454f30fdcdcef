package cluster

import (
	"context"

	"github.com/nats-io/nats.go"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// The IM core of the node that routes a stanza runs the hooks for it,
// but some services keep state that every node needs: PEP follows the
// presence of the resources it notifies (XEP-0163 §4.3), and a service
// waiting for an iq response is on the node that sent the request, while
// the response reaches the node of the session that answers. These hooks
// relay such events to the other nodes on samtal.hooks.

const (
	subjectHooks = "samtal.hooks"
	hdrNode      = "Samtal-Node" // the relaying node; on a close, the node of the new bind
	hdrUser      = "Samtal-User" // the local user the event is about

	relayOwn  = "own"  // presence of one of the user's resources
	relayPeer = "peer" // presence of another's resource, to the user
	relayIQ   = "iq"   // an iq response to a user's bare JID or a host
)

// Relay is where a node hands the events other nodes relayed.
type Relay struct {
	// Presence follows presence another node saw (el nil: unavailable):
	// of one of the user's resources (own), or of from to the user
	// (pep.Service.RemotePresence).
	Presence func(ctx context.Context, user, from jid.JID, el *xmlel.Element, own bool)
	// IQResponse hands an iq response to the requests waiting here
	// (iq.Mux.Serve, which gives a response to its awaiter).
	IQResponse func(ctx context.Context, st *stanza.Stanza)
}

// SetRelay sets where relayed events go; call it before serving.
func (n *Node) SetRelay(r Relay) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.relay = r
}

// PresenceSent is the im.Hooks PresenceSent hook that relays the
// presence of a local resource.
func (n *Node) PresenceSent(_ context.Context, full jid.JID, el *xmlel.Element, _ bool) {
	n.publishHook(relayOwn, full.Bare(), full, el)
}

// PresenceArrived is the im.Hooks PresenceArrived hook that relays
// presence that reached a user.
func (n *Node) PresenceArrived(_ context.Context, st *stanza.Stanza) {
	el := st.El
	if st.Type() == "unavailable" {
		el = nil
	}
	n.publishHook(relayPeer, st.To.Bare(), st.From, el)
}

// IQResponse is the im.Hooks IQResponse hook that relays an iq response
// no service here expected. It never claims the response.
func (n *Node) IQResponse(_ context.Context, st *stanza.Stanza) bool {
	n.publishHook(relayIQ, st.To, st.From, st.El)
	return false
}

func (n *Node) publishHook(op string, user, from jid.JID, el *xmlel.Element) {
	msg := nats.NewMsg(subjectHooks)
	msg.Header.Set(hdrOp, op)
	msg.Header.Set(hdrNode, n.cfg.Node)
	msg.Header.Set(hdrUser, user.String())
	msg.Header.Set(hdrFrom, from.String())
	if el != nil {
		msg.Data = el.AppendXML(nil, xmlel.NSClient)
	}
	if err := n.nc.PublishMsg(msg); err != nil {
		n.log.Debug("cluster: relay failed", "err", err)
	}
}

// onHook hands a relayed event to this node's services.
func (n *Node) onHook(msg *nats.Msg) {
	if msg.Header.Get(hdrNode) == n.cfg.Node {
		return
	}
	n.mu.Lock()
	r := n.relay
	n.mu.Unlock()
	user, err1 := jid.Parse(msg.Header.Get(hdrUser))
	from, err2 := jid.Parse(msg.Header.Get(hdrFrom))
	if err1 != nil || err2 != nil {
		return
	}
	var el *xmlel.Element
	if len(msg.Data) > 0 {
		var err error
		if el, err = xmlstream.Parse(msg.Data, stanzaLimits); err != nil {
			return
		}
	}
	switch op := msg.Header.Get(hdrOp); {
	case (op == relayOwn || op == relayPeer) && r.Presence != nil:
		r.Presence(n.ctx, user, from, el, op == relayOwn)
	case op == relayIQ && r.IQResponse != nil && el != nil:
		r.IQResponse(n.ctx, &stanza.Stanza{El: el, From: from, To: user})
	}
}
