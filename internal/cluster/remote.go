package cluster

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// stanzaLimits bound stanzas read from other nodes: they were written by
// a node of the cluster, but the limits of a client stream still hold.
var stanzaLimits = xmlstream.Limits{MaxStanzaBytes: 1 << 20, MaxDepth: 64, MaxAttrs: 256}

// Headers of the messages between nodes.
const (
	hdrTo   = "Samtal-To"   // the full JID of the session, or the room's address
	hdrFrom = "Samtal-From" // the sender of a room stanza
	hdrOp   = "Samtal-Op"   // "close": end the session with a stream error
	hdrCond = "Samtal-Cond" // the stream error's condition
	// hdrBound, on a close for a conflict, says when the sending node
	// (hdrNode) bound the resource anew, in unix nanoseconds.
	hdrBound = "Samtal-Bound"
	// hdrMoved marks a message sent on to the node a resource moved to
	// (see replyMoved), which does not send it further: nodes whose
	// views of the resource differ for a moment do not pass it around.
	hdrMoved = "Samtal-Moved"
	replyOK  = "ok"
	// replyMoved, followed by a node's name, answers a message for a
	// resource that moved to that node.
	replyMoved = "moved "
)

// remoteSession stands in the router for a resource bound on another
// node. Send forwards to that node.
//
// Unlike a local session's, its Send may wait: a chat or normal message
// is sent as a request and waits up to Config.ForwardTimeout for the
// other node to queue it, so that a client's stream management
// acknowledges a message only once another node holds it (XEP-0198 §4);
// when no node takes it, it goes back to the IM core as undelivered
// (another resource, or offline storage) before Send returns. Send must
// therefore not be called under router.mu; nothing in samtal does.
type remoteSession struct {
	n    *Node
	node string
	full jid.JID
}

func (p *remoteSession) JID() jid.JID { return p.full }

// Node names the node the resource is bound on (router.Proxy).
func (p *remoteSession) Node() string { return p.node }

// needsAck reports whether a stanza is a message that offline storage
// would keep (RFC 6121 §8.5.2: chat and normal), which must not be lost
// on the way.
func needsAck(el *xmlel.Element) bool {
	if el.Local != stanza.Message {
		return false
	}
	switch el.Attr("type") {
	case "groupchat", "headline", "error":
		return false
	}
	return true
}

// Send forwards el to the session on its node.
func (p *remoteSession) Send(el *xmlel.Element) {
	n := p.n
	msg := deliverTo(p.node, p.full)
	msg.Data = el.AppendXML(nil, xmlel.NSClient)
	n.m.Forwarded.With("deliver").Inc()
	if !needsAck(el) {
		if err := n.nc.PublishMsg(msg); err != nil {
			n.m.Failed.Inc()
			n.log.Debug("cluster: forward failed", "err", err)
		}
		return
	}
	node := p.node
	resp, err := n.nc.RequestMsg(msg, n.cfg.ForwardTimeout)
	if to, moved := movedTo(resp, err); moved && to != p.node && to != n.cfg.Node {
		// The resource was bound anew on another node, which p's node
		// heard of before this one (Node.adopt): the message follows
		// it there. Back here, it would go where this node sends the
		// resource, maybe nowhere yet, and so to offline storage, which
		// the new session may have read already.
		n.forget(p.node, p.full)
		node = to
		on := deliverTo(to, p.full)
		on.Header.Set(hdrMoved, p.node)
		on.Data = msg.Data
		n.m.Forwarded.With("deliver").Inc()
		resp, err = n.nc.RequestMsg(on, n.cfg.ForwardTimeout)
	}
	if err == nil && string(resp.Data) == replyOK {
		return
	}
	n.m.Failed.Inc()
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		// Its deliver subscription is gone, so is the node.
		n.log.Warn("cluster: node does not answer, taken for dead", "peer", node)
		n.nodeDied(node)
	case err == nil:
		// The session ended there; its directory entry is on its way.
		n.forget(node, p.full)
	default:
		// Late or lost: it may have arrived. A copy too many beats a
		// message lost.
		n.log.Warn("cluster: forward timed out", "peer", node, "err", err)
		n.forget(node, p.full)
	}
	if n.hooks.Undelivered != nil {
		n.hooks.Undelivered(n.ctx, p.full, el, time.Now())
	}
}

