package c2s

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf8"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces of the modern login: SASL2 (XEP-0388), Bind 2 (XEP-0386)
// and FAST (XEP-0484).
const (
	nsSASL2 = "urn:xmpp:sasl:2"
	nsBind2 = "urn:xmpp:bind:0"
	nsFAST  = "urn:xmpp:fast:0"
)

// Carbons enables message carbons (XEP-0280) for a session: Bind 2 lets
// a client ask for them inline (XEP-0386 §3). The carbons service
// implements it; the server wires it into Config.
type Carbons interface {
	Enable(s router.Session)
}

// maxTagLen bounds the client's Bind 2 <tag/>, which becomes part of its
// resource.
const maxTagLen = 64

// sasl2Feature is the <authentication/> feature (XEP-0388 §2.1) with what
// can be negotiated inline: resumption (XEP-0198 §9), Bind 2 with the
// session features it enables, and FAST.
func (s *Session) sasl2Feature(mechs []string) *xmlel.Element {
	a := xmlel.New(nsSASL2, "authentication")
	for _, m := range mechs {
		a.Append(xmlel.TextElement(nsSASL2, "mechanism", m))
	}
	inline := xmlel.New(nsSASL2, "inline")
	if s.svc.cfg.ResumeWindow > 0 {
		inline.Append(xmlel.New(nsSM, "sm"))
	}
	features := xmlel.New(nsBind2, "inline").Append(
		xmlel.New(nsBind2, "feature", "var", nsSM),
		xmlel.New(nsBind2, "feature", "var", nsCSI),
	)
	if s.svc.cfg.Carbons != nil {
		features.Append(xmlel.New(nsBind2, "feature", "var", nsCarbons))
	}
	inline.Append(xmlel.New(nsBind2, "bind").Append(features))
	if fm := s.fastMechanisms(); len(fm) > 0 {
		fast := xmlel.New(nsFAST, "fast")
		for _, m := range fm {
			fast.Append(xmlel.TextElement(nsFAST, "mechanism", m))
		}
		inline.Append(fast)
	}
	return a.Append(inline)
}

// sasl2Result is what a successful SASL2 authentication leaves behind.
type sasl2Result struct {
	out   []byte // additional data of the mechanism
	token *fastUse
}

// authenticate2 runs a SASL2 exchange (XEP-0388) and, when it succeeds,
// what the client asked for inline: resumption or Bind 2, FAST tokens.
// It reports whether the client is now authenticated; the stream then
// continues without a restart.
func (s *Session) authenticate2(ctx context.Context, auth *xmlel.Element, advertised []string) (bool, error) {
	name := auth.Attr("mechanism")
	if ua := auth.Child(nsSASL2, "user-agent"); ua != nil {
		if id := ua.Attr("id"); id != "" && len(id) <= 64 && utf8.ValidString(id) {
			s.clientID = id
		}
	}
	var res sasl2Result
	var ok bool
	var err error
	if auth.Child(nsFAST, "fast") != nil || strings.HasPrefix(name, "HT-") {
		ok, res, err = s.fastAuthenticate(ctx, auth)
	} else {
		ok, res, err = s.saslExchange2(auth, advertised)
	}
	if err != nil || !ok {
		return false, err
	}
	s.authSucceeded(s.user)
	s.svc.m.AuthResults.With(metricMech(name), "success").Inc()
	s.release()

	// FAST tokens (XEP-0484 §3.3, §3.5, §3.6).
	token := s.fastTokens(ctx, auth, res.token)

	success := func(extra ...*xmlel.Element) *xmlel.Element {
		el := xmlel.New(nsSASL2, "success")
		if len(res.out) > 0 {
			el.Append(xmlel.TextElement(nsSASL2, "additional-data", base64.StdEncoding.EncodeToString(res.out)))
		}
		id := s.user
		if s.bound {
			id = s.jid.String()
		}
		el.Append(xmlel.TextElement(nsSASL2, "authorization-identifier", id))
		el.Append(extra...)
		if token != nil {
			el.Append(token)
		}
		return el
	}

	// XEP-0198 §9.2: resumption first; when it works, Bind 2 is ignored
	// and no stream features follow.
	var smFailedEl *xmlel.Element
	if r := auth.Child(nsSM, "resume"); r != nil {
		failed, err := s.resumeWith(r, func(resumed *xmlel.Element) *xmlel.Element { return success(resumed) })
		if err != nil {
			return true, err
		}
		if failed == nil {
			return true, nil
		}
		smFailedEl = failed
	}
	var extra []*xmlel.Element
	if smFailedEl != nil {
		extra = append(extra, smFailedEl)
	}
	if b := auth.Child(nsBind2, "bind"); b != nil {
		bound, ok := s.bind2(ctx, b)
		if !ok {
			// The bind failed: the client is authenticated but bound to
			// nothing, and may bind the RFC 6120 way.
			s.reply(success(extra...))
			s.reply(s.postAuthFeatures())
			return true, nil
		}
		extra = append(extra, bound)
	}
	s.reply(success(extra...))
	// XEP-0388 §2.6.1: features follow at once; there is no restart.
	s.reply(s.postAuthFeatures())
	if s.box != nil {
		s.box.start()
	}
	return true, nil
}

