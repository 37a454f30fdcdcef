// Package archive is the wire format of Message Archive Management
// (XEP-0313) that every archive shares, a user's (package mam) as a
// room's: the query with its filter form (§4.1) and result set paging
// (XEP-0059), the form of supported fields (§4.1.5), the result messages
// (§4.2), the closing <fin/> (§4.3) and archive metadata (§5). It holds
// no state and does no I/O.
package archive

import (
	"strings"
	"time"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/rsm"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// Namespaces and disco features of XEP-0313 and the specifications it
// builds on.
const (
	NS = "urn:xmpp:mam:2"
	// NSExtended is advertised with NS by archives that support
	// before-id, after-id, ids, flipped pages and metadata (§7).
	NSExtended = "urn:xmpp:mam:2#extended"
	// NSGroupchatField is advertised by archives that understand the
	// include-groupchat field (§7).
	NSGroupchatField = "urn:xmpp:mam:2#groupchat-field"
	// NSForward wraps the archived message (XEP-0297).
	NSForward = "urn:xmpp:forward:0"
	// NSStanzaID is the namespace of stanza-id and origin-id (XEP-0359).
	NSStanzaID = "urn:xmpp:sid:0"
	// NSValidate is the data forms validation namespace (XEP-0122).
	NSValidate = "http://jabber.org/protocol/xdata-validate"
)

// Limits on what one query may carry.
const (
	// MaxIDs bounds the ids field: a client asks for a few messages it
	// knows, not for a page of thousands.
	MaxIDs = 250
	// maxQueryID bounds the queryid the server echoes in every result.
	maxQueryID = 256
)

// Query is a parsed archive query (§4).
type Query struct {
	// QueryID is echoed in every result message.
	QueryID string
	// Node is the query's node attribute, reserved for pubsub archives.
	Node string
	// With matches messages to or from this JID (§4.1.1); zero for all.
	With jid.JID
	// Start and End bound the archive time, both inclusive (§4.1.2);
	// zero for no bound.
	Start, End time.Time
	// AfterID and BeforeID bound the results by archive ID, both
	// exclusive (§4.1.3).
	AfterID, BeforeID string
	// IDs selects only these messages (§4.1.3).
	IDs []string
	// IncludeGroupchat is the include-groupchat field (§4.1.4): nil when
	// the client left it out.
	IncludeGroupchat *bool
	// Page is the XEP-0059 set of the query.
	Page rsm.Query
	// Flip asks for the page's results in reverse order (§4.3.4).
	Flip bool
}

// Parse reads the <query/> of an archive query (an iq set). Its errors
// are stanza errors for the requester: bad-request for what breaks the
// protocol, feature-not-implemented for a form field or RSM feature the
// server does not support (§4.1.5, XEP-0059 §2.6).
func Parse(q *xmlel.Element) (Query, error) {
	out := Query{Page: rsm.NewQuery()}
	if q == nil || !q.Is(NS, "query") {
		return out, stanza.E(stanza.BadRequest)
	}
	out.QueryID = q.Attr("queryid")
	if len(out.QueryID) > maxQueryID {
		return out, stanza.E(stanza.BadRequest).WithText("queryid too long")
	}
	out.Node = q.Attr("node")
	var formEl, setEl *xmlel.Element
	for _, c := range q.Elements() {
		switch {
		case c.Is(dataform.NS, "x"):
			if formEl != nil {
				return out, stanza.E(stanza.BadRequest)
			}
			formEl = c
		case c.Is(rsm.NS, "set"):
			if setEl != nil {
				return out, stanza.E(stanza.BadRequest)
			}
			setEl = c
		case c.Is(NS, "flip-page"):
			out.Flip = true
		}
	}
	page, err := rsm.Parse(setEl)
	if err != nil {
		return out, stanza.E(stanza.BadRequest).WithText("invalid result set request")
	}
	if page.Index >= 0 {
		// XEP-0059 §2.6: paging by index MAY be refused. Archive IDs page
		// exactly; an index would be a full count away.
		return out, stanza.E(stanza.FeatureNotImplemented).WithText("paging by index is not supported")
	}
	if page.After != "" && page.HasBefore {
		// §6.1 (Implementation Considerations): RSM before and after
		// together are undefined; before-id and after-id do that.
		return out, stanza.E(stanza.BadRequest).WithText("use before-id and after-id for a range")
	}
	out.Page = page
	if formEl == nil {
		return out, nil
	}
	if err := out.parseForm(formEl); err != nil {
		return out, err
	}
	return out, nil
}

// parseForm reads the filter form (§4.1).
func (out *Query) parseForm(x *xmlel.Element) error {
	form, err := dataform.Parse(x)
	if err != nil || form.Type != dataform.TypeSubmit {
		return stanza.E(stanza.BadRequest).WithText("invalid query form")
	}
	for _, f := range form.Fields {
		v := strings.TrimSpace(f.Value())
		switch f.Var {
		case dataform.FormTypeVar:
			if v != NS {
				return stanza.E(stanza.BadRequest).WithText("FORM_TYPE is not " + NS)
			}
		case "with":
			if v == "" {
				continue
			}
			j, err := jid.Parse(v)
			if err != nil {
				return stanza.E(stanza.JIDMalformed)
			}
			out.With = j
		case "start", "end":
			if v == "" {
				continue
			}
			t, err := ParseTime(v)
			if err != nil {
				return stanza.E(stanza.BadRequest).WithText("invalid " + f.Var + " time")
			}
			// Archive times have microseconds: the bounds are rounded
			// inwards so that they keep their meaning.
			if f.Var == "start" {
				out.Start = ceilMicro(t)
			} else {
				out.End = t.Truncate(time.Microsecond)
			}
		case "before-id", "after-id":
			if v == "" {
				continue
			}
			if len(v) > rsm.MaxUID {
				return stanza.E(stanza.ItemNotFound)
			}
			if f.Var == "before-id" {
				out.BeforeID = v
			} else {
				out.AfterID = v
			}
		case "ids":
			for _, id := range f.Values {
				if id = strings.TrimSpace(id); id != "" {
					out.IDs = append(out.IDs, id)
				}
			}
			if len(out.IDs) > MaxIDs {
				return stanza.E(stanza.PolicyViolation).WithText("too many ids")
			}
		case "include-groupchat":
			b, ok := dataform.ParseBool(v)
			if !ok {
				return stanza.E(stanza.BadRequest).WithText("include-groupchat is not a boolean")
			}
			out.IncludeGroupchat = &b
		default:
			// §4.1.5: a field the server does not recognise.
			return stanza.E(stanza.FeatureNotImplemented).WithText("unknown field " + clip(f.Var))
		}
	}
	return nil
}

// clip shortens a client's string for an error text.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// ceilMicro rounds t up to a whole microsecond.
func ceilMicro(t time.Time) time.Time {
	if r := t.Truncate(time.Microsecond); !r.Equal(t) {
		return r.Add(time.Microsecond)
	}
	return t
}

// ParseTime reads an XEP-0082 DateTime ("2010-06-07T00:00:00Z", with
// optional fractions of a second and a numeric zone).
func ParseTime(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}

// FormatTime writes t as an XEP-0082 DateTime in UTC with microseconds
// when it has any.
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.999999Z07:00")
}

