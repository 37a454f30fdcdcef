package pep

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"samtal.org/samtal/internal/caps"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// Bounds of what peers can make the service remember.
const (
	capsCacheSize = 4096             // verified capabilities kept
	maxPeers      = 2000             // available resources of others tracked per user
	maxInflight   = 100              // capability queries at once
	maxWaiters    = 100              // resources waiting for one query
	capsTimeout   = 30 * time.Second // how long a client has to answer
)

// notifySet holds the nodes an entity wants notifications of: the
// NODE+notify features of its capabilities (XEP-0163 §4.3).
type notifySet map[string]bool

func notifySetOf(features []string) notifySet {
	set := notifySet{}
	for _, f := range features {
		if n, ok := strings.CutSuffix(f, notifyExt); ok && n != "" {
			set[n] = true
		}
	}
	return set
}

// watcher is an available resource that may get notifications: one of
// the owner's or one whose presence reached the owner.
type watcher struct {
	caps   caps.Caps
	notify notifySet // nil until its capabilities are known
	// remote marks a resource whose presence another cluster node saw:
	// that node sent it the last items, this one only notifies it.
	remote bool
}

// userState is what the service knows of the resources around a user
// who has sessions.
type userState struct {
	own   map[jid.JID]*watcher // the user's available resources
	peers map[jid.JID]*watcher // available resources whose presence reached the user
}

func (u *userState) of(own bool) map[jid.JID]*watcher {
	if own {
		return u.own
	}
	return u.peers
}

// PresenceSent follows the availability and capabilities of the user's
// own resources: it is the im.Hooks PresenceSent hook. It puts the
// user's avatar hash into the presence (XEP-0398 §3.3).
func (s *Service) PresenceSent(ctx context.Context, full jid.JID, el *xmlel.Element, initial bool) {
	user := full.Bare()
	if el == nil {
		s.forget(user, full, true)
		return
	}
	if initial && s.arrive(user, full) {
		s.migrateBookmarks(ctx, user)
	}
	s.track(ctx, user, full, el, true, false)
	s.injectAvatar(ctx, user, el)
}

// arrive records full as one of the user's available resources before
// its presence is tracked, and reports whether it is the first: only
// the first checks for bookmarks to migrate (migrateBookmarks). While a
// resource is available, every change to the bookmarks in private
// storage is carried over as it is made (wrapPrivate), and a client that
// asks for its XEP-0402 bookmarks has them migrated first (items), so a
// second device logging in need not look again: two queries fewer for
// each login of a user with more than one device, and in a reconnect
// storm for every resource but one of each user. Recording the resource
// here, rather than in track, makes resources that come online together
// agree on which is the first.
func (s *Service) arrive(user, full jid.JID) (first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	us := s.stateOf(user)
	first = len(us.own) == 0
	if us.own[full] == nil {
		us.own[full] = &watcher{}
	}
	return first
}

// stateOf returns the user's state, made empty if there is none. s.mu
// is held.
func (s *Service) stateOf(user jid.JID) *userState {
	us := s.users[user]
	if us == nil {
		us = &userState{own: map[jid.JID]*watcher{}, peers: map[jid.JID]*watcher{}}
		s.users[user] = us
	}
	return us
}

// forget drops an available resource: one of the user's (own) or one
// whose presence reached the user.
func (s *Service) forget(user, from jid.JID, own bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	us := s.users[user]
	if us == nil {
		return
	}
	delete(us.of(own), from)
	if own && len(us.own) == 0 {
		// Presence of others reaches a user with sessions; without one
		// the service forgets it, and learns it again from the answers
		// to the next login's probes.
		delete(s.users, user)
		delete(s.avatars, user)
	}
}

// RemotePresence follows presence that another node of a cluster saw:
// the presence (nil: unavailable) of one of the user's resources (own),
// or of another's resource that reached the user. The resource then gets
// the notifications of what the user publishes through this node; the
// last items on presence went from the node that saw it.
func (s *Service) RemotePresence(ctx context.Context, user, from jid.JID, el *xmlel.Element, own bool) {
	if el == nil {
		s.forget(user, from, own)
		return
	}
	if !own && (from.IsZero() || from.Bare().Equal(user)) {
		return
	}
	s.track(ctx, user, from, el, own, true)
}

// PresenceArrived follows the availability and capabilities of others'
// resources as their presence reaches a local user: it is the im.Hooks
// PresenceArrived hook.
func (s *Service) PresenceArrived(ctx context.Context, st *stanza.Stanza) {
	user := st.To.Bare()
	from := st.From
	if from.IsZero() || from.Bare().Equal(user) {
		return
	}
	if st.Type() == "unavailable" {
		s.forget(user, from, false)
		return
	}
	s.track(ctx, user, from, st.El, false, false)
}

