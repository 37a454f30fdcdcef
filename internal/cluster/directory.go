package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// markerTTL is how long NATS keeps the marker of a removed entry or
// lease (which names its key: a JID in base64) before it forgets it;
// the value goes at once.
var markerTTL = time.Minute // a variable for tests

// maxEntry bounds one directory entry or lease in NATS; a presence too
// large for it is carried without its payload (show, status and priority
// survive).
const maxEntry = 32 << 10

// entry is a resource as the directory holds it.
type entry struct {
	Available  bool   `json:"a,omitempty"`
	Priority   int    `json:"p,omitempty"`
	Presence   string `json:"x,omitempty"` // the last available presence broadcast
	Interested bool   `json:"i,omitempty"`
	Blocklist  bool   `json:"b,omitempty"`
	Carbons    bool   `json:"c,omitempty"`
	Bound      int64  `json:"t"` // unix nanoseconds; the later bind wins a conflict

	sess router.Session // local only: whose carbons state to read
}

// presenceLimits bound presence read back from the directory.
var presenceLimits = xmlstream.Limits{MaxStanzaBytes: maxEntry, MaxDepth: 32, MaxAttrs: 64}

// sessionKey is the directory key of a resource: node, then the full JID
// in unpadded base64url (keys allow only [-/_=.a-zA-Z0-9]).
func sessionKey(node string, full jid.JID) string {
	return node + "." + base64.RawURLEncoding.EncodeToString([]byte(full.String()))
}

func parseSessionKey(key string) (node string, full jid.JID, ok bool) {
	node, enc, found := strings.Cut(key, ".")
	if !found {
		return "", jid.JID{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", jid.JID{}, false
	}
	full, err = jid.Parse(string(raw))
	if err != nil || !full.IsFull() {
		return "", jid.JID{}, false
	}
	return node, full, true
}

// localChange is the router's watcher: it records changes to local
// resources for the publisher. It runs under router.mu and takes only
// pmu.
func (n *Node) localChange(c router.Change) {
	_, remote := c.Resource.Session.(*remoteSession)
	n.pmu.Lock()
	defer n.pmu.Unlock()
	switch {
	case remote:
		if _, ok := n.local[c.JID]; ok && !c.Gone {
			// A newer bind on another node took the resource from a
			// local session, which is told of the conflict.
			delete(n.local, c.JID)
			n.pending[c.JID] = nil
		}
		return
	case c.Gone:
		delete(n.local, c.JID)
		n.pending[c.JID] = nil
	default:
		bound, ok := n.local[c.JID]
		if !ok {
			bound = time.Now().UnixNano()
			n.local[c.JID] = bound
		}
		e := &entry{
			Available: c.Resource.Available, Priority: c.Resource.Priority,
			Interested: c.Resource.Interested, Blocklist: c.Resource.Blocklist,
			Bound: bound, sess: c.Resource.Session,
		}
		if c.Resource.Presence != nil {
			e.Presence = c.Resource.Presence.String()
		}
		n.pending[c.JID] = e
	}
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// Refresh publishes the directory entry of a local resource again: a
// service changed what it carries (carbons enabled or disabled).
func (n *Node) Refresh(full jid.JID) {
	for _, r := range n.r.Resources(full.Bare()) {
		if r.Session.JID().Equal(full) {
			n.localChange(router.Change{JID: full, Resource: r})
			return
		}
	}
}

// republish puts every local resource in the directory again, after a
// reconnection to NATS (the server may have lost the bucket).
func (n *Node) republish() {
	n.pmu.Lock()
	fulls := make([]jid.JID, 0, len(n.local))
	for full := range n.local {
		fulls = append(fulls, full)
	}
	n.pmu.Unlock()
	for _, full := range fulls {
		n.Refresh(full)
	}
}

// publisher writes local changes to the directory, newest state per
// resource: a resource that bound and went at once costs one delete.
func (n *Node) publisher() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.kick:
		}
		if !n.publish(n.ctx) {
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(n.cfg.Heartbeat):
			}
			select {
			case n.kick <- struct{}{}:
			default:
			}
		}
	}
}

