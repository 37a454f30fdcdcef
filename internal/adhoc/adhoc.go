// Package adhoc runs ad-hoc commands (XEP-0050) that the server offers
// to its users: a command is listed on the host's commands node, shows
// its requester a form, and runs on the form the requester submits. The
// commands themselves come from the services (emptying one's message
// archive, say); this package does the protocol: discovery, sessions,
// actions and errors.
package adhoc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/disco"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// NS is the namespace of ad-hoc commands; it is also the disco node that
// lists them (§2.2).
const NS = "http://jabber.org/protocol/commands"

// Limits on the sessions a requester can open.
const (
	maxSessions    = 1000
	sessionTimeout = 10 * time.Minute
)

// Command is one command. It has at most two stages: Form, when set, is
// shown first and Run gets what the requester submits; without Form,
// Run runs at once with an empty form.
type Command struct {
	Node string
	Name string
	// Allowed, when set, reports whether a user of the host may see and
	// run the command (an administrator, say); unset, every user may.
	Allowed func(from jid.JID) bool
	// Form returns the form the requester fills in.
	Form func(ctx context.Context, from jid.JID) dataform.Form
	// Run carries out the command and returns what tells the requester
	// how it went. A stanza.Error goes to the requester.
	Run func(ctx context.Context, from jid.JID, f dataform.Form) (Result, error)
}

// Result is what a completed command tells its requester: a note, a
// form of results (XEP-0004 type 'result'), or both.
type Result struct {
	Note string
	Form *dataform.Form
}

// Note is a Result with only a note.
func Note(text string) Result { return Result{Note: text} }

// may reports whether the requester may see and run c.
func (c Command) may(from jid.JID) bool { return c.Allowed == nil || c.Allowed(from) }

// Service keeps the commands and their sessions. It is safe for
// concurrent use.
type Service struct {
	router *router.Router
	disco  *disco.Disco

	mu       sync.Mutex
	commands []Command
	sessions map[string]session // by sessionid
}

type session struct {
	node    string
	from    jid.JID
	expires time.Time
}

// New returns the command service, answering at every host, and
// registers it in mux and d.
func New(r *router.Router, mux *iq.Mux, d *disco.Disco) *Service {
	s := &Service{router: r, disco: d, sessions: make(map[string]session)}
	mux.Handle(iq.Server, NS, s.handle)
	mux.AddFeature(iq.Server, NS)
	d.HandleNode(NS, disco.Node{Items: s.items})
	return s
}

// Add offers a command to the users of every host.
func (s *Service) Add(c Command) {
	s.mu.Lock()
	s.commands = append(s.commands, c)
	s.mu.Unlock()
	// §2.3: a command node has this identity and feature.
	s.disco.HandleNode(c.Node, disco.Node{Info: func(_ context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
		if !s.allowed(st) || !c.may(st.From) {
			return nil, stanza.E(stanza.Forbidden)
		}
		return xmlel.New(disco.NSInfo, "query", "node", c.Node).Append(
			xmlel.New(disco.NSInfo, "identity", "category", "automation", "type", "command-node", "name", c.Name),
			xmlel.New(disco.NSInfo, "feature", "var", NS),
			xmlel.New(disco.NSInfo, "feature", "var", dataform.NS),
		), nil
	}})
}

// allowed reports whether the requester is a client of this host, the
// only ones the commands serve.
func (s *Service) allowed(st *stanza.Stanza) bool {
	return st.From.Local() != "" && st.From.Domain() == st.To.Domain() && s.router.Session(st.From) != nil
}

