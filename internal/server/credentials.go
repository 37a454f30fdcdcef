package server

import (
	"context"
	"errors"
	"runtime"
	"time"

	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/storage"
)

// credentials gives SASL the stored SCRAM keys of accounts.
type credentials struct{ accounts storage.Accounts }

// Keys returns the keys of user (a bare JID) for a hash.
func (c credentials) Keys(user string, h sasl.Hash) (sasl.Keys, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := c.accounts.Get(ctx, user)
	if errors.Is(err, storage.ErrNotFound) {
		return sasl.Keys{}, sasl.ErrNoSuchUser
	}
	if err != nil {
		return sasl.Keys{}, err
	}
	k, ok := a.Keys[storage.Hash(h)]
	if !ok {
		return sasl.Keys{}, sasl.ErrNoSuchUser
	}
	return sasl.Keys{Salt: k.Salt, Iterations: k.Iterations, StoredKey: k.StoredKey, ServerKey: k.ServerKey, Disabled: a.Disabled}, nil
}

// Disabled reports whether user's account is disabled (XEP-0133 §4.3),
// for the logins that prove no password: FAST tokens, certificates.
// sasl.ErrNoSuchUser when there is no such account.
func (c credentials) Disabled(ctx context.Context, user string) (bool, error) {
	a, err := c.accounts.Get(ctx, user)
	if errors.Is(err, storage.ErrNotFound) {
		return false, sasl.ErrNoSuchUser
	}
	return a.Disabled, err
}

func numGoroutine() int { return runtime.NumGoroutine() }
