package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"samtal.org/samtal/internal/storage"
)

// Defaults for the zero Options.
const (
	DefaultBusyTimeout        = 5 * time.Second
	DefaultCheckpointInterval = 5 * time.Minute
	minReadConns              = 4
	// journalSizeLimit bounds the WAL file left after a checkpoint.
	journalSizeLimit = 64 << 20
)

// Options tune a Store; the zero value is ready to use.
type Options struct {
	// Logger receives warnings (a world-readable database file, a failed
	// checkpoint). Nil discards them.
	Logger *slog.Logger
	// BusyTimeout is how long a statement waits for another process's
	// lock on the file before it fails. Zero means DefaultBusyTimeout.
	// SQLite waits by polling, so behind a process that writes without
	// pause the wait can take seconds: a command that writes next to a
	// running server (samtal user add) should allow a minute.
	BusyTimeout time.Duration
	// ReadConns is the size of the read pool. Zero means the larger of 4
	// and GOMAXPROCS.
	ReadConns int
	// CheckpointInterval is how often the WAL is checkpointed and
	// truncated. Zero means DefaultCheckpointInterval; negative means only
	// at Close (SQLite's automatic checkpoints still run).
	CheckpointInterval time.Duration
	// Observe, when set, is called after every storage operation with its
	// name ("offline.push", "roster.items", ...: area and method in lower
	// case; "checkpoint" for WAL checkpoints) and how long it took, failed
	// or not. It must be cheap and safe for concurrent use; the server
	// feeds a latency histogram with it.
	Observe func(op string, d time.Duration)
	// Clock gives the time stored with offline messages and new accounts.
	// Nil means time.Now.
	Clock func() time.Time
}

// ErrSchemaNewer is returned by Open for a database whose schema was
// written by a newer samtal than this one.
var ErrSchemaNewer = errors.New("sqlite: database schema is newer than this samtal")

// Store is a storage.Store kept in one SQLite file. Its methods are safe
// for concurrent use.
type Store struct {
	w       *sql.DB // the writer: exactly one connection
	r       *sql.DB // readers: query_only connections
	log     *slog.Logger
	observe func(op string, d time.Duration)
	now     func() time.Time

	// Prepared statements for the hot calls.
	offlinePush       *sql.Stmt // on w
	rosterItems       *sql.Stmt // on r
	accountsGet       *sql.Stmt // on r
	archiveInsert     *sql.Stmt // on w
	roomArchiveInsert *sql.Stmt // on w

	keys *keyCache // the accounts Accounts.Get read (keycache.go)

	// The group-commit writer of the archives of users and rooms
	// (archive.go). archiveMu guards archiveClosed and sending on
	// archiveCh; archiveLast and archiveLastKnown belong to the writer
	// goroutine.
	archiveMu        sync.RWMutex
	archiveClosed    bool
	archiveCh        chan writeReq
	archiveLast      int64 // the newest stored time in the archive table, Unix µs
	archiveLastKnown bool
	archiveCommits   atomic.Int64 // transactions written, for tests
	// Every request gets the next position in the queue when it is
	// queued, and a user's message the next archive seq (under
	// archiveSeqMu, so that both follow the queue's order): archivePos
	// and archiveSeq are the last ones given, archiveQueued and
	// roomArchiveQueued the positions of the last user's and room's
	// message queued, archiveWritten the last position written, and
	// archiveWake is closed and replaced after each transaction: readers
	// wait on it for what was queued before them (writtenUpTo).
	archiveSeqMu      sync.Mutex
	archivePos        int64
	archiveSeq        int64
	archiveQueued     atomic.Int64
	roomArchiveQueued atomic.Int64
	archiveIDs        archiveIDs // derives the IDs of the messages the store names
	archiveSyncMu     sync.Mutex
	archiveWritten    int64
	archiveWake       chan struct{}

	readStmtsMu sync.Mutex
	readStmts   map[string]*sql.Stmt // on r, by text; nil while being prepared (archive.go)
	// readStmtsClosed is set at Close: statements prepared after it are
	// closed at once.
	readStmtsClosed bool

	stop      context.CancelFunc // stops the checkpoint loop
	wg        sync.WaitGroup     // the checkpoint loop and the archive writer
	closeOnce sync.Once
	closeErr  error
}

var _ storage.Store = (*Store)(nil)

