// Package storage is the contract between samtal's services and its
// storage backends: one small interface per area (accounts, roster,
// offline messages, ...), a Store that bundles them, and the errors every
// backend returns. It holds no SQL and parses no XML: payloads that are
// XML are opaque strings here.
//
// Users are named by their bare JID in canonical (prepared) form,
// "local@domain"; contacts and other addresses are canonical JID strings.
//
// All data of a user belongs to their account. Reads for a user who has no
// account find nothing (an empty result, or ErrNotFound where one item is
// asked for); writes that would store data for such a user return
// ErrNotFound, so that no data can outlive Accounts.Delete. Removing
// something that is not there is not an error unless a method says so.
//
// "Sorted" means in byte order, as sort.Strings sorts. Times are kept to
// the microsecond and returned in UTC.
//
// The conformance suite in package storagetest checks every backend
// against this contract.
package storage

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns, checked with errors.Is.
var (
	ErrNotFound = errors.New("storage: not found")
	ErrExists   = errors.New("storage: already exists")
	ErrQuota    = errors.New("storage: quota exceeded")
)

// Store bundles every area. Backends return one from their Open function.
type Store interface {
	Accounts() Accounts
	Roster() Roster
	Offline() Offline
	VCards() VCards
	Private() Private
	Blocklist() Blocklist
	Invites() Invites
	Pubsub() Pubsub
	FastTokens() FastTokens
	// Close flushes pending writes and releases the backend.
	Close() error
}

// Hash names a SCRAM hash function.
type Hash string

// The SCRAM hashes samtal stores keys for.
const (
	SHA1   Hash = "SHA-1"
	SHA256 Hash = "SHA-256"
)

// SCRAMKeys are the stored credentials of one hash (RFC 5802 §3): the
// password itself is never stored.
type SCRAMKeys struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// Account is one user account.
type Account struct {
	User    string    // bare JID
	Created time.Time // Create stores the current time when it is zero
	Keys    map[Hash]SCRAMKeys
}

// Accounts stores user accounts and their credentials.
type Accounts interface {
	// Create adds an account; ErrExists if the user exists.
	Create(ctx context.Context, a Account) error
	// Get returns an account or ErrNotFound.
	Get(ctx context.Context, user string) (Account, error)
	// SetKeys replaces the credentials of an existing account; ErrNotFound
	// if there is none.
	SetKeys(ctx context.Context, user string, keys map[Hash]SCRAMKeys) error
	// Delete removes the account and everything that belongs to it in
	// every area of the store; ErrNotFound if there was no such account.
	Delete(ctx context.Context, user string) error
	// List returns the bare JIDs of the accounts of one domain, sorted.
	List(ctx context.Context, domain string) ([]string, error)
}

// Subscription is the RFC 6121 subscription state of a roster item.
type Subscription string

// Subscription states (RFC 6121 §2.1.2.5).
const (
	SubNone Subscription = "none"
	SubTo   Subscription = "to"
	SubFrom Subscription = "from"
	SubBoth Subscription = "both"
)

// RosterItem is one contact in a user's roster.
type RosterItem struct {
	Contact      string // bare JID
	Name         string
	Subscription Subscription
	Ask          bool // an outbound subscription request is pending
	Approved     bool // the user pre-approved an inbound request
	Groups       []string
}

// PendingSubscription is an inbound subscription request that the user has
// not answered yet; the server keeps it to show it again at every login
// (RFC 6121 §3.1.3).
type PendingSubscription struct {
	From   string // bare JID of the requester
	Stanza string // the presence stanza as received, XML
}

