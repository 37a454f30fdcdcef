// Package push publishes push notifications (XEP-0357): a client that
// cannot keep its connection open (a phone) enables a push service of
// its app (a pubsub node at an XMPP app server), and when a message
// arrives for its user while no session can take it, the server
// publishes a notification to that node; the app server wakes the device
// through its platform's push system, and the client reconnects.
//
// Notifications tell as little as possible: by default none of the
// sender, the body or even how many messages wait (§9: users should be
// able to limit what goes through third parties, and samtal limits it
// for everyone). Config.Count adds the number of waiting messages.
//
// Push plugs into the IM core through the MessageDelivered and
// IQResponse hooks and into the iq mux for enable and disable.
package push

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// Namespaces of XEP-0357 and the pubsub parts it uses.
const (
	NS                 = "urn:xmpp:push:0"
	nsSummary          = "urn:xmpp:push:summary"
	nsPubsub           = "http://jabber.org/protocol/pubsub"
	formPublishOptions = "http://jabber.org/protocol/pubsub#publish-options"
)

// Limits.
const (
	// maxOptions bounds the publish options a client may make the server
	// store and send with every notification.
	maxOptions = 4096
	// maxPending bounds the notifications waiting for an answer.
	maxPending = 10000
	// pendingTimeout is how long an answer is waited for.
	pendingTimeout = 2 * time.Minute
)

// Config configures push notifications.
type Config struct {
	// MaxServices bounds the push services one user may enable.
	MaxServices int
	// Count adds the number of messages waiting (message-count, §7) to
	// notifications.
	Count bool
}

// Validate reports the problems of c.
func (c Config) Validate() error {
	if c.MaxServices <= 0 {
		return errors.New("push: max services must be positive")
	}
	return nil
}

// Counter counts a user's waiting offline messages; storage.Offline has
// it.
type Counter interface {
	Count(ctx context.Context, user string) (int, error)
}

// Service enables, disables and publishes notifications. It is safe for
// concurrent use.
type Service struct {
	cfg     Config
	store   storage.Push
	offline Counter
	router  *router.Router
	log     *slog.Logger

	mu      sync.Mutex
	pending map[string]pending // by iq id
}

// pending is a notification that waits for the push service's answer.
type pending struct {
	user, service jid.JID
	node          string
	sent          time.Time
}

// New returns the push service and registers its requests in mux.
func New(cfg Config, store storage.Push, offline Counter, r *router.Router, mux *iq.Mux, log *slog.Logger) *Service {
	s := &Service{cfg: cfg, store: store, offline: offline, router: r, log: log, pending: make(map[string]pending)}
	mux.Handle(iq.Account, NS, s.handle)
	// §5.1: the feature is on the user's bare JID.
	mux.AddFeature(iq.Account, NS)
	return s
}

// handle answers enable and disable (§6, §7), from the user only.
func (s *Service) handle(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	if !st.From.Bare().Equal(st.To) {
		return nil, stanza.E(stanza.Forbidden)
	}
	if st.Type() != "set" {
		return nil, stanza.E(stanza.BadRequest)
	}
	p := st.Payload()
	service, err := jid.Parse(p.Attr("jid"))
	if err != nil || p.Attr("jid") == "" {
		return nil, stanza.E(stanza.BadRequest).WithText("a jid is required")
	}
	node := p.Attr("node")
	user := st.To.String()
	switch p.Local {
	case "enable":
		var options string
		if x := p.Child(dataform.NS, "x"); x != nil {
			f, err := dataform.Parse(x)
			if err != nil || f.FormType() != formPublishOptions {
				return nil, stanza.E(stanza.BadRequest).WithText("the form must be publish options")
			}
			f.Type = dataform.TypeSubmit
			if options = f.Element().String(); len(options) > maxOptions {
				return nil, stanza.E(stanza.PolicyViolation).WithText("publish options too large")
			}
		}
		err := s.store.Enable(ctx, user, storage.PushService{JID: service.String(), Node: node, Options: options}, s.cfg.MaxServices)
		if errors.Is(err, storage.ErrQuota) {
			return nil, stanza.E(stanza.PolicyViolation).WithText("too many push services")
		}
		return nil, err
	case "disable":
		// §7: without a node, every node of the service.
		return nil, s.store.Disable(ctx, user, service.String(), node)
	}
	return nil, stanza.E(stanza.BadRequest)
}

// Payloads that make a message worth waking a device for.
const (
	nsOMEMO   = "eu.siacs.conversations.axolotl"
	nsOMEMO2  = "urn:xmpp:omemo:2"
	nsOpenPGP = "urn:xmpp:openpgp:0"
	nsJMI     = "urn:xmpp:jingle-message:0"
	nsJMI1    = "urn:xmpp:jingle-message:1"
	nsConfInv = "jabber:x:conference"
	nsMUCUser = "http://jabber.org/protocol/muc#user"
	nsHints   = "urn:xmpp:hints"
)

