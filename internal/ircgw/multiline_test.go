package ircgw

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// TestMultiline checks draft/multiline both ways: a client batch is one
// XMPP message with its line breaks, echoed as a batch with the label
// on its BATCH; an XMPP message of several lines reaches the client as
// one batch, blank lines and long lines' pieces included; and every
// error of the spec.
func TestMultiline(t *testing.T) {
	c, _, _, core := dial(t, false)
	c.send("CAP LS 302")
	if ls := c.expect("CAP * LS"); !strings.Contains(ls, "draft/multiline=max-bytes=4096,max-lines=100") {
		t.Errorf("CAP LS = %q, want draft/multiline with its limits", ls)
	}
	c.send("PASS :alice:secret", "NICK alice", "USER a 0 * :A",
		"CAP REQ :batch draft/multiline echo-message message-tags labeled-response", "CAP END")
	c.expect(" 422 alice ")

	c.send("@label=L1 BATCH +b1 draft/multiline bob", "@batch=b1 PRIVMSG bob :hello", "@batch=b1 PRIVMSG bob :",
		"@batch=b1 PRIVMSG bob :wor", "@batch=b1;draft/multiline-concat PRIVMSG bob :ld", "BATCH -b1")
	open := c.expect(" BATCH +", " draft/multiline bob")
	if !strings.Contains(open, "label=L1") || !strings.HasPrefix(open, "@") {
		t.Errorf("echo opens with %q, want the label on the BATCH", open)
	}
	ref := batchRef(open)
	for _, want := range []string{"PRIVMSG bob hello", "PRIVMSG bob :", "PRIVMSG bob world"} {
		if l := c.expect("batch=" + ref); !strings.HasSuffix(l, want) {
			t.Errorf("echo line %q, want it to end with %q", l, want)
		}
	}
	c.expect("BATCH -" + ref)
	var got *stanza.Stanza
	for _, st := range core.sent() {
		if st.Kind() == stanza.Message {
			got = st
		}
	}
	if got == nil || got.El.ChildText("", "body") != "hello\n\nworld" || got.Type() != "chat" {
		t.Fatalf("the batch became %v, want one chat message with body %q", got, "hello\n\nworld")
	}

	// From XMPP: one batch, with the blank line and a long line's pieces.
	long := strings.Repeat("word ", 150)
	msg := xmlel.New("", stanza.Message, "type", "chat", "from", "bob@example.org/phone", "to", c.sess.JID().String()).
		Append(xmlel.TextElement("", "body", "first\n\n"+long), xmlel.New(nsStanzaID, "stanza-id", "by", "alice@example.org", "id", "arch-7"))
	c.sess.Send(msg)
	open = c.expect(":bob!bob@example.org BATCH +", "draft/multiline alice")
	if !strings.Contains(open, "msgid=arch-7") {
		t.Errorf("batch opens with %q, want the message id on it", open)
	}
	ref = batchRef(open)
	var text strings.Builder
	n := 0
	for {
		l := c.expect(ref)
		if strings.Contains(l, "BATCH -"+ref) {
			break
		}
		if strings.Contains(l, "msgid") {
			t.Errorf("a line inside the batch has a message id: %q", l)
		}
		_, rest, _ := strings.Cut(l, " PRIVMSG alice ")
		rest = strings.TrimPrefix(rest, ":")
		if n > 0 && !strings.Contains(l, "draft/multiline-concat") {
			text.WriteString("\n")
		}
		text.WriteString(rest)
		n++
	}
	if text.String() != "first\n\n"+long || n < 4 {
		t.Errorf("the batch's %d lines make %q", n, text.String())
	}

	// Errors.
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"target", []string{"BATCH +e1 draft/multiline bob", "@batch=e1 PRIVMSG carol :x", "BATCH -e1"}, "FAIL BATCH MULTILINE_INVALID_TARGET bob carol"},
		{"commands", []string{"BATCH +e2 draft/multiline bob", "@batch=e2 PRIVMSG bob :x", "@batch=e2 NOTICE bob :y", "BATCH -e2"}, "FAIL BATCH MULTILINE_INVALID"},
		{"blank concat", []string{"BATCH +e3 draft/multiline bob", "@batch=e3 PRIVMSG bob :x", "@batch=e3;draft/multiline-concat PRIVMSG bob :", "BATCH -e3"}, "FAIL BATCH MULTILINE_INVALID"},
		{"blank", []string{"BATCH +e4 draft/multiline bob", "@batch=e4 PRIVMSG bob :", "BATCH -e4"}, "FAIL BATCH MULTILINE_INVALID"},
		{"type", []string{"BATCH +e5 netsplit bob"}, "FAIL BATCH UNKNOWN_TYPE e5 netsplit"},
		{"reftag", []string{"BATCH +e!6 draft/multiline bob"}, "FAIL BATCH INVALID_REFTAG e!6"},
		{"unknown", []string{"BATCH -nope"}, "FAIL BATCH MULTILINE_INVALID nope"},
		{"another batch's line", []string{"BATCH +e9 draft/multiline bob", "@batch=e10 PRIVMSG bob :x", "BATCH -e9"}, "FAIL BATCH MULTILINE_INVALID :The line's batch"},
	}
	for _, tc := range tests {
		c.send(tc.lines...)
		c.expect(tc.want)
	}
	lines := []string{"BATCH +e7 draft/multiline bob"}
	for i := range multilineMaxLines + 1 {
		lines = append(lines, "@batch=e7 PRIVMSG bob :"+strconv.Itoa(i))
	}
	c.send(append(lines, "BATCH -e7")...)
	c.expect("FAIL BATCH MULTILINE_MAX_LINES 100")
	lines = []string{"BATCH +e8 draft/multiline bob"}
	for range 10 {
		lines = append(lines, "@batch=e8 PRIVMSG bob :"+strings.Repeat("x", 450))
	}
	c.send(append(lines, "BATCH -e8")...)
	c.expect("FAIL BATCH MULTILINE_MAX_BYTES 4096")
	c.none(" PRIVMSG bob ") // none of the failed batches went out
	n = 0
	for _, st := range core.sent() {
		if st.Kind() == stanza.Message {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d messages sent, want the one good batch", n)
	}
}

