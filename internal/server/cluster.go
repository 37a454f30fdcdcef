package server

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"samtal.org/samtal/internal/cluster"
	"samtal.org/samtal/internal/im"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/pep"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
)

// startCluster joins the cluster of [cluster] when nats_url is set:
// from then on the router holds the sessions of every node, and stanzas
// for the other nodes' sessions and rooms go to them over NATS. The IM
// core takes back what no node took; carbons learn which remote sessions
// enabled them. It runs before the group chat services, which it wraps
// (startMUC), and closes after the client sessions ended.
func (s *Server) startCluster(ctx context.Context, core *im.Service) error {
	cc := s.cfg.Cluster
	if !cc.Enabled() {
		return nil
	}
	name := cc.Node
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("cluster: node name: %w", err)
		}
		// The first label of the host name, in the characters a node
		// name may have.
		h, _, _ = strings.Cut(h, ".")
		name = strings.Map(func(r rune) rune {
			if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
				return r
			}
			return '-'
		}, h)
	}
	hooks := cluster.Hooks{
		Undelivered:     core.Undelivered,
		Ended:           core.Ended,
		ForgetBlocklist: core.ForgetBlocklist,
		// The group chat services exist before anyone binds.
		RoomLost: func(room jid.JID) {
			for _, m := range s.mucs {
				if m.Domain() == room.Domain() {
					m.Release(room)
				}
			}
		},
		RoomActive: func(room jid.JID) bool {
			for _, m := range s.mucs {
				if m.Domain() == room.Domain() {
					return m.Active(room)
				}
			}
			return false
		},
		// Carbons exist once messaging is built, before anyone binds.
		Carbons: func(sess router.Session) bool { return s.carbons != nil && s.carbons.Enabled(sess) },
		RemoteCarbons: func(sess router.Session, enabled bool) {
			if s.carbons != nil {
				s.carbons.SetRemote(sess, enabled)
			}
		},
	}
	n, err := cluster.Start(ctx, cluster.Config{
		URL:            cc.NATSURL,
		Node:           name,
		Location:       s.cfg.Stream.Location,
		Heartbeat:      time.Duration(cc.Heartbeat),
		DeadAfter:      time.Duration(cc.DeadAfter),
		ForwardTimeout: time.Duration(cc.ForwardTimeout),
		Replicas:       cc.KVReplicas,
	}, s.router, hooks, cluster.NewMetrics(s.reg), s.log)
	if err != nil {
		return err
	}
	s.cluster = n
	s.closers = append(s.closers, n.Close)
	s.reg.NewGaugeFunc("samtal_cluster_sessions", "Client sessions bound on this node.", func() float64 { return float64(n.Sessions()) })
	s.reg.NewGaugeFunc("samtal_cluster_nodes", "Live nodes of the cluster, this one included.", func() float64 { return float64(len(n.Nodes())) })
	s.addrs = append(s.addrs, "cluster node "+name)
	return nil
}

// clusterHooks relays what the other nodes' services must see: blocklist
// changes, presence that PEP follows, and iq responses to requests that
// another node sent. It runs after every other service added its hooks,
// so that the relayed presence is the one that went out and the
// services here had their chance at a response.
func (s *Server) clusterHooks(core *im.Service, mux *iq.Mux, p *pep.Service) {
	n := s.cluster
	if n == nil {
		return
	}
	core.AddHooks(im.Hooks{
		BlocklistChanged: n.BlocklistChanged,
		PresenceSent:     n.PresenceSent,
		PresenceArrived:  n.PresenceArrived,
		IQResponse:       n.IQResponse,
	})
	n.SetRelay(cluster.Relay{
		Presence: p.RemotePresence,
		IQResponse: func(ctx context.Context, st *stanza.Stanza) {
			mux.Serve(ctx, iq.Account, st)
		},
	})
}
