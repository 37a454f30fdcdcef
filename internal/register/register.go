package register

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces of this package.
const (
	// NS is the in-band registration namespace (XEP-0077 §12.1).
	NS = "jabber:iq:register"
	// NSFeature is the stream feature of in-band registration (XEP-0077
	// §8).
	NSFeature = "http://jabber.org/features/iq-register"
	// NSPreAuth is the namespace of the <preauth/> element that carries
	// an invitation token (XEP-0379 §3.3, used by XEP-0445 §3).
	NSPreAuth = "urn:xmpp:pars:0"
	// NSTokenFeature is the stream feature that announces registration
	// with a token (XEP-0445 §3).
	NSTokenFeature = "urn:xmpp:ibr-token:0"
)

// Policy says who may register an account on a host.
type Policy string

// Registration policies.
const (
	// Closed: no in-band registration; accounts are made by the operator.
	Closed Policy = "closed"
	// Invite: registration needs an invitation token.
	Invite Policy = "invite"
	// Open: anyone may register.
	Open Policy = "open"
)

// MinIterations is the least PBKDF2 iteration count for new SCRAM keys
// (RFC 7677 §4: at least 4096).
const MinIterations = 4096

// maxPassword bounds a password in bytes, so that a registration cannot
// make the server prepare megabytes of text.
const maxPassword = 1024

// Config is the registration configuration.
type Config struct {
	// Iterations is the PBKDF2 iteration count of the SCRAM keys derived
	// from new passwords.
	Iterations int
	// OnRemove, if set, is called after an account was removed and its
	// sessions were closed, for the data that other parts (uploads, group
	// chat affiliations) keep outside the store.
	OnRemove func(ctx context.Context, user jid.JID)
}

// Validate reports problems of c.
func (c Config) Validate() error {
	if c.Iterations < MinIterations {
		return fmt.Errorf("register: %d iterations, want at least %d", c.Iterations, MinIterations)
	}
	return nil
}

// Sessions gives the bound sessions of an account and ends them when the
// account is disabled or removed; *router.Router has it.
type Sessions interface {
	Resources(bare jid.JID) []router.Resource
	// Revoke ends the account's sessions with e, those bound and those
	// that logged in before the change and bind later.
	Revoke(bare jid.JID, e stream.Error)
	// Unrevoke lets the account's sessions bind again.
	Unrevoke(bare jid.JID)
}

// Register is in-band registration. It is safe for concurrent use.
type Register struct {
	cfg      Config
	policy   func(host string) Policy
	accounts storage.Accounts
	invites  Invites // nil: no invitation is ever valid
	sessions Sessions
	log      *slog.Logger
}

// New returns the registration service and registers its requests after
// authentication (to a host and to one's own account) in mux. policy
// gives the policy of each host; an unknown value counts as Closed.
// invites may be nil when no host has the Invite policy.
func New(cfg Config, policy func(host string) Policy, accounts storage.Accounts, invites Invites, sessions Sessions, mux *iq.Mux, log *slog.Logger) *Register {
	r := &Register{
		cfg:      cfg,
		policy:   policy,
		accounts: accounts,
		invites:  invites,
		sessions: sessions,
		log:      log,
	}
	mux.Handle(iq.Server, NS, r.handle)
	mux.Handle(iq.Account, NS, r.handle)
	// XEP-0077 §10: connected clients learn from it that they can change
	// their password or remove their account in-band.
	mux.AddFeature(iq.Server, NS)
	return r
}

// policyOf returns the policy of host, Closed for anything unknown.
func (r *Register) policyOf(host string) Policy {
	switch p := r.policy(host); p {
	case Invite, Open:
		return p
	}
	return Closed
}

// Enabled reports whether host offers in-band registration, for the
// stream feature (XEP-0077 §8).
func (r *Register) Enabled(host string) bool {
	return r.policyOf(host) != Closed
}

// Features returns the stream features that a stream to host which has
// not authenticated announces: <register/> of XEP-0077 §8 when
// registration is possible, and <register/> of XEP-0445 §3 when it needs
// an invitation.
func (r *Register) Features(host string) []*xmlel.Element {
	switch r.policyOf(host) {
	case Open:
		return []*xmlel.Element{xmlel.New(NSFeature, "register")}
	case Invite:
		return []*xmlel.Element{xmlel.New(NSFeature, "register"), xmlel.New(NSTokenFeature, "register")}
	}
	return nil
}

// deriveKeys returns the SCRAM keys of password for every hash samtal
// stores, each with a fresh salt. A password that the OpaqueString
// profile refuses is not-acceptable.
func (r *Register) deriveKeys(password string) (map[storage.Hash]storage.SCRAMKeys, error) {
	if len(password) > maxPassword {
		return nil, stanza.E(stanza.NotAcceptable).WithText(fmt.Sprintf("the password is longer than %d bytes", maxPassword))
	}
	keys := make(map[storage.Hash]storage.SCRAMKeys, 2)
	for _, h := range []sasl.Hash{sasl.SHA1, sasl.SHA256} {
		k, err := sasl.DeriveKeys(h, password, sasl.NewSalt(), r.cfg.Iterations)
		if errors.Is(err, sasl.ErrInvalidPassword) {
			return nil, stanza.E(stanza.NotAcceptable).WithText("the password contains characters that are not allowed")
		}
		if err != nil {
			// The error says nothing about the password itself.
			return nil, fmt.Errorf("register: derive %s keys: %w", h, err)
		}
		keys[storage.Hash(h)] = storage.SCRAMKeys{
			Salt:       k.Salt,
			Iterations: k.Iterations,
			StoredKey:  k.StoredKey,
			ServerKey:  k.ServerKey,
		}
	}
	return keys, nil
}