// Open opens the database at path, creating it (and its directory) when
// missing, and brings its schema up to date. path names a file; for a
// throwaway store, as in tests, use a file in a temporary directory.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: want a file path (use a file in a temporary directory for a throwaway store)", path)
	}
	if opt.BusyTimeout < 0 || opt.ReadConns < 0 {
		return nil, errors.New("sqlite: open: negative BusyTimeout or ReadConns")
	}
	if opt.BusyTimeout == 0 {
		opt.BusyTimeout = DefaultBusyTimeout
	}
	if opt.ReadConns == 0 {
		opt.ReadConns = max(minReadConns, runtime.GOMAXPROCS(0))
	}
	if opt.CheckpointInterval == 0 {
		opt.CheckpointInterval = DefaultCheckpointInterval
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := createFile(path, opt.Logger); err != nil {
		return nil, err
	}

	s := &Store{
		log:         opt.Logger,
		observe:     opt.Observe,
		now:         opt.Clock,
		archiveCh:   make(chan writeReq, archiveQueue),
		archiveWake: make(chan struct{}),
		keys:        newKeyCache(path),
	}
	s.w, err = sql.Open("sqlite", dsn(path, opt.BusyTimeout, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// One connection, never closed while the Store lives, so that its
	// prepared statements stay prepared.
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)

	if err := migrate(ctx, s.w); err != nil {
		_ = s.w.Close() // the migration error is the one to report
		return nil, err
	}

	if s.archiveIDs, err = loadArchiveKey(ctx, s.w); err != nil {
		_ = s.w.Close() // the key's error is the one to report
		return nil, err
	}
	// Messages get their seq when they are queued, so that their ID is
	// known before they are written: after the highest ever given
	// (AUTOINCREMENT never reuses one).
	var last int64
	err = s.w.QueryRowContext(ctx, `SELECT max(
		coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'archive'), 0),
		coalesce((SELECT max(seq) FROM archive), 0))`).Scan(&last)
	if err != nil {
		_ = s.w.Close() // this error is the one to report
		return nil, fmt.Errorf("sqlite: archive seq: %w", err)
	}
	s.archiveSeq = last

	// The read pool is opened after the writer has switched the file to
	// WAL mode (journal_mode is persistent), so readers never see another
	// journal mode.
	s.r, err = sql.Open("sqlite", dsn(path, opt.BusyTimeout, false))
	if err != nil {
		_ = s.w.Close() // the open error is the one to report
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	s.r.SetMaxOpenConns(opt.ReadConns)
	s.r.SetMaxIdleConns(opt.ReadConns)
	s.r.SetConnMaxLifetime(0)
	s.r.SetConnMaxIdleTime(0)

	if err := s.prepare(ctx); err != nil {
		_ = s.closeDBs() // the prepare error is the one to report
		return nil, err
	}

	loopCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Add(1)
	go s.archiveLoop()
	if opt.CheckpointInterval > 0 {
		s.wg.Add(1)
		go s.checkpointLoop(loopCtx, opt.CheckpointInterval)
	}
	return s, nil
}

// createFile makes sure path exists with mode 0600 before SQLite opens it:
// SQLite would create it with 0644 (less the umask), and gives the -wal
// and -shm files the mode of the database file.
func createFile(path string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("sqlite: open %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("sqlite: database file is readable by other users; chmod 600 it",
			"path", path, "mode", fi.Mode().Perm().String())
	}
	return nil
}

// dsn builds the driver's data source name: a file: URI (so any path
// works) with the connection's PRAGMAs. The package doc explains them.
func dsn(path string, busy time.Duration, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "foreign_keys(1)")
	if writer {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "secure_delete(1)")
		q.Add("_pragma", "journal_size_limit("+strconv.Itoa(journalSizeLimit)+")")
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	return fileURI(path, q)
}

func (s *Store) prepare(ctx context.Context) error {
	var err error
	if s.offlinePush, err = s.w.PrepareContext(ctx, sqlOfflinePush); err != nil {
		return fmt.Errorf("sqlite: prepare offline push: %w", err)
	}
	if s.rosterItems, err = s.r.PrepareContext(ctx, sqlRosterItems); err != nil {
		return fmt.Errorf("sqlite: prepare roster items: %w", err)
	}
	if s.accountsGet, err = s.r.PrepareContext(ctx, sqlAccountsGet); err != nil {
		return fmt.Errorf("sqlite: prepare accounts get: %w", err)
	}
	if s.archiveInsert, err = s.w.PrepareContext(ctx, sqlArchiveInsert); err != nil {
		return fmt.Errorf("sqlite: prepare archive insert: %w", err)
	}
	if s.roomArchiveInsert, err = s.w.PrepareContext(ctx, sqlRoomArchiveInsert); err != nil {
		return fmt.Errorf("sqlite: prepare room archive insert: %w", err)
	}
	return nil
}

