package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/xmlel"
)

// Config configures a node of a cluster.
type Config struct {
	URL  string // NATS server URL(s), comma-separated
	Node string // this node's name, unique in the cluster
	// Location is where clients reach this node's client listener
	// ("host:port", XEP-0198's location), told to the other nodes so
	// that they send a client resuming a session here to it; "" when
	// clients cannot reach a node by itself.
	Location string

	Heartbeat      time.Duration // between heartbeats; default 1 s
	DeadAfter      time.Duration // silence after which a node is dead; default 5 s
	ForwardTimeout time.Duration // wait for a node to take a stanza; default 2 s
	// MaxBytes bounds each key-value bucket (sessions, room leases) in
	// the NATS server; default 256 MiB.
	MaxBytes int64
	// Replicas is how many NATS servers keep each bucket (1 to 5): 3 in a
	// NATS cluster of three, so that the directory survives one of them.
	// Default 1.
	Replicas int
}

var nodeName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("cluster: nats_url is required"))
	}
	if !nodeName.MatchString(c.Node) {
		errs = append(errs, errors.New("cluster: node must be 1 to 64 letters, digits, '-' or '_'"))
	}
	c = c.withDefaults()
	if c.DeadAfter < 3*c.Heartbeat {
		errs = append(errs, errors.New("cluster: dead_after must be at least three heartbeats"))
	}
	if c.ForwardTimeout <= 0 || c.Heartbeat <= 0 || c.MaxBytes <= 0 {
		errs = append(errs, errors.New("cluster: durations and sizes must be positive"))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, errors.New("cluster: replicas must be 1 to 5"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Heartbeat == 0 {
		c.Heartbeat = time.Second
	}
	if c.DeadAfter == 0 {
		c.DeadAfter = 5 * c.Heartbeat
	}
	if c.ForwardTimeout == 0 {
		c.ForwardTimeout = 2 * time.Second
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 256 << 20
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	return c
}

// Hooks connect the node to the IM core and to the services that keep
// state per session, which the cluster package does not import
// (features meet through the router and hooks).
type Hooks struct {
	// Undelivered takes back a message for a remote session that did
	// not take it (im.Service.Undelivered).
	Undelivered func(ctx context.Context, gone jid.JID, el *xmlel.Element, at time.Time)
	// Ended tells the contacts of a session of a dead node that it is
	// gone (im.Service.Ended); one live node calls it for each.
	Ended func(ctx context.Context, sess router.Session, last router.Resource)
	// Carbons reports whether a local session enabled message carbons,
	// which the directory carries to the other nodes.
	Carbons func(sess router.Session) bool
	// RemoteCarbons records the carbons state of a remote session
	// (carbons.Service.SetRemote); enabled false forgets it.
	RemoteCarbons func(sess router.Session, enabled bool)
	// ForgetBlocklist drops a cached blocklist that changed on another
	// node (im.Service.ForgetBlocklist).
	ForgetBlocklist func(user jid.JID)
	// RoomLost tells the group chat service that another node took over
	// a room this node ran (this node was taken for dead while it lived):
	// its occupants here must join it again there (muc.Service.Release).
	RoomLost func(room jid.JID)
	// RoomActive reports whether a room runs on this node
	// (muc.Service.Active); the leases of rooms that do not are given
	// up, so that addressing rooms that nobody uses grows nothing.
	RoomActive func(room jid.JID) bool
}

// Metrics are a node's counters.
type Metrics struct {
	Forwarded *metrics.CounterVec // label: kind (deliver, room); stanzas sent to other nodes
	Received  *metrics.CounterVec // label: kind; stanzas taken from other nodes
	Failed    *metrics.Counter    // forwards no node took
}

// NewMetrics registers a node's metrics in reg; sessions is the number of
// sessions bound on this node.
func NewMetrics(reg *metrics.Registry) *Metrics {
	return &Metrics{
		Forwarded: reg.NewCounter("samtal_cluster_forwarded_total", "Stanzas forwarded to other cluster nodes.", "kind"),
		Received:  reg.NewCounter("samtal_cluster_received_total", "Stanzas received from other cluster nodes.", "kind"),
		Failed:    reg.NewCounter("samtal_cluster_forward_failed_total", "Forwards that no node took (the node or session was gone).").With(),
	}
}

// Node is this server's membership in a cluster. It is safe for
// concurrent use.
type Node struct {
	cfg   Config
	r     *router.Router
	hooks Hooks
	m     *Metrics
	log   *slog.Logger
	start int64 // this incarnation, in unix nanoseconds

	nc       *nats.Conn
	sessions jetstream.KeyValue
	rooms    jetstream.KeyValue
	subs     []*nats.Subscription

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// pmu guards the local changes waiting to be published (a leaf lock:
	// the router's watcher takes it under router.mu).
	pmu     sync.Mutex
	pending map[jid.JID]*entry // nil: delete
	local   map[jid.JID]int64  // bound local resources and when they bound
	kick    chan struct{}

	// amu serializes changes to the mirrored resources (from the watcher
	// and from heartbeats); router calls are made under it.
	amu sync.Mutex

	// mu guards the view of the other nodes. Nothing else is taken under
	// it except pmu; router calls are made after releasing it.
	mu      sync.Mutex
	members map[string]*member
	entries map[string]map[jid.JID]entry          // directory entries by node
	proxies map[string]map[jid.JID]*remoteSession // mirrored into the router, by node
	owners  map[jid.JID]lease                     // room leases
	// services are the group chat services by domain.
	services map[string]router.Handler
	relay    Relay
}

type member struct {
	start    int64
	last     time.Time
	alive    bool
	sessions int
	location string
}

// heartbeat is what a node publishes on samtal.hb.
type heartbeat struct {
	Node     string `json:"node"`
	Start    int64  `json:"start"`
	Sessions int    `json:"sessions"`
	Bye      bool   `json:"bye,omitempty"`
	Location string `json:"location,omitempty"`
}

const (
	subjectHeartbeat = "samtal.hb"
	subjectStatus    = "samtal.status"
	subjectBlocklist = "samtal.blocklist"
	bucketSessions   = "samtal_sessions"
	bucketRooms      = "samtal_rooms"
)

func deliverSubject(node string) string { return "samtal.node." + node + ".deliver" }
func roomSubject(node string) string    { return "samtal.node." + node + ".room" }

// Start connects to NATS, joins the cluster and starts mirroring: from
// now on r's table holds the sessions of the other live nodes, and this
// node's changes to it reach them. Call it before the server serves.
func Start(ctx context.Context, cfg Config, r *router.Router, hooks Hooks, m *Metrics, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := &Node{
		cfg: cfg, r: r, hooks: hooks, m: m, log: log.With("node", cfg.Node),
		start:   time.Now().UnixNano(),
		pending: make(map[jid.JID]*entry),
		local:   make(map[jid.JID]int64),
		kick:    make(chan struct{}, 1),
		members: make(map[string]*member),
		entries: make(map[string]map[jid.JID]entry),
		proxies: make(map[string]map[jid.JID]*remoteSession),
		owners:  make(map[jid.JID]lease),

		services: make(map[string]router.Handler),
	}
	nc, err := nats.Connect(cfg.URL,
		nats.Name("samtal "+cfg.Node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			n.log.Warn("cluster: disconnected from NATS", "err", err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			n.log.Info("cluster: reconnected to NATS")
			n.republish()
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect: %w", err)
	}
	n.nc = nc
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.open(ctx); err != nil {
		n.cancel()
		nc.Close()
		return nil, err
	}
	r.SetWatcher(n.localChange)
	return n, nil
}

// ErrNameTaken is returned by Start when a live node of the cluster has
// this node's name.
var ErrNameTaken = errors.New("cluster: a live node has this node's name")

// open creates the buckets, clears what an earlier incarnation of this
// node left, subscribes and starts the goroutines.
func (n *Node) open(ctx context.Context) error {
	// Two nodes of one name would clear each other's sessions: a live
	// node answers on its deliver subject, a dead one does not.
	probe := nats.NewMsg(deliverSubject(n.cfg.Node))
	probe.Header.Set(hdrTo, "")
	if _, err := n.nc.RequestMsg(probe, n.cfg.ForwardTimeout); err == nil {
		return fmt.Errorf("%w (%s)", ErrNameTaken, n.cfg.Node)
	} else if !errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("cluster: name check: %w", err)
	}
	js, err := jetstream.New(n.nc)
	if err != nil {
		return fmt.Errorf("cluster: jetstream: %w", err)
	}
	for _, b := range []struct {
		name string
		kv   *jetstream.KeyValue
	}{{bucketSessions, &n.sessions}, {bucketRooms, &n.rooms}} {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:       b.name,
			History:      1,
			MaxBytes:     n.cfg.MaxBytes,
			MaxValueSize: maxEntry,
			Replicas:     n.cfg.Replicas,
			// Markers of removed keys expire (markerTTL): the bucket
			// keeps only the sessions and leases that exist.
			LimitMarkerTTL: markerTTL,
		})
		if err != nil {
			return fmt.Errorf("cluster: bucket %s: %w", b.name, err)
		}
		*b.kv = kv
	}
	// An earlier run of this node died without taking its sessions out
	// of the directory: none of them is bound any more.
	if err := n.purgeSessions(ctx, n.cfg.Node); err != nil {
		return err
	}
	subscribe := func(subj string, h nats.MsgHandler) error {
		sub, err := n.nc.Subscribe(subj, h)
		if err != nil {
			return fmt.Errorf("cluster: subscribe %s: %w", subj, err)
		}
		// A slow node holds at most this much for others before NATS
		// drops (and counts) the rest.
		_ = sub.SetPendingLimits(100_000, 256<<20) // only fails on a closed subscription
		n.subs = append(n.subs, sub)
		return nil
	}
	if err := subscribe(subjectHeartbeat, n.onHeartbeat); err != nil {
		return err
	}
	if err := subscribe(subjectStatus, n.onStatus); err != nil {
		return err
	}
	if err := subscribe(subjectBlocklist, n.onBlocklist); err != nil {
		return err
	}
	if err := subscribe(subjectAccounts, n.onAccount); err != nil {
		return err
	}
	if err := subscribe(subjectHooks, n.onHook); err != nil {
		return err
	}
	if err := subscribe(deliverSubject(n.cfg.Node), n.onDeliver); err != nil {
		return err
	}
	if err := subscribe(roomSubject(n.cfg.Node), n.onRoom); err != nil {
		return err
	}
	sw, err := n.sessions.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("cluster: watch sessions: %w", err)
	}
	rw, err := n.rooms.WatchAll(ctx)
	if err != nil {
		_ = sw.Stop() // the error that matters is err
		return fmt.Errorf("cluster: watch rooms: %w", err)
	}
	n.beat(false)
	n.wg.Add(4)
	go n.watchSessions(sw)
	go n.watchRooms(rw)
	go n.publisher()
	go n.liveness()
	return nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Node }

