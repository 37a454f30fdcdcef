package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// peer is another XMPP server (Prosody or ejabberd) run as the test's own
// process with its own configuration and data directory.
type peer struct {
	t       *testing.T
	name    string
	Domain  string
	C2S     int
	S2S     int
	S2STLS  int
	CA      string // the CA its clients trust
	Log     string
	cmd     *exec.Cmd
	out     *syncBuffer
	stopped bool
}

func (p *peer) stop() {
	if p.stopped || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.stopped = true
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	if p.t.Failed() {
		log, _ := os.ReadFile(p.Log)
		if len(log) > 60000 {
			log = log[len(log)-60000:]
		}
		p.t.Logf("%s output:\n%s\n%s log:\n%s", p.name, p.out.String(), p.name, log)
	}
}

// kill ends the peer at once, as a crash or a lost network would: it
// tells no one. stop still shows its log if the test fails.
func (p *peer) kill() {
	if p.stopped || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait() // killed: the error says so; stop's Wait returns at once
}

// waitPort waits until something listens on the loopback port.
func waitPort(t *testing.T, p *peer, port int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if p.cmd.ProcessState != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop()
	log, _ := os.ReadFile(p.Log)
	t.Fatalf("%s did not start:\n%s\n%s", p.name, p.out.String(), log)
}

// startProsody runs Prosody for domain with the given certificate files,
// trusting the CA file trust, resolving through d. secure sets
// s2s_secure_auth (no dialback, valid certificates only).
func startProsody(t *testing.T, d *testDNS, domain, cert, key, clientCA, trust string, secure bool) *peer {
	t.Helper()
	requireTool(t, func() error { _, err := exec.LookPath("prosody"); return err }, "prosody")
	dir := t.TempDir()
	p := &peer{t: t, name: "prosody", Domain: domain, C2S: freePort(t), S2S: freePort(t), S2STLS: freePort(t),
		CA: clientCA, Log: filepath.Join(dir, "prosody.log"), out: &syncBuffer{}}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Prosody finds certificates by name in its certificates directory.
	certDir := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{cert: domain + ".crt", key: domain + ".key"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certDir, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`-- written by the samtal e2e test
certificates = %[12]q
run_as_root = true
pidfile = %[1]q
data_path = %[2]q
plugin_paths = {}
log = { { levels = { min = "debug" }, to = "file", filename = %[3]q } }
network_settings = { nagle = false }
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { %[4]d }
c2s_direct_tls_ports = {}
s2s_ports = { %[5]d }
s2s_direct_tls_ports = { %[6]d }
http_ports = {}
https_ports = {}
admin_socket = %[7]q
modules_enabled = { "disco"; "roster"; "saslauth"; "tls"; "dialback"; "ping"; "register"; "s2s_bidi"; "blocklist"; "pep" }
allow_registration = true
min_seconds_between_registrations = 0
authentication = "internal_hashed"
storage = "internal"
s2s_secure_auth = %[8]v
s2s_require_encryption = true
s2s_timeout = 20
ssl = { cafile = %[9]q }
unbound = { forward = "127.0.0.1@%[10]d"; resolvconf = false; hoststxt = false }

VirtualHost %[11]q

-- A group chat service (XEP-0045) that samtal users join.
Component %[13]q "muc"
modules_enabled = { "muc_mam" }
`, filepath.Join(dir, "prosody.pid"), filepath.Join(dir, "data"), p.Log, p.C2S, p.S2S, p.S2STLS,
		filepath.Join(dir, "admin.sock"), secure, trust, d.srv.Port(), domain, certDir, "conference."+domain)
	conf := filepath.Join(dir, "prosody.cfg.lua")
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.add(domain, p.S2S, p.S2STLS)
	d.add("conference."+domain, p.S2S, p.S2STLS)
	p.cmd = exec.Command("prosody", "--config", conf, "-F")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	waitPort(t, p, p.C2S)
	return p
}

// startEjabberd runs ejabberd 23.01 for domain, outside the system
// service, with Erlang's resolver pointed at d.
func startEjabberd(t *testing.T, d *testDNS, domain, cert, key, clientCA, trust string) *peer {
	t.Helper()
	requireTool(t, func() error { _, err := exec.LookPath("erl"); return err }, "ejabberd")
	requireTool(t, func() error { _, err := os.Stat("/usr/lib/x86_64-linux-gnu/ejabberd-23.01"); return err }, "ejabberd")
	dir := t.TempDir()
	p := &peer{t: t, name: "ejabberd", Domain: domain, C2S: freePort(t), S2S: freePort(t),
		CA: clientCA, Log: filepath.Join(dir, "ejabberd.log"), out: &syncBuffer{}}
	// ejabberd reads the certificate and key from one PEM file.
	c, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	pemFile := filepath.Join(dir, "server.pem")
	if err := os.WriteFile(pemFile, append(c, k...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`# written by the samtal e2e test
hosts: [%[1]q]
loglevel: debug
log_rotate_count: 0
certfiles: [%[2]q]
ca_file: %[3]q
define_macro: {}
listen:
  - port: %[4]d
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    max_stanza_size: 262144
    shaper: none
  - port: %[5]d
    ip: "127.0.0.1"
    module: ejabberd_s2s_in
    max_stanza_size: 524288
    shaper: none
s2s_use_starttls: required
s2s_access: all
outgoing_s2s_families: [ipv4]
registration_timeout: infinity
auth_method: internal
auth_password_format: scram
acl:
  local:
    user_regexp: ""
access_rules:
  register:
    allow: all
  s2s:
    allow: all
shaper_rules: {}
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_s2s_dialback: {}
  mod_register:
    access: register
    ip_access: all
  mod_blocking: {}
  mod_privacy: {}
  mod_caps: {}
  mod_pubsub:
    plugins: [flat, pep]
  mod_mam: {}
  mod_muc:
    host: "conference.@HOST@"
    default_room_options:
      mam: true
`, domain, pemFile, trust, p.C2S, p.S2S)
	conf := filepath.Join(dir, "ejabberd.yml")
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// Erlang's resolver: only the test's name server (the system's
	// resolv.conf would replace it when read after it).
	inetrc := filepath.Join(dir, "inetrc")
	if err := os.WriteFile(inetrc, []byte(fmt.Sprintf("{resolv_conf, \"\"}.\n{hosts_file, \"\"}.\n{nameserver, {127,0,0,1}, %d}.\n{lookup, [file, dns]}.\n", d.srv.Port())), 0o600); err != nil {
		t.Fatal(err)
	}
	d.add(domain, p.S2S, 0)
	d.add("conference."+domain, p.S2S, 0)
	p.cmd = exec.Command("erl", "-noinput", "-noshell", "-mnesia", "dir", `"`+filepath.Join(dir, "db")+`"`, "-s", "ejabberd")
	p.cmd.Env = append(os.Environ(),
		"EJABBERD_CONFIG_PATH="+conf,
		"EJABBERD_LOG_PATH="+p.Log,
		"ERL_LIBS=/usr/lib/x86_64-linux-gnu",
		"ERL_INETRC="+inetrc,
		"HOME="+dir,
	)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	waitPort(t, p, p.C2S)
	return p
}
