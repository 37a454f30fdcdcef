// Package pgtest starts a throwaway PostgreSQL server for the tests of a
// package and gives each test a database of its own.
//
// The server is Debian's (package postgresql, which scripts/deps.sh
// installs): initdb makes a cluster in a new temporary directory, and
// postgres serves it on a unix socket in that directory only, with no TCP
// listener. PostgreSQL refuses to run as root, so when the tests run as
// root (as CI does) both run as the unprivileged user nobody, which owns
// the directory; otherwise they run as the current user. The cluster
// trusts every local connection: only the directory's owner and root can
// reach the socket.
//
// A test package starts at most one server, on the first call of
// Database, and stops it when its tests are done:
//
//	var pg pgtest.Server
//
//	func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }
//
//	func TestX(t *testing.T) {
//		url := pg.Database(t) // a new, empty database
//		...
//	}
//
// Without PostgreSQL, Database skips the test, saying how to install it;
// but when the environment variable CI is set (as CI services set it, to
// true), it fails the test instead, so that CI cannot pass without
// running the PostgreSQL tests.
package pgtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// CI reports whether the tests run in CI, where a missing PostgreSQL
// fails them rather than skips them: the variable CI is set, and not to
// false or 0.
func CI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// startTimeout bounds how long initdb and the server's start may take on
// a busy machine.
const startTimeout = 60 * time.Second

// Server is a PostgreSQL server for the tests of one package. The zero
// value is ready to use; it starts the server when a test first needs it.
type Server struct {
	once    sync.Once
	err     error // why there is no server
	missing bool  // err is: PostgreSQL is not installed

	dir   string // the temporary directory: data/, the socket, the log
	cmd   *exec.Cmd
	exit  chan struct{}  // closed when the server process ended
	admin *pgx.Conn      // to the postgres database, for CREATE DATABASE
	mu    sync.Mutex     // serializes use of admin
	seq   atomic.Int64   // numbers the databases
	drops sync.WaitGroup // databases being dropped
}

// Main runs the tests and stops the server, if one was started; use it
// in TestMain as os.Exit(pg.Main(m)).
func (s *Server) Main(m *testing.M) int {
	code := m.Run()
	s.drops.Wait()
	if err := s.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Database creates a new, empty database and returns its connection URL.
// The database is dropped when the test ends, after the cleanups the
// test registers later (so after it closed its connections).
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	s.once.Do(func() { s.err = s.start() })
	if s.err != nil {
		if s.missing && !CI() {
			t.Skipf("%v (CI is not set, so the test is skipped)", s.err)
		}
		t.Fatal(s.err)
	}
	name := "samtal_test_" + strconv.FormatInt(s.seq.Add(1), 10)
	// ICU's root collation orders "émile" before "zoe", so a query that
	// forgets COLLATE "C" fails the byte-order tests instead of passing
	// by luck of the cluster's C locale. FILE_COPY copies the template's
	// files, which costs a third of writing them to the WAL (the default)
	// when nothing is synced.
	if err := s.exec(`CREATE DATABASE ` + name + ` TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE 'und' STRATEGY FILE_COPY`); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		// In the background: the next test need not wait. Main waits.
		s.drops.Go(func() {
			if err := s.exec(`DROP DATABASE ` + name + ` WITH (FORCE)`); err != nil {
				fmt.Fprintf(os.Stderr, "pgtest: drop database %s: %v\n", name, err)
			}
		})
	})
	return s.url(name)
}

// url returns the connection URL of a database: the socket directory is
// the host.
func (s *Server) url(db string) string {
	q := url.Values{"host": {s.dir}, "user": {"postgres"}}
	return "postgres:///" + db + "?" + q.Encode()
}

func (s *Server) exec(sql string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	_, err := s.admin.Exec(ctx, sql)
	return err
}

// binGlob is where Debian installs PostgreSQL's programs; a variable for
// the tests.
var binGlob = "/usr/lib/postgresql/*/bin"