// Close leaves the cluster: the room leases this node holds are released
// and the other nodes hear that it is gone. Call it after the client
// sessions have ended, so that their directory entries are gone too.
func (n *Node) Close(ctx context.Context) {
	n.flush(ctx)
	n.releaseRooms(ctx)
	n.beat(true)
	if err := n.nc.FlushTimeout(time.Second); err != nil {
		n.log.Warn("cluster: flush on close failed", "err", err)
	}
	n.cancel()
	for _, s := range n.subs {
		_ = s.Unsubscribe() // the connection closes next anyway
	}
	n.wg.Wait()
	n.nc.Close()
}

// beat publishes a heartbeat with the number of local sessions.
func (n *Node) beat(bye bool) {
	n.pmu.Lock()
	count := len(n.local)
	n.pmu.Unlock()
	data, _ := json.Marshal(heartbeat{Node: n.cfg.Node, Start: n.start, Sessions: count, Bye: bye, Location: n.cfg.Location}) // cannot fail
	if err := n.nc.Publish(subjectHeartbeat, data); err != nil {
		n.log.Warn("cluster: heartbeat failed", "err", err)
	}
}

// liveness sends heartbeats and declares silent nodes dead.
func (n *Node) liveness() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	beats := 0
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.beat(false)
		if beats++; beats%leaseSweep == 0 {
			n.sweepLeases()
		}
		var dead []string
		now := time.Now()
		listened := now.Sub(time.Unix(0, n.start)) > n.cfg.DeadAfter
		n.mu.Lock()
		for name, m := range n.members {
			if m.alive && now.Sub(m.last) > n.cfg.DeadAfter {
				dead = append(dead, name)
			}
		}
		if listened {
			// Entries of a node not heard for dead_after: it died when
			// no node was there to see it, or they came after its death.
			for name, es := range n.entries {
				if m := n.members[name]; len(es) > 0 && (m == nil || !m.alive && now.Sub(m.last) > n.cfg.DeadAfter) {
					dead = append(dead, name)
				}
			}
		}
		n.mu.Unlock()
		for _, name := range dead {
			n.log.Warn("cluster: node silent, taken for dead", "peer", name)
			n.nodeDied(name)
		}
	}
}

