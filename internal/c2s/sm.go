package c2s

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces of the stream extensions a bound session speaks.
const (
	nsSM       = "urn:xmpp:sm:3"      // XEP-0198
	nsCSI      = "urn:xmpp:csi:0"     // XEP-0352
	nsStanzaID = "urn:xmpp:sid:0"     // XEP-0359
	nsMAM      = "urn:xmpp:mam:2"     // XEP-0313
	nsCarbons  = "urn:xmpp:carbons:2" // XEP-0280
	nsStanzas  = "urn:ietf:params:xml:ns:xmpp-stanzas"
)

// smFailed is <failed/> with a stanza error condition (XEP-0198 §6).
func smFailed(cond stanza.Condition, attrs ...string) *xmlel.Element {
	return xmlel.New(nsSM, "failed", attrs...).Append(xmlel.New(nsStanzas, string(cond)))
}

// register makes b resumable under a new SM-ID. The SM-ID is random and
// says nothing about the user (XEP-0198 §5 lets the server choose it);
// on a node of a cluster it ends in "." and the node's name.
func (svc *Service) register(b *outbox) string {
	svc.smMu.Lock()
	defer svc.smMu.Unlock()
	for {
		id := randomID(24)
		if node := svc.cfg.ResumeNode; node != "" {
			id += "." + node
		}
		if _, taken := svc.resumable[id]; !taken {
			svc.resumable[id] = b
			return id
		}
	}
}

func (svc *Service) forget(b *outbox) {
	if b.id == "" {
		return
	}
	svc.smMu.Lock()
	defer svc.smMu.Unlock()
	if svc.resumable[b.id] == b {
		delete(svc.resumable, b.id)
	}
}

func (svc *Service) lookup(id string) *outbox {
	svc.smMu.Lock()
	defer svc.smMu.Unlock()
	return svc.resumable[id]
}

// resumedAt returns where a session this node does not hold is resumed:
// the location of the live node of the cluster whose name ends its
// SM-ID. It answers from the SM-ID alone, so that whether a session
// exists, or whose it is, cannot be probed from here.
func (svc *Service) resumedAt(previd string) (string, bool) {
	_, node, ok := strings.Cut(previd, ".")
	if !ok || svc.cfg.ResumeElsewhere == nil || node == svc.cfg.ResumeNode {
		return "", false
	}
	return svc.cfg.ResumeElsewhere(node)
}

// enableSM handles <enable/> (XEP-0198 §3) and returns the answer:
// <enabled/>, resumable when the client asks and the server allows it, or
// <failed/>. With write it also sends the answer, before any stanza that
// the new counter counts (§4: the count starts after <enabled/>).
func (s *Session) enableSM(el *xmlel.Element, write bool) *xmlel.Element {
	b := s.box
	if b == nil {
		// §3: only after resource binding.
		return s.smAnswer(smFailed(stanza.UnexpectedRequest), write)
	}
	// The count starts here: stanzas read before must not complete into
	// it.
	b.settled.Wait(settleTimeout)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sm {
		// §3: at most one attempt.
		return s.smAnswer(smFailed(stanza.UnexpectedRequest), write)
	}
	b.sm = true
	b.in, b.acked = 0, 0
	enabled := xmlel.New(nsSM, "enabled")
	window := s.svc.cfg.ResumeWindow
	if wantsResume(el.Attr("resume")) && window > 0 {
		if m, err := strconv.ParseUint(el.Attr("max"), 10, 32); err == nil && m > 0 {
			window = min(window, time.Duration(m)*time.Second)
		}
		b.window = window
		b.id = s.svc.register(b)
		enabled.SetAttr("id", b.id)
		enabled.SetAttr("resume", "true")
		enabled.SetAttr("max", strconv.Itoa(int(window/time.Second)))
		if loc := s.svc.cfg.Location; loc != "" {
			enabled.SetAttr("location", loc)
		}
	}
	return s.smAnswer(enabled, write)
}

func (s *Session) smAnswer(el *xmlel.Element, write bool) *xmlel.Element {
	if write {
		s.writeNonza(el)
	}
	return el
}

// wantsResume reads the xs:boolean 'resume' attribute.
func wantsResume(v string) bool { return v == "true" || v == "1" }

// resume handles <resume/> (XEP-0198 §5) on a connection authenticated
// as the session's user and not bound yet: the connection takes the
// session over, its old connection (if still open) is closed with
// conflict, the client's 'h' acknowledges what it got, and the rest is
// sent again. It returns the answer: <resumed/> or <failed/>; a stream
// error when the client's 'h' is impossible. On success the session's
// unacknowledged stanzas are already queued after the answer.
func (s *Session) resume(el *xmlel.Element) (*xmlel.Element, error) {
	return s.resumeWith(el, func(resumed *xmlel.Element) *xmlel.Element { return resumed })
}

// resumeWith resumes as resume does, sending wrap(<resumed/>) in place of
// <resumed/> (SASL2 puts it in its <success/>, XEP-0198 §9.2), and counts
// the outcome.
func (s *Session) resumeWith(el *xmlel.Element, wrap func(resumed *xmlel.Element) *xmlel.Element) (*xmlel.Element, error) {
	failed, err := s.takeOver(el, wrap)
	result := "resumed"
	var se stream.Error
	switch {
	case errors.As(err, &se) && se.Condition == stream.SeeOtherHost:
		result = "redirected"
	case failed != nil || err != nil:
		result = "failed"
	}
	s.svc.m.Resumptions.With(result).Inc()
	return failed, err
}

