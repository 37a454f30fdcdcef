package storage

import (
	"context"
	"time"
)

// The interfaces below are what a backend adds to its areas so that a
// whole store can be copied into another (samtal storage migrate, package
// storage/migrate). The area interfaces find data by user and key and
// stamp writes with the current time; these list the keys and write
// times and versions as they were. Each is implemented by the value that
// the Store's method for the area returns (Accounts(), Roster(), ...).
// An area whose interface can already list and write everything as it
// was (VCards, Blocklist, Pubsub) needs none; PubsubServices needs only
// a list of its services.

// AccountLister lists every account, whatever its domain.
type AccountLister interface {
	// Users returns at most max bare JIDs of accounts, sorted, the first
	// one after after ("" starts at the beginning).
	Users(ctx context.Context, after string, max int) ([]string, error)
}

// RosterImporter sets what Roster.Put counts itself.
type RosterImporter interface {
	// SetVersion sets the version of the user's roster; ErrNotFound if
	// the user has no account.
	SetVersion(ctx context.Context, user string, version int64) error
}

// OfflineImporter stores offline messages as they were stored.
type OfflineImporter interface {
	// Import stores m as the newest message of the user, with its Stored
	// time; the store gives it a new ID. ErrNotFound if the user has no
	// account.
	Import(ctx context.Context, user string, m OfflineMessage) error
}

// Invite is one stored invitation.
type Invite struct {
	Hash    []byte
	Host    string
	Expires time.Time
}

// InviteLister lists the stored invitations.
type InviteLister interface {
	// All returns every invitation, expired or not, sorted by hash.
	All(ctx context.Context) ([]Invite, error)
}

// FastTokenLister lists the FAST tokens of every client of a user.
type FastTokenLister interface {
	// All returns the user's tokens, sorted by client, then with the
	// FastNew slot first, as FastTokens.List sorts them.
	All(ctx context.Context, user string) ([]FastToken, error)
}

// ArchiveImporter stores archived messages as they were stored.
type ArchiveImporter interface {
	// Import appends msgs, oldest first, at the end of the user's
	// archive, with their IDs and Stored times. A time before the last
	// one in the archive is raised to it, so that archive order and time
	// order still agree. ErrNotFound if the user has no account,
	// ErrExists if an ID is taken; then none of msgs may be stored, or
	// some.
	Import(ctx context.Context, user string, msgs []ArchivedMessage) error
}

// RoomLister lists the stored rooms of every service.
type RoomLister interface {
	// All returns at most max rooms, sorted by JID, the first one after
	// after ("" starts at the beginning).
	All(ctx context.Context, after string, max int) ([]Room, error)
}

// PubsubServiceLister lists the publish-subscribe services that have
// nodes in a PubsubServices: they are nobody's account, so listing the
// accounts does not find them.
type PubsubServiceLister interface {
	// Services returns at most max JIDs of services that have nodes,
	// sorted, the first one after after ("" starts at the beginning).
	Services(ctx context.Context, after string, max int) ([]string, error)
}

// RoomArchiveImporter stores room messages as they were stored.
type RoomArchiveImporter interface {
	// Import appends msgs, oldest first, at the end of the room's
	// archive, with their IDs and Stored times, raised as
	// ArchiveImporter.Import raises them. ErrNotFound if the room is not
	// stored, ErrExists if an ID is taken.
	Import(ctx context.Context, room string, msgs []RoomMessage) error
}