// saslExchange2 runs a SASL mechanism with the SASL2 elements.
func (s *Session) saslExchange2(auth *xmlel.Element, advertised []string) (bool, sasl2Result, error) {
	name := auth.Attr("mechanism")
	ex, err := sasl.Start(name, sasl.Config{
		Creds:      s.credsFor(),
		TLS:        s.secure(),
		Bindings:   s.channelBindings(),
		Advertised: advertised, // XEP-0474 §4.1: the SASL2 list
		FakeSecret: s.svc.cfg.FakeSecret,
		Iterations: s.svc.cfg.SCRAMIterations,
	})
	if err != nil {
		s.saslFailure(nsSASL2, name, err)
		return false, sasl2Result{}, nil
	}
	var in []byte
	if ir := auth.Child(nsSASL2, "initial-response"); ir != nil {
		// XEP-0388 §2.2: an empty element is an empty response.
		in, err = sasl.Decode(strings.TrimSpace(ir.Text()))
		if err == nil && len(in) == 0 {
			in = []byte{}
		}
	}
	for {
		var out []byte
		var done bool
		if err == nil {
			out, done, err = ex.Step(in)
		}
		if err != nil {
			s.authFailed(ex.Username())
			s.saslFailure(nsSASL2, name, err)
			return false, sasl2Result{}, nil
		}
		if done {
			if err := s.authenticated(ex.Username(), ex.Authzid()); err != nil {
				s.saslFailure(nsSASL2, name, err)
				return false, sasl2Result{}, nil
			}
			return true, sasl2Result{out: out}, nil
		}
		s.writeDirect(xmlel.TextElement(nsSASL2, "challenge", base64.StdEncoding.EncodeToString(out)))
		el, rerr := s.r.Next()
		if rerr != nil {
			return false, sasl2Result{}, s.endOfStream(rerr)
		}
		switch {
		case el.Is(nsSASL2, "response"):
			in, err = sasl.Decode(strings.TrimSpace(el.Text()))
		case el.Is(nsSASL2, "abort"):
			s.writeDirect(xmlel.New(nsSASL2, "failure").Append(xmlel.New(stream.NSSASL, "aborted")))
			return false, sasl2Result{}, nil
		default:
			// XEP-0388 §2.4: anything else during authentication.
			return false, sasl2Result{}, stream.Error{Condition: stream.PolicyViolation, Text: "only SASL2 responses during authentication"}
		}
	}
}

// authenticated accepts the identity a mechanism established: the
// account user@host, and an authzid that is empty or that account
// (RFC 6120 §6.3.8).
func (s *Session) authenticated(user, authzid string) error {
	bare, err := jid.New(user, s.host, "")
	if err != nil {
		return sasl.ErrNotAuthorized
	}
	if authzid != "" {
		if a, err := jid.Parse(authzid); err != nil || !a.Equal(bare) {
			return sasl.ErrInvalidAuthzid
		}
	}
	s.user = bare.String()
	return nil
}