// flush publishes what is pending now.
func (n *Node) flush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n.publish(ctx)
}

// publish writes the pending changes and reports whether all were
// written; those that failed are pending again unless newer ones came.
func (n *Node) publish(ctx context.Context) bool {
	n.pmu.Lock()
	batch := n.pending
	n.pending = make(map[jid.JID]*entry)
	n.pmu.Unlock()
	var failed map[jid.JID]*entry
	for full, e := range batch {
		key := sessionKey(n.cfg.Node, full)
		var err error
		if e == nil {
			err = n.sessions.Purge(ctx, key, jetstream.PurgeTTL(markerTTL))
		} else {
			if e.sess != nil && n.hooks.Carbons != nil {
				e.Carbons = n.hooks.Carbons(e.sess)
			}
			if len(e.Presence) > maxEntry-1024 {
				e.Presence = ""
			}
			data, _ := json.Marshal(e) // cannot fail
			_, err = n.sessions.Put(ctx, key, data)
		}
		if err != nil {
			if failed == nil {
				failed = make(map[jid.JID]*entry)
			}
			failed[full] = e
		}
	}
	if failed == nil {
		return true
	}
	n.log.Warn("cluster: directory update failed", "entries", len(failed))
	n.pmu.Lock()
	for full, e := range failed {
		if _, newer := n.pending[full]; !newer {
			n.pending[full] = e
		}
	}
	n.pmu.Unlock()
	return false
}

// purgeSessions deletes the directory entries of a node.
func (n *Node) purgeSessions(ctx context.Context, node string) error {
	lister, err := n.sessions.ListKeysFiltered(ctx, node+".>")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil
		}
		return err
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		if err := n.sessions.Purge(ctx, k, jetstream.PurgeTTL(markerTTL)); err != nil {
			return err
		}
	}
	return nil
}

// watchSessions mirrors the directory entries of the other nodes.
func (n *Node) watchSessions(w jetstream.KeyWatcher) {
	defer n.wg.Done()
	defer w.Stop() //nolint:errcheck // stopping on the way out
	for {
		var upd jetstream.KeyValueEntry
		var ok bool
		select {
		case <-n.ctx.Done():
			return
		case upd, ok = <-w.Updates():
			if !ok {
				return
			}
		}
		if upd == nil {
			continue // the end of the initial values
		}
		node, full, valid := parseSessionKey(upd.Key())
		if !valid {
			continue
		}
		if node == n.cfg.Node {
			if upd.Operation() != jetstream.KeyValuePut {
				// Another node took this one for dead and cleared its
				// entries (it was cut off for a while): those of
				// sessions still bound here go back.
				n.pmu.Lock()
				_, bound := n.local[full]
				n.pmu.Unlock()
				if bound {
					n.Refresh(full)
				}
			}
			continue
		}
		if upd.Operation() != jetstream.KeyValuePut {
			n.forget(node, full)
			continue
		}
		var e entry
		if json.Unmarshal(upd.Value(), &e) != nil {
			continue
		}
		n.mu.Lock()
		m := n.members[node]
		alive := m != nil && m.alive
		// Kept until the node's next heartbeat when it is not (or no
		// longer) taken to be alive: a node that was taken for dead
		// publishes its entries again before its heartbeats are heard.
		// A dead node's late entries go with the next clearing.
		if n.entries[node] == nil {
			n.entries[node] = make(map[jid.JID]entry)
		}
		n.entries[node][full] = e
		n.mu.Unlock()
		if alive {
			n.mirror(node, full, e)
		}
	}
}

// mirrorNode mirrors every entry known of a node that came alive.
func (n *Node) mirrorNode(node string) {
	n.mu.Lock()
	es := make(map[jid.JID]entry, len(n.entries[node]))
	for full, e := range n.entries[node] {
		es[full] = e
	}
	n.mu.Unlock()
	for full, e := range es {
		n.mirror(node, full, e)
	}
}

