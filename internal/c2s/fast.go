package c2s

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// The Hashed Token mechanisms (draft-schmaus-kitten-sasl-ht) that FAST
// offers, by the channel binding each uses. HT-SHA-256-UNIQ would bind to
// tls-unique, which TLS 1.3 does not have and samtal never offers.
const (
	htNone = "HT-SHA-256-NONE"
	htExpr = "HT-SHA-256-EXPR" // tls-exporter (RFC 9266)
	htEndp = "HT-SHA-256-ENDP" // tls-server-end-point (RFC 5929)
)

// maxFastClients bounds the clients of one user that hold FAST tokens;
// a new one pushes out the one whose token expires first.
const maxFastClients = 32

// errCredentialsExpired is a FAST token that matched but is too old
// (XEP-0484 §4.2: credentials-expired).
var errCredentialsExpired = errors.New("c2s: FAST token expired")

// fastMechanisms returns the HT mechanisms this connection can offer:
// FAST needs TLS (XEP-0484 §6), a token store, and for the channel-bound
// ones their binding.
func (s *Session) fastMechanisms() []string {
	if s.svc.cfg.FastTokens == nil || !s.secure() {
		return nil
	}
	var m []string
	for _, b := range s.channelBindings() {
		switch b.Type {
		case sasl.CBTLSExporter:
			m = append(m, htExpr)
		case sasl.CBTLSServerEndPoint:
			m = append(m, htEndp)
		}
	}
	return append(m, htNone)
}

// cbData returns the channel-binding data of an HT mechanism: none for
// -NONE.
func (s *Session) cbData(mech string) ([]byte, bool) {
	want := ""
	switch mech {
	case htNone:
		return nil, true
	case htExpr:
		want = sasl.CBTLSExporter
	case htEndp:
		want = sasl.CBTLSServerEndPoint
	default:
		return nil, false
	}
	for _, b := range s.channelBindings() {
		if b.Type == want && b.Available() {
			d := b.Bytes()
			return d, len(d) > 0
		}
	}
	return nil, false
}

// fastUse is the token a FAST authentication used.
type fastUse struct {
	client  []byte
	slot    string
	token   storage.FastToken
	invalid bool // the client asked to invalidate it
}

// clientKey identifies a client in the token store without keeping its
// user-agent id.
func clientKey(id string) []byte {
	h := sha256.Sum256([]byte("samtal fast client\x00" + id))
	return h[:]
}

// tokenFor derives the token of a seed with the server's key: the store
// alone cannot produce a token.
func (s *Session) tokenFor(seed []byte) string {
	m := hmac.New(sha256.New, s.svc.cfg.FakeSecret)
	m.Write([]byte("samtal fast token\x00"))
	m.Write(seed)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// htHash is HMAC(token, label || cb-data), the hashed token of the HT
// mechanisms; the token is the key as the client holds it, in UTF-8.
func htHash(token, label string, cb []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(label))
	m.Write(cb)
	return m.Sum(nil)
}