// saslCondition maps a mechanism's error to its RFC 6120 §6.5 condition.
func saslCondition(err error) string {
	switch {
	case errors.Is(err, sasl.ErrInvalidMechanism):
		return "invalid-mechanism"
	case errors.Is(err, sasl.ErrMalformed):
		return "malformed-request"
	case errors.Is(err, sasl.ErrIncorrectEncoding):
		return "incorrect-encoding"
	case errors.Is(err, sasl.ErrInvalidAuthzid):
		return "invalid-authzid"
	case errors.Is(err, sasl.ErrEncryptionRequired):
		return "encryption-required"
	case errors.Is(err, sasl.ErrTemporaryAuthFailure):
		return "temporary-auth-failure"
	case errors.Is(err, errCredentialsExpired):
		return "credentials-expired"
	case errors.Is(err, sasl.ErrAccountDisabled):
		return "account-disabled"
	}
	return "not-authorized"
}

// metricMech keeps the mechanism label of the metrics bounded.
func metricMech(m string) string {
	if len(m) > 32 {
		return "other"
	}
	return m
}

// bind2 binds a resource as Bind 2 asks (XEP-0386 §3) and enables what
// the client asked for with it. It returns the <bound/> element, or false
// when no resource could be bound.
//
// NOTSPEC(XEP-0386 §3): offline messages are not cleared "as they will be
// provided by MAM": they are delivered on initial presence as for any
// session, because the archive may be off or hold less than the offline
// store (messages from before the archive was on, or past its retention).
func (s *Session) bind2(ctx context.Context, req *xmlel.Element) (*xmlel.Element, bool) {
	resource := s.bind2Resource(req.ChildText(nsBind2, "tag"))
	// A resource derived from the client's id is that client's: a
	// session it left behind gives way (XEP-0386 §3).
	replace := s.svc.cfg.ReplaceOnConflict || s.clientID != ""
	if cond := s.bindResource(resource, replace); cond != "" {
		s.svc.log.Debug("c2s Bind 2 failed", "condition", cond)
		return nil, false
	}
	bound := xmlel.New(nsBind2, "bound")
	if f := s.svc.cfg.Bound; f != nil {
		bound.Append(f(ctx, s.jid)...)
	}
	for _, c := range req.Elements() {
		switch {
		case c.Is(nsSM, "enable"):
			bound.Append(s.enableSM(c, false))
		case c.Is(nsCarbons, "enable"):
			// XEP-0386 §3: this must succeed and has no answer.
			if cb := s.svc.cfg.Carbons; cb != nil {
				cb.Enable(s)
			}
		case c.Is(nsCSI, "inactive"), c.Is(nsCSI, "active"):
			s.box.setInactive(c.Local == "inactive")
		}
	}
	return bound, true
}

// bind2Resource makes the resource of a Bind 2 session: the client's tag
// and an identifier, "tag/id" (XEP-0386 §3.1). The identifier is derived
// from the client's user-agent id, so that the same installation gets the
// same resource each time, without showing the id; random without one.
func (s *Session) bind2Resource(tag string) string {
	tag = strings.TrimSpace(tag)
	if len(tag) > maxTagLen || !utf8.ValidString(tag) || strings.ContainsAny(tag, "/\x00") {
		tag = ""
	}
	id := randomID(10)
	if s.clientID != "" {
		m := hmac.New(sha256.New, s.svc.cfg.FakeSecret)
		m.Write([]byte("samtal bind2 resource\x00" + s.user + "\x00" + s.clientID))
		id = strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(m.Sum(nil)))[:10]
	}
	if tag == "" {
		return id
	}
	bare, _ := jid.Parse(s.user)
	if _, err := bare.WithResource(tag + "/" + id); err != nil {
		return id
	}
	return tag + "/" + id
}
