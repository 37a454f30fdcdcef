package e2e

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	pion "github.com/pion/turn/v5"

	"samtal.org/samtal/internal/xmlel"
)

const nsExtdisco = "urn:xmpp:extdisco:2"

// turnService is one <service/> of an XEP-0215 answer.
type turnService struct {
	typ, host, port, transport, username, password, expires, restricted string
}

func parseServices(el *xmlel.Element) []turnService {
	var out []turnService
	for _, s := range el.Elements() {
		if s.Space != nsExtdisco || s.Local != "service" {
			continue
		}
		out = append(out, turnService{
			typ: s.Attr("type"), host: s.Attr("host"), port: s.Attr("port"), transport: s.Attr("transport"),
			username: s.Attr("username"), password: s.Attr("password"), expires: s.Attr("expires"), restricted: s.Attr("restricted"),
		})
	}
	return out
}

// request sends an iq and returns the response with its id, skipping
// anything else that arrives first.
func (c *raw) request(id, iq string) *xmlel.Element {
	c.t.Helper()
	c.send(iq)
	for {
		el := c.next()
		if el.Local == "iq" && el.Attr("id") == id {
			return el
		}
	}
}

// turnClient dials the TURN server over network ("udp", "tcp" or "tls")
// and returns a listening pion TURN client.
func turnClient(t *testing.T, s *Server, network, ca, username, password string) *pion.Client {
	t.Helper()
	var conn net.PacketConn
	var addr string
	switch network {
	case "udp":
		addr = s.TurnUDP
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	case "tcp":
		addr = s.TurnTCP
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn = pion.NewSTUNConn(c)
	case "tls":
		addr = s.TurnTLS
		pem, err := os.ReadFile(ca)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		// The relay serves the host's certificate: verify it.
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: "localhost", RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		conn = pion.NewSTUNConn(c)
	}
	cl, err := pion.NewClient(&pion.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: username, Password: password, RTO: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Close()
		conn.Close()
	})
	return cl
}

// relayExchange sends datagrams through the relay to a peer on loopback
// and back.
func relayExchange(t *testing.T, relay net.PacketConn) {
	t.Helper()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	buf := make([]byte, 1500)
	var n int
	var from net.Addr
	// The first datagram races the permission it creates: send until
	// one arrives.
	for i := 0; ; i++ {
		if _, err := relay.WriteTo([]byte("hello peer"), peer.LocalAddr()); err != nil {
			t.Fatalf("write through the relay: %v", err)
		}
		_ = peer.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, from, err = peer.ReadFrom(buf); err == nil {
			break
		}
		if i == 6 {
			t.Fatalf("the peer got nothing through the relay: %v", err)
		}
	}
	if string(buf[:n]) != "hello peer" || from.String() != relay.LocalAddr().String() {
		t.Fatalf("peer got %q from %v, want %q from the relay address %v", buf[:n], from, "hello peer", relay.LocalAddr())
	}
	for i := range 20 {
		msg := fmt.Sprintf("datagram %d", i)
		if _, err := peer.WriteTo([]byte(msg), from); err != nil {
			t.Fatal(err)
		}
		_ = relay.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, src, err := relay.ReadFrom(buf)
		if err != nil {
			t.Fatalf("the client got nothing back through the relay: %v", err)
		}
		if string(buf[:n]) != msg || src.String() != peer.LocalAddr().String() {
			t.Fatalf("client got %q from %v, want %q from %v", buf[:n], src, msg, peer.LocalAddr())
		}
	}
}

