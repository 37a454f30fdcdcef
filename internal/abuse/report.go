package abuse

import (
	"errors"
	"strings"
	"unicode/utf8"

	"samtal.org/samtal/internal/archive"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces and reasons of reports.
const (
	// NS is the namespace of reports (XEP-0377 0.4), and its disco
	// feature.
	NS = "urn:xmpp:reporting:1"
	// NSLegacy is the namespace of the reports of XEP-0377 before 0.3,
	// which older clients (Conversations before 2.13) still send: the
	// reason is a <spam/> or <abuse/> child.
	NSLegacy = "urn:xmpp:reporting:0"
	// NSJID names the reported entity in a report that travels on its
	// own, in a message between servers; Prosody's report forwarding
	// borrowed it from XEP-0268.
	NSJID = "urn:xmpp:jid:0"

	// Spam is the reason of a report of unwanted messages.
	Spam = "urn:xmpp:reporting:spam"
	// Abuse is the reason of a report of general abuse.
	Abuse = "urn:xmpp:reporting:abuse"
)

// Bounds of what a report may carry. A report ends up in messages to the
// administrators: each is read by a person, and the stanzas carrying it
// stay within the size other servers accept.
const (
	// MaxMessages bounds the messages a report names (stanza-ids).
	MaxMessages = 10
	// maxTexts bounds the texts, one per language.
	maxTexts = 4
	// maxTextBytes bounds one text; the rest is cut off.
	maxTextBytes = 4096
	// maxReasonBytes bounds the reason, a URI.
	maxReasonBytes = 256
	// maxIDBytes bounds a stanza-id; a longer one names nothing here.
	maxIDBytes = 256
	// maxLangBytes bounds xml:lang; a longer one is dropped.
	maxLangBytes = 64
)

// Report is a spam or abuse report (XEP-0377).
type Report struct {
	// Reason is Spam, Abuse or another URI of the registry.
	Reason string
	// JID is the reported entity, when the report names it itself (a
	// report that a server forwards); a report in a block item is about
	// the item's JID.
	JID jid.JID
	// StanzaIDs name the reported messages in the reporter's archive.
	StanzaIDs []StanzaID
	// Texts are what the reporter wrote, one per language at most.
	Texts []Text
	// ReportOrigin is the reporter's consent to forwarding the report to
	// the reported entity's server (XEP-0377 §5).
	ReportOrigin bool
	// ThirdParty is the reporter's consent to forwarding it to third
	// parties (block lists, statistics). samtal forwards to none, but
	// the consent travels with the report.
	ThirdParty bool
}

// StanzaID names a message by its stanza-id (XEP-0359).
type StanzaID struct {
	ID string
	By jid.JID // the archive that gave it; zero when not said
}

// Text is a text of a report in one language.
type Text struct {
	Lang string // xml:lang; "" when not said
	Text string
}

// ErrMalformed is Parse's error for a report without a reason, or with a
// reported JID that is not one.
var ErrMalformed = errors.New("abuse: malformed report")

// Find returns the report among el's children (el is a block item or a
// message): the current form first, then the legacy one; nil when there
// is none.
func Find(el *xmlel.Element) *xmlel.Element {
	if r := el.Child(NS, "report"); r != nil {
		return r
	}
	return el.Child(NSLegacy, "report")
}

// Parse reads a <report/> of either namespace into the current form.
// What goes beyond the bounds above is left out.
func Parse(el *xmlel.Element) (Report, error) {
	var r Report
	switch {
	case el.Is(NS, "report"):
		r.Reason = el.Attr("reason")
	case el.Is(NSLegacy, "report"):
		// The legacy form had no opt-ins: nothing goes beyond the
		// administrators.
		if el.Child(NSLegacy, "spam") != nil {
			r.Reason = Spam
		} else if el.Child(NSLegacy, "abuse") != nil {
			r.Reason = Abuse
		}
	default:
		return Report{}, ErrMalformed
	}
	// XEP-0377 §4: a report MUST have a reason.
	if r.Reason == "" || len(r.Reason) > maxReasonBytes {
		return Report{}, ErrMalformed
	}
	for _, c := range el.Elements() {
		switch {
		case c.Is(archive.NSStanzaID, "stanza-id"):
			r.addStanzaID(c)
		case c.Is(el.Space, "text"):
			r.addText(c)
		case c.Is(NSJID, "jid"):
			j, err := jid.Parse(strings.TrimSpace(c.Text()))
			if err != nil {
				return Report{}, ErrMalformed
			}
			r.JID = j
		case c.Is(NS, "report-origin") && el.Space == NS:
			r.ReportOrigin = true
		case c.Is(NS, "third-party") && el.Space == NS:
			r.ThirdParty = true
		}
	}
	return r, nil
}

func (r *Report) addStanzaID(c *xmlel.Element) {
	id := c.Attr("id")
	if id == "" || len(id) > maxIDBytes || len(r.StanzaIDs) == MaxMessages {
		return
	}
	for _, s := range r.StanzaIDs {
		if s.ID == id {
			return
		}
	}
	sid := StanzaID{ID: id}
	if by, err := jid.Parse(c.Attr("by")); err == nil {
		sid.By = by
	}
	r.StanzaIDs = append(r.StanzaIDs, sid)
}

func (r *Report) addText(c *xmlel.Element) {
	text := clip(strings.TrimSpace(c.Text()), maxTextBytes)
	if text == "" || len(r.Texts) == maxTexts {
		return
	}
	lang := c.Lang()
	if len(lang) > maxLangBytes {
		lang = ""
	}
	for _, t := range r.Texts {
		if t.Lang == lang {
			return // one text per language (XEP-0377 §8)
		}
	}
	r.Texts = append(r.Texts, Text{Lang: lang, Text: text})
}

// clip cuts s to at most n bytes at a character boundary, without
// trailing white space.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimSpace(s[:n])
}

// Text returns the report's first text, "" when it has none.
func (r Report) Text() string {
	if len(r.Texts) == 0 {
		return ""
	}
	return r.Texts[0].Text
}

// Element returns the report in the current form (XEP-0377 §4, §5), with
// the reported JID when set.
func (r Report) Element() *xmlel.Element {
	el := xmlel.New(NS, "report", "reason", r.Reason)
	if !r.JID.IsZero() {
		el.Append(xmlel.TextElement(NSJID, "jid", r.JID.String()))
	}
	for _, s := range r.StanzaIDs {
		el.Append(xmlel.New(archive.NSStanzaID, "stanza-id", "by", s.By.String(), "id", s.ID))
	}
	for _, t := range r.Texts {
		te := xmlel.TextElement(NS, "text", t.Text)
		if t.Lang != "" {
			te.Attrs = append(te.Attrs, xmlel.Attr{Space: xmlel.NSXML, Local: "lang", Value: t.Lang})
		}
		el.Append(te)
	}
	if r.ReportOrigin {
		el.Append(xmlel.New(NS, "report-origin"))
	}
	if r.ThirdParty {
		el.Append(xmlel.New(NS, "third-party"))
	}
	return el
}
