package register

import (
	"context"
	"errors"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// State is what registration remembers about one stream that has not
// authenticated. The c2s layer keeps one per connection, starting from
// the zero value, and passes it to every PreAuth call of that connection.
// It is not safe for concurrent use: only the connection's reader uses
// it.
type State struct {
	invited    bool // an invitation was accepted on this stream
	registered bool // an account was registered on this stream
}

// PreAuth answers an iq that a client sent to host before authenticating
// and returns the response to send, nil for stanzas that need none. st.From
// is zero; st.To is zero or host. See the package documentation for what
// it answers.
func (r *Register) PreAuth(ctx context.Context, host string, state *State, st *stanza.Stanza) *xmlel.Element {
	if !st.IsRequest() {
		return nil
	}
	if !st.To.IsZero() && (!st.To.IsDomain() || st.To.Domain() != host) {
		// RFC 6120 §6.4.1 lets nothing but the server be talked to
		// before authentication.
		return stanza.ErrorReply(st.El, stanza.E(stanza.ServiceUnavailable))
	}
	q := st.Payload()
	if q == nil || len(st.El.Elements()) != 1 {
		// RFC 6120 §8.2.3: a get or set carries exactly one payload.
		return stanza.ErrorReply(st.El, stanza.E(stanza.BadRequest))
	}
	var res *xmlel.Element
	var err error
	switch {
	case q.Space == NS:
		res, err = r.preAuthRegister(ctx, host, state, st)
	case q.Is(NSPreAuth, "preauth"):
		res, err = r.preAuthToken(ctx, host, state, st)
	default:
		err = stanza.E(stanza.ServiceUnavailable)
	}
	return st.Answer(res, err, func(err error) {
		r.log.Error("register: request before authentication failed", "host", host, "err", err)
	})
}

// preAuthToken accepts an invitation token for the stream (XEP-0445 §3).
func (r *Register) preAuthToken(ctx context.Context, host string, state *State, st *stanza.Stanza) (*xmlel.Element, error) {
	switch r.policyOf(host) {
	case Closed:
		return nil, stanza.E(stanza.ServiceUnavailable)
	case Open:
		// Anyone may register: the token is not needed, and is kept for
		// whoever needs it later.
		return nil, nil
	}
	if st.Type() != "set" {
		return nil, stanza.E(stanza.BadRequest)
	}
	if state.invited {
		return nil, nil
	}
	token := st.Payload().Attr("token")
	if token == "" {
		return nil, stanza.E(stanza.BadRequest)
	}
	return nil, r.useToken(ctx, host, state, token)
}

// useToken uses up an invitation for the stream. The token is spent even
// if the registration that follows fails (the username is taken, say):
// the stream keeps it, and may try again.
func (r *Register) useToken(ctx context.Context, host string, state *State, token string) error {
	ok := false
	if r.invites != nil {
		var err error
		if ok, err = r.invites.Use(ctx, token, host); err != nil {
			return err
		}
	}
	if !ok {
		// The condition that Prosody answers, which the clients that
		// implement XEP-0401 know.
		return stanza.E(stanza.Forbidden).WithText("the invitation is not valid or has expired")
	}
	state.invited = true
	return nil
}

// preAuthRegister answers a jabber:iq:register request before
// authentication (XEP-0077 §3.1).
func (r *Register) preAuthRegister(ctx context.Context, host string, state *State, st *stanza.Stanza) (*xmlel.Element, error) {
	policy := r.policyOf(host)
	if policy == Closed {
		// XEP-0077 §3.1: "If the host does not support In-Band
		// Registration, it MUST return a <service-unavailable/> error."
		return nil, stanza.E(stanza.ServiceUnavailable)
	}
	q := st.Payload()
	if q.Local != "query" {
		return nil, stanza.E(stanza.BadRequest)
	}
	needToken := policy == Invite && !state.invited
	if st.Type() == "get" {
		return registrationForm(needToken), nil
	}
	if state.registered {
		// XEP-0077 §3.1.1: a server MAY refuse a second registration on
		// the same stream with not-acceptable.
		return nil, stanza.E(stanza.NotAcceptable).WithText("an account was already registered on this connection")
	}
	if q.Child(NS, "remove") != nil {
		// XEP-0077 §3.2: there is no account to cancel before
		// authentication.
		return nil, stanza.E(stanza.UnexpectedRequest)
	}
	sub := parseSubmission(q)
	if sub.username == "" || sub.password == "" {
		// XEP-0077 §3.1: missing information, an empty password included,
		// is not-acceptable.
		return nil, stanza.E(stanza.NotAcceptable).WithText("a username and a password are required")
	}
	user, err := jid.New(sub.username, host, "")
	if err != nil {
		// XEP-0077 names no condition for a username that cannot be a
		// localpart (RFC 7622 §3.3); jid-malformed says exactly that.
		return nil, stanza.E(stanza.JIDMalformed).WithText("the username is not valid")
	}
	if needToken && sub.token == "" {
		return nil, stanza.E(stanza.NotAllowed).WithText("registration on this server needs an invitation")
	}
	// Derive the keys before anything looks at existing accounts: every
	// well-formed request costs the same until the store answers.
	keys, err := r.deriveKeys(sub.password)
	if err != nil {
		return nil, err
	}
	if needToken {
		if err := r.useToken(ctx, host, state, sub.token); err != nil {
			return nil, err
		}
	}
	err = r.accounts.Create(ctx, storage.Account{User: user.String(), Keys: keys})
	if errors.Is(err, storage.ErrExists) {
		return nil, stanza.E(stanza.Conflict)
	}
	if err != nil {
		return nil, err
	}
	state.registered = true
	r.log.Info("register: account created", "host", host)
	return nil, nil
}