// FieldsForm returns the form of supported query fields, the answer to an
// iq get of an empty query (§4.1.5). groupchat adds include-groupchat.
func FieldsForm(groupchat bool) *xmlel.Element {
	f := dataform.Form{Type: dataform.TypeForm, Fields: []dataform.Field{
		{Var: dataform.FormTypeVar, Type: dataform.Hidden, Values: []string{NS}},
		{Var: "with", Type: dataform.JIDSingle},
		{Var: "start", Type: dataform.TextSingle},
		{Var: "end", Type: dataform.TextSingle},
		{Var: "before-id", Type: dataform.TextSingle},
		{Var: "after-id", Type: dataform.TextSingle},
		// §4.1.5: ids is list-multi with an open list (XEP-0122), the
		// ids themselves are never listed.
		{Var: "ids", Type: dataform.ListMulti, Extra: []*xmlel.Element{
			xmlel.New(NSValidate, "validate", "datatype", "xs:string").Append(xmlel.New(NSValidate, "open")),
		}},
	}}
	if groupchat {
		f.Fields = append(f.Fields, dataform.Field{Var: "include-groupchat", Type: dataform.Boolean})
	}
	return xmlel.New(NS, "query").Append(f.Element())
}

// Result returns the <result/> that carries one archived message to the
// requester (§4.2): the archive ID, the query's queryid, and the message
// forwarded (XEP-0297) with the time it was archived (XEP-0203).
func Result(queryID, id string, stamp time.Time, msg *xmlel.Element) *xmlel.Element {
	return xmlel.New(NS, "result", "queryid", queryID, "id", id).Append(Forwarded(stamp, msg))
}