// items lists the commands to the host's own users (§2.2), and none to
// anyone else.
func (s *Service) items(_ context.Context, st *stanza.Stanza) ([]disco.Item, error) {
	if !s.allowed(st) {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []disco.Item
	for _, c := range s.commands {
		if c.may(st.From) {
			out = append(out, disco.Item{JID: st.To.String(), Node: c.Node, Name: c.Name})
		}
	}
	return out, nil
}

func (s *Service) command(node string) (Command, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.commands {
		if c.Node == node {
			return c, true
		}
	}
	return Command{}, false
}

// cmdError is a bad-request with a specific condition of §4.6.
func cmdError(cond stanza.Condition, specific string) stanza.Error {
	return stanza.E(cond).WithExtra(xmlel.New(NS, specific))
}

// handle runs a stage of a command (§3.4). An error carries the
// request's <command/> without its payload, as §4.6 shows, so that the
// requester can tell which session it ends.
func (s *Service) handle(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	resp, err := s.stage(ctx, st)
	var se stanza.Error
	if err != nil && errors.As(err, &se) {
		p := st.Payload()
		se.Echo = xmlel.New(NS, "command", "node", p.Attr("node"), "sessionid", p.Attr("sessionid"), "action", p.Attr("action"))
		return nil, se
	}
	return resp, err
}

// stage does the work of handle.
func (s *Service) stage(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	p := st.Payload()
	if st.Type() != "set" || p.Local != "command" {
		return nil, stanza.E(stanza.BadRequest)
	}
	if !s.allowed(st) {
		return nil, stanza.E(stanza.Forbidden)
	}
	c, ok := s.command(p.Attr("node"))
	if !ok {
		return nil, stanza.E(stanza.ItemNotFound)
	}
	if !c.may(st.From) {
		// XEP-0133 §5: forbidden, for insufficient privileges.
		return nil, stanza.E(stanza.Forbidden)
	}
	action := p.Attr("action")
	switch action {
	case "", "execute", "complete", "next", "cancel", "prev":
	default:
		return nil, cmdError(stanza.BadRequest, "malformed-action")
	}
	reply := func(sessionID, status string) *xmlel.Element {
		return xmlel.New(NS, "command", "node", c.Node, "sessionid", sessionID, "status", status)
	}
	id := p.Attr("sessionid")
	if id == "" {
		if action != "" && action != "execute" {
			return nil, cmdError(stanza.BadRequest, "bad-action")
		}
		if c.Form == nil {
			return s.run(ctx, c, st.From, dataform.Form{Type: dataform.TypeSubmit}, reply(newSessionID(), "completed"))
		}
		id, err := s.open(c.Node, st.From)
		if err != nil {
			return nil, err
		}
		f := c.Form(ctx, st.From)
		f.Type = dataform.TypeForm
		// One stage: completing is the only way on.
		return reply(id, "executing").Append(
			xmlel.New(NS, "actions", "execute", "complete").Append(xmlel.New(NS, "complete")),
			f.Element(),
		), nil
	}
	if !s.take(id, c.Node, st.From) {
		return nil, cmdError(stanza.NotAllowed, "session-expired")
	}
	switch action {
	case "cancel":
		return reply(id, "canceled"), nil
	case "prev", "next":
		return nil, cmdError(stanza.BadRequest, "bad-action")
	}
	x := p.Child(dataform.NS, "x")
	f, err := dataform.Parse(x)
	if err != nil || f.Type != dataform.TypeSubmit {
		return nil, cmdError(stanza.BadRequest, "bad-payload")
	}
	return s.run(ctx, c, st.From, f, reply(id, "completed"))
}

// run carries out a command and completes its reply with its result.
func (s *Service) run(ctx context.Context, c Command, from jid.JID, f dataform.Form, reply *xmlel.Element) (*xmlel.Element, error) {
	res, err := c.Run(ctx, from, f)
	if err != nil {
		return nil, err
	}
	if res.Note != "" {
		n := xmlel.TextElement(NS, "note", res.Note)
		n.SetAttr("type", "info")
		reply.Append(n)
	}
	if res.Form != nil {
		rf := *res.Form
		rf.Type = dataform.TypeResult
		reply.Append(rf.Element())
	}
	return reply, nil
}

// open starts a session of node for a requester.
func (s *Service) open(node string, from jid.JID) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if len(s.sessions) >= maxSessions {
		for k, v := range s.sessions {
			if now.After(v.expires) {
				delete(s.sessions, k)
			}
		}
		if len(s.sessions) >= maxSessions {
			return "", stanza.E(stanza.ResourceConstraint)
		}
	}
	id := newSessionID()
	s.sessions[id] = session{node: node, from: from, expires: now.Add(sessionTimeout)}
	return id, nil
}

// take ends a session and reports whether it was the requester's, for
// this node, and alive.
func (s *Service) take(id, node string, from jid.JID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.sessions[id]
	if !ok || se.node != node || !se.from.Equal(from) {
		return false
	}
	delete(s.sessions, id)
	return time.Now().Before(se.expires)
}

func newSessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return hex.EncodeToString(b[:])
}
