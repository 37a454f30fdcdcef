package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/cluster/natstest"
)

// startCluster starts n samtal nodes on one NATS server (in this
// process) and one PostgreSQL database. The nodes share the first one's
// certificate, as the nodes of a real cluster share the domain's.
func startCluster(t *testing.T, n int) []*Server {
	t.Helper()
	return startClusterWith(t, n, "")
}

// startClusterWith starts a cluster whose nodes have these [limits] keys.
func startClusterWith(t *testing.T, n int, limits string) []*Server {
	t.Helper()
	url := natstest.Run(t)
	top := fmt.Sprintf("sasl_channel_binding = false\nstorage = %q", pg.Database(t))
	var nodes []*Server
	for i := range n {
		o := Options{Top: top, Limits: limits, Extra: fmt.Sprintf(`
[cluster]
nats_url = %q
node = "n%d"
heartbeat = "200ms"
dead_after = "1s"
`, url, i+1)}
		if i == 0 {
			// Node 1 tells clients where to resume its sessions: the
			// others send a client resuming one there (XEP-0198).
			o.Stream = `location = "{c2s}"`
		}
		if i > 0 {
			certs := filepath.Join(nodes[0].Dir, "data", "certs")
			o.Cert = filepath.Join(certs, "localhost.crt")
			o.Key = filepath.Join(certs, "localhost.key")
			o.CAFile = nodes[0].CA()
		}
		nodes = append(nodes, StartServer(t, o))
	}
	return nodes
}

// clusterStatus runs `samtal cluster status` on a node's configuration.
func clusterStatus(t *testing.T, s *Server) string {
	t.Helper()
	out, err := s.Run("", "cluster", "status")
	if err != nil {
		t.Fatalf("samtal cluster status: %v\n%s", err, out)
	}
	return out
}

// TestCluster runs slixmpp users on three nodes: they chat one to one and
// in a room; a client whose stream was cut resumes its session on its
// node after another node sent it there (XEP-0198 location,
// see-other-host); the node that owns the room and holds a receiver's session
// is killed (SIGKILL) while messages flow to it, and every message the
// sender's node acknowledged reaches the receiver, who reconnects to
// another node; the room goes on there.
func TestCluster(t *testing.T) {
	requireSlixmpp(t)
	nodes := startCluster(t, 3)
	const pw = "cluster-secret"
	users := []string{"alice", "bob", "carol", "dave"}
	for _, u := range append(users, "erin", "frank", "gina", "hugo") {
		nodes[0].AddUser(u, pw)
	}
	status := clusterStatus(t, nodes[0])
	if !strings.Contains(status, "3 node(s)") {
		t.Fatalf("cluster status before the test:\n%s\nwant 3 nodes", status)
	}

	control := t.TempDir()
	slix := func(scenario string, users ...string) *exec.Cmd {
		args := []string{"interop/slix_cluster.py", scenario, "--ports", Port(nodes[0].C2S), Port(nodes[1].C2S), Port(nodes[2].C2S),
			"--domain", "localhost", "--ca", nodes[0].CA(), "--password", pw, "--control", control, "--users"}
		return exec.Command(python, append(args, users...)...)
	}
	pepOut, err := slix("pep", "erin", "frank").CombinedOutput()
	t.Logf("slixmpp pep:\n%s", pepOut)
	if err != nil || !strings.Contains(string(pepOut), "PASS pep") {
		t.Fatalf("slixmpp scenario pep failed: %v", err)
	}

	for _, sc := range []string{"sm_elsewhere", "sm_redirect"} {
		smOut, err := slix(sc, "gina", "hugo").CombinedOutput()
		t.Logf("slixmpp %s:\n%s", sc, smOut)
		if err != nil || !strings.Contains(string(smOut), "PASS "+sc) {
			t.Fatalf("slixmpp scenario %s failed: %v", sc, err)
		}
	}
	if n := metric(t, nodes[1].Admin, `samtal_c2s_resumptions_total{result="redirected"}`); n != 1 {
		t.Errorf("node 2 redirected %v resumptions, want 1", n)
	}

	cmd := slix("cluster", users...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	killed := false
	deadline := time.After(3 * time.Minute)
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-deadline:
			_ = cmd.Process.Kill()
			err = <-done
			break wait
		case <-time.After(20 * time.Millisecond):
		}
		if !killed && strings.Contains(out.String(), "KILL") {
			nodes[2].Kill()
			killed = true
			if werr := os.WriteFile(filepath.Join(control, "killed"), nil, 0o600); werr != nil {
				t.Fatal(werr)
			}
		}
	}
	t.Logf("slixmpp cluster:\n%s", out.String())
	if err != nil || !strings.Contains(out.String(), "PASS cluster") {
		t.Fatalf("slixmpp scenario cluster failed: %v", err)
	}
	// Node 1 forwarded messages to the others and counts its sessions.
	if f := metric(t, nodes[0].Admin, `samtal_cluster_forwarded_total{kind="deliver"}`); f == 0 {
		t.Error("node 1 counted no forwarded stanza")
	}
	if n := metric(t, nodes[0].Admin, "samtal_cluster_nodes"); n != 2 {
		t.Errorf("samtal_cluster_nodes = %v on node 1 after n3 died, want 2", n)
	}
	status = clusterStatus(t, nodes[0])
	if !strings.Contains(status, "2 node(s)") || strings.Contains(status, "n3") {
		t.Errorf("cluster status after n3 died:\n%s\nwant n1 and n2 only", status)
	}
}