// takeOver does the work of resumeWith.
func (s *Session) takeOver(el *xmlel.Element, wrap func(resumed *xmlel.Element) *xmlel.Element) (*xmlel.Element, error) {
	if s.svc.cfg.ResumeWindow <= 0 {
		return smFailed(stanza.FeatureNotImplemented), nil
	}
	h, err := strconv.ParseUint(el.Attr("h"), 10, 32)
	if err != nil {
		return smFailed(stanza.BadRequest), nil
	}
	b := s.svc.lookup(el.Attr("previd"))
	if b == nil {
		if loc, ok := s.svc.resumedAt(el.Attr("previd")); ok {
			// Another node of the cluster holds the session: the
			// client is to connect there and resume it (RFC 6120
			// §4.9.3.19), as <enabled location/> asked it to.
			return nil, stream.Error{Condition: stream.SeeOtherHost, Host: loc}
		}
	}
	if b == nil || b.jid.Bare().String() != s.user {
		// Unknown, expired, or someone else's: the same answer, so that
		// an SM-ID cannot be probed.
		return smFailed(stanza.ItemNotFound), nil
	}
	// What the old connection read counts once it is durable: wait for
	// it, so that the client does not send it again.
	b.settled.Wait(settleTimeout)
	b.mu.Lock()
	if b.ended {
		b.mu.Unlock()
		return smFailed(stanza.ItemNotFound), nil
	}
	if ok, sent := b.ack(uint32(h)); !ok {
		b.mu.Unlock()
		return nil, handledTooHigh(uint32(h), sent)
	}
	// Whoever finds s through the router from now on sends through b.
	s.jid, s.box = b.jid, b
	if !s.svc.router.Rebind(b.owner, s) {
		s.box = nil
		b.mu.Unlock()
		return smFailed(stanza.ItemNotFound), nil
	}
	old := b.conn
	if b.expiry != nil {
		b.expiry.Stop()
		b.expiry = nil
	}
	if old == nil {
		s.svc.m.Waiting.Add(-1)
	}
	b.owner, b.conn = s, s
	b.requested = false
	s.q.OnEmpty(b.queueEmpty)
	s.q.Start()
	resumed := xmlel.New(nsSM, "resumed", "h", strconv.FormatUint(uint64(b.in), 10), "previd", b.id)
	s.bound = true
	s.writeNonza(wrap(resumed))
	b.resend()
	// XEP-0352 §4.2: a resumed stream starts active.
	b.inactive = false
	b.flushHeld()
	b.maybeRequest()
	b.wakeUp()
	b.mu.Unlock()
	if old != nil {
		old.replaced.Store(true)
		old.closeStream(stream.Error{Condition: stream.Conflict, Text: "the session was resumed elsewhere"}, false, false)
	}
	s.raw.SetIdle(s.svc.cfg.IdleTimeout, s.svc.cfg.IdleGrace, s.ping)
	s.setQuiet()
	return nil, nil
}

// handledTooHigh is the stream error for an 'h' that acknowledges more
// than was sent (XEP-0198 §6).
func handledTooHigh(h, sent uint32) error {
	return stream.Error{
		Condition: stream.UndefinedCondition,
		Text:      "acknowledged more stanzas than were sent",
		Extra: xmlel.New(nsSM, "handled-count-too-high",
			"h", strconv.FormatUint(uint64(h), 10), "send-count", strconv.FormatUint(uint64(sent), 10)),
	}
}

// nonza handles the stream management and client state elements of a
// bound stream (they are not stanzas and are not counted).
func (s *Session) nonza(el *xmlel.Element) (bool, error) {
	switch {
	case el.Is(nsSM, "r"):
		b := s.box
		if b == nil {
			return true, nil
		}
		b.mu.Lock()
		sm, h := b.sm, b.in
		b.mu.Unlock()
		if sm {
			s.writeNonza(xmlel.New(nsSM, "a", "h", strconv.FormatUint(uint64(h), 10)))
		}
		return true, nil
	case el.Is(nsSM, "a"):
		h, err := strconv.ParseUint(el.Attr("h"), 10, 32)
		if err != nil {
			return true, stream.Error{Condition: stream.InvalidXML, Text: "bad 'h'"}
		}
		b := s.box
		if b == nil {
			return true, nil
		}
		b.mu.Lock()
		ok, sent := b.ack(uint32(h))
		if ok {
			b.requested = false
			b.maybeRequest()
		}
		b.mu.Unlock()
		if !ok {
			return true, handledTooHigh(uint32(h), sent)
		}
		return true, nil
	case el.Is(nsSM, "enable"):
		s.enableSM(el, true)
		return true, nil
	case el.Is(nsSM, "resume"):
		if s.bound {
			s.writeNonza(smFailed(stanza.UnexpectedRequest))
			return true, nil
		}
		failed, err := s.resume(el)
		if failed != nil {
			s.writeNonza(failed)
		}
		return true, err

	case el.Is(nsCSI, "active"), el.Is(nsCSI, "inactive"):
		if b := s.box; b != nil {
			b.setInactive(el.Local == "inactive")
		}
		return true, nil
	}
	return false, nil
}