// onHeartbeat records that a node lives; a node heard for the first time
// (or again, or in a new incarnation) gets its sessions mirrored.
func (n *Node) onHeartbeat(msg *nats.Msg) {
	var hb heartbeat
	if err := json.Unmarshal(msg.Data, &hb); err != nil || !nodeName.MatchString(hb.Node) || hb.Node == n.cfg.Node {
		return
	}
	if hb.Bye {
		n.nodeDied(hb.Node)
		return
	}
	n.mu.Lock()
	m := n.members[hb.Node]
	if m != nil && m.alive && m.start != hb.Start {
		// Restarted faster than it could be missed: its old sessions
		// are gone.
		n.mu.Unlock()
		n.nodeDied(hb.Node)
		n.mu.Lock()
		m = n.members[hb.Node]
	}
	if m == nil {
		m = &member{}
		n.members[hb.Node] = m
	}
	wasAlive := m.alive
	m.alive, m.last, m.start, m.sessions, m.location = true, time.Now(), hb.Start, hb.Sessions, hb.Location
	n.mu.Unlock()
	if !wasAlive {
		n.log.Info("cluster: node joined", "peer", hb.Node)
		n.mirrorNode(hb.Node)
	}
}

// alive reports whether a node is taken to be alive. A node never heard
// of counts as alive until this node has listened for DeadAfter, so that
// a node that just started takes no lease from a live owner.
func (n *Node) alive(name string) bool {
	if name == n.cfg.Node {
		return true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if m := n.members[name]; m != nil {
		return m.alive
	}
	return time.Since(time.Unix(0, n.start)) < n.cfg.DeadAfter
}

// Location returns where clients reach another live node (the location
// in its heartbeats), for a client resuming a session of that node
// (XEP-0198 §5); false for this node, a dead or unknown one, or one
// without a location.
func (n *Node) Location(node string) (string, bool) {
	if node == n.cfg.Node {
		return "", false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.members[node]
	if m == nil || !m.alive || m.location == "" {
		return "", false
	}
	return m.location, true
}

// leader reports whether this node is the live node with the smallest
// name, which does what one node must do for a dead one.
func (n *Node) leader() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for name, m := range n.members {
		if m.alive && name < n.cfg.Node {
			return false
		}
	}
	return true
}

// nodeDied takes a dead node's sessions out of the router. The leader
// also tells their contacts and clears the node's entries and leases
// from NATS. It may be called more than once for one death.
func (n *Node) nodeDied(name string) {
	n.mu.Lock()
	m := n.members[name]
	if m == nil {
		m = &member{}
		n.members[name] = m
	}
	if !m.alive && m.last.IsZero() && len(n.proxies[name]) == 0 && len(n.entries[name]) == 0 {
		// Never seen: nothing to do but remember it is not alive.
		n.mu.Unlock()
		return
	}
	wasAlive := m.alive
	m.alive = false
	n.mu.Unlock()
	n.amu.Lock()
	n.mu.Lock()
	proxies := n.proxies[name]
	stale := len(n.entries[name]) > 0
	delete(n.proxies, name)
	delete(n.entries, name)
	n.mu.Unlock()
	type gone struct {
		p    *remoteSession
		last router.Resource
	}
	var ended []gone
	for _, p := range proxies {
		if last, ok := n.r.Unbind(p); ok {
			ended = append(ended, gone{p, last})
		}
		if n.hooks.RemoteCarbons != nil {
			n.hooks.RemoteCarbons(p, false)
		}
	}
	n.amu.Unlock()
	if !wasAlive && len(ended) == 0 && !stale {
		return
	}
	n.log.Warn("cluster: node gone", "peer", name, "sessions", len(ended))
	// The broadcasts and NATS calls take time: not in the goroutine that
	// found the death (it may be a client's reader).
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		// A node that just started may not have heard the others yet,
		// and would take itself for the leader.
		if wait := time.Until(time.Unix(0, n.start).Add(2 * n.cfg.Heartbeat)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-n.ctx.Done():
				return
			}
		}
		if !n.leader() {
			return
		}
		ctx, cancel := context.WithTimeout(n.ctx, time.Minute)
		defer cancel()
		if n.hooks.Ended != nil {
			for _, g := range ended {
				n.hooks.Ended(ctx, g.p, g.last)
			}
		}
		if err := n.purgeSessions(ctx, name); err != nil {
			n.log.Warn("cluster: clearing a dead node's sessions failed", "err", err)
		}
		n.dropLeases(ctx, name)
	}()
}

