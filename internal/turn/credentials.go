package turn

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme is HMAC-SHA1, which needs no collision resistance
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Credentials returns time-limited TURN credentials for user, valid until
// expiry, in the scheme of the TURN REST API (draft-uberti-behave-turn-rest
// §2.2) that coturn implements as use-auth-secret: the username is
// "expiry:user", the expiry in Unix seconds, and the password is the
// base64 HMAC-SHA1 of the username keyed with the shared secret. A TURN
// server that knows the secret checks them without asking anyone.
func Credentials(secret, user string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + user
	return username, Password(secret, username)
}

// Password returns the password of a TURN REST username.
func Password(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// parseUsername splits a TURN REST username into the user and the expiry,
// and reports whether it is well formed and not expired at now.
func parseUsername(username string, now time.Time) (user string, ok bool) {
	ts, user, found := strings.Cut(username, ":")
	if !found || user == "" {
		return "", false
	}
	exp, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || exp < now.Unix() {
		return "", false
	}
	return user, true
}

// Pseudonym returns the name a user goes by in TURN usernames: derived
// from the bare JID with the secret, so that the user's quota holds
// across credentials, while a TURN server and its logs never see the JID.
func Pseudonym(secret, bareJID string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("samtal turn user\x00" + bareJID))
	return hex.EncodeToString(mac.Sum(nil)[:10])
}

// LoadSecret reads the secret of the embedded TURN server from path,
// creating it (mode 0600) on first start. It is text, so that an operator
// can give the same secret to another TURN server.
func LoadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return "", fmt.Errorf("turn: secret %s is shorter than 32 characters", path)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("turn: secret: %w", err)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw) // never fails on Linux
	s := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("turn: secret: %w", err)
	}
	return s, nil
}
