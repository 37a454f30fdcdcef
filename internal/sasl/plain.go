package sasl

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// maxPlainField bounds each PLAIN field. RFC 4616 §2 asks servers to
// accept at least 255 octets; 1023 is the longest localpart (RFC 7622).
const maxPlainField = 1023

// plain runs PLAIN (RFC 4616): message = [authzid] NUL authcid NUL passwd.
// The password is checked against the stored SCRAM keys: SaltedPassword
// is derived with the stored salt and iteration count (SHA-256 keys, else
// SHA-1 keys) and the resulting StoredKey is compared in constant time.
func (e *Exchange) plain(in []byte) ([]byte, bool, error) {
	fields := bytes.Split(in, []byte{0})
	if len(fields) != 3 {
		return nil, false, fmt.Errorf("sasl: PLAIN: %d fields: %w", len(fields), ErrMalformed)
	}
	for _, f := range fields {
		if !utf8.Valid(f) || len(f) > maxPlainField {
			return nil, false, fmt.Errorf("sasl: PLAIN: invalid or too long field: %w", ErrMalformed)
		}
	}
	authzid, authcid, passwd := string(fields[0]), string(fields[1]), string(fields[2])
	if authcid == "" || passwd == "" {
		return nil, false, fmt.Errorf("sasl: PLAIN: empty authcid or password: %w", ErrMalformed)
	}
	e.authzid = authzid
	e.user = authcid
	user, err := precis.UsernameCaseMapped.String(authcid)
	if err != nil || user == "" {
		// No account can have this name.
		return nil, false, fmt.Errorf("sasl: PLAIN: username %q: %w", clip(authcid), ErrNotAuthorized)
	}
	e.user = user
	pw, err := precis.OpaqueString.String(passwd)
	if err != nil {
		// DeriveKeys refuses such passwords, so none is stored.
		return nil, false, fmt.Errorf("sasl: PLAIN: password not allowed: %w", ErrNotAuthorized)
	}

	h := SHA256
	k, err := e.cfg.Creds.Keys(user, h)
	if errors.Is(err, ErrNoSuchUser) {
		h = SHA1
		k, err = e.cfg.Creds.Keys(user, h)
	}
	fake := false
	switch {
	case errors.Is(err, ErrNoSuchUser):
		// Spend the same time as for a real user.
		h, k, fake = SHA256, fakeKeys(e.cfg, SHA256, user), true
	case err != nil:
		return nil, false, fmt.Errorf("sasl: credentials: %w: %w", ErrTemporaryAuthFailure, err)
	}
	nf := h.newFunc()
	if size := nf().Size(); len(k.Salt) == 0 || k.Iterations < 1 || len(k.StoredKey) != size {
		return nil, false, fmt.Errorf("sasl: stored %s keys are invalid: %w", h, ErrTemporaryAuthFailure)
	}
	clientKey, _, err := saltedKeys(nf, pw, k.Salt, k.Iterations)
	if err != nil {
		return nil, false, fmt.Errorf("sasl: PLAIN: %w: %w", ErrTemporaryAuthFailure, err)
	}
	ok := subtle.ConstantTimeCompare(sum(nf, clientKey), k.StoredKey) == 1
	if !ok || fake {
		return nil, false, fmt.Errorf("sasl: PLAIN: wrong password or unknown user: %w", ErrNotAuthorized)
	}
	if k.Disabled {
		return nil, false, fmt.Errorf("sasl: PLAIN: %w", ErrAccountDisabled)
	}
	return nil, true, nil
}
