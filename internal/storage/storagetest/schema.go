package storagetest

import "testing"

// sharedTables hold no per-user data, so they need not reach accounts.
var sharedTables = map[string]bool{
	"accounts":       true,
	"invites":        true, // invitations belong to no account
	"schema_version": true,
	// Group chat rooms belong to no account; affiliations may name remote
	// JIDs and domains (Rooms.RemoveJID removes a local one's).
	"rooms":             true,
	"room_affiliations": true,
	"room_archive":      true,
	// The nodes of pubsub services belong to the service, not to an
	// account; affiliations and subscriptions may name remote JIDs
	// (Accounts.Delete removes a local one's).
	"pubsub_service_nodes":         true,
	"pubsub_service_items":         true,
	"pubsub_service_affiliations":  true,
	"pubsub_service_subscriptions": true,
}

// ForeignKey is a foreign key of a backend's schema: Child references
// Parent, with ON DELETE CASCADE when Cascade.
type ForeignKey struct {
	Child, Parent string
	Cascade       bool
}

// SchemaCascade checks that every table of a backend's schema, but those
// that hold no per-user data (sharedTables, and the backend's own
// bookkeeping in extraShared), reaches accounts through foreign keys
// that all cascade deletes, so that Accounts.Delete removes everything.
func SchemaCascade(t *testing.T, tables []string, fks []ForeignKey, extraShared ...string) {
	t.Helper()
	if len(tables) < 5 {
		t.Fatalf("tables %q: the schema is not where the test looks", tables)
	}
	parents := map[string][]ForeignKey{}
	for _, f := range fks {
		parents[f.Child] = append(parents[f.Child], f)
	}
	var reaches func(tbl string, depth int) bool
	reaches = func(tbl string, depth int) bool {
		if tbl == "accounts" {
			return true
		}
		if depth > len(tables) {
			return false
		}
		for _, f := range parents[tbl] {
			if f.Cascade && reaches(f.Parent, depth+1) {
				return true
			}
		}
		return false
	}
	for _, tbl := range tables {
		shared := sharedTables[tbl]
		for _, x := range extraShared {
			shared = shared || x == tbl
		}
		if !shared && !reaches(tbl, 0) {
			t.Errorf("table %s does not reach accounts through ON DELETE CASCADE foreign keys: Accounts.Delete would leave its rows", tbl)
		}
	}
}