// Accounts returns the accounts area.
func (s *Store) Accounts() storage.Accounts { return accounts{s} }

// Roster returns the roster area.
func (s *Store) Roster() storage.Roster { return roster{s} }

// Offline returns the offline message area.
func (s *Store) Offline() storage.Offline { return offline{s} }

// VCards returns the vCard area.
func (s *Store) VCards() storage.VCards { return vcards{s} }

// Private returns the private XML area.
func (s *Store) Private() storage.Private { return private{s} }

// Push returns the push services area.
func (s *Store) Push() storage.Push { return push{s} }

// Blocklist returns the blocklist area.
func (s *Store) Blocklist() storage.Blocklist { return blocklist{s} }

// Close lets the group-commit writer write the messages queued for it
// (later ones fail), stops the checkpoint loop, checkpoints and truncates
// the WAL, and closes the database. Every other write has been synced
// before it returned. The checkpoint waits (up to BusyTimeout) for a
// write in progress in another process. Calling Close again returns the
// first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeArchive()
		s.stop()
		s.wg.Wait()
		ctx := context.Background()
		var errs []error
		if err := s.checkpoint(ctx); err != nil {
			errs = append(errs, err)
		}
		// SQLite recommends PRAGMA optimize before closing a long-lived
		// connection: it refreshes the planner's statistics if needed.
		if _, err := s.w.ExecContext(ctx, "PRAGMA optimize"); err != nil {
			errs = append(errs, fmt.Errorf("sqlite: optimize: %w", err))
		}
		errs = append(errs, s.closeDBs())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Store) closeDBs() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.offlinePush, s.rosterItems, s.accountsGet, s.archiveInsert, s.roomArchiveInsert} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	s.readStmtsMu.Lock()
	for _, st := range s.readStmts {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	s.readStmts = nil
	s.readStmtsClosed = true
	s.readStmtsMu.Unlock()
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

func (s *Store) checkpointLoop(ctx context.Context, every time.Duration) {
	defer s.wg.Done()
	tick(ctx, every, func() {
		if err := s.checkpoint(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sqlite: checkpoint failed", "err", err)
		}
	})
}

// tick calls f every interval until ctx ends.
func tick(ctx context.Context, every time.Duration, f func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// checkpoint copies the WAL into the database file and truncates it, which
// also drops the old page images (deleted data) the WAL still held. It
// runs on the writer connection, so it waits for a write in progress.
func (s *Store) checkpoint(ctx context.Context) error {
	defer s.done("checkpoint", time.Now())
	var busy, frames, done int
	err := s.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &done)
	if err != nil {
		return fmt.Errorf("sqlite: checkpoint: %w", err)
	}
	if busy != 0 {
		// A reader (maybe in another process) still uses old frames; the
		// next checkpoint gets them.
		s.log.Debug("sqlite: checkpoint could not finish; readers active", "frames", frames, "checkpointed", done)
	}
	return nil
}

// done reports the duration of an operation to Options.Observe; use it as
// defer s.done("area.method", time.Now()).
func (s *Store) done(op string, start time.Time) {
	if s.observe != nil {
		s.observe(op, time.Since(start))
	}
}

// exec runs a write and returns how many rows it changed.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// execFound runs a write that must change a row: when it changes none,
// what it names is not there (storage.ErrNotFound).
func (s *Store) execFound(ctx context.Context, query string, args ...any) error {
	n, err := s.exec(ctx, query, args...)
	if err == nil && n == 0 {
		err = storage.ErrNotFound
	}
	return err
}

// changedOne returns storage.ErrNotFound when a write changed no row.
func changedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		err = storage.ErrNotFound
	}
	return err
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE), committing when fn
// returns nil and rolling back otherwise.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // fn's error is the one to report
		return err
	}
	return tx.Commit()
}

// wrapErr maps driver errors to the storage errors and adds the operation:
// a unique key violation means the row exists, a foreign key violation
// means the user has no account, no rows means not found.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			err = storage.ErrExists
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			err = storage.ErrNotFound
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// micros converts t to the stored form, Unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros converts the stored form back to a UTC time.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// domainOf returns the domain of a bare JID: what follows the '@' (a
// localpart cannot contain one, RFC 7622 §3.3.1), or the whole string.
func domainOf(jid string) string {
	if _, d, ok := strings.Cut(jid, "@"); ok {
		return d
	}
	return jid
}
