package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// memCreds is an in-memory Credentials.
type memCreds struct {
	keys map[string]map[Hash]Keys
	err  error // returned for every lookup when set
}

func (m memCreds) Keys(user string, h Hash) (Keys, error) {
	if m.err != nil {
		return Keys{}, m.err
	}
	k, ok := m.keys[user][h]
	if !ok {
		return Keys{}, ErrNoSuchUser
	}
	return k, nil
}

// newCreds stores accounts: user → password, with keys for hashes.
func newCreds(t testing.TB, iterations int, hashes []Hash, accounts ...string) memCreds {
	t.Helper()
	m := memCreds{keys: map[string]map[Hash]Keys{}}
	for i := 0; i < len(accounts); i += 2 {
		m.keys[accounts[i]] = map[Hash]Keys{}
		for _, h := range hashes {
			k, err := DeriveKeys(h, accounts[i+1], NewSalt(), iterations)
			if err != nil {
				t.Fatal(err)
			}
			m.keys[accounts[i]][h] = k
		}
	}
	return m
}

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// client is a SCRAM and PLAIN client written from the RFCs, independent
// of the server code, to drive every mechanism.
type client struct {
	user, pass, authzid string
	flag                string // "n", "y" or "p=<cb-name>"
	cbData              []byte
	cnonce              string
	ext                 string // optional extension appended to client-first-message-bare
	// XEP-0474: what the client saw announced; when advertised is nil
	// the "h" attribute must be absent.
	advertised, cbTypes []string

	hash        Hash
	gs2, bare   string
	authMessage string
	serverKey   []byte
}

func escapeName(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "=", "=3D"), ",", "=2C")
}

func (c *client) plain() []byte {
	return []byte(c.authzid + "\x00" + c.user + "\x00" + c.pass)
}

func (c *client) first() []byte {
	if c.flag == "" {
		c.flag = "n"
	}
	if c.cnonce == "" {
		c.cnonce = "fyko+d2lbbFgONRv9qkxdawL"
	}
	c.gs2 = c.flag + ","
	if c.authzid != "" {
		c.gs2 += "a=" + escapeName(c.authzid)
	}
	c.gs2 += ","
	c.bare = "n=" + escapeName(c.user) + ",r=" + c.cnonce
	if c.ext != "" {
		c.bare += "," + c.ext
	}
	return []byte(c.gs2 + c.bare)
}

// clientSSDP computes the XEP-0474 hash as a client does.
func clientSSDP(h Hash, mechs, cbTypes []string) string {
	m := append([]string(nil), mechs...)
	sort.Strings(m)
	s := strings.Join(m, "\x1e")
	if len(cbTypes) > 0 {
		t := append([]string(nil), cbTypes...)
		sort.Strings(t)
		s += "\x1f" + strings.Join(t, "\x1e")
	}
	d := h.newFunc()()
	d.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(d.Sum(nil))
}

// final answers the server-first-message.
func (c *client) final(serverFirst []byte) ([]byte, error) {
	attrs := map[byte]string{}
	var order []byte
	for _, a := range strings.Split(string(serverFirst), ",") {
		if len(a) < 2 || a[1] != '=' {
			return nil, fmt.Errorf("bad attribute %q", a)
		}
		attrs[a[0]] = a[2:]
		order = append(order, a[0])
	}
	if string(order[:3]) != "rsi" {
		return nil, fmt.Errorf("attributes %q, want r, s, i first", order)
	}
	nonce := attrs['r']
	if !strings.HasPrefix(nonce, c.cnonce) || len(nonce) == len(c.cnonce) {
		return nil, fmt.Errorf("server nonce %q does not extend %q", nonce, c.cnonce)
	}
	h, hasH := attrs['h']
	switch {
	case c.advertised == nil && hasH:
		return nil, fmt.Errorf("unexpected h=%s", h)
	case c.advertised != nil && h != clientSSDP(c.hash, c.advertised, c.cbTypes):
		return nil, fmt.Errorf("XEP-0474 hash %q does not match, downgrade", h)
	}
	salt, err := base64.StdEncoding.DecodeString(attrs['s'])
	if err != nil {
		return nil, err
	}
	iter, err := strconv.Atoi(attrs['i'])
	if err != nil {
		return nil, err
	}
	nf := c.hash.newFunc()
	salted, err := pbkdf2.Key(nf, c.pass, salt, iter, nf().Size())
	if err != nil {
		return nil, err
	}
	hm := func(key []byte, msg string) []byte {
		m := hmac.New(nf, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := hm(salted, "Client Key")
	c.serverKey = hm(salted, "Server Key")
	d := nf()
	d.Write(clientKey)
	storedKey := d.Sum(nil)
	withoutProof := "c=" + base64.StdEncoding.EncodeToString(append([]byte(c.gs2), c.cbData...)) + ",r=" + nonce
	c.authMessage = c.bare + "," + string(serverFirst) + "," + withoutProof
	proof := hm(storedKey, c.authMessage)
	subtle.XORBytes(proof, proof, clientKey)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verify checks the server-final-message: the server knew the keys.
func (c *client) verify(serverFinal []byte) error {
	m := hmac.New(c.hash.newFunc(), c.serverKey)
	m.Write([]byte(c.authMessage))
	if want := "v=" + base64.StdEncoding.EncodeToString(m.Sum(nil)); string(serverFinal) != want {
		return fmt.Errorf("server-final %q, want %q", serverFinal, want)
	}
	return nil
}

// run authenticates c with mechanism mech. It returns the exchange, the
// server-first-message (SCRAM) and the server's error.
func run(t *testing.T, cfg Config, mech string, c *client) (*Exchange, string, error) {
	t.Helper()
	e, err := Start(mech, cfg)
	if err != nil {
		return nil, "", err
	}
	if mech == Plain {
		out, done, err := e.Step(c.plain())
		if err == nil && (!done || len(out) != 0) {
			t.Fatalf("PLAIN Step = %q, %v, nil; want done without data", out, done)
		}
		return e, "", err
	}
	switch {
	case strings.HasPrefix(mech, "SCRAM-SHA-256"):
		c.hash = SHA256
	default:
		c.hash = SHA1
	}
	sf, done, err := e.Step(c.first())
	if err != nil {
		return e, "", err
	}
	if done {
		t.Fatalf("Step(client-first) done")
	}
	cf, err := c.final(sf)
	if err != nil {
		t.Fatalf("client rejects server-first %q: %v", sf, err)
	}
	sfin, done, err := e.Step(cf)
	if err != nil {
		return e, string(sf), err
	}
	if !done {
		t.Fatalf("Step(client-final) not done")
	}
	if err := c.verify(sfin); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Step(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("Step after success = %v, want ErrMalformed", err)
	}
	return e, string(sf), nil
}
