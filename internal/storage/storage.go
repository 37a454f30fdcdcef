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
	PubsubServices() PubsubServices
	FastTokens() FastTokens
	Archive() Archive
	Push() Push
	Rooms() Rooms
	RoomArchive() RoomArchive
	// Close flushes pending writes and releases the backend.
	Close() error
}

// AccountsWatcher is implemented by a store that another process may
// change beside a running server: "samtal user" disables or removes an
// account, and the server ends its sessions; it enables one again, and
// the server lets the logins that were under way bind.
type AccountsWatcher interface {
	// WatchAccounts calls changed, from a goroutine of its own, after
	// another process may have disabled, enabled again or removed
	// accounts, until ctx ends: with the account when the store knows
	// which one, with "" when any may have changed. interval is how often
	// it looks, or how soon it tries again after losing touch with the
	// store.
	WatchAccounts(ctx context.Context, interval time.Duration, changed func(user string))
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
	// Disabled accounts keep what they hold, but nobody logs in to them
	// (XEP-0133 §4.3).
	Disabled bool
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
	// SetDisabled disables an existing account or enables it again,
	// changing nothing else; ErrNotFound if there is none.
	SetDisabled(ctx context.Context, user string, disabled bool) error
	// Delete removes the account and everything that belongs to it in
	// every area of the store; ErrNotFound if there was no such account.
	Delete(ctx context.Context, user string) error
	// List returns the bare JIDs of the accounts of one domain, sorted.
	List(ctx context.Context, domain string) ([]string, error)
	// ListDisabled returns the bare JIDs of the disabled accounts of one
	// domain, sorted.
	ListDisabled(ctx context.Context, domain string) ([]string, error)
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
	// ListAfter returns at most n of the user's messages whose ID is
	// above after, oldest first: a large backlog is read in pages.
	ListAfter(ctx context.Context, user string, after int64, n int) ([]OfflineMessage, error)
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
	// Publisher is the bare JID that published the item, in the nodes
	// of a PubsubServices; users' own services (Pubsub) do not keep it.
	Publisher string
}