// fastAuthenticate checks a FAST token (XEP-0484 §3.4): one round trip,
// initial-response = authcid NUL HMAC(token, "Initiator" || cb-data),
// answered with HMAC(token, "Responder" || cb-data) as additional data.
// The token must be for this client and mechanism, unexpired, and its
// counter, when the client sends one, higher than any used before.
func (s *Session) fastAuthenticate(ctx context.Context, auth *xmlel.Element) (bool, sasl2Result, error) {
	name := auth.Attr("mechanism")
	fast := auth.Child(nsFAST, "fast")
	var claimed string // the account the token is for, once known
	fail := func(err error) (bool, sasl2Result, error) {
		if !errors.Is(err, errCredentialsExpired) {
			s.authFailed(claimed)
		}
		s.saslFailure(nsSASL2, name, err)
		return false, sasl2Result{}, nil
	}
	cb, ok := s.cbData(name)
	if fast == nil || !ok || !slices.Contains(s.fastMechanisms(), name) {
		return fail(sasl.ErrInvalidMechanism)
	}
	if s.clientID == "" {
		// XEP-0484 §4.1: tokens belong to a client, named by its
		// user-agent id.
		return fail(sasl.ErrNotAuthorized)
	}
	var count int64
	if c := fast.Attr("count"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 0 {
			return fail(sasl.ErrMalformed)
		}
		count = n
	}
	ir := auth.Child(nsSASL2, "initial-response")
	if ir == nil {
		return fail(sasl.ErrMalformed)
	}
	msg, err := sasl.Decode(strings.TrimSpace(ir.Text()))
	if err != nil {
		return fail(err)
	}
	authcid, proof, ok := bytes.Cut(msg, []byte{0})
	if !ok || len(authcid) == 0 || len(proof) != sha256.Size {
		return fail(sasl.ErrMalformed)
	}
	claimed = string(authcid)
	if err := s.authenticated(string(authcid), ""); err != nil {
		return fail(err)
	}
	user := s.user
	s.user = "" // until the token is checked
	client := clientKey(s.clientID)
	tokens, err := s.svc.cfg.FastTokens.List(ctx, user, client)
	if err != nil {
		s.svc.log.Error("c2s FAST token lookup failed", "err", err)
		return fail(sasl.ErrTemporaryAuthFailure)
	}
	// The new slot first (XEP-0484 §7.1): it replaces the current one
	// when it matches.
	for _, t := range tokens {
		tok := s.tokenFor(t.Seed)
		if t.Mechanism != name || subtle.ConstantTimeCompare(htHash(tok, "Initiator", cb), proof) != 1 {
			continue
		}
		if !time.Now().Before(t.Expires) {
			_ = s.svc.cfg.FastTokens.Delete(ctx, user, client, t.Slot) // expired anyway; Expire removes it otherwise
			return fail(errCredentialsExpired)
		}
		// A token proves no password: the account's state is asked here
		// (XEP-0133 §4.3), before the token is used up.
		if f := s.svc.cfg.AccountDisabled; f != nil {
			switch off, err := f(ctx, user); {
			case errors.Is(err, sasl.ErrNoSuchUser):
				return fail(sasl.ErrNotAuthorized) // removed meanwhile
			case err != nil:
				s.svc.log.Error("c2s account state lookup failed", "err", err)
				return fail(sasl.ErrTemporaryAuthFailure)
			case off:
				return fail(sasl.ErrAccountDisabled)
			}
		}
		used, err := s.svc.cfg.FastTokens.Use(ctx, user, client, t.Slot, count)
		if err != nil {
			s.svc.log.Error("c2s FAST token use failed", "err", err)
			return fail(sasl.ErrTemporaryAuthFailure)
		}
		if !used {
			// A replayed counter (XEP-0484 §3.4), or a concurrent use.
			return fail(sasl.ErrNotAuthorized)
		}
		s.user = user
		use := &fastUse{client: client, slot: storage.FastCurrent, token: t, invalid: wantsResume(fast.Attr("invalidate"))}
		return true, sasl2Result{out: htHash(tok, "Responder", cb), token: use}, nil
	}
	return fail(sasl.ErrNotAuthorized)
}

// fastTokens handles what follows a successful authentication for FAST
// (XEP-0484): invalidating the token used when the client asks, issuing
// a token when the client requests one or when the one it used is in
// the second half of its life. It returns the <token/> for <success/>,
// or nil.
func (s *Session) fastTokens(ctx context.Context, auth *xmlel.Element, used *fastUse) *xmlel.Element {
	store := s.svc.cfg.FastTokens
	if store == nil || s.clientID == "" {
		return nil
	}
	mech := ""
	if req := auth.Child(nsFAST, "request-token"); req != nil && slices.Contains(s.fastMechanisms(), req.Attr("mechanism")) {
		mech = req.Attr("mechanism")
	}
	if used != nil {
		if used.invalid {
			// §3.6: the token is dead now, and no new one comes unless
			// requested.
			if err := store.Delete(ctx, s.user, used.client, used.slot); err != nil {
				s.svc.log.Error("c2s FAST token invalidation failed", "err", err)
			}
		} else if mech == "" && time.Until(used.token.Expires) < s.svc.cfg.FASTLifetime/2 {
			mech = used.token.Mechanism // §3.5: rotation
		}
	}
	if mech == "" {
		return nil
	}
	seed := make([]byte, 32)
	_, _ = rand.Read(seed) // crypto/rand.Read never fails on Linux
	t := storage.FastToken{
		Client:    clientKey(s.clientID),
		Slot:      storage.FastNew, // §3.5: the old one stays valid until this one is used
		Mechanism: mech,
		Seed:      seed,
		Expires:   time.Now().Add(s.svc.cfg.FASTLifetime).UTC().Truncate(time.Second),
	}
	if err := store.Put(ctx, s.user, t, maxFastClients); err != nil {
		s.svc.log.Error("c2s FAST token store failed", "err", err)
		return nil
	}
	return xmlel.New(nsFAST, "token", "expiry", t.Expires.Format(time.RFC3339), "token", s.tokenFor(seed))
}