// Forwarded returns an archived message forwarded (XEP-0297) with the
// time it was archived (XEP-0203), as a result carries it and as other
// messages quote it.
func Forwarded(stamp time.Time, msg *xmlel.Element) *xmlel.Element {
	return xmlel.New(NSForward, "forwarded").Append(
		xmlel.New(stanza.NSDelay, "delay", "stamp", FormatTime(stamp)),
		msg,
	)
}

// Fin returns the <fin/> that ends a query (§4.3): the page, and whether
// the result set is complete in the direction of paging. A page that is
// not complete leaves the attribute out.
func Fin(page rsm.Page, complete bool) *xmlel.Element {
	fin := xmlel.New(NS, "fin")
	if complete {
		fin.SetAttr("complete", "true")
	}
	return fin.Append(page.Element())
}

// Bound is the first or last message of an archive.
type Bound struct {
	ID    string
	Stamp time.Time
}

// Metadata returns the answer to a metadata request (§5): the first and
// last messages, or an empty <metadata/> for an empty archive.
func Metadata(first, last *Bound) *xmlel.Element {
	md := xmlel.New(NS, "metadata")
	if first != nil && last != nil {
		md.Append(
			xmlel.New(NS, "start", "id", first.ID, "timestamp", FormatTime(first.Stamp)),
			xmlel.New(NS, "end", "id", last.ID, "timestamp", FormatTime(last.Stamp)),
		)
	}
	return md
}

// Element returns q as the <query/> a requester sends.
func (q Query) Element() *xmlel.Element {
	el := xmlel.New(NS, "query", "queryid", q.QueryID, "node", q.Node)
	f := dataform.Form{Type: dataform.TypeSubmit, Fields: []dataform.Field{
		{Var: dataform.FormTypeVar, Type: dataform.Hidden, Values: []string{NS}},
	}}
	add := func(name, v string) {
		if v != "" {
			f.Fields = append(f.Fields, dataform.Field{Var: name, Values: []string{v}})
		}
	}
	if !q.With.IsZero() {
		add("with", q.With.String())
	}
	if !q.Start.IsZero() {
		add("start", FormatTime(q.Start))
	}
	if !q.End.IsZero() {
		add("end", FormatTime(q.End))
	}
	add("before-id", q.BeforeID)
	add("after-id", q.AfterID)
	if len(q.IDs) > 0 {
		f.Fields = append(f.Fields, dataform.Field{Var: "ids", Values: q.IDs})
	}
	if q.IncludeGroupchat != nil {
		add("include-groupchat", map[bool]string{true: "true", false: "false"}[*q.IncludeGroupchat])
	}
	el.Append(f.Element(), q.Page.Element())
	if q.Flip {
		el.Append(xmlel.New(NS, "flip-page"))
	}
	return el
}