// BlocklistChanged tells the other nodes that a user's blocklist
// changed, so that they drop their cached copy (XEP-0191 §3.3: from now
// on nothing from a blocked entity reaches the user, whichever node it
// comes through). It is an im.Hooks BlocklistChanged hook.
func (n *Node) BlocklistChanged(_ context.Context, user jid.JID) {
	msg := nats.NewMsg(subjectBlocklist)
	msg.Header.Set(hdrFrom, n.cfg.Node)
	msg.Data = []byte(user.String())
	// Before the user's client hears that the change is done.
	n.publishNow(msg, "blocklist change")
}

// publishNow publishes a change for the other nodes and waits until the
// NATS server has it, so that it is under way before whoever made the
// change hears that it is done. what names it in the log.
func (n *Node) publishNow(msg *nats.Msg, what string) {
	if err := n.nc.PublishMsg(msg); err != nil {
		n.log.Warn("cluster: "+what+" not sent", "err", err)
		return
	}
	if err := n.nc.FlushTimeout(n.cfg.ForwardTimeout); err != nil {
		n.log.Warn("cluster: "+what+" not flushed", "err", err)
	}
}

func (n *Node) onBlocklist(msg *nats.Msg) {
	if msg.Header.Get(hdrFrom) == n.cfg.Node || n.hooks.ForgetBlocklist == nil {
		return
	}
	if user, err := jid.Parse(string(msg.Data)); err == nil {
		n.hooks.ForgetBlocklist(user.Bare())
	}
}

