package sasl

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// scram is the state of a SCRAM exchange (RFC 5802, RFC 7677).
type scram struct {
	hash Hash
	plus bool // a -PLUS mechanism: channel binding required

	snonce string // server part of the nonce; tests replace it

	gs2Header       string // "n,,", "y,a=x,", "p=tls-exporter,,", ...
	cbData          []byte // channel-binding data for "p=" (nil otherwise)
	clientFirstBare string
	serverFirst     string
	nonce           string // c-nonce + s-nonce
	keys            Keys
	fake            bool // unknown user: keys are fake, fail at the end
}

// scramFirst handles the client-first-message and returns the
// server-first-message (RFC 5802 §5.1, §7):
//
//	client-first-message = gs2-header client-first-message-bare
//	gs2-header = gs2-cbind-flag "," [ authzid ] ","
//	gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
//	client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
func (e *Exchange) scramFirst(in []byte) ([]byte, bool, error) {
	s := &e.scram
	msg := string(in)
	if !utf8.ValidString(msg) || strings.IndexByte(msg, 0) >= 0 {
		return nil, false, fmt.Errorf("sasl: SCRAM: client-first-message is not UTF-8 without NUL: %w", ErrMalformed)
	}

	// gs2-header.
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return nil, false, fmt.Errorf("sasl: SCRAM: no gs2-header: %w", ErrMalformed)
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, false, fmt.Errorf("sasl: SCRAM: no gs2-header: %w", ErrMalformed)
	}
	if authz != "" {
		v, ok := strings.CutPrefix(authz, "a=")
		if !ok {
			return nil, false, fmt.Errorf("sasl: SCRAM: invalid authzid: %w", ErrMalformed)
		}
		if e.authzid, ok = decodeSASLName(v); !ok {
			return nil, false, fmt.Errorf("sasl: SCRAM: invalid authzid: %w", ErrMalformed)
		}
	}
	s.gs2Header = msg[:len(msg)-len(bare)]

	// Channel binding (RFC 5802 §6).
	switch {
	case flag == "n":
		if s.plus {
			return nil, false, fmt.Errorf("sasl: SCRAM: %s with gs2 flag n: %w", e.name, ErrMalformed)
		}
	case flag == "y":
		if s.plus {
			return nil, false, fmt.Errorf("sasl: SCRAM: %s with gs2 flag y: %w", e.name, ErrMalformed)
		}
		// The client supports channel binding but believes the server
		// does not: if the server offered it, the offer was stripped.
		if e.offersPlus() {
			return nil, false, fmt.Errorf("sasl: SCRAM: gs2 flag y although -PLUS was advertised (downgrade attack?): %w", ErrNotAuthorized)
		}
	case strings.HasPrefix(flag, "p="):
		name := flag[len("p="):]
		if !validCBName(name) {
			return nil, false, fmt.Errorf("sasl: SCRAM: invalid cb-name: %w", ErrMalformed)
		}
		if !s.plus {
			return nil, false, fmt.Errorf("sasl: SCRAM: channel binding requested with %s: %w", e.name, ErrMalformed)
		}
		for _, b := range e.cfg.Bindings {
			if b.Type == name && b.Available() {
				s.cbData = b.Bytes()
				break
			}
		}
		if s.cbData == nil {
			// XEP-0440 §6 leaves the condition open; the client learns
			// nothing it could not learn from the announced types.
			return nil, false, fmt.Errorf("sasl: SCRAM: unsupported channel-binding type %q: %w", clip(name), ErrNotAuthorized)
		}
	default:
		return nil, false, fmt.Errorf("sasl: SCRAM: invalid gs2-cbind-flag: %w", ErrMalformed)
	}

	// client-first-message-bare.
	attrs := strings.Split(bare, ",")
	if len(attrs) > 0 && strings.HasPrefix(attrs[0], "m=") {
		// RFC 5802 §5.1: a mandatory extension we do not support.
		return nil, false, fmt.Errorf("sasl: SCRAM: mandatory extension: %w", ErrMalformed)
	}
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, false, fmt.Errorf("sasl: SCRAM: client-first-message-bare lacks n= or r=: %w", ErrMalformed)
	}
	name, ok := decodeSASLName(attrs[0][len("n="):])
	if !ok {
		return nil, false, fmt.Errorf("sasl: SCRAM: invalid username: %w", ErrMalformed)
	}
	cnonce := attrs[1][len("r="):]
	if !printable(cnonce) {
		return nil, false, fmt.Errorf("sasl: SCRAM: invalid nonce: %w", ErrMalformed)
	}
	if !extensions(attrs[2:]) {
		return nil, false, fmt.Errorf("sasl: SCRAM: invalid extension: %w", ErrMalformed)
	}
	s.clientFirstBare = bare

	e.user = name
	user, err := precis.UsernameCaseMapped.String(name)
	if err == nil && user != "" {
		e.user = user
		s.keys, s.fake, err = e.lookup(user, s.hash)
		if err != nil {
			return nil, false, err
		}
	} else {
		// No account can have this name; answer as for any unknown user.
		s.keys, s.fake = fakeKeys(e.cfg, s.hash, name), true
	}

	s.nonce = cnonce + s.snonce
	var b strings.Builder
	b.WriteString("r=")
	b.WriteString(s.nonce)
	b.WriteString(",s=")
	b.WriteString(base64.StdEncoding.EncodeToString(s.keys.Salt))
	b.WriteString(",i=")
	b.WriteString(strconv.Itoa(s.keys.Iterations))
	if e.cfg.Advertised != nil {
		// XEP-0474 §4.1.
		b.WriteString(",h=")
		b.WriteString(ssdp(s.hash, e.cfg.Advertised, ChannelBindingTypes(e.cfg.Bindings)))
	}
	s.serverFirst = b.String()
	e.state = stateFinal
	return []byte(s.serverFirst), false, nil
}

