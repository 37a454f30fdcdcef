package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
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

// TestForwardPastClientThatDoesNotRead checks that a client that stops
// reading holds up nobody else: a sender whose messages to it pile up
// still has its other messages delivered at once, and its requests
// answered. The sender's own goroutine writes the messages it forwards
// (transport.Batch); a write that waited for the stalled client would
// hold the sender for the write timeout.
func TestForwardPastClientThatDoesNotRead(t *testing.T) {
	s := StartServer(t, Options{
		Extra: "[archive]\nenabled = false\n",
		Limits: `read_rate = 16777216
read_burst = 16777216
stanza_rate = 100000
out_queue_bytes = 8388608`,
	})
	s.AddUser("writer", "pw-w")
	s.AddUser("stuck", "pw-s")
	s.AddUser("reader", "pw-r")
	w := dialRaw(t, s.C2S)
	w.login("localhost", "writer", "pw-w")
	stuck := dialRaw(t, s.C2S)
	stuckFull := stuck.login("localhost", "stuck", "pw-s")
	rd := dialRaw(t, s.C2S)
	rFull := rd.login("localhost", "reader", "pw-r")
	_ = w.conn.SetDeadline(time.Now().Add(2 * time.Minute))
	_ = rd.conn.SetDeadline(time.Now().Add(2 * time.Minute))

	// The reader's messages and the writer's answers are read in the
	// background: a writer that nobody reads would stall the server's
	// writes to it.
	arrived := idsOf(rd, "message")
	answers := idsOf(w, "iq")

	// 16 MiB for the stalled client, more than the sockets of both
	// ends buffer, with a message for the reader and a ping after every
	// megabyte.
	body := strings.Repeat("x", 1024)
	for i := range 16384 {
		w.send("<message to='" + stuckFull + "' type='chat'><body>" + body + "</body></message>")
		if i%1024 != 1023 {
			continue
		}
		id := fmt.Sprintf("m%d", i)
		sent := time.Now()
		w.send("<message to='" + rFull + "' type='chat' id='" + id + "'><body>still here</body></message>")
		w.send("<iq type='get' id='p" + id + "'><ping xmlns='urn:xmpp:ping'/></iq>")
		select {
		case got := <-arrived:
			if got != id {
				t.Fatalf("the reader got %q, want %q", got, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("after %d MiB for a client that does not read, a message to another waited %v", (i+1)/1024, time.Since(sent))
		}
		select {
		case got := <-answers:
			if got != "p"+id {
				t.Fatalf("the writer got an answer to %q, want p%s", got, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("after %d MiB for a client that does not read, a ping waited %v", (i+1)/1024, time.Since(sent))
		}
	}
}

// idsOf reads c's stanzas in the background and reports the id of each
// one named local as it arrives.
func idsOf(c *raw, local string) <-chan string {
	ids := make(chan string, 1024)
	go func() {
		defer close(ids)
		for {
			el, err := c.r.Next()
			if err != nil {
				return
			}
			if el.Local == local {
				ids <- el.Attr("id")
			}
		}
	}()
	return ids
}
