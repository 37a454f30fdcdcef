package register

import (
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// FORM_TYPE values of registration forms (XEP-0077 §12.4).
const (
	formRegister       = "jabber:iq:register"
	formChangePassword = "jabber:iq:register:changepassword"
)

// submission is what a registration or password change set carries.
type submission struct {
	username string
	password string
	token    string // an invitation token, "" for none
}

// parseSubmission reads a jabber:iq:register <query/> set. A submitted
// data form takes precedence over the legacy fields (XEP-0077 §4, §6);
// an invitation token is the form's "token" field or a <preauth/> child
// of the query.
func parseSubmission(q *xmlel.Element) submission {
	var s submission
	if x := q.Child(stanza.NSDataForm, "x"); x != nil && x.Attr("type") == "submit" {
		fields := formFields(x)
		s.username, s.password, s.token = fields["username"], fields["password"], fields["token"]
	} else {
		s.username = q.ChildText(NS, "username")
		s.password = q.ChildText(NS, "password")
	}
	if s.token == "" {
		if p := q.Child(NSPreAuth, "preauth"); p != nil {
			s.token = p.Attr("token")
		}
	}
	return s
}

// formFields returns the first value of each field of a data form
// (XEP-0004 §3.2).
func formFields(x *xmlel.Element) map[string]string {
	fields := make(map[string]string)
	for _, f := range x.Elements() {
		if !f.Is(stanza.NSDataForm, "field") {
			continue
		}
		name := f.Attr("var")
		if _, seen := fields[name]; name == "" || seen {
			continue
		}
		fields[name] = f.ChildText(stanza.NSDataForm, "value")
	}
	return fields
}

// field returns a data form field with a required value.
func field(typ, name, label string) *xmlel.Element {
	return xmlel.New(stanza.NSDataForm, "field", "type", typ, "var", name, "label", label).
		Append(xmlel.New(stanza.NSDataForm, "required"))
}

// registrationForm returns the answer to a registration get before
// authentication (XEP-0077 §3.1). needToken asks for an invitation.
func registrationForm(needToken bool) *xmlel.Element {
	x := xmlel.New(stanza.NSDataForm, "x", "type", "form").Append(
		xmlel.TextElement(stanza.NSDataForm, "title", "Create an account"),
		xmlel.New(stanza.NSDataForm, "field", "type", "hidden", "var", "FORM_TYPE").
			Append(xmlel.TextElement(stanza.NSDataForm, "value", formRegister)),
		field("text-single", "username", "Username"),
		field("text-private", "password", "Password"),
	)
	q := xmlel.New(NS, "query")
	if needToken {
		x.Append(field("text-single", "token", "Invitation token"))
		// XEP-0077 §6: a form with a required field that the legacy
		// fields cannot carry comes with instructions only.
		return q.Append(
			xmlel.TextElement(NS, "instructions", "Registration on this server needs an invitation. Open your invitation link with your client, or fill in the form with the token of the invitation."),
			x,
		)
	}
	return q.Append(
		xmlel.TextElement(NS, "instructions", "Choose a username and a password for your account on this server."),
		xmlel.New(NS, "username"),
		xmlel.New(NS, "password"),
		x,
	)
}
