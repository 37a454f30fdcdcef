package register

import (
	"context"
	"time"

	"samtal.org/samtal/internal/storage"
)

// StoredInvites keeps invitations in the server's store, so that
// `samtal invite create` in another process and the server share them
// and they survive restarts.
type StoredInvites struct {
	Store storage.Invites
	Now   func() time.Time // nil: time.Now
}

func (s StoredInvites) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Use spends token on host.
func (s StoredInvites) Use(ctx context.Context, token, host string) (bool, error) {
	if len(token) == 0 || len(token) > maxToken {
		return false, nil
	}
	h := TokenHash(token)
	return s.Store.Use(ctx, h[:], host, s.now())
}

// Create makes a token for host that expires after ttl.
func (s StoredInvites) Create(ctx context.Context, host string, ttl time.Duration) (string, error) {
	token := NewToken()
	h := TokenHash(token)
	if err := s.Store.Add(ctx, h[:], host, s.now().Add(ttl)); err != nil {
		return "", err
	}
	return token, nil
}
