package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"samtal.org/samtal/internal/storage"
)

// Options tune a Store; the zero value is ready to use.
type Options struct {
	// Observe, when set, is called after every storage operation with its
	// name ("offline.push", "roster.items", ...: area and method in lower
	// case, as the SQLite backend names them) and how long it took,
	// failed or not. It must be cheap and safe for concurrent use; the
	// server feeds a latency histogram with it.
	Observe func(op string, d time.Duration)
	// Clock gives the time stored with offline messages, new accounts and
	// items published without a time. Nil means time.Now. Times come from
	// the samtal node, not from the database server.
	Clock func() time.Time
}

// DefaultConnectTimeout bounds each connection attempt when the URL sets
// no connect_timeout.
const DefaultConnectTimeout = 15 * time.Second

// ErrSchemaNewer is returned by Open for a database whose schema was
// written by a newer samtal than this one.
var ErrSchemaNewer = errors.New("postgres: database schema is newer than this samtal")

// errBadURL says that the connection URL does not parse, without the URL
// or the parser's message, either of which may hold a password.
var errBadURL = errors.New("postgres: the connection URL is not valid (it is not repeated here, as it may hold a password)")

// Store is a storage.Store in a PostgreSQL database. Its methods are safe
// for concurrent use, and several Stores (samtal nodes, commands) may use
// one database at once.
type Store struct {
	pool    *pgxpool.Pool
	observe func(op string, d time.Duration)
	now     func() time.Time

	closeOnce sync.Once
}

var _ storage.Store = (*Store)(nil)

// Open connects to the database that url names (postgres://... or
// postgresql://..., with the parameters of libpq and pgx: host, sslmode,
// pool_max_conns, ...), checks that it stores text as UTF-8, and brings
// its schema up to date. The password can also come from PGPASSWORD or a
// ~/.pgpass file, as libpq's.
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, errors.New("postgres: open: want a postgres:// URL")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errBadURL
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// libpq waits forever by default; a server that cannot reach its
		// database should say so.
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{pool: pool, observe: opt.Observe, now: opt.Clock}
	if err := s.check(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// check connects once, so that a wrong address or password shows at
// Open, and refuses a database that does not store text as UTF-8: XML
// payloads and JIDs are Unicode.
func (s *Store) check(ctx context.Context) error {
	var enc string
	if err := s.pool.QueryRow(ctx, "SHOW server_encoding").Scan(&enc); err != nil {
		return fmt.Errorf("postgres: open: %w", err)
	}
	if enc != "UTF8" {
		return fmt.Errorf("postgres: open: the database's encoding is %s; samtal needs UTF8 (CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0)", enc)
	}
	return nil
}

// execFound runs a write that must change a row: when it changes none,
// what it names is not there (storage.ErrNotFound).
func (s *Store) execFound(ctx context.Context, query string, args ...any) error {
	return execFoundOn(ctx, s.pool, query, args...)
}

// execer runs statements: the pool, or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// execFoundOn is execFound on e.
func execFoundOn(ctx context.Context, e execer, query string, args ...any) error {
	tag, err := e.Exec(ctx, query, args...)
	if err == nil && tag.RowsAffected() == 0 {
		err = storage.ErrNotFound
	}
	return err
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

// Blocklist returns the blocklist area.
func (s *Store) Blocklist() storage.Blocklist { return blocklist{s} }

// Invites returns the invitations area.
func (s *Store) Invites() storage.Invites { return invites{s} }

// Pubsub returns the personal pubsub area.
func (s *Store) Pubsub() storage.Pubsub { return pubsub{pubsubNodes{s, pepTables}} }

// FastTokens returns the FAST token area.
func (s *Store) FastTokens() storage.FastTokens { return fastTokens{s} }

// Close closes the connections once the operations in progress return.
// Every write was committed before it returned, so there is nothing to
// flush. Calling Close again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// done reports the duration of an operation to Options.Observe; use it as
// defer s.done("area.method", time.Now()).
func (s *Store) done(op string, start time.Time) {
	if s.observe != nil {
		s.observe(op, time.Since(start))
	}
}

// tx runs fn in a transaction (READ COMMITTED, the default), committing
// when fn returns nil and rolling back otherwise.
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// lockAccount locks the user's accounts row until the end of the
// transaction, or returns storage.ErrNotFound when there is no account.
// Writes that must not interleave for one user (a limit checked then
// kept, a roster version, an order of IDs) take this lock first, always
// before any other row of the user, so that they queue instead of
// deadlocking; and the statements after it see what the writes before
// them committed (each statement of a READ COMMITTED transaction reads a
// new snapshot). FOR NO KEY UPDATE does not block the foreign key checks
// of other writes for the user.
const sqlLockAccount = "SELECT 1 FROM accounts WHERE jid = $1 FOR NO KEY UPDATE"

func lockAccount(ctx context.Context, tx pgx.Tx, user string) error {
	var one int
	return tx.QueryRow(ctx, sqlLockAccount, user).Scan(&one) // pgx.ErrNoRows: no account
}

// PostgreSQL error codes (SQLSTATE, Appendix A of its manual).
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
)

// wrapErr maps driver errors to the storage errors and adds the operation:
// a unique key violation means the row exists, a foreign key violation
// means the user has no account, no rows means not found.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		err = storage.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			err = storage.ErrExists
		case codeForeignKeyViolation:
			err = storage.ErrNotFound
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// utc converts a time read from the database to the contract's form.
func utc(t time.Time) time.Time { return t.UTC() }

// micro truncates t to the microseconds PostgreSQL keeps, as the SQLite
// backend does.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// nonNil turns a nil slice into an empty one: the driver sends nil as
// NULL, which the NOT NULL columns refuse.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// domainOf returns the domain of a bare JID: what follows the '@' (a
// localpart cannot contain one, RFC 7622 §3.3.1), or the whole string.
func domainOf(jid string) string {
	if _, d, ok := strings.Cut(jid, "@"); ok {
		return d
	}
	return jid
}