// track records the capabilities in an available presence and learns
// what they mean, asking the resource when they are new. remote marks
// presence that another cluster node saw.
func (s *Service) track(ctx context.Context, user, from jid.JID, el *xmlel.Element, own, remote bool) {
	c, hasCaps := caps.Parse(el)
	s.mu.Lock()
	if s.users[user] == nil && !own {
		// Others' presence counts only for a user with sessions.
		s.mu.Unlock()
		return
	}
	m := s.stateOf(user).of(own)
	w := m[from]
	if w == nil {
		if !own && len(m) >= maxPeers {
			s.mu.Unlock()
			return
		}
		w = &watcher{}
		m[from] = w
	}
	w.remote = remote
	if !hasCaps {
		w.caps, w.notify = caps.Caps{}, notifySet{}
		s.mu.Unlock()
		return
	}
	if w.caps == c && w.notify != nil {
		// XEP-0163 §4.3.2: a later presence with the same interest
		// triggers nothing.
		s.mu.Unlock()
		return
	}
	w.caps = c
	s.mu.Unlock()
	if caps.Supported(c.Hash) {
		if set, ok := s.caps.Get(c.Key()); ok {
			s.interest(ctx, user, from, own, c, set)
			return
		}
	}
	s.query(waiter{user: user, target: from, own: own, caps: c})
}

// interest records what a resource wants notifications of, and sends it
// the last item of each node it newly shows interest in (XEP-0163
// §4.3.2 and §4.3.4).
func (s *Service) interest(ctx context.Context, user, from jid.JID, own bool, c caps.Caps, set notifySet) {
	s.mu.Lock()
	var w *watcher
	if us := s.users[user]; us != nil {
		w = us.of(own)[from]
	}
	if w == nil || w.caps != c {
		s.mu.Unlock()
		return // gone or changed while the answer was on its way
	}
	old := w.notify
	w.notify = set
	remote := w.remote
	s.mu.Unlock()
	if remote {
		return
	}
	var added []string
	for n := range set {
		if !old[n] {
			added = append(added, n)
		}
	}
	if len(added) > 0 {
		s.sendLast(ctx, user, from, added)
	}
}

// sendLast sends to one resource the last item of each of the user's
// nodes that it may see and whose send_last_published_item says so.
// on_sub counts too: in PEP, the subscription is the presence.
func (s *Service) sendLast(ctx context.Context, owner, to jid.JID, names []string) {
	nodes, err := s.store.Pubsub().Nodes(ctx, owner.String())
	if err != nil {
		s.log.Error("pep: nodes load failed", "err", err)
		return
	}
	for _, n := range nodes {
		if !slices.Contains(names, n.Name) {
			continue
		}
		cfg, err := decodeConfig(n.Config)
		if err != nil {
			s.log.Error("pep: node config unreadable", "err", err)
			continue
		}
		if cfg.SendLast == SendNever || !cfg.DeliverNotifications || s.mayRetrieve(ctx, owner, to, cfg) != nil {
			continue
		}
		items, err := s.store.Pubsub().Items(ctx, owner.String(), n.Name, 1)
		if err != nil || len(items) == 0 {
			continue
		}
		el, err := itemElement(NSEvent, items[0])
		if err != nil {
			s.log.Error("pep: stored item unreadable", "err", err)
			continue
		}
		if !cfg.DeliverPayloads {
			el.Children = nil
		}
		ev := xmlel.New(NSEvent, "items", "node", n.Name).Append(el)
		// XEP-0060 §12.3 (the last published item): the delay says when
		// it was published.
		s.send(ctx, owner, to, cfg, ev, xmlel.New(stanza.NSDelay, "delay", "from", owner.String(),
			"stamp", items[0].Published.UTC().Format("2006-01-02T15:04:05.000000Z")))
	}
}

// notify sends an event about a node to every resource that wants it and
// to every explicit subscriber (XEP-0163 §4.3), as notifyAll.
func (s *Service) notify(ctx context.Context, owner jid.JID, node string, cfg NodeConfig, event func() *xmlel.Element) {
	if !cfg.DeliverNotifications {
		return
	}
	subs, err := s.store.Pubsub().Subscriptions(ctx, owner.String(), node)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		// The resources that want it still get it.
		s.log.Error("pep: subscriptions load failed", "err", err)
	}
	s.notifyAll(ctx, owner, node, cfg, subs, event)
}