// TestMultilineFallback checks that a client without draft/multiline
// gets a message's lines one by one, with no blank line.
func TestMultilineFallback(t *testing.T) {
	c, _, _, _ := dial(t, false)
	c.send("CAP LS 302", "PASS :alice:secret", "NICK alice", "USER a 0 * :A", "CAP REQ :batch message-tags", "CAP END")
	c.expect(" 422 alice ")
	c.send("BATCH +f1 draft/multiline bob")
	c.expect("FAIL BATCH UNKNOWN_TYPE f1 draft/multiline")
	msg := xmlel.New("", stanza.Message, "type", "chat", "from", "bob@example.org/phone", "to", c.sess.JID().String()).
		Append(xmlel.TextElement("", "body", "one\n\ntwo"))
	c.sess.Send(msg)
	c.expect(":bob!bob@example.org PRIVMSG alice one")
	if l := c.expect(":bob!bob@example.org PRIVMSG alice "); !strings.HasSuffix(l, " two") {
		t.Errorf("second line %q, want two (the blank line left out)", l)
	}
}

// batchRef is the reference tag of a BATCH +ref line.
func batchRef(l string) string {
	_, rest, _ := strings.Cut(l, " BATCH +")
	ref, _, _ := strings.Cut(rest, " ")
	return ref
}

// FuzzParts checks that the parts of any body join back into it (line
// breaks normalized, CRs dropped), each within its room and valid UTF-8
// when the body is, and that no piece that continues a line is blank.
func FuzzParts(f *testing.F) {
	f.Add("hello\n\nworld", 40)
	f.Add(strings.Repeat("é", 100)+"\r\nx", 33)
	f.Add("a b c d e f g h i j k l m n o p q r s t u v w x y z", 32)
	f.Fuzz(func(t *testing.T, body string, room int) {
		if room < 0 || room > 1000 {
			return
		}
		ps := parts(body, room)
		var b strings.Builder
		for i, p := range ps {
			if i > 0 && !p.concat {
				b.WriteString("\n")
			}
			if p.concat && p.text == "" {
				t.Fatalf("a blank continuation in %+v", ps)
			}
			if len(p.text) > max(room, 32) {
				t.Fatalf("part %q is longer than %d bytes", p.text, max(room, 32))
			}
			if utf8.ValidString(body) && !utf8.ValidString(p.text) {
				t.Fatalf("part %q of valid UTF-8 is not", p.text)
			}
			b.WriteString(p.text)
		}
		want := strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\r", "")
		if b.String() != want {
			t.Fatalf("parts %+v join into %q, want %q", ps, b.String(), want)
		}
	})
}
