package e2e

import (
	"strings"
	"testing"
)

// TestForwardedAsWritten checks on the wire which messages between local
// users travel as the bytes their sender wrote: the recipient sees the
// sender's own spelling (a character reference, single or double quotes),
// which a message made into a tree and written again loses. A message
// that a service must change or keep takes the tree path: one the
// recipient's archive keeps gets its stanza-id (XEP-0359), and one with a
// 'from' is checked first.
func TestForwardedAsWritten(t *testing.T) {
	for _, archive := range []bool{true, false} {
		name := "archive on"
		if !archive {
			name = "archive off"
		}
		t.Run(name, func(t *testing.T) {
			o := Options{}
			if !archive {
				o.Extra = "[archive]\nenabled = false\n"
			}
			s := StartServer(t, o)
			s.AddUser("writer", "pw-w")
			s.AddUser("reader", "pw-r")
			w := dialRaw(t, s.C2S)
			wFull := w.login("localhost", "writer", "pw-w")
			rd := dialRaw(t, s.C2S)
			rFull := rd.login("localhost", "reader", "pw-r")
			rd.send("<presence/>")
			// Available once its presence comes back: a chat state to the
			// bare JID before that would be dropped.
			for el := rd.next(); el.Local != "presence"; el = rd.next() {
			}

			// next reads the reader's next message with a body or a chat
			// state, as the bytes the server wrote.
			next := func() string {
				t.Helper()
				for {
					v, err := rd.r.NextView()
					if err != nil {
						t.Fatalf("read: %v", err)
					}
					if v.Local() == "message" && (v.Has("", "body") || v.Has("http://jabber.org/protocol/chatstates", "")) {
						if v.Raw() == nil {
							t.Fatalf("the reader's reader kept no bytes of %v", v.Element())
						}
						return string(v.Raw())
					}
				}
			}
			state := `<message to="reader@localhost" type='chat' id='s1'><composing xmlns='http://jabber.org/protocol/chatstates'/><x xmlns='urn:example' v='a&#x26;b'/></message>`
			w.send(state)
			if got, want := next(), `<message from='`+wFull+`'`+state[len("<message"):]; got != want {
				t.Errorf("chat state arrived as\n%s\nwant the bytes as written, with from:\n%s", got, want)
			}
			body := `<message to='` + rFull + `' type="chat" id='b1'><body>fish &#x26; chips</body></message>`
			w.send(body)
			got := next()
			if archive {
				if strings.Contains(got, "&#x26;") || !strings.Contains(got, "fish &amp; chips") || !strings.Contains(got, "<stanza-id xmlns='urn:xmpp:sid:0' by='reader@localhost'") {
					t.Errorf("a message the archive keeps arrived as %s, want it written anew with the reader's stanza-id", got)
				}
			} else if want := `<message from='` + wFull + `'` + body[len("<message"):]; got != want {
				t.Errorf("body arrived as\n%s\nwant\n%s", got, want)
			}
			// A 'from' the client wrote is checked and replaced: the tree
			// path.
			w.send(`<message from='writer@localhost' to='reader@localhost' type='chat'><body>with from &#x26;</body></message>`)
			if got := next(); !strings.Contains(got, "from='"+wFull+"'") || strings.Contains(got, "&#x26;") || strings.Count(got, "from=") != 1 {
				t.Errorf("a message with 'from' arrived as %s, want it written anew with the full JID", got)
			}
		})
	}
}