// Roster stores rosters with a version number per user that grows with
// every change (RFC 6121 §2.6).
type Roster interface {
	// Items returns every item of the user's roster and its version.
	Items(ctx context.Context, user string) (items []RosterItem, version int64, err error)
	// Item returns one item or ErrNotFound.
	Item(ctx context.Context, user, contact string) (RosterItem, error)
	// Put creates or replaces an item and returns the new roster version.
	// ErrQuota when a new item would make the roster longer than limit
	// items (limit <= 0: no limit).
	Put(ctx context.Context, user string, item RosterItem, limit int) (version int64, err error)
	// Delete removes an item and returns the new version; ErrNotFound if
	// there was none.
	Delete(ctx context.Context, user, contact string) (version int64, err error)
	// AddPending stores an inbound subscription request. A newer request
	// from the same JID replaces the stanza and keeps its place in the
	// order.
	AddPending(ctx context.Context, user string, p PendingSubscription) error
	// RemovePending forgets an inbound request; no error if there was none.
	RemovePending(ctx context.Context, user, from string) error
	// Pending lists the user's unanswered inbound requests, oldest first.
	Pending(ctx context.Context, user string) ([]PendingSubscription, error)
}

// OfflineMessage is a message kept for a user who had no available
// resource when it arrived.
type OfflineMessage struct {
	ID     int64 // increasing per store, never reused
	Stored time.Time
	Stanza string // XML, with the addressing it had on arrival
}

// Offline stores messages for users who are offline (RFC 6121 §8.5.2.2.1).
type Offline interface {
	// Push stores a message; ErrQuota when the user already has limit
	// messages (limit <= 0: no limit). The message is durable when Push
	// returns.
	Push(ctx context.Context, user string, stanza string, limit int) error
	// List returns the user's messages, oldest first.
	List(ctx context.Context, user string) ([]OfflineMessage, error)
	// Delete removes the user's messages with ID <= upTo, after they were
	// delivered.
	Delete(ctx context.Context, user string, upTo int64) error
	// Count returns how many messages the user has waiting.
	Count(ctx context.Context, user string) (int, error)
	// Expire removes every message stored before t and returns how many.
	Expire(ctx context.Context, before time.Time) (int64, error)
}

// VCards stores one vcard-temp document per user (XEP-0054).
type VCards interface {
	// Get returns the stored vCard XML or ErrNotFound.
	Get(ctx context.Context, user string) (string, error)
	// Put replaces the user's vCard; an empty vcard removes it.
	Put(ctx context.Context, user, vcard string) error
}

// Private stores private XML per user and namespace (XEP-0049).
type Private interface {
	// Get returns the stored XML of one namespace or ErrNotFound.
	Get(ctx context.Context, user, namespace string) (string, error)
	// Put replaces the XML of one namespace.
	Put(ctx context.Context, user, namespace, xml string) error
	// Namespaces lists the namespaces the user stored XML in, sorted.
	Namespaces(ctx context.Context, user string) ([]string, error)
}

// Blocklist stores the JIDs each user blocks (XEP-0191).
type Blocklist interface {
	// List returns the blocked JIDs, sorted.
	List(ctx context.Context, user string) ([]string, error)
	// Add blocks JIDs; already blocked ones are kept.
	Add(ctx context.Context, user string, jids []string) error
	// Remove unblocks JIDs; none at all unblocks everyone.
	Remove(ctx context.Context, user string, jids []string) error
}

// Invites stores invitations to register on hosts with an invite-only
// policy (XEP-0401). Only the SHA-256 hash of each token is stored, so a
// copy of the store lets no one register.
type Invites interface {
	// Add stores an invitation for host that expires at expires.
	Add(ctx context.Context, hash []byte, host string, expires time.Time) error
	// Use spends the invitation with this hash if it is for host and
	// has not expired at now, and reports whether it did. Two concurrent
	// Uses of one invitation never both report true.
	Use(ctx context.Context, hash []byte, host string, now time.Time) (bool, error)
	// Expire removes the invitations that expired before t.
	Expire(ctx context.Context, before time.Time) (int64, error)
}

// PubsubNode is one node of a user's personal publish-subscribe service
// (XEP-0163).
type PubsubNode struct {
	Name string
	// Config is the node configuration in the form its service encodes
	// it; opaque here.
	Config string
}

