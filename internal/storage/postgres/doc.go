// Package postgres is samtal's storage backend for sites that outgrow one
// machine: a PostgreSQL database that every samtal node of a cluster
// shares, through the driver github.com/jackc/pgx/v5 and its connection
// pool. It implements the contract of package storage; the conformance
// suite in storagetest checks it, as it checks the SQLite backend.
//
// # Connecting
//
// Open takes a postgres:// URL with libpq's parameters and pgx's
// (pool_max_conns, default_query_exec_mode, ...). The password may be in
// the URL, in PGPASSWORD or in ~/.pgpass; an error never repeats the URL.
// The database must store text as UTF8. Statements are prepared once per
// connection and cached (pgx's default); behind a pooler in transaction
// mode, add default_query_exec_mode=exec to the URL.
//
// # Schema
//
// The schema comes from the numbered files in migrations/, embedded in the
// binary and applied in one transaction at Open, under an advisory lock so
// that nodes starting together apply each once; the schema_version table
// records which ones ran. A migration has the number of the SQLite
// backend's migration for the same change. A database written by a newer
// samtal is refused (ErrSchemaNewer).
//
// Every per-user table references accounts(jid) with ON DELETE CASCADE,
// so deleting the account row removes everything of the user in one
// statement, and a write for a user who has no account fails the foreign
// key (storage.ErrNotFound). A table added for a new area only needs the
// same clause; TestSchemaCascade checks every table. Rooms, their
// affiliations and their archives belong to no account (they outlive
// their owners; Rooms.RemoveJID removes a deleted user's affiliations),
// and deleting a room's row removes the rest of the room. So do the nodes
// of pubsub services (PubsubServices), whose affiliations and
// subscriptions Accounts.Delete removes in its transaction, and deleting
// a node's row removes the rest of the node. Subscriptions to PEP nodes
// go with the node, and with it with the owner's account; a subscriber
// may be remote, so Accounts.Delete removes a local one's itself.
//
// Names and addresses are text COLLATE "C", so that they sort in byte
// order, as the contract wants, whatever the database's default
// collation. Times are timestamptz, which keeps microseconds; the Store
// truncates times to them and returns them in UTC.
//
// # Concurrency
//
// Transactions are READ COMMITTED, where each statement reads a new
// snapshot. Writes that must not interleave for one user first lock the
// user's accounts row (SELECT ... FOR NO KEY UPDATE) and then do the rest
// in later statements of the same transaction:
//
//   - Offline.Push counts the user's messages against the limit and
//     inserts; pushes for one user queue at the lock, so the count is
//     never stale, and message IDs (from a sequence) are taken in commit
//     order, so Offline.Delete(upTo) never removes a message that the List
//     or ListAfter it follows did not see.
//   - Roster.Put and Roster.Delete change the item and the roster version
//     in one statement after the lock: versions follow commit order.
//   - Pubsub.CreateNode with a limit, FastTokens.Put, Push.Enable with a
//     limit, Archive.SetPrefs.
//   - PubsubServices.CreateNode with a limit does the same under a
//     transaction-scoped advisory lock on the service, which has no row
//     to lock.
//   - Pubsub.Subscribe locks the node's row, and with a limit per
//     subscriber then a transaction-scoped advisory lock on the
//     subscriber's bare JID, which may be remote and has no row to lock,
//     before it counts the subscriptions and inserts.
//   - Archive.Append inserts with a seq from a sequence and the greater
//     of the node's clock and the archive's last stored time: appends for
//     one user queue at the lock, so within one archive seq order is
//     commit order and stored never decreases with seq, even when the
//     nodes' clocks disagree. A query then maps Start and End to a seq
//     range with one step of the (account, stored, seq) index, and pages
//     walk the primary key (account, seq) (TestArchiveQueryPlans EXPLAINs
//     every statement of a query on a filled database).
//   - RoomArchive.Append does the same under the lock of the room's row
//     in rooms, the only row it locks.
//
// The lock and the statement go to the server in one batch (one round
// trip, one implicit transaction) on the hot paths (Offline.Push,
// Roster.Put and Delete, Archive.Append, RoomArchive.Append). Taking the account's lock before any other row
// of the user keeps writes from deadlocking. Pubsub.Publish and
// PubsubServices.Publish lock their node's row the same way, so items are
// numbered in publication order.
// Invites.Use and FastTokens.Use are single conditional statements: a
// second one waits for the first's row lock and then no longer matches.
//
// # Cost
//
// On a unix socket to a local server with fsync on (pgtest runs the
// benchmarks so), one development VM measured, beside SQLite in the same
// run: Offline.Push 2.2 ms (SQLite 3.0 ms), Roster.Items of 200 items
// 0.8 ms (1.2 ms), Accounts.Get 0.13 ms (0.14 ms). Archive.Append to one
// archive from 32 goroutines: 1.7 ms each, as they queue at the account's
// lock with a commit each (SQLite's group commit shares one commit among
// them: 0.19 ms); appends to different archives do not wait for each
// other. Archive.Query of the last page of 50 in an archive of 100,000
// among a million rows: 5.3 ms, five round trips (begin, page, count,
// index, commit). Over a network each call adds a round trip or, for a
// transaction, several.
//
// # Adding an area
//
// An area added to storage.Store needs, here: a migration file with the
// number of the SQLite backend's for the same area, whose per-user tables
// reference accounts (jid) ON DELETE CASCADE and whose names and addresses
// are text COLLATE "C"; a file with the area's type and methods, each
// reporting to Observe as "area.method"; and the method on Store. Writes
// that must not interleave for one user take lockAccount (or, on a hot
// path, lockedRow) first. The area's conformance tests in storagetest then
// run here too (TestConformance), and TestSchemaCascade and
// TestSchemaCollation check the new tables. For samtal storage migrate,
// the area also needs an entry in storage/migrate's Areas, and, where its
// interface cannot list its keys or would stamp a write with the current
// time, the export interface of package storage that SQLite implements.
//
// # Errors
//
// A unique key violation is storage.ErrExists, a foreign key violation
// storage.ErrNotFound. Error texts hold no JIDs or payloads: PostgreSQL's
// messages do not quote values (its details, which do, are not shown).
package postgres
