package ircgw

import (
	"strconv"
	"strings"

	"samtal.org/samtal/internal/ircmsg"
)

// Multiline messages (IRCv3 draft/multiline, on client batches).
//
// An XMPP message may hold line breaks and be longer than an IRC line.
// A client that negotiated draft/multiline (and batch) gets such a
// message as one draft/multiline batch, a PRIVMSG per line and the
// pieces of an overlong line joined by draft/multiline-concat; other
// clients get the lines as separate messages. A multiline
// batch the client sends becomes one XMPP message whose body has the
// line breaks.

const (
	capMultiline = "draft/multiline"
	tagConcat    = "draft/multiline-concat"
	// multilineMaxBytes and multilineMaxLines are the values of the
	// capability: the combined message, line feeds counted, and its
	// PRIVMSG lines.
	multilineMaxBytes = 4096
	multilineMaxLines = 100
)

// multilineValue is the capability's value in CAP LS 302.
var multilineValue = "max-bytes=" + strconv.Itoa(multilineMaxBytes) + ",max-lines=" + strconv.Itoa(multilineMaxLines)

// clientBatch is a multiline batch the client has opened and not yet
// closed. Owned by the reader goroutine.
type clientBatch struct {
	ref, target string
	command     string       // PRIVMSG or NOTICE, from the first line
	tags        []ircmsg.Tag // client-only tags of the BATCH line
	label       string       // its label (labeled-response)
	text        strings.Builder
	lines       int
	failed      bool // an error was reported: the rest is ignored
}

// multiline reports whether the client takes multiline batches. s.mu is
// held, or the caller is the reader goroutine.
func (s *Session) multiline() bool { return s.caps[capMultiline] && s.caps["batch"] }