// Bin returns the directory of the newest PostgreSQL server installed
// the Debian way, /usr/lib/postgresql/VERSION/bin.
func Bin() (string, error) {
	dirs, _ := filepath.Glob(binGlob) // the pattern is valid
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("pgtest: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): run `make test`, which installs it (scripts/deps.sh)")
}

func (s *Server) start() (err error) {
	bin, err := Bin()
	if err != nil {
		s.missing = true
		return err
	}
	cred, err := credential()
	if err != nil {
		return err
	}
	s.dir, err = os.MkdirTemp(tempBase(cred), "samtal-pg-")
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer func() {
		if err != nil {
			_ = s.stop() // err is the one to report
		}
	}()
	if cred != nil {
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	logPath := filepath.Join(s.dir, "postgres.log")
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer log.Close() // the children have their own descriptors

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	data := filepath.Join(s.dir, "data")
	initdb := s.command(ctx, cred, log, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
		"--no-sync", "--no-instructions")
	if err := initdb.Run(); err != nil {
		return fmt.Errorf("pgtest: initdb: %v\n%s", err, tail(logPath))
	}

	// Durability costs an fsync per commit; the tests do not need it, but
	// the benchmarks measure it, as the SQLite backend's do.
	durable := "off"
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		durable = "on"
	}
	s.cmd = s.command(context.Background(), cred, log, filepath.Join(bin, "postgres"),
		"-D", data, "-k", s.dir, "-p", "5432",
		"-c", "listen_addresses=",
		"-c", "fsync="+durable, "-c", "synchronous_commit="+durable, "-c", "full_page_writes="+durable,
		"-c", "max_connections=200",
		"-c", "log_min_messages=warning")
	// Should the test binary die without stopping it, the server goes too.
	s.cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: postgres: %w", err)
	}
	s.exit = make(chan struct{})
	go func() {
		_ = s.cmd.Wait() // the exit shows in the log and in failed connections
		close(s.exit)
	}()

	for {
		s.admin, err = pgx.Connect(ctx, s.url("postgres"))
		if err == nil {
			return nil
		}
		select {
		case <-s.exit:
			return fmt.Errorf("pgtest: postgres exited: %v\n%s", s.cmd.ProcessState, tail(logPath))
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres did not start in %v: %v\n%s", startTimeout, err, tail(logPath))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// command prepares a PostgreSQL program to run as cred (nil: as this
// process), in its own process group, with its output in log.
func (s *Server) command(ctx context.Context, cred *syscall.Credential, log *os.File, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	return cmd
}

// tempBase returns where to make the server's directory: the usual
// temporary directory, or /tmp when the socket's path would be too long
// for a unix socket (about 100 bytes), or when the user PostgreSQL runs
// as could not reach the directory.
func tempBase(cred *syscall.Credential) string {
	base := os.TempDir()
	if len(base) > 60 || cred != nil && !reachable(base) {
		return "/tmp"
	}
	return base
}

// reachable reports whether any user may go through dir and each of its
// parents.
func reachable(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// credential returns who PostgreSQL runs as: nobody when this process is
// root, which PostgreSQL refuses to run as; nil (this process's user)
// otherwise.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and PostgreSQL refuses to: no user nobody to run it as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: user nobody: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// stop stops the server (a fast shutdown: it ends the sessions still
// open) and removes its directory.
func (s *Server) stop() error {
	var errs []error
	if s.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.admin.Close(ctx))
		cancel()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT) // it may have exited
		select {
		case <-s.exit:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill() // it did not stop: the error below says so
			<-s.exit
			errs = append(errs, errors.New("postgres did not stop in 30s; killed"))
		}
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pgtest: stop: %w", err)
	}
	return nil
}

// tail returns the end of the server's log, for an error message.
func tail(path string) string {
	b, _ := os.ReadFile(path) // a missing log says nothing more
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}