// notifyAll sends an event about a node to the resources that want it by
// their capabilities, the owner's and others', and to the subscribed
// JIDs subs, those the access model admits at this moment (XEP-0163
// §4.3). By §4.3.2, a full JID gets it once however it asked for it, and
// a bare JID subscribed gets it at the resources whose capabilities say
// they want it, or, when none says so, once at the bare JID. A
// subscriber the access model no longer admits loses its subscription
// (§7.1), here rather than when the owner's roster changes: the service
// holds no list of who to look at then, and until an event is due the
// subscription gives nothing away.
func (s *Service) notifyAll(ctx context.Context, owner jid.JID, node string, cfg NodeConfig, subs []storage.PubsubSubscription, event func() *xmlel.Element) {
	if !cfg.DeliverNotifications {
		return
	}
	var own, peers []jid.JID
	wants := map[jid.JID]bool{} // the resources above, and their bare JIDs
	s.mu.Lock()
	if us := s.users[owner]; us != nil {
		for j, w := range us.own {
			if w.notify[node] {
				own = append(own, j)
				wants[j], wants[j.Bare()] = true, true
			}
		}
		for j, w := range us.peers {
			if w.notify[node] {
				peers = append(peers, j)
				wants[j], wants[j.Bare()] = true, true
			}
		}
	}
	s.mu.Unlock()
	var subscribed []jid.JID
	for _, sub := range subs {
		if j, err := jid.Parse(sub.JID); err == nil { // stored by subscribe, which parsed it
			subscribed = append(subscribed, j)
		}
	}
	if len(own)+len(peers)+len(subscribed) == 0 {
		return
	}
	ev := event()
	for _, to := range own {
		s.send(ctx, owner, to, cfg, ev)
	}
	allowed := map[jid.JID]error{}
	admits := func(to jid.JID) error {
		bare := to.Bare()
		err, seen := allowed[bare]
		if !seen {
			err = s.mayRetrieve(ctx, owner, to, cfg)
			allowed[bare] = err
		}
		return err
	}
	for _, to := range peers {
		if admits(to) == nil {
			s.send(ctx, owner, to, cfg, ev)
		}
	}
	for _, to := range subscribed {
		var se stanza.Error
		switch err := admits(to); {
		case err == nil && !wants[to]:
			s.send(ctx, owner, to, cfg, ev)
		case err == nil:
			// Served above, by its capabilities.
		case errors.As(err, &se):
			s.endSubscription(ctx, owner, node, cfg, to)
		default:
			s.log.Error("pep: access check failed", "err", err)
		}
	}
}

// send routes a notification from the owner's bare JID (XEP-0163
// §4.3.1).
//
// NOTSPEC(XEP-0163 §4.3.1): no XEP-0033 replyto naming the publishing
// resource is added: which device a user publishes from is theirs to
// tell, and no client needs it.
func (s *Service) send(ctx context.Context, owner, to jid.JID, cfg NodeConfig, event *xmlel.Element, extra ...*xmlel.Element) {
	if s.cfg.Blocks != nil && s.cfg.Blocks(ctx, owner, to) {
		// XEP-0163 §4.3.3: never to a subscriber the user blocks. The
		// IM core would stop it on the way to a local account, but not
		// on the way to another server.
		return
	}
	m := xmlel.New("", stanza.Message, "from", owner.String(), "to", to.String(), "id", randomID())
	if cfg.NotificationType != "normal" {
		m.SetAttr("type", "headline")
	}
	m.Append(xmlel.New(NSEvent, "event").Append(event))
	m.Append(extra...)
	s.router.Route(ctx, &stanza.Stanza{El: m, From: owner, To: to})
}

// mayRetrieve applies a node's access model to a requester (XEP-0060
// §4.5, §6.5.9): the owner always, anyone for open, contacts with a
// presence subscription for presence, those in the allowed roster
// groups for roster, no one else for whitelist.
func (s *Service) mayRetrieve(ctx context.Context, owner, from jid.JID, cfg NodeConfig) error {
	if from.Bare().Equal(owner) || cfg.AccessModel == AccessOpen {
		return nil
	}
	if cfg.AccessModel == AccessWhitelist {
		return pubsubError(stanza.NotAllowed, "closed-node")
	}
	it, err := s.store.Roster().Item(ctx, owner.String(), from.Bare().String())
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	found := err == nil
	switch cfg.AccessModel {
	case AccessPresence:
		if found && (it.Subscription == storage.SubFrom || it.Subscription == storage.SubBoth) {
			return nil
		}
		return pubsubError(stanza.NotAuthorized, "presence-subscription-required")
	case AccessRoster:
		if found {
			for _, g := range it.Groups {
				if slices.Contains(cfg.RosterGroups, g) {
					return nil
				}
			}
		}
		return pubsubError(stanza.NotAuthorized, "not-in-roster-group")
	}
	return pubsubError(stanza.NotAllowed, "closed-node")
}

