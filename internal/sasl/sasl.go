package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"

	"golang.org/x/text/secure/precis"
)

// Namespaces.
const (
	// NS qualifies the SASL elements of RFC 6120 §6.
	NS = "urn:ietf:params:xml:ns:xmpp-sasl"
	// NSChannelBinding qualifies the <sasl-channel-binding/> stream
	// feature of XEP-0440.
	NSChannelBinding = "urn:xmpp:sasl-cb:0"
)

// Mechanism names (RFC 4616, RFC 5802, RFC 7677).
const (
	Plain           = "PLAIN"
	SCRAMSHA1       = "SCRAM-SHA-1"
	SCRAMSHA1Plus   = "SCRAM-SHA-1-PLUS"
	SCRAMSHA256     = "SCRAM-SHA-256"
	SCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
)

// Errors. Each failure wraps exactly one of them; errors.Is selects the
// RFC 6120 §6.5 condition to send.
var (
	// ErrNotAuthorized is <not-authorized/>: wrong password, unknown
	// user, bad proof, channel binding mismatch, downgrade detected.
	ErrNotAuthorized = errors.New("sasl: not authorized")
	// ErrMalformed is <malformed-request/>.
	ErrMalformed = errors.New("sasl: malformed request")
	// ErrInvalidMechanism is <invalid-mechanism/>.
	ErrInvalidMechanism = errors.New("sasl: invalid mechanism")
	// ErrIncorrectEncoding is <incorrect-encoding/>: bad base64.
	ErrIncorrectEncoding = errors.New("sasl: incorrect encoding")
	// ErrInvalidAuthzid is <invalid-authzid/>. The mechanisms only report
	// the authzid (Exchange.Authzid); the caller checks it and uses this
	// error when it does not accept it.
	ErrInvalidAuthzid = errors.New("sasl: invalid authzid")
	// ErrEncryptionRequired is <encryption-required/>: PLAIN without TLS.
	ErrEncryptionRequired = errors.New("sasl: encryption required")
	// ErrTemporaryAuthFailure is <temporary-auth-failure/>: the
	// credentials could not be read.
	ErrTemporaryAuthFailure = errors.New("sasl: temporary auth failure")
	// ErrAccountDisabled is <account-disabled/> (RFC 6120 §6.5.1): the
	// credentials are right, but an administrator disabled the account.
	// Only a client that proved them learns it: to anyone else the
	// account fails as a wrong password does.
	ErrAccountDisabled = errors.New("sasl: account disabled")

	// ErrNoSuchUser is returned by Credentials for an unknown user (or
	// one without keys for the requested hash). It never leaves this
	// package: the mechanisms answer it exactly like a wrong password.
	ErrNoSuchUser = errors.New("sasl: no such user")
	// ErrInvalidPassword is returned by DeriveKeys for a password that
	// the OpaqueString profile rejects (RFC 8265 §4.2).
	ErrInvalidPassword = errors.New("sasl: invalid password")
)

// Hash names a SCRAM hash function; its values are those of
// storage.Hash.
type Hash string

// The SCRAM hashes.
const (
	SHA1   Hash = "SHA-1"
	SHA256 Hash = "SHA-256"
)

func (h Hash) newFunc() func() hash.Hash {
	switch h {
	case SHA1:
		return sha1.New
	case SHA256:
		return sha256.New
	}
	return nil
}

// Keys are the stored SCRAM credentials of one hash (RFC 5802 §3): the
// password itself is never stored.
type Keys struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
	// Disabled fails the exchange with ErrAccountDisabled once the
	// client proved the password (XEP-0133 §4.3).
	Disabled bool
}

