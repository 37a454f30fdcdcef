package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIRC drives the IRC gateway: irc-framework (the IRC library behind
// KiwiIRC) and slixmpp in the same rooms and conversations, MONITOR
// following presence subscriptions, multiline messages both ways, SASL
// EXTERNAL with a client
// certificate, and raw lines for the
// registration flow and the numerics of bad input.
func TestIRC(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := clientCertificate(t, dir, "erin")
	s := StartServer(t, Options{
		Top: "sasl_channel_binding = false",
		IRC: "motd = \"Welcome to samtal\"\nclient_ca = " + `"` + caFile + `"`,
	})
	const pw = "correct horse battery staple"
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivy", "jack", "kate"} {
		s.AddUser(u, pw)
	}
	t.Run("room", func(t *testing.T) { s.slixIRC(t, nil, "room", pw, "alice", "bob", "carol", "dave", "frank") })
	t.Run("monitor", func(t *testing.T) { s.slixIRC(t, nil, "monitor", pw, "ivy", "gina", "hank") })
	t.Run("multiline", func(t *testing.T) { s.slixIRC(t, nil, "multiline", pw, "jack", "kate") })
	t.Run("external", func(t *testing.T) {
		s.slixIRC(t, []string{"--cert", certFile, "--key", keyFile}, "external", pw, "erin")
	})
	t.Run("raw", func(t *testing.T) { testIRCRaw(t, s, pw) })
}

func requireIRCFramework(t *testing.T) {
	requireTool(t, func() error {
		if _, err := os.Stat("interop/irc/node_modules/irc-framework/package.json"); err != nil {
			return err
		}
		return exec.Command("node", "--version").Run()
	}, "node and npm irc-framework (scripts/deps.sh)")
}

// slixIRC runs a scenario of interop/slix_irc.py.
func (s *Server) slixIRC(t *testing.T, extra []string, scenario, password string, users ...string) {
	t.Helper()
	requireIRCFramework(t)
	s.slixScript(t, "interop/slix_irc.py", scenario, password, append([]string{"--irc-port", Port(s.IRC)}, extra...), users...)
}

// clientCertificate writes a CA and a client certificate for an account
// signed by it, for SASL EXTERNAL.
func clientCertificate(t *testing.T, dir, account string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "samtal test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: account},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("client.pem", "CERTIFICATE", der), write("client.key", "EC PRIVATE KEY", kb)
}

// ircConn is a raw IRC connection for the tests of exact lines.
type ircConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialIRC(t *testing.T, addr string, useTLS bool) *ircConn {
	t.Helper()
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &ircConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *ircConn) send(lines ...string) {
	c.t.Helper()
	for _, l := range lines {
		if _, err := c.c.Write([]byte(l + "\r\n")); err != nil {
			c.t.Fatal(err)
		}
	}
}

// expect reads lines until one contains all of parts, and returns it.
func (c *ircConn) expect(parts ...string) string {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var seen []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("no line with %q: %v; read %q", parts, err, seen)
		}
		line = strings.TrimRight(line, "\r\n")
		seen = append(seen, line)
		ok := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				ok = false
			}
		}
		if ok {
			return line
		}
	}
}

