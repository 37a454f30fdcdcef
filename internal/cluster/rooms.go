package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// lease is the owner of a room as the bucket samtal_rooms says.
type lease struct {
	node string
	rev  uint64
}

// roomKey is the lease key of a room: its bare JID in base64url.
func roomKey(room jid.JID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(room.String()))
}

// watchRooms keeps the cache of room leases.
func (n *Node) watchRooms(w jetstream.KeyWatcher) {
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
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(upd.Key())
		if err != nil {
			continue
		}
		room, err := jid.Parse(string(raw))
		if err != nil {
			continue
		}
		n.mu.Lock()
		prev := n.owners[room]
		if upd.Operation() == jetstream.KeyValuePut {
			n.owners[room] = lease{node: string(upd.Value()), rev: upd.Revision()}
		} else {
			delete(n.owners, room)
		}
		// A lease of this node that another node moved or deleted (the
		// leader clears a dead node's leases): only this node's Close
		// deletes its own, after its rooms ended.
		lost := prev.node == n.cfg.Node && (upd.Operation() != jetstream.KeyValuePut || string(upd.Value()) != n.cfg.Node)
		n.mu.Unlock()
		if lost && n.hooks.RoomLost != nil {
			n.log.Warn("cluster: another node took over a room this node ran")
			n.hooks.RoomLost(room)
		}
	}
}

// owner returns the node that owns a room, taking the lease when nobody
// holds it or its holder is dead.
func (n *Node) owner(ctx context.Context, room jid.JID) (string, error) {
	key := roomKey(room)
	for range 4 {
		n.mu.Lock()
		l, cached := n.owners[room]
		n.mu.Unlock()
		if !cached {
			e, err := n.rooms.Get(ctx, key)
			switch {
			case errors.Is(err, jetstream.ErrKeyNotFound):
				rev, err := n.rooms.Create(ctx, key, []byte(n.cfg.Node))
				if err == nil {
					n.setOwner(room, lease{n.cfg.Node, rev})
					return n.cfg.Node, nil
				}
				if !errors.Is(err, jetstream.ErrKeyExists) {
					return "", err
				}
				continue // someone was faster: read theirs
			case err != nil:
				return "", err
			}
			l = lease{node: string(e.Value()), rev: e.Revision()}
			n.setOwner(room, l)
		}
		if n.alive(l.node) {
			return l.node, nil
		}
		// The owner is dead: take the room over. The compare-and-set
		// lets one node win when several try.
		rev, err := n.rooms.Update(ctx, key, []byte(n.cfg.Node), l.rev)
		if err == nil {
			n.log.Info("cluster: room taken over from a dead node", "peer", l.node)
			n.setOwner(room, lease{n.cfg.Node, rev})
			return n.cfg.Node, nil
		}
		// Changed meanwhile: read again.
		n.mu.Lock()
		if n.owners[room] == l {
			delete(n.owners, room)
		}
		n.mu.Unlock()
	}
	return "", errors.New("cluster: room lease contended")
}

func (n *Node) setOwner(room jid.JID, l lease) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if cur, ok := n.owners[room]; !ok || cur.rev < l.rev {
		n.owners[room] = l
	}
}

// Rooms returns the handler for a group chat domain served by svc: a
// stanza for a room goes to the node that owns the room, and the domain
// itself (disco, the room directory) is answered here.
func (n *Node) Rooms(domain string, svc router.Handler) router.Handler {
	n.mu.Lock()
	n.services[domain] = svc
	n.mu.Unlock()
	r := n.r
	return router.HandlerFunc(func(ctx context.Context, st *stanza.Stanza) {
		if st.To.Local() == "" {
			svc.Handle(ctx, st)
			return
		}
		for range 2 {
			owner, err := n.owner(ctx, st.To.Bare())
			if err != nil {
				n.log.Error("cluster: room lease", "err", err)
				r.Bounce(ctx, st, stanza.E(stanza.ServiceUnavailable))
				return
			}
			if owner == n.cfg.Node {
				svc.Handle(ctx, st)
				return
			}
			if n.forwardRoom(owner, st) {
				return
			}
		}
		r.Bounce(ctx, st, stanza.E(stanza.ServiceUnavailable))
	})
}

