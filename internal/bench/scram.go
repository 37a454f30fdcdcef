package bench

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// scram is the client side of SCRAM (RFC 5802, RFC 7677) without channel
// binding (gs2 header "n,,"), written from the RFCs.
type scram struct {
	h        func() hash.Hash
	name     string
	user     string
	password string
	cnonce   string
	bare     string // client-first-message-bare
	server   []byte // ServerSignature expected in server-final
	verified bool
}

func newSCRAM(mech, user, password string) *scram {
	h := sha1.New
	if mech == "SCRAM-SHA-256" {
		h = sha256.New
	}
	return &scram{h: h, name: mech, user: user, password: password, cnonce: randomHex(12)}
}

// saslname escapes ',' and '=' in a username (RFC 5802 §5.1).
func saslname(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

func (s *scram) first() []byte {
	s.bare = "n=" + saslname(s.user) + ",r=" + s.cnonce
	return []byte("n,," + s.bare)
}

// saltedCache keeps SaltedPassword per (mechanism, password, salt,
// iterations): the generator logs the same accounts in again and again,
// and PBKDF2 on its side would measure the generator, not the server.
var saltedCache sync.Map

func (s *scram) salted(salt []byte, iter int) ([]byte, error) {
	key := s.name + "\x00" + s.password + "\x00" + string(salt) + "\x00" + strconv.Itoa(iter)
	if v, ok := saltedCache.Load(key); ok {
		return v.([]byte), nil
	}
	sp, err := pbkdf2.Key(s.h, s.password, salt, iter, s.h().Size())
	if err != nil {
		return nil, err
	}
	saltedCache.Store(key, sp)
	return sp, nil
}

func (s *scram) mac(key []byte, msg string) []byte {
	m := hmac.New(s.h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// step answers server-first with client-final, or checks server-final.
func (s *scram) step(in []byte) ([]byte, error) {
	msg := string(in)
	if s.server != nil {
		v, ok := strings.CutPrefix(msg, "v=")
		if !ok {
			return nil, errors.New("bench: SCRAM server-final: " + msg)
		}
		sig, err := base64.StdEncoding.DecodeString(v)
		if err != nil || !hmac.Equal(sig, s.server) {
			return nil, errors.New("bench: SCRAM server signature does not verify")
		}
		s.verified = true
		return nil, nil
	}
	var nonce, salt64 string
	iter := 0
	for _, f := range strings.Split(msg, ",") {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "r":
			nonce = v
		case "s":
			salt64 = v
		case "i":
			iter, _ = strconv.Atoi(v)
		}
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || !strings.HasPrefix(nonce, s.cnonce) || iter <= 0 || iter > 1<<20 {
		return nil, errors.New("bench: bad SCRAM server-first")
	}
	sp, err := s.salted(salt, iter)
	if err != nil {
		return nil, err
	}
	final := "c=" + base64.StdEncoding.EncodeToString([]byte("n,,")) + ",r=" + nonce
	authMsg := s.bare + "," + msg + "," + final
	clientKey := s.mac(sp, "Client Key")
	h := s.h()
	h.Write(clientKey)
	stored := h.Sum(nil)
	sig := s.mac(stored, authMsg)
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ sig[i]
	}
	s.server = s.mac(s.mac(sp, "Server Key"), authMsg)
	return []byte(final + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}