// Important reports whether a message deserves a notification: something
// the user would want to read or answer (a body, an encrypted message, a
// call, an invitation), not receipts, markers or chat states, and not
// what is not kept for later (no-store).
func Important(el *xmlel.Element) bool {
	switch el.Attr("type") {
	case "", "normal", "chat":
	default:
		return false
	}
	important := false
	for _, c := range el.Elements() {
		switch {
		case c.Is(nsHints, "no-store"):
			return false
		case c.Is("", "body"), c.Is(nsOMEMO, "encrypted"), c.Is(nsOMEMO2, "encrypted"), c.Is(nsOpenPGP, "openpgp"),
			c.Is(nsJMI, "propose"), c.Is(nsJMI1, "propose"), c.Is(nsConfInv, "x"),
			c.Is(nsMUCUser, "x") && c.Child(nsMUCUser, "invite") != nil:
			important = true
		}
	}
	return important
}

// MessageDelivered is the im hook for messages to a local user: a
// message that reached no session was stored offline (or dropped), and
// the user's push services hear of it.
func (s *Service) MessageDelivered(ctx context.Context, st *stanza.Stanza, to []router.Session) {
	if len(to) > 0 || !Important(st.El) {
		return
	}
	s.Notify(ctx, st.To.Bare())
}

// RawMessage is the im hook for a message that could travel as the bytes
// its sender wrote (im.Hooks.RawMessage): such a message reaches a
// session, and only one that reaches none makes a notification.
func (s *Service) RawMessage(_ context.Context, _ *stanza.Outline, _ router.Session, to []router.Session) bool {
	return len(to) > 0
}

// Notify publishes a notification to every push service user enabled.
// Stream management calls it for a message that waits in a detached
// session.
func (s *Service) Notify(ctx context.Context, user jid.JID) {
	services, err := s.store.List(ctx, user.String())
	if err != nil {
		s.log.Error("push: services unreadable", "err", err)
		return
	}
	if len(services) == 0 {
		return
	}
	count := -1
	if s.cfg.Count {
		if count, err = s.offline.Count(ctx, user.String()); err != nil {
			s.log.Error("push: offline count failed", "err", err)
			count = -1
		}
	}
	host := user.Domainpart()
	for _, svc := range services {
		to, err := jid.Parse(svc.JID)
		if err != nil {
			continue
		}
		id := "push-" + randomID()
		el := Notification(id, host, to, svc.Node, count, svc.Options)
		s.track(id, pending{user: user, service: to, node: svc.Node, sent: time.Now()})
		s.router.Route(ctx, &stanza.Stanza{El: el, From: host, To: to})
	}
}

// Notification builds the publish of one notification (§7) from host:
// an empty notification, or one with the message count when count >= 0,
// with the publish options the client gave.
func Notification(id string, host, service jid.JID, node string, count int, options string) *xmlel.Element {
	n := xmlel.New(NS, "notification")
	if count >= 0 {
		n.Append(dataform.Form{Type: dataform.TypeSubmit, Fields: []dataform.Field{
			{Var: dataform.FormTypeVar, Values: []string{nsSummary}},
			{Var: "message-count", Values: []string{strconv.Itoa(count)}},
		}}.Element())
	}
	ps := xmlel.New(nsPubsub, "pubsub").Append(
		xmlel.New(nsPubsub, "publish", "node", node).Append(xmlel.New(nsPubsub, "item").Append(n)))
	if options != "" {
		if x, err := parseOptions(options); err == nil {
			ps.Append(xmlel.New(nsPubsub, "publish-options").Append(x))
		}
	}
	return xmlel.New("", stanza.IQ, "type", "set", "id", id, "from", host.String(), "to", service.String()).Append(ps)
}

// track remembers a notification until its answer.
func (s *Service) track(id string, p pending) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) >= maxPending {
		for k, v := range s.pending {
			if time.Since(v.sent) > pendingTimeout {
				delete(s.pending, k)
			}
		}
		if len(s.pending) >= maxPending {
			return // unanswered; an error then goes unnoticed
		}
	}
	s.pending[id] = p
}

// IQResponse is the im hook for iq responses to a host: the answer to a
// notification. An error disables that service and node (§7.1): a push
// service that refuses notifications gets no more.
func (s *Service) IQResponse(ctx context.Context, st *stanza.Stanza) bool {
	s.mu.Lock()
	p, ok := s.pending[st.ID()]
	if ok && st.From.Equal(p.service) && st.To.Equal(p.user.Domainpart()) {
		delete(s.pending, st.ID())
	} else {
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		return false
	}
	if st.Type() == "error" {
		if err := s.store.Disable(ctx, p.user.String(), p.service.String(), p.node); err != nil {
			s.log.Error("push: disable failed", "err", err)
			return true
		}
		s.log.Info("push: a push service refused a notification; it is disabled for that user")
	}
	return true
}

func randomID() string {
	var b [9]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// parseOptions reads stored publish options back. They were checked
// when stored, but a damaged database must not take the server down.
func parseOptions(s string) (*xmlel.Element, error) {
	el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{MaxStanzaBytes: 2 * maxOptions, MaxDepth: 8})
	if err != nil {
		return nil, err
	}
	if !el.Is(dataform.NS, "x") {
		return nil, errors.New("push: stored options are not a form")
	}
	return el, nil
}
