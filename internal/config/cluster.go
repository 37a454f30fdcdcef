package config

import (
	"regexp"
	"time"
)

// Cluster is the [cluster] section: several nodes with the same
// configuration, one shared PostgreSQL store and a NATS server serve one
// set of domains together. An empty NATSURL is a single node.
type Cluster struct {
	// NATSURL is the NATS server (or servers, comma-separated) the nodes
	// meet at; it needs JetStream enabled.
	NATSURL string `toml:"nats_url"`
	// Node names this node, unique in the cluster; "" takes the host
	// name.
	Node string `toml:"node"`
	// Heartbeat is how often a node says it lives, and DeadAfter the
	// silence after which the others take it for dead.
	Heartbeat Duration `toml:"heartbeat"`
	DeadAfter Duration `toml:"dead_after"`
	// ForwardTimeout is how long a node waits for another to take a
	// message before it stores it offline.
	ForwardTimeout Duration `toml:"forward_timeout"`
	// KVReplicas is how many NATS servers keep the directory and the
	// room leases (JetStream replicas, 1 to 5).
	KVReplicas int `toml:"kv_replicas"`
}

// Enabled reports whether the server is a node of a cluster.
func (c Cluster) Enabled() bool { return c.NATSURL != "" }

func defaultCluster() Cluster {
	return Cluster{
		Heartbeat:      Duration(time.Second),
		DeadAfter:      Duration(5 * time.Second),
		ForwardTimeout: Duration(2 * time.Second),
		KVReplicas:     1,
	}
}

var clusterNode = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks the section; without nats_url nothing else matters.
func (c Cluster) Validate() error {
	var ps Problems
	if !c.Enabled() {
		return nil
	}
	if c.Node != "" && !clusterNode.MatchString(c.Node) {
		ps.add("node", "invalid node name %q: want 1 to 64 letters, digits, '-' or '_'", c.Node)
	}
	if c.Heartbeat <= 0 {
		ps.add("heartbeat", "must be positive")
	}
	if c.DeadAfter < 3*c.Heartbeat {
		ps.add("dead_after", "must be at least three heartbeats")
	}
	if c.ForwardTimeout <= 0 {
		ps.add("forward_timeout", "must be positive")
	}
	if c.KVReplicas < 1 || c.KVReplicas > 5 {
		ps.add("kv_replicas", "must be 1 to 5")
	}
	return ps.err()
}
