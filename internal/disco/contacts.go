package disco

import (
	"fmt"
	"sort"

	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// FormTypeServerInfo is the FORM_TYPE of contact address forms
// (XEP-0157 §3, registered by XEP-0128).
const FormTypeServerInfo = "http://jabber.org/network/serverinfo"

// Contacts are the contact addresses of one host (XEP-0157 §3): a role
// (abuse, admin, feedback, sales, security, status, support) to its
// addresses, each a URI such as "mailto:abuse@example.org",
// "xmpp:admin@example.org" or "https://example.org/support".
type Contacts map[string][]string

// knownRole reports whether r is a role of the XEP-0157 §6.1 field
// registry; the field of role r is "r-addresses".
func knownRole(r string) bool {
	switch r {
	case "abuse", "admin", "feedback", "sales", "security", "status", "support":
		return true
	}
	return false
}

// Validate reports unknown roles and empty addresses.
func (c Contacts) Validate() error {
	roles := make([]string, 0, len(c))
	for r := range c {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	for _, r := range roles {
		if !knownRole(r) {
			return fmt.Errorf("unknown contact role %q", r)
		}
		for _, a := range c[r] {
			if a == "" {
				return fmt.Errorf("contact role %q: empty address", r)
			}
		}
	}
	return nil
}

// form returns the XEP-0157 §3 data form of c, fields in the order of
// their names, or nil when c has no address.
func (c Contacts) form() *xmlel.Element {
	roles := make([]string, 0, len(c))
	for r, addrs := range c {
		if knownRole(r) && len(addrs) > 0 {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 {
		return nil
	}
	sort.Strings(roles)
	x := xmlel.New(stanza.NSDataForm, "x", "type", "result").Append(
		xmlel.New(stanza.NSDataForm, "field", "var", "FORM_TYPE", "type", "hidden").Append(
			xmlel.TextElement(stanza.NSDataForm, "value", FormTypeServerInfo)))
	for _, r := range roles {
		f := xmlel.New(stanza.NSDataForm, "field", "var", r+"-addresses")
		for _, a := range c[r] {
			f.Append(xmlel.TextElement(stanza.NSDataForm, "value", a))
		}
		x.Append(f)
	}
	return x
}