// DeriveKeys computes the keys to store for password (RFC 5802 §3):
// SaltedPassword = PBKDF2(HMAC-h, password, salt, iterations), with the
// password prepared by the OpaqueString profile (RFC 8265 §4.2).
func DeriveKeys(h Hash, password string, salt []byte, iterations int) (Keys, error) {
	nf := h.newFunc()
	if nf == nil {
		return Keys{}, fmt.Errorf("sasl: unknown hash %q", h)
	}
	if len(salt) == 0 || iterations < 1 {
		return Keys{}, errors.New("sasl: derive keys: empty salt or no iterations")
	}
	p, err := precis.OpaqueString.String(password)
	if err != nil {
		return Keys{}, fmt.Errorf("sasl: derive keys: %v: %w", err, ErrInvalidPassword)
	}
	clientKey, serverKey, err := saltedKeys(nf, p, salt, iterations)
	if err != nil {
		return Keys{}, fmt.Errorf("sasl: derive keys: %w", err)
	}
	return Keys{
		Salt:       slices.Clone(salt),
		Iterations: iterations,
		StoredKey:  sum(nf, clientKey),
		ServerKey:  serverKey,
	}, nil
}

// saltedKeys returns ClientKey and ServerKey for a prepared password.
func saltedKeys(nf func() hash.Hash, password string, salt []byte, iterations int) (clientKey, serverKey []byte, err error) {
	salted, err := pbkdf2.Key(nf, password, salt, iterations, nf().Size())
	if err != nil {
		return nil, nil, err
	}
	return mac(nf, salted, "Client Key"), mac(nf, salted, "Server Key"), nil
}

func mac(nf func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(nf, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func sum(nf func() hash.Hash, b []byte) []byte {
	h := nf()
	h.Write(b)
	return h.Sum(nil)
}

// NewSalt returns 16 random bytes for DeriveKeys.
func NewSalt() []byte {
	b := make([]byte, 16)
	// crypto/rand.Read never returns an error: it crashes the program
	// instead (Go 1.24).
	_, _ = rand.Read(b)
	return b
}

// Credentials looks up an account's stored keys; the server implements it
// over storage. It returns ErrNoSuchUser when the user does not exist or
// has no keys for h. username is prepared (UsernameCaseMapped).
type Credentials interface {
	Keys(username string, h Hash) (Keys, error)
}

// Config is what an exchange needs to know about the account store and
// the connection.
type Config struct {
	// Creds looks up stored keys.
	Creds Credentials
	// TLS is set when the stream is encrypted. PLAIN needs it.
	TLS bool
	// Bindings are the channel bindings this connection supports, their
	// data precomputed by the caller (TLSExporter, TLSServerEndPoint);
	// empty when not on TLS. The caller announces exactly
	// ChannelBindingTypes(Bindings) with XEP-0440, and does so whenever
	// that list is not empty: XEP-0474 hashes it.
	Bindings []ChannelBinding
	// Advertised are the mechanisms announced on this connection, the
	// list the client saw. A mechanism not in it is refused; SCRAM hashes
	// it into the XEP-0474 "h" attribute, and a client that sends the
	// "y" flag although a -PLUS mechanism was in it fails
	// (RFC 5802 §6). Nil means "as Names(TLS, Bindings)" except that no
	// "h" attribute is sent. With SASL2 (XEP-0388) next to SASL1, it is
	// the list of the profile the client authenticates with (XEP-0474
	// §4.1).
	Advertised []string
	// FakeSecret keys the fake salts of unknown users; at least 16
	// bytes, the same across restarts and cluster nodes (otherwise the
	// salt an unknown user gets changes and gives them away).
	FakeSecret []byte
	// Iterations is the iteration count shown for unknown users: the
	// count real accounts are created with. Zero means 4096.
	Iterations int
}

// DefaultIterations is the SCRAM iteration count used when
// Config.Iterations is zero (RFC 7677 §4: at least 4096).
const DefaultIterations = 4096

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Creds == nil {
		errs = append(errs, errors.New("sasl: config: no credentials"))
	}
	if len(c.FakeSecret) < 16 {
		errs = append(errs, errors.New("sasl: config: fake secret shorter than 16 bytes"))
	}
	if c.Iterations < 0 {
		errs = append(errs, errors.New("sasl: config: negative iterations"))
	}
	for _, b := range c.Bindings {
		if !validCBName(b.Type) {
			errs = append(errs, fmt.Errorf("sasl: config: invalid channel-binding type %q", b.Type))
		}
	}
	return errors.Join(errs...)
}

func (c Config) iterations() int {
	if c.Iterations == 0 {
		return DefaultIterations
	}
	return c.Iterations
}

// Names returns the mechanisms to announce, strongest first: the -PLUS
// variants when a channel binding is available, SCRAM, and PLAIN only on
// an encrypted stream (RFC 6120 §13.8.3).
func Names(tls bool, bindings []ChannelBinding) []string {
	var n []string
	if len(ChannelBindingTypes(bindings)) > 0 {
		n = append(n, SCRAMSHA256Plus, SCRAMSHA1Plus)
	}
	n = append(n, SCRAMSHA256, SCRAMSHA1)
	if tls {
		n = append(n, Plain)
	}
	return n
}

// Decode decodes the character data of <auth/> or <response/>
// (RFC 6120 §6.4.2): base64 (RFC 4648 §4) without line breaks, where "="
// alone is an empty response. Bad base64 wraps ErrIncorrectEncoding.
func Decode(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	// encoding/base64 skips line breaks; RFC 4648 §3.3 says to reject
	// characters outside the alphabet.
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("sasl: line break in base64: %w", ErrIncorrectEncoding)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("sasl: %v: %w", err, ErrIncorrectEncoding)
	}
	return b, nil
}