// PubsubItem is one published item of a node.
type PubsubItem struct {
	ID        string
	Published time.Time // Publish stores the current time when it is zero
	Payload   string    // the item's payload, XML; empty for none
}

// Pubsub stores the nodes of each user's personal pubsub service and
// their items, which are kept in publication order: an item published
// again under the same ID becomes the newest (XEP-0060 §12.1).
type Pubsub interface {
	// Nodes returns the user's nodes, sorted by name.
	Nodes(ctx context.Context, user string) ([]PubsubNode, error)
	// Node returns one node or ErrNotFound.
	Node(ctx context.Context, user, node string) (PubsubNode, error)
	// CreateNode adds a node; ErrExists if it exists, ErrQuota when the
	// user already has limit nodes (limit <= 0: no limit).
	CreateNode(ctx context.Context, user string, n PubsubNode, limit int) error
	// ConfigureNode replaces the configuration of a node and removes its
	// oldest items beyond maxItems (maxItems <= 0: no limit);
	// ErrNotFound if there is no such node.
	ConfigureNode(ctx context.Context, user string, n PubsubNode, maxItems int) error
	// DeleteNode removes a node and its items; ErrNotFound if there was
	// none.
	DeleteNode(ctx context.Context, user, node string) error
	// Publish stores an item as the newest of the node, replacing an item
	// with the same ID, then removes the oldest items beyond maxItems
	// (maxItems <= 0: no limit). ErrNotFound if there is no such node.
	Publish(ctx context.Context, user, node string, it PubsubItem, maxItems int) error
	// Items returns the newest items of a node, newest first, at most max
	// of them (max <= 0: all). ErrNotFound if there is no such node.
	Items(ctx context.Context, user, node string, max int) ([]PubsubItem, error)
	// Item returns one item; ErrNotFound if the node or the item does not
	// exist.
	Item(ctx context.Context, user, node, id string) (PubsubItem, error)
	// Retract removes one item; ErrNotFound if the node or the item does
	// not exist.
	Retract(ctx context.Context, user, node, id string) error
	// Purge removes every item of a node; ErrNotFound if there is no such
	// node.
	Purge(ctx context.Context, user, node string) error
}

// Slots of a FAST token: a new token waits in FastNew until the client
// first uses it, then takes the place of the one in FastCurrent
// (XEP-0484 §7.1). A client has at most one token in each.
const (
	FastNew     = "new"
	FastCurrent = "current"
)

// FastToken is a token that lets one client of a user authenticate
// without its password (XEP-0484). The store holds the seed the server
// derives the token from with a key of its own, never the token: a copy
// of the store authenticates no one.
type FastToken struct {
	Client    []byte // the client: a hash of its XEP-0388 user-agent id
	Slot      string // FastNew or FastCurrent
	Mechanism string // the HT-* mechanism the token is bound to
	Seed      []byte
	Expires   time.Time
	Count     int64 // the highest replay counter used with the token
}

// FastTokens stores the FAST tokens of users' clients.
type FastTokens interface {
	// Put stores a token in its slot, replacing the one there. When the
	// user already has tokens for maxClients other clients (maxClients
	// > 0), those of the client whose newest token expires first go.
	// ErrNotFound if the user has no account.
	Put(ctx context.Context, user string, t FastToken, maxClients int) error
	// List returns the tokens of one client of a user.
	List(ctx context.Context, user string, client []byte) ([]FastToken, error)
	// Use records an authentication with the token in slot: a token in
	// FastNew moves to FastCurrent, replacing the token there. A count
	// above zero must be higher than the token's Count, which it
	// becomes. Use reports false, changing nothing, when the token is
	// gone or the count is not higher; two Uses with the same count
	// never both report true.
	Use(ctx context.Context, user string, client []byte, slot string, count int64) (bool, error)
	// Delete removes the token of a client in slot, or every token of
	// the client when slot is "".
	Delete(ctx context.Context, user string, client []byte, slot string) error
	// Expire removes the tokens that expired before t.
	Expire(ctx context.Context, before time.Time) (int64, error)
}