// deliverTo returns a message for node's deliver subscription about its
// resource full.
func deliverTo(node string, full jid.JID) *nats.Msg {
	msg := nats.NewMsg(deliverSubject(node))
	msg.Header.Set(hdrTo, full.String())
	return msg
}

// CloseWithError asks the session's node to end it with a stream error
// (a conflict, a removed account). A conflict from a bind of the same
// resource on this node says so, and when: the other node then routes
// the resource here before the session ends (Node.adopt), without
// waiting for the directory.
func (p *remoteSession) CloseWithError(e stream.Error) {
	n := p.n
	msg := deliverTo(p.node, p.full)
	msg.Header.Set(hdrOp, "close")
	msg.Header.Set(hdrCond, string(e.Condition))
	if e.Condition == stream.Conflict {
		n.pmu.Lock()
		bound, ok := n.local[p.full]
		n.pmu.Unlock()
		if ok {
			msg.Header.Set(hdrNode, n.cfg.Node)
			msg.Header.Set(hdrBound, strconv.FormatInt(bound, 10))
		}
	}
	if err := n.nc.PublishMsg(msg); err != nil {
		n.log.Debug("cluster: close forward failed", "err", err)
	}
}

// onDeliver takes a stanza (or a close) for a local session from another
// node.
func (n *Node) onDeliver(msg *nats.Msg) {
	n.m.Received.With("deliver").Inc()
	full, err := jid.Parse(msg.Header.Get(hdrTo))
	if err == nil && msg.Header.Get(hdrOp) == "close" {
		if node, bound, ok := boundElsewhere(msg); ok && node != n.cfg.Node {
			// The resource was bound anew on node, which wants the
			// session here to end: the resource goes there first, so
			// that what the session hands back on its way out follows
			// it (see Node.adopt).
			n.adopt(node, full, bound)
			return
		}
	}
	sess := n.r.Session(full)
	if to, remote := sess.(*remoteSession); remote && msg.Reply != "" && msg.Header.Get(hdrOp) == "" && msg.Header.Get(hdrMoved) == "" {
		// The resource was bound anew on another node after the sender
		// routed this message here: the sender sends it on there.
		_ = msg.Respond([]byte(replyMoved + to.node)) // the asker may have given up
		return
	}
	if _, remote := sess.(*remoteSession); err != nil || sess == nil || remote {
		_ = msg.Respond([]byte("gone")) // no reply subject: nothing to tell
		return
	}
	if msg.Header.Get(hdrOp) == "close" {
		cond := stream.Condition(msg.Header.Get(hdrCond))
		if cond == "" {
			cond = stream.UndefinedCondition
		}
		sess.CloseWithError(stream.Error{Condition: cond})
		return
	}
	el, err := xmlstream.Parse(msg.Data, stanzaLimits)
	if err != nil {
		n.log.Warn("cluster: unreadable stanza from another node", "err", err)
		_ = msg.Respond([]byte("bad")) // the sender counts it as lost
		return
	}
	sess.Send(el)
	if msg.Reply != "" {
		_ = msg.Respond([]byte(replyOK)) // the asker may have given up
	}
}

// boundElsewhere reads the node and the time of a new bind from a close
// for a conflict (see remoteSession.CloseWithError).
func boundElsewhere(msg *nats.Msg) (node string, bound int64, ok bool) {
	node = msg.Header.Get(hdrNode)
	if !nodeName.MatchString(node) {
		return "", 0, false
	}
	bound, err := strconv.ParseInt(msg.Header.Get(hdrBound), 10, 64)
	if err != nil {
		return "", 0, false
	}
	return node, bound, true
}

// movedTo reads the node a resource moved to from the answer to a
// message (see replyMoved).
func movedTo(resp *nats.Msg, err error) (node string, ok bool) {
	if err != nil {
		return "", false
	}
	node, ok = strings.CutPrefix(string(resp.Data), replyMoved)
	return node, ok && nodeName.MatchString(node)
}