// TestClusterFederation federates a cluster of two nodes with Prosody.
// Only node 1 is in DNS, so Prosody's stream comes in there, while sara
// is connected to node 2: what Prosody sends her crosses the cluster,
// and her answers leave through node 2's own server-to-server streams.
// Both sides authenticate with SASL EXTERNAL (XEP-0178), which needs no
// secret shared between the nodes.
func TestClusterFederation(t *testing.T) {
	d := newTestDNS(t)
	ca := newPKI(t, "test CA")
	nodes := startFedCluster(t, d, ca, "verify")
	pcert, pkey := ca.issue(t, "prosody.example")
	p := startProsody(t, d, "prosody.example", pcert, pkey, ca.CA, ca.CA, true)
	const pw = "federation-password"
	nodes[0].AddUser("sara", pw)
	federate(t, account("polly@prosody.example", p.C2S, p.CA), account("sara@samtal.example", c2sPort(nodes[1].Server), ca.CA), pw, "a")
	if authCount(t, nodes[0].Server, "in", "external") == 0 {
		t.Error("Prosody's stream did not come in at node 1")
	}
	if f := metric(t, nodes[0].Admin, `samtal_cluster_forwarded_total{kind="deliver"}`); f == 0 {
		t.Error("node 1 forwarded nothing to sara's node")
	}
	if connCount(t, nodes[1].Server, "out", "direct")+connCount(t, nodes[1].Server, "out", "starttls") == 0 {
		t.Error("node 2 opened no stream of its own to Prosody")
	}
}

// startFedCluster starts a cluster of two nodes for samtal.example with
// a certificate from ca and the s2s policy; only node 1 is in DNS.
func startFedCluster(t *testing.T, d *testDNS, ca *pki, policy string) []*fedServer {
	t.Helper()
	const domain = "samtal.example"
	cert, key := ca.issue(t, domain)
	url := natstest.Run(t)
	top := fmt.Sprintf("sasl_channel_binding = false\nstorage = %q", pg.Database(t))
	var nodes []*fedServer
	for i := range 2 {
		port, tlsPort := freePort(t), freePort(t)
		if i == 0 {
			d.add(domain, port, tlsPort)
		}
		s := StartServer(t, Options{
			Domain: domain, Cert: cert, Key: key, CAFile: ca.CA, Top: top,
			Listen: fmt.Sprintf("s2s = [\"127.0.0.1:%d\"]\ns2s_tls = [\"127.0.0.1:%d\"]", port, tlsPort),
			Extra: fmt.Sprintf(`[s2s]
policy = %q
ca_file = %q
connect_timeout = "10s"

[s2s.resolver]
nameserver = %q

[cluster]
nats_url = %q
node = "n%d"
heartbeat = "200ms"
dead_after = "1s"
`, policy, ca.CA, d.srv.Addr(), url, i+1),
		})
		nodes = append(nodes, &fedServer{Server: s, S2SPort: port, S2STLSPort: tlsPort})
	}
	return nodes
}

// TestClusterDialback federates a cluster of two nodes with a Prosody
// that trusts neither side's certificate: both directions use Server
// Dialback. sara's messages leave through node 2, and Prosody verifies
// node 2's dialback key with node 1, the one in DNS, which works because
// the nodes share <data_dir>/secret, as the README tells operators to.
func TestClusterDialback(t *testing.T) {
	d := newTestDNS(t)
	ca := newPKI(t, "test CA")
	nodes := startFedCluster(t, d, ca, "dialback")
	// Node 2 takes node 1's secret, as an operator copies it.
	secret, err := os.ReadFile(filepath.Join(nodes[0].Dir, "data", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	nodes[1].Stop()
	if err := os.WriteFile(filepath.Join(nodes[1].Dir, "data", "secret"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	nodes[1].Restart()
	rogue := newPKI(t, "unknown CA")
	pcert, pkey := rogue.issue(t, "prosody.example")
	p := startProsody(t, d, "prosody.example", pcert, pkey, rogue.CA, rogue.CA, false)
	const pw = "federation-password"
	nodes[0].AddUser("sara", pw)
	federate(t, account("polly@prosody.example", p.C2S, p.CA), account("sara@samtal.example", c2sPort(nodes[1].Server), ca.CA), pw, "a")
	if authCount(t, nodes[1].Server, "out", "dialback") == 0 {
		t.Error("node 2 did not authenticate to Prosody with dialback")
	}
}