func testIRCRaw(t *testing.T, s *Server, pw string) {
	plain := func(user, pass string) string {
		return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	}
	t.Run("sasl", func(t *testing.T) {
		c := dialIRC(t, s.IRC, true)
		c.send("CAP LS 302")
		ls := c.expect("CAP * LS")
		for _, capName := range []string{"sasl=EXTERNAL,PLAIN,SCRAM-SHA-256,SCRAM-SHA-1", "message-tags", "server-time", "echo-message",
			"batch", "labeled-response", "multi-prefix", "away-notify", "account-tag", "extended-join", "draft/chathistory", "cap-notify"} {
			if !strings.Contains(ls, capName) {
				t.Errorf("CAP LS = %q, want %s", ls, capName)
			}
		}
		c.send("NICK whoever", "USER u 0 * :Real Name", "CAP REQ :sasl nonsense")
		c.expect("CAP whoever NAK :sasl nonsense")
		c.send("CAP REQ :sasl server-time")
		c.expect("CAP whoever ACK :sasl server-time")
		c.send("AUTHENTICATE DIGEST-MD5")
		c.expect(" 908 ", "PLAIN")
		c.expect(" 904 ")
		c.send("AUTHENTICATE PLAIN")
		c.expect("AUTHENTICATE +")
		c.send("AUTHENTICATE " + plain("alice", "wrong"))
		c.expect(" 904 ")
		c.send("AUTHENTICATE PLAIN")
		c.expect("AUTHENTICATE +")
		c.send("AUTHENTICATE " + plain("alice", pw))
		c.expect(" 900 ", "alice!u@localhost alice")
		c.expect(" 903 ")
		c.send("JOIN #early")
		c.expect(" 451 ")
		c.send("CAP END")
		c.expect(" 001 alice ")
		isupport := c.expect(" 005 alice ", "CHANLIMIT=#:50")
		if !strings.Contains(isupport, "CASEMAPPING=ascii") {
			t.Errorf("ISUPPORT = %q, want CASEMAPPING=ascii", isupport)
		}
		c.expect(" 005 alice ", "NICKLEN=64")
		c.expect(" 372 alice ", "Welcome to samtal")
		c.expect(" 376 alice ")
		c.expect("NICK alice") // the nick is the account's
		c.send("PING :tok")
		c.expect("PONG", "tok")
		c.send("FROB")
		c.expect(" 421 alice FROB ")
		c.send("PRIVMSG")
		c.expect(" 411 alice ")
		c.send("PRIVMSG bob")
		c.expect(" 412 alice ")
		c.send("PRIVMSG no.such|user :hi")
		c.expect(" 401 alice no.such|user ")
		c.send("JOIN #a|zz")
		c.expect(" 403 alice #a|zz ")
		c.send("JOIN nochannel")
		c.expect(" 403 alice nochannel ")
		c.send("NICK mallory")
		c.expect(" 432 alice mallory ")
		c.send("PRIVMSG #nowhere :hi")
		c.expect(" 403 alice #nowhere ")
		c.send("TOPIC #nowhere")
		c.expect(" 403 alice #nowhere ")
		c.send("PRIVMSG bob :\xff\xfe")
		c.expect("FAIL PRIVMSG INVALID_UTF8")
		c.send("PRIVMSG bob :" + strings.Repeat("x", 600))
		c.expect(" 417 alice ")
		c.send("@" + strings.Repeat("a", 9000) + " PING x")
		c.expect(" 417 alice ")
		c.send("PING :still here")
		c.expect("PONG", "still here")
		c.send("QUIT :done")
		c.expect("ERROR", "done")
	})
	t.Run("pass", func(t *testing.T) {
		c := dialIRC(t, s.IRCText, false)
		c.send("PASS :bob:"+pw, "NICK bob", "USER b 0 * :Bob")
		c.expect(" 001 bob ")
		c.send("QUIT")
		c.expect("ERROR")
		c = dialIRC(t, s.IRCText, false)
		c.send("PASS bob:wrong", "NICK bob", "USER b 0 * :Bob")
		c.expect(" 464 ")
		c.expect("ERROR")
	})
	t.Run("channel", func(t *testing.T) {
		login := func(user string) *ircConn {
			c := dialIRC(t, s.IRC, true)
			c.send("PASS :"+user+":"+pw, "NICK "+user, "USER "+user+" 0 * :"+user)
			c.expect(" 001 " + user + " ")
			return c
		}
		a, b := login("carol"), login("dave")
		a.send("JOIN #keyed sesame")
		a.expect(":carol!carol@localhost JOIN #keyed")
		a.expect(" 366 carol #keyed ")
		b.send("JOIN #keyed wrong")
		b.expect(" 475 dave #keyed ")
		b.send("JOIN #keyed sesame")
		b.expect(":dave!dave@localhost JOIN #keyed")
		a.expect("JOIN #keyed") // dave, seen by carol
		a.send("MODE #keyed")
		a.expect(" 324 carol #keyed ", "k")
		a.send("MODE #keyed +b dave")
		b.expect("KICK #keyed dave")
		a.send("MODE #keyed b")
		a.expect(" 367 carol #keyed dave!*@*")
		a.expect(" 368 carol #keyed ")
		b.send("JOIN #keyed sesame")
		b.expect(" 474 dave #keyed ")
		a.send("MODE #keyed -b dave", "MODE #keyed +i")
		a.expect("MODE #keyed +i")
		b.send("JOIN #keyed sesame")
		b.expect(" 473 dave #keyed ")
		a.send("INVITE dave #keyed")
		a.expect(" 341 carol dave #keyed")
		b.expect("INVITE dave #keyed")
		b.send("JOIN #keyed sesame")
		b.expect(":dave!dave@localhost JOIN #keyed")
		b.send("KICK #keyed carol")
		b.expect(" 482 dave #keyed ")
		b.send("TOPIC #keyed :dave's topic")
		b.expect(" 482 dave #keyed ")
		a.send("PART #keyed :bye")
		a.expect(":carol!carol@localhost PART #keyed bye")
		// The room is semi-anonymous: dave, no moderator, does not see
		// carol's address.
		b.expect(":carol!occupant@conference.localhost PART #keyed bye")
		a.send("KICK #keyed dave")
		a.expect(" 442 carol #keyed ")
		a.send("LIST")
		a.expect(" 322 carol #keyed 1 ") // from the service's disco#items and the room's disco#info
		a.expect(" 323 carol ")
	})
	t.Run("noauth", func(t *testing.T) {
		c := dialIRC(t, s.IRCText, false)
		c.send("NICK stranger", "USER s 0 * :S")
		c.expect("FAIL * ACCOUNT_REQUIRED")
		c.expect("ERROR")
	})
}
