package e2e

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func requireCoturn(t *testing.T) {
	requireTool(t, func() error {
		if _, err := exec.LookPath("turnserver"); err != nil {
			return err
		}
		_, err := exec.LookPath("turnutils_uclient")
		return err
	}, "coturn (turnserver, turnutils_uclient)")
}

// services logs in as user and returns the XEP-0215 services by
// "type/transport".
func services(t *testing.T, s *Server, user, password string) map[string]turnService {
	t.Helper()
	c := dialRaw(t, s.C2S)
	c.login("localhost", user, password)
	res := c.request("s1", "<iq type='get' id='s1' to='localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>")
	if res.Attr("type") != "result" {
		t.Fatalf("services: %v", res)
	}
	out := make(map[string]turnService)
	for _, sv := range parseServices(res.Child(nsExtdisco, "services")) {
		out[sv.typ+"/"+sv.transport] = sv
	}
	return out
}

// TestTURNWithCoturnClient relays through samtal's TURN server with
// coturn's test client, an independent TURN implementation: two clients
// (RTP and RTCP each) allocate relays with the credentials samtal handed
// out over XMPP and send each other datagrams through them, over UDP,
// TCP and TLS.
func TestTURNWithCoturnClient(t *testing.T) {
	requireCoturn(t)
	// turnutils_uclient picks a random TLS method for each connection
	// and retries at once when the handshake fails (TLS 1.0 and 1.1 are
	// refused), dozens of connections within milliseconds; on a loaded
	// machine the failed ones had not closed yet when the next came, and
	// the per-IP limit (20 by default) refused the rest.
	s := StartServer(t, Options{Turn: "allow = [\"127.0.0.0/8\"]\nconnections_per_ip = 1000"})
	s.AddUser("alice", "secret-a")
	svc := services(t, s, "alice", "secret-a")
	cases := []struct {
		name  string
		sv    turnService
		flags []string
		addr  string
	}{
		{"udp", svc["turn/udp"], nil, s.TurnUDP},
		{"tcp", svc["turn/tcp"], []string{"-t"}, s.TurnTCP},
		{"tls", svc["turns/tcp"], []string{"-t", "-S", "-E", s.CA()}, s.TurnTLS},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"-y", "-n", "20", "-l", "160"}, tc.flags...),
				"-u", tc.sv.username, "-w", tc.sv.password, "-p", Port(tc.addr), "127.0.0.1")
			out, err := uclient(t, args...)
			if err != nil || !strings.Contains(out, "Total lost packets 0 (") || !strings.Contains(out, "tot_recv_msgs=80") {
				t.Fatalf("turnutils_uclient %v: %v\n%s", args, err, out)
			}
		})
	}
	t.Run("forged", func(t *testing.T) {
		sv := svc["turn/udp"]
		out, err := uclient(t, "-y", "-n", "5", "-u", sv.username, "-w", "forged", "-p", Port(s.TurnUDP), "127.0.0.1")
		if err == nil || !strings.Contains(out, "Cannot complete Allocation") {
			t.Fatalf("turnutils_uclient with a forged password: %v\n%s", err, out)
		}
	})
}

func uclient(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "turnutils_uclient", args...).CombinedOutput()
	return string(out), err
}

// TestExternalCoturn points samtal at a coturn it does not run: with a
// shared secret, samtal announces it over XEP-0215 with credentials that
// coturn accepts (TURN REST API, use-auth-secret), and a client relays
// through coturn with them.
func TestExternalCoturn(t *testing.T) {
	requireCoturn(t)
	const secret = "shared between samtal and coturn"
	port := Port(freeUDPAddr(t))
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	coturn := exec.CommandContext(ctx, "turnserver", "-n",
		"--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--listening-port="+port,
		"--use-auth-secret", "--static-auth-secret="+secret, "--realm=localhost",
		"--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers",
		"--db="+filepath.Join(dir, "turndb"), "--pidfile="+filepath.Join(dir, "turn.pid"),
		"--log-file=stdout", "--simple-log")
	var log syncBuffer
	coturn.Stdout, coturn.Stderr = &log, &log
	if err := coturn.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = coturn.Wait() // killed by the cancelled context
		if t.Failed() {
			t.Logf("coturn:\n%s", log.String())
		}
	})
	// coturn is up when it answers STUN.
	deadline := time.Now().Add(10 * time.Second)
	for !stunAnswers("127.0.0.1:" + port) {
		if time.Now().After(deadline) {
			t.Fatalf("coturn did not start:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	s := StartServer(t, Options{
		Turn: "enabled = false",
		Extra: `[[turn.external]]
type = "turn"
host = "127.0.0.1"
port = ` + port + `
transport = "udp"
secret = "` + secret + `"
name = "coturn"
`,
	})
	s.AddUser("alice", "secret-a")
	svc := services(t, s, "alice", "secret-a")
	if len(svc) != 1 {
		t.Fatalf("services %v, want only the external coturn", svc)
	}
	sv, ok := svc["turn/udp"]
	if !ok || sv.host != "127.0.0.1" || sv.port != port || sv.username == "" {
		t.Fatalf("coturn service %+v", sv)
	}
	// pion's client through coturn.
	cl := turnClient(t, &Server{TurnUDP: "127.0.0.1:" + port}, "udp", "", sv.username, sv.password)
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("allocation on coturn with samtal's credentials: %v", err)
	}
	defer relay.Close()
	relayExchange(t, relay)
	// And coturn's own client.
	if out, err := uclient(t, "-y", "-n", "10", "-u", sv.username, "-w", sv.password, "-p", port, "127.0.0.1"); err != nil || !strings.Contains(out, "Total lost packets 0 (") {
		t.Fatalf("turnutils_uclient through coturn: %v\n%s", err, out)
	}
}

// stunAnswers reports whether a STUN Binding request to addr gets an
// answer.
func stunAnswers(addr string) bool {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	// A Binding request: type 0x0001, length 0, magic cookie, a
	// transaction ID.
	req := []byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if _, err := c.Write(req); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = c.Read(make([]byte, 512))
	return err == nil
}