// TestTURN gets TURN credentials over XMPP (XEP-0215) after a real login,
// and relays UDP datagrams with them through the embedded server, over
// UDP, TCP and TLS, with pion's TURN client.
func TestTURN(t *testing.T) {
	// Loopback is refused by default; the peers of this test live there.
	s := StartServer(t, Options{Turn: `allow = ["127.0.0.0/8"]`})
	s.AddUser("alice", "secret-a")
	c := dialRaw(t, s.C2S)
	c.login("localhost", "alice", "secret-a")

	// The server advertises the feature (XEP-0215 §4) and the proxy.
	info := c.request("i1", "<iq type='get' id='i1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	found := false
	for _, f := range info.Child("http://jabber.org/protocol/disco#info", "query").Elements() {
		found = found || f.Attr("var") == nsExtdisco
	}
	if !found {
		t.Errorf("disco#info lacks %s: %v", nsExtdisco, info)
	}

	res := c.request("s1", "<iq type='get' id='s1' to='localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>")
	if res.Attr("type") != "result" {
		t.Fatalf("services: %v", res)
	}
	services := parseServices(res.Child(nsExtdisco, "services"))
	byKind := make(map[string]turnService)
	for _, sv := range services {
		byKind[sv.typ+"/"+sv.transport] = sv
	}
	want := map[string]string{"stun/udp": s.TurnUDP, "turn/udp": s.TurnUDP, "turn/tcp": s.TurnTCP, "turns/tcp": s.TurnTLS}
	for kind, addr := range want {
		sv, ok := byKind[kind]
		if !ok {
			t.Fatalf("services lack %s: %v", kind, res)
		}
		if sv.host != "localhost" || sv.port != Port(addr) {
			t.Errorf("%s at %s:%s, want localhost:%s", kind, sv.host, sv.port, Port(addr))
		}
		if strings.HasPrefix(kind, "turn") {
			exp, err := time.Parse(time.RFC3339, sv.expires)
			if sv.username == "" || sv.password == "" || sv.restricted != "1" || err != nil || time.Until(exp) < time.Hour || time.Until(exp) > 13*time.Hour {
				t.Errorf("%s credentials: %+v, want username, password, restricted=1 and expires in 12h", kind, sv)
			}
			if strings.Contains(sv.username, "alice") {
				t.Errorf("TURN username %q names the user", sv.username)
			}
		}
	}
	if byKind["stun/udp"].username != "" {
		t.Errorf("stun service carries credentials: %+v", byKind["stun/udp"])
	}

	// A filtered request (§3.1) and a credentials request (§3.3).
	res = c.request("s2", "<iq type='get' id='s2' to='localhost'><services xmlns='urn:xmpp:extdisco:2' type='stun'/></iq>")
	if got := parseServices(res.Child(nsExtdisco, "services")); len(got) != 1 || got[0].typ != "stun" {
		t.Errorf("services of type stun: %v", res)
	}
	res = c.request("c1", "<iq type='get' id='c1' to='localhost'><credentials xmlns='urn:xmpp:extdisco:2'><service host='localhost' type='turns'/></credentials></iq>")
	creds := parseServices(res.Child(nsExtdisco, "credentials"))
	if len(creds) != 1 || creds[0].username == "" || creds[0].password == "" {
		t.Fatalf("credentials for turns: %v", res)
	}

	// STUN: the server tells the client its address.
	stun := turnClient(t, s, "udp", s.CA(), "", "")
	mapped, err := stun.SendBindingRequest()
	if err != nil || !strings.HasPrefix(mapped.String(), "127.0.0.1:") {
		t.Errorf("STUN binding: %v, %v", mapped, err)
	}

	for _, network := range []string{"udp", "tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			sv := byKind["turn/udp"]
			switch network {
			case "tcp":
				sv = byKind["turn/tcp"]
			case "tls":
				sv = creds[0]
			}
			cl := turnClient(t, s, network, s.CA(), sv.username, sv.password)
			relay, err := cl.Allocate()
			if err != nil {
				t.Fatalf("allocate with the credentials from XMPP: %v", err)
			}
			defer relay.Close()
			relayExchange(t, relay)
		})
	}

	t.Run("refused credentials", func(t *testing.T) {
		// Credentials of the documented scheme made with the server's
		// secret: only unexpired ones work.
		secret, err := os.ReadFile(filepath.Join(s.Dir, "data", "turn-secret"))
		if err != nil {
			t.Fatal(err)
		}
		mint := func(expiry time.Time) (string, string) {
			user := strconv.FormatInt(expiry.Unix(), 10) + ":someone"
			mac := hmac.New(sha1.New, []byte(strings.TrimSpace(string(secret))))
			mac.Write([]byte(user))
			return user, base64.StdEncoding.EncodeToString(mac.Sum(nil))
		}
		user, pass := mint(time.Now().Add(time.Hour))
		relay, err := turnClient(t, s, "udp", "", user, pass).Allocate()
		if err != nil {
			t.Fatalf("credentials made with the secret were refused: %v", err)
		}
		relay.Close()

		user, pass = mint(time.Now().Add(-time.Minute))
		if relay, err := turnClient(t, s, "udp", "", user, pass).Allocate(); err == nil {
			relay.Close()
			t.Error("expired credentials were accepted")
		}
		forged := byKind["turn/udp"]
		if relay, err := turnClient(t, s, "udp", "", forged.username, base64.StdEncoding.EncodeToString([]byte("not the password!!!!"))).Allocate(); err == nil {
			relay.Close()
			t.Error("a forged password was accepted")
		}
		// A later expiry on a username invalidates its password.
		later := strings.Replace(forged.username, forged.username[:2], "99", 1)
		if relay, err := turnClient(t, s, "udp", "", later, forged.password).Allocate(); err == nil {
			relay.Close()
			t.Error("a username with a forged expiry was accepted")
		}
	})
}

// TestTURNDeniesLoopback checks the default policy: a relay that would
// reach the server's loopback is refused.
func TestTURNDeniesLoopback(t *testing.T) {
	s := StartServer(t, Options{})
	s.AddUser("alice", "secret-a")
	c := dialRaw(t, s.C2S)
	c.login("localhost", "alice", "secret-a")
	res := c.request("s1", "<iq type='get' id='s1' to='localhost'><services xmlns='urn:xmpp:extdisco:2' type='turn'/></iq>")
	var sv turnService
	for _, x := range parseServices(res.Child(nsExtdisco, "services")) {
		if x.transport == "udp" {
			sv = x
		}
	}
	cl := turnClient(t, s, "udp", "", sv.username, sv.password)
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer relay.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if err := cl.CreatePermission(peer.LocalAddr()); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("permission for a loopback peer: %v, want 403 Forbidden", err)
	}
	// The samtal c2s port on loopback is out of reach too.
	c2s, _ := net.ResolveUDPAddr("udp", s.C2S)
	if err := cl.CreatePermission(c2s); err == nil {
		t.Error("permission for the server's own loopback address was granted")
	}
	_, _ = relay.WriteTo([]byte("let me in"), peer.LocalAddr()) // refused: no permission
	_ = peer.SetReadDeadline(time.Now().Add(time.Second))
	if n, _, err := peer.ReadFrom(make([]byte, 100)); err == nil {
		t.Errorf("a loopback peer got %d bytes through the relay", n)
	}
}