// mirror puts or updates a remote resource in the router.
func (n *Node) mirror(node string, full jid.JID, e entry) {
	n.amu.Lock()
	defer n.amu.Unlock()
	p, fresh := n.proxy(node, full)
	if fresh && !n.take(p, e.Bound) {
		return
	}
	if n.r.Session(full) != p {
		return
	}
	var pres *xmlel.Element
	if e.Available {
		pres = xmlel.New("", "presence")
		if e.Presence != "" {
			if el, err := xmlstream.Parse([]byte(e.Presence), presenceLimits); err == nil {
				pres = el
			}
		}
	}
	n.r.SetPresence(full, pres, e.Priority)
	if e.Interested {
		n.r.SetInterested(full)
	}
	if e.Blocklist {
		n.r.SetBlocklistInterested(full)
	}
	if n.hooks.RemoteCarbons != nil {
		n.hooks.RemoteCarbons(p, e.Carbons)
	}
}

// proxy returns the remote session that stands for node's resource
// full, made now (fresh) unless there is one. n.amu is held.
func (n *Node) proxy(node string, full jid.JID) (p *remoteSession, fresh bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.proxies[node][full]; p != nil {
		return p, false
	}
	p = &remoteSession{n: n, node: node, full: full}
	if n.proxies[node] == nil {
		n.proxies[node] = make(map[jid.JID]*remoteSession)
	}
	n.proxies[node][full] = p
	return p, true
}

// take binds p, which its node bound at bound, in the router, and
// reports whether it did. A local session of the same resource that
// bound later keeps it, and p is dropped: the other node yields when it
// sees this node's entry. An older local session ends with a conflict
// (RFC 6120 §7.7.2.2), and what it hands back on its way out follows the
// resource to p's node. n.amu is held.
func (n *Node) take(p *remoteSession, bound int64) bool {
	n.pmu.Lock()
	local, isLocal := n.local[p.full]
	n.pmu.Unlock()
	if isLocal && (local > bound || local == bound && n.cfg.Node > p.node) {
		n.mu.Lock()
		if n.proxies[p.node][p.full] == p {
			delete(n.proxies[p.node], p.full)
		}
		n.mu.Unlock()
		return false
	}
	old, _ := n.r.Bind(p, true, 0) // replacing never fails
	if old != nil {
		if _, remote := old.(*remoteSession); !remote {
			old.CloseWithError(stream.Error{Condition: stream.Conflict})
		}
	}
	return true
}

// adopt routes the resource full to node, which bound it at bound and
// asked this node to end its own session of it (see
// remoteSession.CloseWithError), before node's directory entry comes.
// The session that ends here hands the stanzas its client did not
// acknowledge back to the IM core, which sends them where the router
// sends the resource (im.Service.Undelivered): ended first, it would
// find the resource nowhere, and they would go to offline storage, which
// the new session may have read already when its client sent its
// initial presence. The entry, when it comes, updates the resource's
// presence; until then the resource is bound there and not available.
func (n *Node) adopt(node string, full jid.JID, bound int64) {
	n.amu.Lock()
	defer n.amu.Unlock()
	p, fresh := n.proxy(node, full)
	if !fresh && n.r.Session(full) == p {
		return // the entry came first
	}
	n.take(p, bound)
}

// forget takes a remote resource out of the router: its session ended on
// its node, which told its contacts.
func (n *Node) forget(node string, full jid.JID) {
	n.amu.Lock()
	defer n.amu.Unlock()
	n.mu.Lock()
	delete(n.entries[node], full)
	p := n.proxies[node][full]
	delete(n.proxies[node], full)
	n.mu.Unlock()
	if p == nil {
		return
	}
	n.r.Unbind(p)
	if n.hooks.RemoteCarbons != nil {
		n.hooks.RemoteCarbons(p, false)
	}
}