// itemElement returns a stored item as an <item/> of namespace ns.
func itemElement(ns string, it storage.PubsubItem) (*xmlel.Element, error) {
	el := xmlel.New(ns, "item", "id", it.ID)
	if it.Payload == "" {
		return el, nil
	}
	p, err := parseStored(it.Payload)
	if err != nil {
		return nil, err
	}
	return el.Append(p), nil
}

// parseStored parses XML that the service stored itself (see
// xmlstream.ParseStored), naming it in the error.
func parseStored(data string) (*xmlel.Element, error) {
	el, err := xmlstream.ParseStored(data)
	if err != nil {
		return nil, fmt.Errorf("pep: stored XML: %w", err)
	}
	return el, nil
}

// waiter is a resource whose capabilities are being asked for.
type waiter struct {
	user   jid.JID // the local user on whose behalf the server asks
	target jid.JID
	own    bool
	caps   caps.Caps
}

// capsQuery is a disco#info query in flight and the resources that
// wait for its answer because they announced the same capabilities.
type capsQuery struct {
	waiters []waiter
}

// query asks a resource for the disco#info its capabilities stand for
// (XEP-0115 §5.4), once for every resource announcing the same ones.
func (s *Service) query(w waiter) {
	key := w.caps.Key()
	if !caps.Supported(w.caps.Hash) {
		// §5.4: an unknown hash is not verified nor shared.
		key = "jid " + w.target.String() + " " + key
	}
	s.mu.Lock()
	if q := s.inflight[key]; q != nil {
		if len(q.waiters) < maxWaiters {
			q.waiters = append(q.waiters, w)
		}
		s.mu.Unlock()
		return
	}
	if len(s.inflight) >= maxInflight || s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	q := &capsQuery{waiters: []waiter{w}}
	s.inflight[key] = q
	s.wg.Add(1)
	s.mu.Unlock()
	go s.resolve(key, q)
}

// resolve asks the waiting resources one after another until one
// answers with disco#info that matches the verification string; its
// features then hold for them all and are cached. An answer that does
// not match holds for its sender only (§5.4).
func (s *Service) resolve(key string, q *capsQuery) {
	defer s.wg.Done()
	ctx := s.ctx
	for {
		s.mu.Lock()
		if len(q.waiters) == 0 || ctx.Err() != nil {
			delete(s.inflight, key)
			s.mu.Unlock()
			return
		}
		w := q.waiters[0]
		q.waiters = q.waiters[1:]
		s.mu.Unlock()
		features, verified := s.discoInfo(ctx, w)
		if features == nil {
			continue
		}
		set := notifySetOf(features)
		if !verified {
			s.interest(ctx, w.user, w.target, w.own, w.caps, set)
			continue
		}
		s.caps.Put(key, set)
		s.mu.Lock()
		rest := q.waiters
		q.waiters = nil
		delete(s.inflight, key)
		s.mu.Unlock()
		for _, o := range append([]waiter{w}, rest...) {
			s.interest(ctx, o.user, o.target, o.own, o.caps, set)
		}
		return
	}
}

// discoInfo sends a disco#info query for the capabilities node to a
// resource and returns the features of the answer and whether they
// match the verification string; nil when there is no usable answer.
func (s *Service) discoInfo(ctx context.Context, w waiter) ([]string, bool) {
	id := randomID()
	ch, done, err := s.mux.Await(id, w.target)
	if err != nil {
		return nil, false
	}
	defer done()
	node := w.caps.Node + "#" + w.caps.Ver
	req := xmlel.New("", stanza.IQ, "type", "get", "id", id, "from", w.user.String(), "to", w.target.String()).
		Append(xmlel.New(stanza.NSDiscoInfo, "query", "node", node))
	s.router.Route(ctx, &stanza.Stanza{El: req, From: w.user, To: w.target})
	t := time.NewTimer(capsTimeout)
	defer t.Stop()
	var st *stanza.Stanza
	select {
	case st = <-ch:
	case <-t.C:
		return nil, false
	case <-ctx.Done():
		return nil, false
	}
	q := st.Payload()
	if st.Type() != "result" || q == nil || !q.Is(stanza.NSDiscoInfo, "query") {
		return nil, false
	}
	features := caps.Features(q)
	if features == nil {
		features = []string{}
	}
	ver, err := caps.Ver(q, w.caps.Hash)
	return features, err == nil && ver == w.caps.Ver
}