// scramFinal handles the client-final-message and returns the
// server-final-message (RFC 5802 §5.1, §7):
//
//	client-final-message = channel-binding "," nonce ["," extensions] "," proof
func (e *Exchange) scramFinal(in []byte) ([]byte, bool, error) {
	s := &e.scram
	msg := string(in)
	if !utf8.ValidString(msg) || strings.IndexByte(msg, 0) >= 0 {
		return nil, false, fmt.Errorf("sasl: SCRAM: client-final-message is not UTF-8 without NUL: %w", ErrMalformed)
	}
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, false, fmt.Errorf("sasl: SCRAM: no proof: %w", ErrMalformed)
	}
	withoutProof, proof64 := msg[:i], msg[i+len(",p="):]
	if strings.IndexByte(proof64, ',') >= 0 {
		return nil, false, fmt.Errorf("sasl: SCRAM: proof is not the last attribute: %w", ErrMalformed)
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, false, fmt.Errorf("sasl: SCRAM: client-final-message lacks c= or r=: %w", ErrMalformed)
	}
	if !extensions(attrs[2:]) {
		return nil, false, fmt.Errorf("sasl: SCRAM: invalid extension: %w", ErrMalformed)
	}
	cb, err := Decode(attrs[0][len("c="):])
	if err != nil {
		return nil, false, fmt.Errorf("sasl: SCRAM: channel binding: %w", err)
	}
	proof, err := Decode(proof64)
	if err != nil {
		return nil, false, fmt.Errorf("sasl: SCRAM: proof: %w", err)
	}

	// c= is base64(gs2-header [cb-data]) (RFC 5802 §7).
	want := make([]byte, 0, len(s.gs2Header)+len(s.cbData))
	want = append(append(want, s.gs2Header...), s.cbData...)
	if subtle.ConstantTimeCompare(cb, want) != 1 {
		return nil, false, fmt.Errorf("sasl: SCRAM: channel binding does not match: %w", ErrNotAuthorized)
	}
	if attrs[1][len("r="):] != s.nonce {
		return nil, false, fmt.Errorf("sasl: SCRAM: nonce does not match: %w", ErrNotAuthorized)
	}

	// AuthMessage = client-first-message-bare "," server-first-message ","
	//               client-final-message-without-proof
	authMsg := s.clientFirstBare + "," + s.serverFirst + "," + withoutProof
	nf := s.hash.newFunc()
	// ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage), and the
	// proof is right when H(ClientKey) = StoredKey.
	clientKey := mac(nf, s.keys.StoredKey, authMsg)
	ok := len(proof) == len(clientKey)
	if ok {
		subtle.XORBytes(clientKey, clientKey, proof)
	}
	ok = subtle.ConstantTimeCompare(sum(nf, clientKey), s.keys.StoredKey) == 1 && ok
	if !ok || s.fake {
		return nil, false, fmt.Errorf("sasl: SCRAM: wrong password or unknown user: %w", ErrNotAuthorized)
	}
	if s.keys.Disabled {
		return nil, false, fmt.Errorf("sasl: SCRAM: %w", ErrAccountDisabled)
	}
	serverSig := mac(nf, s.keys.ServerKey, authMsg)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), true, nil
}

// offersPlus reports whether the server offered channel binding on this
// connection, the condition under which the "y" flag means a downgrade.
func (e *Exchange) offersPlus() bool {
	if e.cfg.Advertised == nil {
		return len(ChannelBindingTypes(e.cfg.Bindings)) > 0
	}
	return slices.ContainsFunc(e.cfg.Advertised, func(m string) bool {
		return strings.HasSuffix(m, "-PLUS")
	})
}

// decodeSASLName decodes a saslname (RFC 5802 §7):
//
//	saslname = 1*(value-safe-char / "=2C" / "=3D")
//
// The caller has already split at "," and checked UTF-8 and NUL.
func decodeSASLName(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	if strings.IndexByte(s, '=') < 0 {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// printable reports whether s is a nonce: 1*printable, where
// printable = %x21-2B / %x2D-7E (RFC 5802 §7).
func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// extensions checks optional attributes, which are otherwise ignored
// (RFC 5802 §5.1): attr-val = ALPHA "=" value, value = 1*value-char.
func extensions(attrs []string) bool {
	for _, a := range attrs {
		if len(a) < 3 || a[1] != '=' || !('a' <= a[0] && a[0] <= 'z' || 'A' <= a[0] && a[0] <= 'Z') {
			return false
		}
	}
	return true
}

// ssdp is the XEP-0474 §4.1 downgrade protection hash: the sorted
// ("i;octet") mechanisms joined by %x1E, then, when channel-binding types
// were announced (XEP-0440), %x1F and the sorted types joined by %x1E;
// hashed with the SCRAM hash, in base64.
func ssdp(h Hash, mechs, cbTypes []string) string {
	m := slices.Sorted(slices.Values(mechs))
	s := strings.Join(m, "\x1e")
	if len(cbTypes) > 0 {
		s += "\x1f" + strings.Join(slices.Sorted(slices.Values(cbTypes)), "\x1e")
	}
	return base64.StdEncoding.EncodeToString(sum(h.newFunc(), []byte(s)))
}