// maxMessage bounds every client message. RFC 6120 lets the server limit
// SASL payloads; a SCRAM message with a 1023-octet username and authzid,
// fully escaped, stays below it.
const maxMessage = 8192

// Exchange is one authentication exchange. It is not safe for concurrent
// use (a connection is read by one goroutine).
type Exchange struct {
	name string
	cfg  Config

	state   state
	user    string // prepared username, or as claimed
	authzid string

	scram scram // SCRAM mechanisms only
}

type state uint8

const (
	stateStart      state = iota
	stateAskedFirst       // sent an empty challenge for a missing initial response
	stateFinal            // SCRAM: sent server-first, waiting for client-final
	stateDone
	stateFailed
)

// Start begins an exchange with the mechanism the client chose. A name
// that is unknown, not advertised or not available wraps
// ErrInvalidMechanism; PLAIN on an unencrypted stream wraps
// ErrEncryptionRequired.
func Start(name string, cfg Config) (*Exchange, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Exchange{name: name, cfg: cfg}
	cbAvailable := len(ChannelBindingTypes(cfg.Bindings)) > 0
	switch name {
	case Plain:
		// RFC 6120 §6.4.5 and §13.8.3: a cleartext password needs TLS.
		if !cfg.TLS {
			return nil, fmt.Errorf("sasl: PLAIN without TLS: %w", ErrEncryptionRequired)
		}
	case SCRAMSHA1, SCRAMSHA256:
		e.scram.hash = SHA1
		if name == SCRAMSHA256 {
			e.scram.hash = SHA256
		}
	case SCRAMSHA1Plus, SCRAMSHA256Plus:
		if !cbAvailable {
			return nil, fmt.Errorf("sasl: %s without channel binding: %w", name, ErrInvalidMechanism)
		}
		e.scram.hash = SHA1
		if name == SCRAMSHA256Plus {
			e.scram.hash = SHA256
		}
		e.scram.plus = true
	default:
		return nil, fmt.Errorf("sasl: mechanism %.64q: %w", name, ErrInvalidMechanism)
	}
	if cfg.Advertised != nil && !slices.Contains(cfg.Advertised, name) {
		return nil, fmt.Errorf("sasl: %s was not advertised: %w", name, ErrInvalidMechanism)
	}
	if e.scram.hash != "" {
		e.scram.snonce = newNonce()
	}
	return e, nil
}

// Mechanism returns the name of the exchange's mechanism.
func (e *Exchange) Mechanism() string { return e.name }

