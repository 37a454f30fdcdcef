package c2s

import (
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// Payloads that make a message worth waking an inactive client for: what
// a person reads (a body or subject, end-to-end encrypted content, its
// XEP-0380 label), invitations, and calls (XEP-0353), which ring now or
// never.
var importantPayloads = map[string]bool{
	"eu.siacs.conversations.axolotl": true, // OMEMO (XEP-0384 0.3)
	"urn:xmpp:omemo:2":               true, // OMEMO 2
	"urn:xmpp:openpgp:0":             true, // XEP-0373
	"jabber:x:encrypted":             true, // XEP-0027
	"urn:xmpp:eme:0":                 true, // XEP-0380
	"jabber:x:conference":            true, // XEP-0249 invitation
	"urn:xmpp:jingle-message:0":      true, // XEP-0353
	"urn:xmpp:jingle-message:1":      true,
	nsMAM:                            true, // results of the client's own query
}

// important reports whether a stanza must reach an inactive client now
// (XEP-0352 §2.2 leaves the choice to the server). Every iq matters: its
// sender waits for the answer. Presence can wait, except subscription
// requests and answers, which a person acts on, and errors. A message
// can wait when it carries nothing a person reads now: chat states,
// receipts and markers, PEP notifications (XEP-0163), a carbon copy
// (XEP-0280) of such a message.
func important(el *xmlel.Element) bool {
	if el.Space != "" {
		return true
	}
	switch el.Local {
	case stanza.Presence:
		switch el.Attr("type") {
		case "", "unavailable", "probe":
			return false
		}
		return true
	case stanza.Message:
		return importantMessage(el, 0)
	}
	return true
}

func importantMessage(el *xmlel.Element, depth int) bool {
	if el.Attr("type") == "error" {
		return true
	}
	for _, c := range el.Elements() {
		switch {
		case c.Space == "" && (c.Local == "body" || c.Local == "subject"):
			return true
		case importantPayloads[c.Space]:
			return true
		case c.Is(nsMUCUser, "x") && c.Child(nsMUCUser, "invite") != nil:
			return true
		case c.Space == nsCarbons && (c.Local == "received" || c.Local == "sent") && depth == 0:
			// The copy matters as much as the message it carries.
			if fwd := c.Child(nsForward, "forwarded"); fwd != nil {
				if m := fwd.Child("", stanza.Message); m != nil && importantMessage(m, depth+1) {
					return true
				}
			}
		}
	}
	return false
}

const (
	nsMUCUser = "http://jabber.org/protocol/muc#user"
	nsForward = "urn:xmpp:forward:0"
)
