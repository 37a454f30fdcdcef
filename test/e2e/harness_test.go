// Package e2e tests the real samtal binary from the outside: it builds it,
// starts it on loopback ports with a temporary configuration, and drives
// it with independent clients (slixmpp, go-sendxmpp) and raw sockets.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the samtal binary built once for all tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "samtal-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "samtal")
	args := []string{"build", "-o", binary}
	if os.Getenv("SAMTAL_E2E_RACE") != "" {
		// The race detector in the server under test.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../../cmd/samtal")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building samtal:", err)
		os.Exit(1)
	}
	code := pg.Main(m) // m.Run, then stop PostgreSQL if a test started it
	os.RemoveAll(dir)
	os.Exit(code)
}

// Server is a samtal process under test.
type Server struct {
	t       *testing.T
	Dir     string
	Config  string
	Domain  string
	C2S     string // STARTTLS listener
	TLS     string // direct TLS listener
	Admin   string
	Comp    string
	TurnUDP string // STUN/TURN over UDP
	TurnTCP string // TURN over TCP
	TurnTLS string // TURN over TLS
	Proxy   string // SOCKS5 bytestream proxy
	Web     string // HTTPS listener of the web server
	IRC     string // IRC over TLS, when Options.IRC is set
	IRCText string // IRC in plaintext, when Options.IRC is set
	cmd     *exec.Cmd
	out     *syncBuffer
	stopped bool
	caFile  string
}

// freeAddr returns a loopback address with a TCP port that was free a
// moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	return freeLoopback(t, func(addr string) (func() error, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		return ln.Close, nil
	})
}

// freeUDPAddr returns a loopback address with a UDP port that was free a
// moment ago.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	return freeLoopback(t, func(addr string) (func() error, error) {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, err
		}
		return c.Close, nil
	})
}

// freeLoopback finds a port that bind can take, below the kernel's ephemeral
// range. A port the kernel hands out for ":0" comes from that range,
// which every outgoing connection on the machine also draws from: between
// the moment the test lets it go and the moment samtal binds it, a
// client's connection (a peer server, another test) could take it, and
// samtal would fail with "address already in use".
var (
	handedOutMu sync.Mutex
	handedOut   = map[int]bool{}
)

