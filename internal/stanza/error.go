package stanza

import (
	"samtal.org/samtal/internal/xmlel"
)

// ErrorType is the type attribute of a stanza error (RFC 6120 §8.3.2).
type ErrorType string

// Error types.
const (
	Auth     ErrorType = "auth"
	Cancel   ErrorType = "cancel"
	Continue ErrorType = "continue"
	Modify   ErrorType = "modify"
	Wait     ErrorType = "wait"
)

// Condition is a defined stanza error condition (RFC 6120 §8.3.3).
type Condition string

// Stanza error conditions.
const (
	BadRequest            Condition = "bad-request"
	Conflict              Condition = "conflict"
	FeatureNotImplemented Condition = "feature-not-implemented"
	Forbidden             Condition = "forbidden"
	Gone                  Condition = "gone"
	InternalServerError   Condition = "internal-server-error"
	ItemNotFound          Condition = "item-not-found"
	JIDMalformed          Condition = "jid-malformed"
	NotAcceptable         Condition = "not-acceptable"
	NotAllowed            Condition = "not-allowed"
	NotAuthorized         Condition = "not-authorized"
	PolicyViolation       Condition = "policy-violation"
	RecipientUnavailable  Condition = "recipient-unavailable"
	Redirect              Condition = "redirect"
	RegistrationRequired  Condition = "registration-required"
	RemoteServerNotFound  Condition = "remote-server-not-found"
	RemoteServerTimeout   Condition = "remote-server-timeout"
	ResourceConstraint    Condition = "resource-constraint"
	ServiceUnavailable    Condition = "service-unavailable"
	SubscriptionRequired  Condition = "subscription-required"
	UndefinedCondition    Condition = "undefined-condition"
	UnexpectedRequest     Condition = "unexpected-request"
)

// defaultType is the usual error type of each condition (RFC 6120 §8.3.3).
var defaultType = map[Condition]ErrorType{
	BadRequest:            Modify,
	Conflict:              Cancel,
	FeatureNotImplemented: Cancel,
	Forbidden:             Auth,
	Gone:                  Cancel,
	InternalServerError:   Cancel,
	ItemNotFound:          Cancel,
	JIDMalformed:          Modify,
	NotAcceptable:         Modify,
	NotAllowed:            Cancel,
	NotAuthorized:         Auth,
	PolicyViolation:       Modify,
	RecipientUnavailable:  Wait,
	Redirect:              Modify,
	RegistrationRequired:  Auth,
	RemoteServerNotFound:  Cancel,
	RemoteServerTimeout:   Wait,
	ResourceConstraint:    Wait,
	ServiceUnavailable:    Cancel,
	SubscriptionRequired:  Auth,
	UndefinedCondition:    Cancel,
	UnexpectedRequest:     Wait,
}

// Error is a stanza error as sent to a peer. It carries no Go error text:
// what went wrong inside the server is logged, not told.
type Error struct {
	Type      ErrorType
	Condition Condition
	Text      string         // optional human-readable text
	Extra     *xmlel.Element // optional application-specific condition
	By        string         // optional 'by' attribute
	// Echo, when set, is the part of the request the error answers,
	// sent back before <error/> (RFC 6120 §8.3.1 lets an error include
	// the original payload): an ad-hoc command's <command/> with its
	// session, say, so that the requester knows which session failed.
	Echo *xmlel.Element
}

// E returns the error for a condition with its usual type.
func E(c Condition) Error {
	return Error{Type: defaultType[c], Condition: c}
}

// WithText returns e with a text.
func (e Error) WithText(text string) Error { e.Text = text; return e }

// WithExtra returns e with an application-specific condition element.
func (e Error) WithExtra(x *xmlel.Element) Error { e.Extra = x; return e }

// Error implements error, so that handlers can return stanza errors.
func (e Error) Error() string { return "stanza error: " + string(e.Condition) }

// Element returns the <error/> child.
func (e Error) Element() *xmlel.Element {
	t := e.Type
	if t == "" {
		t = defaultType[e.Condition]
		if t == "" {
			t = Cancel
		}
	}
	el := xmlel.New("", "error", "type", string(t), "by", e.By)
	el.Append(xmlel.New(NSStanzas, string(e.Condition)))
	if e.Text != "" {
		el.Append(xmlel.TextElement(NSStanzas, "text", e.Text))
	}
	return el.Append(e.Extra)
}

// ErrorReply builds the error response to st (RFC 6120 §8.3.1): same kind
// and id, addresses swapped, type error. Errors are never answered with
// errors: it returns nil for a stanza of type error.
func ErrorReply(st *xmlel.Element, e Error) *xmlel.Element {
	if st.Attr("type") == "error" {
		return nil
	}
	r := xmlel.New("", st.Local, "type", "error", "id", st.Attr("id"), "from", st.Attr("to"), "to", st.Attr("from"))
	if lang := st.Lang(); lang != "" {
		r.Attrs = append(r.Attrs, xmlel.Attr{Space: xmlel.NSXML, Local: "lang", Value: lang})
	}
	if e.Echo != nil {
		r.Append(e.Echo.Copy())
	}
	return r.Append(e.Element())
}

// ParseError returns the condition and type of an error stanza.
func ParseError(st *xmlel.Element) (Error, bool) {
	el := st.Child("", "error")
	if el == nil {
		return Error{}, false
	}
	e := Error{Type: ErrorType(el.Attr("type"))}
	for _, c := range el.Elements() {
		if c.Space == NSStanzas && c.Local != "text" {
			e.Condition = Condition(c.Local)
		}
	}
	e.Text = el.ChildText(NSStanzas, "text")
	return e, true
}