// Username returns the username: after success the authenticated one,
// prepared with UsernameCaseMapped (the localpart of the account's JID);
// before, the one claimed so far, for logs.
func (e *Exchange) Username() string { return e.user }

// Authzid returns the authorization identity the client asked for, or
// "". The mechanisms do not check it: the caller must accept only "" or
// the account's own bare JID and otherwise fail with ErrInvalidAuthzid
// (RFC 6120 §6.3.8).
func (e *Exchange) Authzid() string { return e.authzid }

// Step consumes one client message, already base64-decoded (see Decode):
// first the initial response, which may be empty (absent), then each
// response. It returns the server's next challenge (done false) or, on
// success (done true, err nil), the additional data for <success/>: the
// SCRAM server-final-message, nothing for PLAIN. After an error or
// success the exchange is over and every further Step fails.
func (e *Exchange) Step(in []byte) (out []byte, done bool, err error) {
	out, done, err = e.step(in)
	switch {
	case err != nil:
		e.state = stateFailed
		return nil, false, err
	case done:
		e.state = stateDone
	}
	return out, done, nil
}

func (e *Exchange) step(in []byte) ([]byte, bool, error) {
	if len(in) > maxMessage {
		return nil, false, fmt.Errorf("sasl: %d-octet message: %w", len(in), ErrMalformed)
	}
	switch e.state {
	case stateStart:
		if len(in) == 0 {
			// No initial response: ask for it with an empty challenge
			// (RFC 6120 §6.4.2, RFC 4422 §5 item 2a).
			e.state = stateAskedFirst
			return []byte{}, false, nil
		}
	case stateAskedFirst:
	case stateFinal:
		return e.scramFinal(in)
	default:
		return nil, false, fmt.Errorf("sasl: step after the exchange ended: %w", ErrMalformed)
	}
	if e.name == Plain {
		return e.plain(in)
	}
	return e.scramFirst(in)
}

// newNonce returns a server nonce: 128 random bits in base32, which is
// printable and has no comma (RFC 5802 §7).
func newNonce() string { return rand.Text() }

// lookup returns the stored keys for user, or fake keys (and fake set)
// for an unknown user, so that what follows takes the same path.
func (e *Exchange) lookup(user string, h Hash) (k Keys, fake bool, err error) {
	k, err = e.cfg.Creds.Keys(user, h)
	switch {
	case errors.Is(err, ErrNoSuchUser):
		return fakeKeys(e.cfg, h, user), true, nil
	case err != nil:
		return Keys{}, false, fmt.Errorf("sasl: credentials: %w: %w", ErrTemporaryAuthFailure, err)
	}
	size := h.newFunc()().Size()
	if len(k.Salt) == 0 || k.Iterations < 1 || len(k.StoredKey) != size || len(k.ServerKey) != size {
		return Keys{}, false, fmt.Errorf("sasl: stored %s keys are invalid: %w", h, ErrTemporaryAuthFailure)
	}
	return k, false, nil
}

// fakeKeys derives keys for an unknown user from Config.FakeSecret: the
// same user always gets the same salt, as a real one would, and nobody
// without the secret can tell it from a real salt. No password matches
// them (the exchange fails regardless).
func fakeKeys(cfg Config, h Hash, user string) Keys {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, cfg.FakeSecret)
		m.Write([]byte(label))
		m.Write([]byte{0})
		m.Write([]byte(h))
		m.Write([]byte{0})
		m.Write([]byte(user))
		return m.Sum(nil)
	}
	size := h.newFunc()().Size()
	return Keys{
		Salt:       derive("salt")[:16],
		Iterations: cfg.iterations(),
		StoredKey:  derive("stored")[:size],
		ServerKey:  derive("server")[:size],
	}
}

// validCBName reports whether s is a cb-name (RFC 5802 §7):
// 1*(ALPHA / DIGIT / "." / "-").
func validCBName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// clip shortens client data quoted in errors (which go to logs).
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