func freeLoopback(t *testing.T, bind func(addr string) (func() error, error)) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	for range 1000 {
		port := 10000 + rand.IntN(low-10000)
		// Never the same port twice in one run: two listeners of one
		// configuration could otherwise get the same free port, and a
		// server that stopped may not have let its port go yet.
		handedOutMu.Lock()
		taken := handedOut[port]
		handedOut[port] = true
		handedOutMu.Unlock()
		if taken {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if release, err := bind(addr); err == nil {
			_ = release()
			return addr
		}
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return ""
}

// Options adjust the generated configuration.
type Options struct {
	Registration string // closed (default), invite, open
	Extra        string // appended TOML (top-level keys must come first: use Top)
	Top          string // top-level TOML keys
	Limits       string // keys of the [limits] table
	Turn         string // keys of the [turn] table
	Bytestreams  string // keys of the [bytestreams] table
	Listen       string // more keys of the [listen] table
	Domain       string // the host's domain; default localhost
	Cert, Key    string // the host's certificate files; default self-signed
	CAFile       string // the CA clients trust; default the self-signed certificate
	LogLevel     string // "debug" unless set
	IRC          string // keys of the [irc] table; non-empty turns the IRC gateway on
	Stream       string // keys of the [stream] table; {c2s} is the client listener's address
	Host         string // more keys of the [[host]] table
}

// StartServer starts samtal with a fresh data directory.
func StartServer(t *testing.T, o Options) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{t: t, Dir: dir, Domain: "localhost", C2S: freeAddr(t), TLS: freeAddr(t), Admin: freeAddr(t), Comp: freeAddr(t),
		TurnUDP: freeUDPAddr(t), TurnTCP: freeAddr(t), TurnTLS: freeAddr(t), Proxy: freeAddr(t), Web: freeAddr(t), caFile: o.CAFile}
	if o.Domain != "" {
		s.Domain = o.Domain
	}
	if o.Registration == "" {
		o.Registration = "closed"
	}
	if o.LogLevel == "" {
		o.LogLevel = "debug"
	}
	if !strings.Contains(o.Limits, "auth_timeout") {
		o.Limits = "auth_timeout = \"10s\"\n" + o.Limits
	}
	cfg := fmt.Sprintf(`data_dir = %q
registration = %q
log_level = %q
%s
[listen]
c2s = [%q]
c2s_tls = [%q]
admin = %q
component = [%q]
%s

[web]
https = [%q]

[[host]]
domain = %q
cert = %q
key = %q
contact = { abuse = ["mailto:abuse@localhost"] }
%s

[[component]]
domain = "bot.localhost"
secret = "component-secret"

[turn]
udp = [%q]
tcp = [%q]
tls = [%q]
%s

[bytestreams]
listen = [%q]
%s

[limits]
%s
%s
`, filepath.Join(dir, "data"), o.Registration, o.LogLevel, o.Top, s.C2S, s.TLS, s.Admin, s.Comp, o.Listen, s.Web, s.Domain, o.Cert, o.Key, o.Host,
		s.TurnUDP, s.TurnTCP, s.TurnTLS, o.Turn, s.Proxy, o.Bytestreams, o.Limits, o.Extra)
	if o.Stream != "" {
		cfg += "\n[stream]\n" + strings.ReplaceAll(o.Stream, "{c2s}", s.C2S) + "\n"
	}
	if o.IRC != "" {
		s.IRC, s.IRCText = freeAddr(t), freeAddr(t)
		cfg += fmt.Sprintf("\n[irc]\nlisten = [%q]\nlisten_plain = [%q]\n%s\n", s.IRC, s.IRCText, o.IRC)
	}
	s.Config = filepath.Join(dir, "samtal.toml")
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	t := s.t
	s.out = &syncBuffer{}
	s.cmd = exec.Command(binary, "serve", "--config", s.Config)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.stopped = false
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(s.out.String(), "create the first account") {
			return
		}
		if strings.Contains(s.out.String(), "samtal: ") {
			break // it said why it could not start
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	t.Fatalf("samtal did not start:\n%s", s.out.String())
}

// Stop ends the server with SIGTERM and waits for it.
func (s *Server) Stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		s.t.Errorf("samtal did not stop on SIGTERM within 15s")
	}
	if strings.Contains(s.out.String(), "WARNING: DATA RACE") {
		s.t.Errorf("the race detector found a data race in the server")
	}
	if s.t.Failed() {
		s.t.Logf("server output:\n%s", s.out.String())
	}
}

// Kill ends the server with SIGKILL.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.stopped = true
}

// Restart starts the server again on the same configuration and data.
func (s *Server) Restart() {
	s.Stop()
	s.start()
}

// Output returns what the server printed so far.
func (s *Server) Output() string { return s.out.String() }

// CA returns the path of the self-signed certificate of the domain.
func (s *Server) CA() string {
	if s.caFile != "" {
		return s.caFile
	}
	return filepath.Join(s.Dir, "data", "certs", s.Domain+".crt")
}