// PubsubNodes stores the nodes of publish-subscribe services and their
// items, which are kept in publication order: an item published again
// under the same ID becomes the newest (XEP-0060 §12.1). Pubsub and
// PubsubServices both have it, each with its own subscriptions; the
// methods name the service by its user, or its JID for PubsubServices.
type PubsubNodes interface {
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

// Pubsub stores the nodes of each user's personal publish-subscribe
// service (XEP-0163) with their items, and the explicit subscriptions to
// them (XEP-0060 §6.1). A subscription is a JID, bare or full, and
// nothing more: PEP offers one subscription per JID and no pending
// state, so its SubID is "" and its State SubscriptionSubscribed.
// Deleting a node removes its subscriptions, and Accounts.Delete removes
// those to the user's nodes and those the user held (its bare JID and
// its full JIDs) to every other user's nodes.
type Pubsub interface {
	PubsubNodes
	// Subscriptions returns the subscriptions to a node, sorted by JID;
	// ErrNotFound if there is no such node.
	Subscriptions(ctx context.Context, user, node string) ([]PubsubSubscription, error)
	// SubscriptionsOf returns the subscriptions of a bare JID and of its
	// full JIDs to every node of the user, sorted by node, then JID.
	SubscriptionsOf(ctx context.Context, user, bare string) ([]PubsubSubscription, error)
	// Subscribe adds a subscription of s.JID to s.Node (s.SubID and
	// s.State are not kept); subscribing again changes nothing.
	// ErrNotFound if there is no such node; ErrQuota when the node
	// already has perNode subscriptions, or s.JID's bare JID and its
	// full JIDs already hold perSubscriber subscriptions to the nodes of
	// every user (a limit <= 0: none), counted in the same transaction.
	Subscribe(ctx context.Context, user string, s PubsubSubscription, perNode, perSubscriber int) error
	// Unsubscribe removes one subscription; ErrNotFound if there was
	// none.
	Unsubscribe(ctx context.Context, user, node, jid string) error
}

// Affiliations with a node of a publish-subscribe service (XEP-0060
// §4.1). AffiliationNone is never stored: setting it removes one.
const (
	AffiliationOwner       = "owner"
	AffiliationPublisher   = "publisher"
	AffiliationPublishOnly = "publish-only"
	AffiliationMember      = "member"
	AffiliationOutcast     = "outcast"
	AffiliationNone        = "none"
)

// States of a subscription (XEP-0060 §4.2) that are stored.
const (
	SubscriptionSubscribed = "subscribed"
	SubscriptionPending    = "pending"
)

// PubsubAffiliation is what one bare JID may do at one node.
type PubsubAffiliation struct {
	Node        string
	JID         string // a bare JID
	Affiliation string // one of the Affiliation constants but none
}

// PubsubSubscription is one subscription to one node. A JID may hold
// several, told apart by SubID.
type PubsubSubscription struct {
	Node  string
	JID   string // the subscriber's JID as it subscribed, bare or full
	SubID string
	State string // SubscriptionSubscribed or SubscriptionPending
}

// PubsubServices stores the nodes of publish-subscribe services that are
// nobody's own account (XEP-0060), such as a host's pubsub.example.org:
// every method of PubsubNodes, with the service's JID where Pubsub has a user
// (CreateNode's limit counts the service's nodes) and items that keep
// their Publisher; and who is affiliated with and subscribed to each
// node. Deleting a node removes its items, affiliations and
// subscriptions. Accounts.Delete of a user removes that user's
// affiliations and subscriptions (its bare JID and its full JIDs) in
// every service; the nodes stay.
type PubsubServices interface {
	PubsubNodes
	// ItemPage returns up to max items of a node, newest first, starting
	// after the item with ID after (from the newest when after is ""),
	// and how many items the node holds. ErrNotFound if there is no such
	// node, or after is not one of its items.
	ItemPage(ctx context.Context, service, node, after string, max int) (items []PubsubItem, total int, err error)
	// Affiliations returns the affiliations with a node, sorted by JID;
	// ErrNotFound if there is no such node.
	Affiliations(ctx context.Context, service, node string) ([]PubsubAffiliation, error)
	// AffiliationsOf returns the affiliations of one bare JID with every
	// node of the service, sorted by node.
	AffiliationsOf(ctx context.Context, service, jid string) ([]PubsubAffiliation, error)
	// SetAffiliation adds, replaces or (AffiliationNone) removes an
	// affiliation; ErrNotFound if there is no such node.
	SetAffiliation(ctx context.Context, service string, a PubsubAffiliation) error
	// Subscriptions returns the subscriptions to a node, sorted by JID
	// then SubID; ErrNotFound if there is no such node.
	Subscriptions(ctx context.Context, service, node string) ([]PubsubSubscription, error)
	// SubscriptionsOf returns the subscriptions of a bare JID and of its
	// full JIDs to every node of the service, sorted by node, JID, SubID.
	SubscriptionsOf(ctx context.Context, service, bare string) ([]PubsubSubscription, error)
	// Subscribe adds a subscription or replaces the one with the same
	// node, JID and SubID; ErrNotFound if there is no such node.
	Subscribe(ctx context.Context, service string, s PubsubSubscription) error
	// Unsubscribe removes one subscription; ErrNotFound if there was none.
	Unsubscribe(ctx context.Context, service, node, jid, subid string) error
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

// ArchivedMessage is one message in a user's archive (XEP-0313).
type ArchivedMessage struct {
	// ID is the message's archive ID, chosen by the caller of Append:
	// unique in the user's archive, opaque to the store.
	ID string
	// Stored is when the message was archived. The store sets it at
	// Append, and it never decreases in archive order: messages appended
	// later are never stored earlier, whatever the clock did.
	Stored time.Time
	// With is the other party: the 'to' of a message the user sent, the
	// 'from' of one the user received; a bare or full JID.
	With string
	// Stanza is the message, XML.
	Stanza string
}

// ArchiveQuery selects a page of one user's archive. The filters (With,
// Start, End, AfterID, BeforeID, IDs) define the result set; the cursor
// (After, Before, Backward) and Max choose the page of it. Zero fields
// do not filter.
type ArchiveQuery struct {
	// With matches messages whose With has this bare JID when it is a
	// bare JID, and exactly this JID when it is a full one.
	With string
	// Start and End bound Stored, both inclusive.
	Start, End time.Time
	// AfterID and BeforeID bound the set by archive ID, both exclusive.
	AfterID, BeforeID string
	// IDs limits the set to these messages.
	IDs []string
	// After starts the page just after this message; Before ends it just
	// before this one.
	After, Before string
	// Backward takes the page from the end of the set (or of what
	// precedes Before) rather than from its start.
	Backward bool
	// Max is the most messages in the page; 0 asks for the count only.
	Max int
}

// ArchivePage is the answer to an ArchiveQuery.
type ArchivePage struct {
	// Messages are the page's messages in archive order.
	Messages []ArchivedMessage
	// Complete is true when the page reaches the end of the set in the
	// direction of paging: its end going forward, its start going
	// backward.
	Complete bool
	// Count is the number of messages in the set, or -1 when counting
	// them would cost too much (a backend counts at least up to
	// ArchiveCountLimit).
	Count int
	// Index is the position in the set of the page's first message, or
	// -1 when unknown (the same limit applies).
	Index int
}

// ArchiveCountLimit is the size up to which a backend always counts a
// result set.
const ArchiveCountLimit = 100

// Archive policies of a user's preferences (XEP-0441).
const (
	ArchiveAlways = "always" // archive every message
	ArchiveNever  = "never"  // archive none
	ArchiveRoster = "roster" // archive messages with contacts in the roster
)

// ArchivePrefs are a user's archiving preferences (XEP-0441): a default
// policy and JIDs whose messages are always or never archived.
type ArchivePrefs struct {
	Default string
	Always  []string // sorted
	Never   []string // sorted
}

// Archive stores the message archives of users (XEP-0313) and their
// archiving preferences. IDs that Query, Bounds or Append name are
// archive IDs.
type Archive interface {
	// Append archives a message at the end of the user's archive and
	// returns it with Stored set. The message is durable when Append
	// returns. ErrExists if the ID is taken in that archive. A message
	// without an ID gets one (returned): unique in the archive,
	// unpredictable, telling nothing about the archive (XEP-0359 §7).
	Append(ctx context.Context, user string, m ArchivedMessage) (ArchivedMessage, error)
	// Enqueue archives like Append without waiting for the write: then is
	// called once, with what Append would have returned, when the message
	// is durable or failed, on another goroutine or before Enqueue
	// returns; it must not block. Query, Bounds and DeleteAll see every
	// message enqueued before they were called. It returns the message's
	// ID (given one as Append does), or "" when the message was refused
	// at once (then has been called).
	Enqueue(ctx context.Context, user string, m ArchivedMessage, then func(ArchivedMessage, error)) string
	// Query returns a page of the user's archive. ErrNotFound when one of
	// AfterID, BeforeID, After, Before or IDs is not in the archive.
	Query(ctx context.Context, user string, q ArchiveQuery) (ArchivePage, error)
	// Bounds returns the first and last messages of the user's archive,
	// without their stanzas; ErrNotFound when it is empty.
	Bounds(ctx context.Context, user string) (first, last ArchivedMessage, err error)
	// DeleteAll empties the user's archive and returns how many messages
	// it held. IDs are not reused afterwards.
	DeleteAll(ctx context.Context, user string) (int64, error)
	// Expire removes every message stored before t, in every archive,
	// and returns how many. It may commit in several steps so as not to
	// hold up other writes.
	Expire(ctx context.Context, before time.Time) (int64, error)
	// Prefs returns the user's preferences; ErrNotFound when the user has
	// set none.
	Prefs(ctx context.Context, user string) (ArchivePrefs, error)
	// SetPrefs replaces the user's preferences.
	SetPrefs(ctx context.Context, user string, p ArchivePrefs) error
}

// PushService is a push service a user enabled (XEP-0357): the pubsub
// service and node that notifications are published to, and the publish
// options to publish them with.
type PushService struct {
	JID  string
	Node string
	// Options is the publish-options data form, XML; "" for none.
	Options string
}

// Push stores the push services users enabled (XEP-0357).
type Push interface {
	// Enable adds a service, or replaces the options of the one with the
	// same JID and node. ErrQuota when a new one would make more than
	// limit (limit <= 0: no limit).
	Enable(ctx context.Context, user string, p PushService, limit int) error
	// Disable removes the service with the JID and node; with node ""
	// every service of that JID. No error when there was none.
	Disable(ctx context.Context, user, jid, node string) error
	// List returns the user's services, sorted by JID and node.
	List(ctx context.Context, user string) ([]PushService, error)
}

// Room is the stored state of a persistent group chat room (XEP-0045).
// Temporary rooms are never stored. Rooms belong to no account: they
// outlive their owners' accounts, whose affiliations Rooms.RemoveJID
// takes away.
type Room struct {
	// JID is the bare JID of the room, room@service.
	JID string
	// Config is the room configuration in the form the group chat
	// service encodes it; opaque here.
	Config string
	// Subject is the room subject, SubjectNick the nickname of who set
	// it and SubjectTime when; all zero when no subject was ever set.
	Subject     string
	SubjectNick string
	SubjectTime time.Time
	// VCard is the room's vcard-temp document (its avatar), XML; "" for
	// none.
	VCard string
	// Created is when the room was first stored; Put sets it when zero.
	Created time.Time
}

// Affiliations of a user with a room (XEP-0045 §5.2).
const (
	AffOwner   = "owner"
	AffAdmin   = "admin"
	AffMember  = "member"
	AffOutcast = "outcast"
)

// RoomAffiliation is the lasting relation of one bare JID (or, for a
// ban, a whole domain) with a room.
type RoomAffiliation struct {
	JID         string // bare JID or domain
	Affiliation string // AffOwner, AffAdmin, AffMember or AffOutcast
	Nick        string // reserved room nickname; "" for none
	Reason      string // why, as the admin gave it; "" for none
}

// Rooms stores the persistent group chat rooms of every service, with
// their affiliations.
type Rooms interface {
	// Get returns a room or ErrNotFound.
	Get(ctx context.Context, room string) (Room, error)
	// List returns the rooms of one service (the domain of their JIDs),
	// sorted by JID.
	List(ctx context.Context, service string) ([]Room, error)
	// Put creates a room or replaces its state; an existing room keeps
	// its Created time and its affiliations.
	Put(ctx context.Context, r Room) error
	// Delete removes a room with its affiliations and its archive;
	// ErrNotFound if there was no such room.
	Delete(ctx context.Context, room string) error
	// Affiliations returns the affiliations of a room, sorted by JID;
	// none for a room that is not stored.
	Affiliations(ctx context.Context, room string) ([]RoomAffiliation, error)
	// SetAffiliation creates or replaces the affiliation of a.JID; an
	// empty Affiliation (or "none") removes it. ErrNotFound if the room
	// is not stored.
	SetAffiliation(ctx context.Context, room string, a RoomAffiliation) error
	// RemoveJID removes every affiliation of a bare JID with every room
	// and returns how many, for the removal of an account.
	RemoveJID(ctx context.Context, jid string) (int64, error)
	// CountOwned returns the number of rooms a bare JID owns.
	CountOwned(ctx context.Context, jid string) (int, error)
}

// RoomMessage is one message in a room's archive (XEP-0313 on a room).
type RoomMessage struct {
	// ID is the archive ID, the stanza-id the room gave the message
	// (XEP-0359); unique in the room's archive, opaque to the store.
	ID string
	// Stored is when the message was archived. The store sets it at
	// Append or Enqueue, and it never decreases in archive order.
	Stored time.Time
	// Nick is the sender's room nickname.
	Nick string
	// Sender is the sender's real bare JID.
	Sender string
	// Stanza is the message as the room sent it, XML.
	Stanza string
}

// RoomArchiveQuery selects a page of a room's archive. The filters
// (Nick, Sender, Start, End, AfterID, BeforeID, IDs) define the result
// set; the cursor (After, Before, Backward) and Max choose the page of
// it, as in ArchiveQuery. Zero fields do not filter.
type RoomArchiveQuery struct {
	Nick, Sender      string
	Start, End        time.Time // both inclusive
	AfterID, BeforeID string    // both exclusive
	IDs               []string
	After, Before     string
	Backward          bool
	Max               int // 0 asks for the count only
}

// RoomArchivePage is the answer to a RoomArchiveQuery.
type RoomArchivePage struct {
	// Messages are the page's messages in archive order.
	Messages []RoomMessage
	// Complete is true when the page reaches the end of the set in the
	// direction of paging.
	Complete bool
	// Count is the size of the set and Index the position of the page's
	// first message in it; -1 when counting would cost too much (a
	// backend counts at least up to RoomArchiveCountLimit).
	Count, Index int
}

// RoomArchiveCountLimit is the size up to which a backend always counts
// a result set.
const RoomArchiveCountLimit = 1000

// RoomArchive stores the message archives of persistent rooms.
type RoomArchive interface {
	// Append archives a message at the end of the room's archive and
	// returns it with Stored set. The message is durable when Append
	// returns. ErrNotFound if the room is not stored, ErrExists if the
	// ID is taken in that archive.
	Append(ctx context.Context, room string, m RoomMessage) (RoomMessage, error)
	// Enqueue archives like Append without waiting for the write, so
	// that a busy room need not wait for a commit per message: then is
	// called once, with what Append would have returned, when the
	// message is durable or failed, on another goroutine or before
	// Enqueue returns; it must not block. Every other method, and
	// Rooms.Delete, sees every message enqueued before it was called.
	Enqueue(ctx context.Context, room string, m RoomMessage, then func(RoomMessage, error))
	// Query returns a page of the room's archive. ErrNotFound when one of
	// AfterID, BeforeID, After, Before or IDs is not in the archive.
	Query(ctx context.Context, room string, q RoomArchiveQuery) (RoomArchivePage, error)
	// Get returns one message or ErrNotFound.
	Get(ctx context.Context, room, id string) (RoomMessage, error)
	// Replace replaces the stanza of a message (with a tombstone, after
	// a retraction); ErrNotFound if there is no such message.
	Replace(ctx context.Context, room, id, stanza string) error
	// Last returns the newest n messages of the room, oldest first.
	Last(ctx context.Context, room string, n int) ([]RoomMessage, error)
	// Expire removes every message stored before t, in every room, and
	// returns how many.
	Expire(ctx context.Context, before time.Time) (int64, error)
}