// validRef reports whether a batch reference tag is usable: letters,
// digits and '-', as the batch spec's examples use.
func validRef(ref string) bool {
	if ref == "" || len(ref) > 64 {
		return false
	}
	for _, r := range ref {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// failBatch reports an error of the open batch and ignores the rest of
// it.
func (s *Session) failBatch(code, text string, ctx ...string) {
	if s.batch != nil {
		s.batch.failed = true
	}
	s.fail("BATCH", code, text, ctx...)
}

// cmdBatch opens ("+ref draft/multiline target") and closes ("-ref") a
// client batch.
func (s *Session) cmdBatch(m ircmsg.Message) bool {
	ref := m.Param(0)
	switch {
	case strings.HasPrefix(ref, "+"):
		ref = ref[1:]
		typ := m.Param(1)
		switch {
		case !validRef(ref):
			s.fail("BATCH", "INVALID_REFTAG", "Invalid reference tag", ref)
		case s.batch != nil:
			s.failBatch("MULTILINE_INVALID", "A batch is already open")
		case typ != capMultiline || !s.multiline():
			s.fail("BATCH", "UNKNOWN_TYPE", "Unknown batch type", ref, typ)
		case len(m.Params) < 3 || m.Params[2] == "":
			s.fail("BATCH", "MULTILINE_INVALID", "A multiline batch needs a target")
		default:
			label, _ := m.Tag("label")
			s.batch = &clientBatch{ref: ref, target: m.Params[2], tags: clientTags(m), label: label}
		}
		return false
	case strings.HasPrefix(ref, "-"):
		b := s.batch
		if b == nil || b.ref != ref[1:] {
			s.fail("BATCH", "MULTILINE_INVALID", "No such batch is open", ref[1:])
			return false
		}
		s.batch = nil
		if b.failed {
			return false
		}
		text := b.text.String()
		if strings.Trim(text, "\n") == "" {
			s.fail("BATCH", "MULTILINE_INVALID", "The message is blank")
			return false
		}
		msg := ircmsg.Message{Tags: b.tags, Command: b.command, Params: []string{b.target, text}}
		if s.collectFor(b.label) {
			defer s.finishLabel()
		}
		return s.cmdPrivmsg(msg)
	}
	s.fail("BATCH", "MULTILINE_INVALID", "BATCH takes +reference or -reference")
	return false
}

// batchLine adds a line sent with a batch tag to the open batch: a
// PRIVMSG or NOTICE to its target.
func (s *Session) batchLine(ref string, m ircmsg.Message) {
	b := s.batch
	if b != nil && b.ref != ref && !b.failed {
		// A line of another batch inside the open one: the client lost
		// track of its batches, and the open one cannot be trusted.
		s.failBatch("MULTILINE_INVALID", "The line's batch is not the open one")
		return
	}
	if b == nil || b.ref != ref || b.failed {
		return // a batch refused, or never opened: its lines are ignored
	}
	if m.Command != "PRIVMSG" && m.Command != "NOTICE" || b.command != "" && m.Command != b.command {
		s.failBatch("MULTILINE_INVALID", "A multiline batch holds PRIVMSG or NOTICE lines, all alike")
		return
	}
	if len(m.Params) < 2 || foldASCII(m.Params[0]) != foldASCII(b.target) {
		s.failBatch("MULTILINE_INVALID_TARGET", "The line's target is not the batch's", b.target, m.Param(0))
		return
	}
	_, concat := m.Tag(tagConcat)
	text := m.Params[1]
	if concat && text == "" {
		s.failBatch("MULTILINE_INVALID", "A concatenated line may not be blank")
		return
	}
	if b.lines++; b.lines > multilineMaxLines {
		s.failBatch("MULTILINE_MAX_LINES", "Too many lines", strconv.Itoa(multilineMaxLines))
		return
	}
	sep := ""
	if b.lines > 1 && !concat {
		sep = "\n"
	}
	if b.text.Len()+len(sep)+len(text) > multilineMaxBytes {
		s.failBatch("MULTILINE_MAX_BYTES", "The message is too long", strconv.Itoa(multilineMaxBytes))
		return
	}
	b.command = m.Command
	b.text.WriteString(sep)
	b.text.WriteString(text)
}

// part is a line of a message: a line of its body, or a piece of an
// overlong one that continues the previous part (concat).
type part struct {
	text   string
	concat bool
}

// parts splits a body at its line breaks, and lines longer than room
// bytes into pieces, cut after a space where one is near the end.
// Blank lines stay.
func parts(body string, room int) []part {
	room = max(room, minText)
	var out []part
	for _, l := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		l = strings.ReplaceAll(l, "\r", "")
		concat := false
		for len(l) > room {
			cut := ircmsg.Truncate(l, room)
			if cut == "" {
				// No rune starts in the first room bytes: not UTF-8,
				// which the stream never lets through; cut the bytes
				// rather than loop.
				cut = l[:room]
			}
			if i := strings.LastIndexByte(cut, ' '); i > room/2 {
				cut = cut[:i+1]
			}
			out = append(out, part{cut, concat})
			l, concat = l[len(cut):], true
		}
		if l != "" || !concat {
			out = append(out, part{l, concat})
		}
	}
	return out
}

// multilineBatch is a message of several parts as a draft/multiline
// batch: the tags (message id, time, account, client tags) on the
// opening BATCH, the parts inside.
func multilineBatch(tags []ircmsg.Tag, source, command, target string, ps []part) []ircmsg.Message {
	ref := randomID(8)
	out := []ircmsg.Message{{Tags: tags, Source: source, Command: "BATCH", Params: []string{"+" + ref, capMultiline, target}}}
	for _, p := range ps {
		m := ircmsg.Message{Tags: []ircmsg.Tag{{Key: "batch", Value: ref}}, Source: source, Command: command, Params: []string{target, p.text}}
		if p.concat {
			m.Tags = append(m.Tags, ircmsg.Tag{Key: tagConcat})
		}
		out = append(out, m)
	}
	return append(out, ircmsg.Message{Source: source, Command: "BATCH", Params: []string{"-" + ref}})
}

// isMultilineBatch reports whether lines are one multiline batch, from
// its opening BATCH to its closing one.
func isMultilineBatch(lines []ircmsg.Message) bool {
	first, last := lines[0], lines[len(lines)-1]
	return first.Command == "BATCH" && first.Param(1) == capMultiline && strings.HasPrefix(first.Param(0), "+") &&
		last.Command == "BATCH" && last.Param(0) == "-"+first.Param(0)[1:]
}
