// Package sqlite is samtal's default storage backend: one SQLite database
// file, through the pure Go driver modernc.org/sqlite (no cgo). It
// implements the contract of package storage; the conformance suite in
// storagetest checks it.
//
// # Files
//
// Open creates the database file with mode 0600 (and its directory with
// 0700) when they are missing; SQLite gives the -wal and -shm files it
// creates next to it the same mode. The schema comes from the numbered
// files in migrations/, embedded in the binary and applied in one
// transaction at Open; the schema_version table records which ones ran.
// When the schema is current, Open only reads it and takes no write lock.
// A database written by a newer samtal is refused (ErrSchemaNewer) rather
// than misread. Backup copies a database in use, with its WAL, into a
// snapshot of one moment (VACUUM INTO), and checks it: copying the file
// while a Store writes can give a torn copy.
//
// # Connections
//
// SQLite allows one writer at a time. A Store writes through one
// database/sql pool of exactly one connection, so writes queue in Go (and
// respect their context) instead of spinning on SQLITE_BUSY, and its
// transactions begin IMMEDIATE so they take the write lock before reading
// anything and cannot fail half-way on a lock upgrade. Reads go through a
// second pool of several query_only connections and, in WAL mode, never wait
// for the writer. Another process (`samtal user add` while the server runs)
// opens its own Store; the two meet at SQLite's file lock, which each waits
// for up to Options.BusyTimeout. SQLite waits by polling, which favours the
// process that already writes: behind a server writing without pause, the
// other process's first write can wait seconds, hence the long BusyTimeout
// advised for commands.
//
// # PRAGMAs
//
//   - journal_mode=WAL: readers and the writer do not block each other, and
//     a crash (process or power) never leaves a half-written transaction.
//   - synchronous=FULL: the WAL is synced at every commit. With NORMAL, WAL
//     mode loses no data when the process crashes, but a power loss or
//     kernel panic can drop the last transactions. samtal acknowledges
//     messages to their senders (XEP-0198) once Offline.Push returns, and
//     the contract says the message is durable then, so FULL it is; the cost
//     is one fsync per write transaction: BenchmarkOfflinePush takes about
//     0.4 ms with FULL and 0.15 ms with NORMAL on a development VM.
//     TestCrashSafety in test/e2e kills the server with SIGKILL while
//     messages flow and checks that every one it acknowledged survives,
//     and that the file passes PRAGMA integrity_check.
//   - foreign_keys=ON: every per-user table references accounts(jid) with
//     ON DELETE CASCADE, so deleting the account row removes everything of
//     the user in one transaction, and a write for a user who has no account
//     fails (storage.ErrNotFound) instead of leaving orphans. A table added
//     for a new area only needs the same clause; a test checks every table.
//     The nodes of pubsub services belong to no account; Accounts.Delete
//     removes a user's affiliations and subscriptions there itself, and
//     the user's subscriptions to other users' PEP nodes, whose
//     subscribers may be remote and reference no account.
//   - busy_timeout: how long to wait for another process's write lock.
//   - secure_delete=ON: deleted content (delivered offline messages, a
//     deleted account) is overwritten with zeros in the database file
//     instead of lingering in free pages. The WAL keeps old page images until
//     a checkpoint, which is why the Store also runs
//     wal_checkpoint(TRUNCATE) periodically and at Close.
//   - journal_size_limit: bounds the WAL file that automatic (PASSIVE)
//     checkpoints leave behind.
//   - query_only=ON on the read connections, so a bug cannot write through
//     them.
//
// # Identifiers and times
//
// Offline message IDs come from an AUTOINCREMENT key, so they grow and are
// never reused, even after the newest message is deleted. Times are stored as
// Unix microseconds in UTC. Error texts never contain JIDs or payloads, so
// that logging them leaks nothing about users.
package sqlite