// Samtal runs a samtal administration command on this server's data.
func (s *Server) Samtal(stdin string, args ...string) (string, error) {
	args = append(args[:1:1], append([]string{"--config", s.Config}, args[1:]...)...)
	cmd := exec.Command(binary, append([]string{"user"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Run runs the samtal command with its configuration flag after the
// subcommand's words (those before the first flag).
func (s *Server) Run(stdin string, words ...string) (string, error) {
	i := 0
	for i < len(words) && !strings.HasPrefix(words[i], "-") {
		i++
	}
	args := append(append(append([]string{}, words[:i]...), "--config", s.Config), words[i:]...)
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Invite makes an invitation with `samtal invite create` and returns its
// token.
func (s *Server) Invite(t *testing.T) string {
	t.Helper()
	out, err := s.Run("", "invite", "create", "--ttl", "1h")
	if err != nil {
		t.Fatalf("samtal invite create: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if tok, ok := strings.CutPrefix(line, "token:"); ok {
			return strings.TrimSpace(tok)
		}
	}
	t.Fatalf("no token in %q", out)
	return ""
}

// AddUser creates an account with the samtal user command.
func (s *Server) AddUser(local, password string) {
	s.t.Helper()
	if out, err := s.Samtal(password+"\n", "add", local+"@"+s.Domain); err != nil {
		s.t.Fatalf("samtal user add %s: %v\n%s", local, err, out)
	}
}

// Port returns the port of a host:port address.
func Port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// python is Debian's interpreter, which has python3-slixmpp.
const python = "/usr/bin/python3"

// requireTool fails the test when an interop tool is missing: the test
// command installs them, so a missing one is a broken setup, not a skip.
func requireTool(t *testing.T, check func() error, what string) {
	t.Helper()
	if err := check(); err != nil {
		if os.Getenv("SAMTAL_SKIP_INTEROP") != "" {
			t.Skipf("%s missing and SAMTAL_SKIP_INTEROP set: %v", what, err)
		}
		t.Fatalf("%s is missing (run `make test`, which installs it): %v", what, err)
	}
}

func requireSlixmpp(t *testing.T) {
	requireTool(t, func() error { return exec.Command(python, "-c", "import slixmpp").Run() }, "python3-slixmpp")
}

// slixScript runs a scenario of a slixmpp script of interop/ against s,
// with the script's usual arguments, then extra, then the users.
func (s *Server) slixScript(t *testing.T, script, scenario, password string, extra []string, users ...string) {
	t.Helper()
	requireSlixmpp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{script, scenario, "--port", Port(s.C2S), "--tls-port", Port(s.TLS),
		"--domain", s.Domain, "--ca", s.CA(), "--password", password}
	args = append(append(append(args, extra...), "--users"), users...)
	out, err := exec.CommandContext(ctx, python, args...).CombinedOutput()
	t.Logf("slixmpp %s:\n%s", scenario, out)
	if err != nil || !bytes.Contains(out, []byte("PASS "+scenario)) {
		t.Fatalf("slixmpp scenario %s failed: %v", scenario, err)
	}
}

// Slix runs a slixmpp scenario against s.
func (s *Server) Slix(t *testing.T, scenario, password string, users ...string) {
	t.Helper()
	s.SlixWith(t, nil, scenario, password, users...)
}

// SlixWith runs a slixmpp scenario with extra arguments.
func (s *Server) SlixWith(t *testing.T, extra []string, scenario, password string, users ...string) {
	t.Helper()
	requireSlixmpp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"interop/slix.py", scenario, "--port", Port(s.C2S), "--tls-port", Port(s.TLS),
		"--domain", s.Domain, "--ca", s.CA(), "--password", password, "--component-port", Port(s.Comp)}
	args = append(args, extra...)
	args = append(args, "--users")
	args = append(args, users...)
	cmd := exec.CommandContext(ctx, python, args...)
	// HTTP clients (file upload) trust the server's self-signed
	// certificate through this.
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+s.CA())
	out, err := cmd.CombinedOutput()
	t.Logf("slixmpp %s:\n%s", scenario, out)
	if err != nil || !bytes.Contains(out, []byte("PASS "+scenario)) {
		t.Fatalf("slixmpp scenario %s failed: %v", scenario, err)
	}
}

// SlixProc is a slixmpp scenario running beside the test.
type SlixProc struct {
	t        *testing.T
	scenario string
	cmd      *exec.Cmd
	out      *syncBuffer
	done     chan error
}

// SlixStart starts a slixmpp scenario and returns once it printed READY.
func (s *Server) SlixStart(t *testing.T, scenario, password string, extra []string, users ...string) *SlixProc {
	t.Helper()
	requireSlixmpp(t)
	args := []string{"interop/slix.py", scenario, "--port", Port(s.C2S), "--tls-port", Port(s.TLS),
		"--domain", s.Domain, "--ca", s.CA(), "--password", password}
	args = append(args, extra...)
	args = append(append(args, "--users"), users...)
	p := &SlixProc{t: t, scenario: scenario, cmd: exec.Command(python, args...), out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.After(30 * time.Second)
	for !strings.Contains(p.out.String(), "READY") {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("slixmpp %s ended before it was ready: %v\n%s", scenario, err, p.out.String())
		case <-deadline:
			t.Fatalf("slixmpp %s not ready after 30s:\n%s", scenario, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return p
}

// Wait waits for the scenario to pass.
func (p *SlixProc) Wait() {
	p.t.Helper()
	var err error
	select {
	case err = <-p.done:
	case <-time.After(90 * time.Second):
		_ = p.cmd.Process.Kill()
		err = <-p.done
	}
	p.t.Logf("slixmpp %s:\n%s", p.scenario, p.out.String())
	if err != nil || !strings.Contains(p.out.String(), "PASS "+p.scenario) {
		p.t.Fatalf("slixmpp scenario %s failed: %v", p.scenario, err)
	}
}

// syncBuffer is a bytes.Buffer safe for a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