// forwardRoom sends a room stanza to the room's owner and reports
// whether the owner took it. It waits for the answer, so that a message
// a client's stream management acknowledges is in the room's mailbox.
func (n *Node) forwardRoom(owner string, st *stanza.Stanza) bool {
	msg := nats.NewMsg(roomSubject(owner))
	msg.Header.Set(hdrTo, st.To.String())
	msg.Header.Set(hdrFrom, st.From.String())
	msg.Data = st.El.AppendXML(nil, xmlel.NSClient)
	n.m.Forwarded.With("room").Inc()
	resp, err := n.nc.RequestMsg(msg, n.cfg.ForwardTimeout)
	if err == nil && string(resp.Data) == replyOK {
		return true
	}
	n.m.Failed.Inc()
	if errors.Is(err, nats.ErrNoResponders) {
		n.log.Warn("cluster: room owner does not answer, taken for dead", "peer", owner)
		n.nodeDied(owner)
	}
	return false
}

// onRoom takes a room stanza from another node. A node that no longer
// owns the room (the lease moved) says so, and the sender asks again.
func (n *Node) onRoom(msg *nats.Msg) {
	n.m.Received.With("room").Inc()
	to, err1 := jid.Parse(msg.Header.Get(hdrTo))
	from, err2 := jid.Parse(msg.Header.Get(hdrFrom))
	el, err3 := xmlstream.Parse(msg.Data, stanzaLimits)
	if err := errors.Join(err1, err2, err3); err != nil {
		n.log.Warn("cluster: unreadable room stanza from another node", "err", err)
		_ = msg.Respond([]byte("bad")) // the sender bounces it
		return
	}
	n.mu.Lock()
	l := n.owners[to.Bare()]
	n.mu.Unlock()
	if l.node != n.cfg.Node {
		_ = msg.Respond([]byte("moved")) // the sender asks again
		return
	}
	n.mu.Lock()
	svc := n.services[to.Domain()]
	n.mu.Unlock()
	if svc == nil {
		_ = msg.Respond([]byte("bad"))
		return
	}
	svc.Handle(n.ctx, &stanza.Stanza{El: el, From: from, To: to})
	_ = msg.Respond([]byte(replyOK)) // the asker may have given up
}

// releaseRooms gives up the leases this node holds, so that the rooms
// move at once when it stops.
func (n *Node) releaseRooms(ctx context.Context) {
	n.dropLeases(ctx, n.cfg.Node)
}

// dropLeases deletes the leases of a node, each only if it did not move
// meanwhile.
func (n *Node) dropLeases(ctx context.Context, node string) {
	n.mu.Lock()
	var mine []jid.JID
	var revs []uint64
	for room, l := range n.owners {
		if l.node == node {
			mine = append(mine, room)
			revs = append(revs, l.rev)
		}
	}
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for i, room := range mine {
		err := n.rooms.Purge(ctx, roomKey(room), jetstream.LastRevision(revs[i]), jetstream.PurgeTTL(markerTTL))
		if err != nil && ctx.Err() != nil {
			return
		}
	}
}

// leaseSweep is how many heartbeats pass between two sweeps of this
// node's leases.
const leaseSweep = 30

// sweepLeases gives up the leases of rooms that do not run here any
// more: a stanza for a room takes its lease, and stanzas to any number
// of room names must not fill the bucket. A room that starts again takes
// a lease again, on whichever node gets its next stanza.
func (n *Node) sweepLeases() {
	if n.hooks.RoomActive == nil {
		return
	}
	n.mu.Lock()
	var idle []jid.JID
	var revs []uint64
	for room, l := range n.owners {
		if l.node == n.cfg.Node {
			idle = append(idle, room)
			revs = append(revs, l.rev)
		}
	}
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	for i, room := range idle {
		if n.hooks.RoomActive(room) {
			continue
		}
		n.mu.Lock()
		if n.owners[room].rev == revs[i] {
			// Forgotten here first, so that this node's own stanzas
			// for the room take a lease again instead of being served
			// under one that is going.
			delete(n.owners, room)
		}
		n.mu.Unlock()
		err := n.rooms.Purge(ctx, roomKey(room), jetstream.LastRevision(revs[i]), jetstream.PurgeTTL(markerTTL))
		if err != nil && ctx.Err() != nil {
			return
		}
	}
}