// Nodes returns the names of the nodes taken to be alive, this one
// included, sorted.
func (n *Node) Nodes() []string {
	out := []string{n.cfg.Node}
	n.mu.Lock()
	for name, m := range n.members {
		if m.alive {
			out = append(out, name)
		}
	}
	n.mu.Unlock()
	slices.Sort(out)
	return out
}

// Sessions returns the number of sessions bound on this node.
func (n *Node) Sessions() int {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	return len(n.local)
}

// Status is one node's answer to `samtal cluster status`.
type Status struct {
	Node     string `json:"node"`
	Sessions int    `json:"sessions"`
	Rooms    int    `json:"rooms"` // leases held
	Peers    int    `json:"peers"` // other live nodes it sees
	Uptime   string `json:"uptime"`
}

// onStatus answers a status request.
func (n *Node) onStatus(msg *nats.Msg) {
	if msg.Reply == "" {
		return
	}
	st := Status{Node: n.cfg.Node, Sessions: n.Sessions(), Peers: len(n.Nodes()) - 1,
		Uptime: time.Since(time.Unix(0, n.start)).Round(time.Second).String()}
	n.mu.Lock()
	for _, l := range n.owners {
		if l.node == n.cfg.Node {
			st.Rooms++
		}
	}
	n.mu.Unlock()
	data, _ := json.Marshal(st) // cannot fail
	_ = msg.Respond(data)       // the asker may be gone
}

// Query asks every node of the cluster at url for its status and returns
// the answers that came within wait, sorted by node.
func Query(ctx context.Context, url string, wait time.Duration) ([]Status, error) {
	nc, err := nats.Connect(url, nats.Name("samtal cluster status"))
	if err != nil {
		return nil, fmt.Errorf("cluster: connect: %w", err)
	}
	defer nc.Close()
	inbox := nats.NewInbox()
	ch := make(chan *nats.Msg, 1024)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribe: %w", err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // closing anyway
	if err := nc.PublishRequest(subjectStatus, inbox, nil); err != nil {
		return nil, fmt.Errorf("cluster: status request: %w", err)
	}
	var out []Status
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case msg := <-ch:
			var st Status
			if json.Unmarshal(msg.Data, &st) == nil {
				out = append(out, st)
			}
		case <-t.C:
			slices.SortFunc(out, func(a, b Status) int {
				switch {
				case a.Node < b.Node:
					return -1
				case a.Node > b.Node:
					return 1
				}
				return 0
			})
			return out, nil
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}
