package ircgw

import (
	"strings"

	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/xmlel"
)

// nsIRC is samtal's extension element for what an IRC message carries
// that XMPP has no element for: whether it was a NOTICE or a TAGMSG, and
// its client-only tags (IRCv3 message-tags). XMPP clients ignore it;
// rooms and archives keep it, so that IRC clients get it back.
//
//	<irc xmlns='urn:samtal:irc:0' command='NOTICE'>
//	  <tag name='+draft/react'>👍</tag>
//	</irc>
const nsIRC = "urn:samtal:irc:0"

// nsChatStates is chat state notifications (XEP-0085), which become the
// +typing client tag.
const nsChatStates = "http://jabber.org/protocol/chatstates"

// maxClientTagBytes bounds the client-only tags one message carries
// (message-tags: 4094 bytes).
const maxClientTagBytes = 4094

// ircElement returns the extension element for a message, or nil when
// it is a plain PRIVMSG without client tags.
func ircElement(command string, tags []ircmsg.Tag) *xmlel.Element {
	if command == "PRIVMSG" && len(tags) == 0 {
		return nil
	}
	el := xmlel.New(nsIRC, "irc")
	if command != "PRIVMSG" {
		el.SetAttr("command", command)
	}
	for _, t := range tags {
		el.Append(xmlel.New(nsIRC, "tag", "name", t.Key).AppendText(t.Value))
	}
	return el
}

// readIRC reads the extension element of a message: the command
// (PRIVMSG when absent) and the client-only tags, with typing
// notifications (XEP-0085) as +typing.
func readIRC(el *xmlel.Element) (command string, tags []ircmsg.Tag) {
	command = "PRIVMSG"
	if x := el.Child(nsIRC, "irc"); x != nil {
		switch c := x.Attr("command"); c {
		case "NOTICE", "TAGMSG", "QUIT":
			command = c
		}
		size := 0
		for _, t := range x.Elements() {
			name := t.Attr("name")
			if t.Local != "tag" || !strings.HasPrefix(name, "+") || len(name) > 100 || strings.ContainsAny(name, "; =\\\r\n\x00") {
				continue
			}
			if size += len(name) + len(t.Text()) + 2; size > maxClientTagBytes {
				break
			}
			tags = append(tags, ircmsg.Tag{Key: name, Value: t.Text()})
		}
	}
	if el.Child("", "body") == nil && command != "TAGMSG" {
		for _, c := range el.Elements() {
			if c.Space != nsChatStates {
				continue
			}
			if v, ok := map[string]string{"composing": "active", "paused": "paused", "active": "done", "inactive": "done", "gone": "done"}[c.Local]; ok {
				command = "TAGMSG"
				tags = append(tags, ircmsg.Tag{Key: "+typing", Value: v})
			}
		}
	}
	return command, tags
}

// chatState is the XEP-0085 state of a +typing tag, or "".
func chatState(tags []ircmsg.Tag) string {
	for _, t := range tags {
		if t.Key == "+typing" {
			return map[string]string{"active": "composing", "paused": "paused", "done": "active"}[t.Value]
		}
	}
	return ""
}
