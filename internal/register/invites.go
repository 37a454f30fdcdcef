package register

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"strings"
	"sync"
	"time"
)

// Invites keeps invitation tokens (XEP-0401 §5.1, §5.4): each lets one
// account be registered on one host, once, before it expires.
//
// An implementation keeps only TokenHash of each token, never the token,
// so that a copy of the store lets no one register; it looks a token up
// by that hash and compares hashes in constant time.
type Invites interface {
	// Use spends token on host: it reports true and forgets the token if
	// the token was made for host and has not expired, false otherwise.
	// Two concurrent Uses of one token never both report true.
	Use(ctx context.Context, token, host string) (bool, error)
	// Create makes a new token for host that expires after ttl. The token
	// is NewToken's.
	Create(ctx context.Context, host string, ttl time.Duration) (token string, err error)
}

// maxToken bounds a token that a client presents.
const maxToken = 256

// NewToken returns a new invitation token: 128 random bits as 26
// lowercase letters and digits, the alphanumeric string that XEP-0401
// §5.1 asks for.
func NewToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// TokenHash returns the SHA-256 of a token: what an Invites
// implementation stores and looks up. Tokens that clients present are
// long random strings, so a fast hash is enough.
func TokenHash(token string) [sha256.Size]byte {
	return sha256.Sum256([]byte(token))
}

// MemoryInvites is an Invites held in memory, for tests and for servers
// that do not keep invitations across restarts. The zero value is not
// usable; call NewMemoryInvites.
type MemoryInvites struct {
	now func() time.Time

	mu     sync.Mutex
	tokens map[[sha256.Size]byte]memoryInvite
}

type memoryInvite struct {
	hash    [sha256.Size]byte
	host    string
	expires time.Time
}

// NewMemoryInvites returns an empty MemoryInvites that reads the time
// from now; nil is time.Now.
func NewMemoryInvites(now func() time.Time) *MemoryInvites {
	if now == nil {
		now = time.Now
	}
	return &MemoryInvites{now: now, tokens: make(map[[sha256.Size]byte]memoryInvite)}
}

// Create implements Invites.
func (m *MemoryInvites) Create(_ context.Context, host string, ttl time.Duration) (string, error) {
	token := NewToken()
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, inv := range m.tokens {
		if !now.Before(inv.expires) {
			delete(m.tokens, h)
		}
	}
	h := TokenHash(token)
	m.tokens[h] = memoryInvite{hash: h, host: host, expires: now.Add(ttl)}
	return token, nil
}

// Use implements Invites.
func (m *MemoryInvites) Use(_ context.Context, token, host string) (bool, error) {
	if token == "" || len(token) > maxToken {
		return false, nil
	}
	h := TokenHash(token)
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	inv, ok := m.tokens[h]
	// The map is keyed by the hash, which a guesser cannot steer; compare
	// again in constant time all the same, as a store that indexes a
	// prefix of the hash must.
	if !ok || subtle.ConstantTimeCompare(inv.hash[:], h[:]) != 1 {
		return false, nil
	}
	if !now.Before(inv.expires) {
		delete(m.tokens, h)
		return false, nil
	}
	if inv.host != host {
		// Not this host's to spend.
		return false, nil
	}
	delete(m.tokens, h)
	return true, nil
}
