// Package ircmsg parses and serializes IRC protocol lines: the message
// format of RFC 1459 §2.3.1 as modern IRC uses it (Modern IRC Client
// Protocol, "Message format"), with IRCv3 message tags
// (https://ircv3.net/specs/extensions/message-tags) and the limits of
// both: 512 bytes for the message including CR LF, and 8191 bytes for the
// tags including the leading '@' and the space after them.
//
// It does no I/O: a transport reads a line (up to MaxLine bytes) and
// hands it to Parse without its line ending.
package ircmsg

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Limits of one line (message-tags §"Size limit", RFC 1459 §2.3).
const (
	// MaxTags is the most bytes of the tags part: '@', the tags and the
	// space that ends them.
	MaxTags = 8191
	// MaxBody is the most bytes of the rest of a line, CR LF included.
	MaxBody = 512
	// MaxLine is the most bytes of a whole line with its ending.
	MaxLine = MaxTags + MaxBody
	// MaxParams is the most parameters a message has (RFC 1459 §2.3.1).
	MaxParams = 15
	// MaxClientTags bounds the tags part a client may send
	// (message-tags: 4094 bytes of client-only tags, plus '@' and space).
	MaxClientTags = 4096
)

// Errors of Parse.
var (
	ErrEmpty       = errors.New("ircmsg: empty message")
	ErrTooLong     = errors.New("ircmsg: line too long")
	ErrTagsTooLong = errors.New("ircmsg: tags too long")
	ErrInvalidUTF8 = errors.New("ircmsg: invalid UTF-8")
	ErrMalformed   = errors.New("ircmsg: malformed message")
)

// Tag is one message tag. A tag without a value has Value "".
type Tag struct {
	Key   string
	Value string
}

// Message is one IRC message.
type Message struct {
	Tags    []Tag
	Source  string // prefix without ':', "" when absent
	Command string // upper case
	Params  []string
}

// New returns a message with a command and parameters.
func New(command string, params ...string) Message {
	return Message{Command: command, Params: params}
}

// Tag returns the value of a tag and whether it is present.
func (m Message) Tag(key string) (string, bool) {
	for _, t := range m.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// SetTag sets a tag, replacing one with the same key.
func (m *Message) SetTag(key, value string) {
	for i, t := range m.Tags {
		if t.Key == key {
			m.Tags[i].Value = value
			return
		}
	}
	m.Tags = append(m.Tags, Tag{key, value})
}

// Param returns parameter i, or "" when there are fewer.
func (m Message) Param(i int) string {
	if i < len(m.Params) {
		return m.Params[i]
	}
	return ""
}

// Parse parses one line without its CR LF (a trailing CR or LF is
// tolerated and removed). Tags are unescaped; a tag that appears twice
// keeps its last value (message-tags §"Format"). The line must be valid
// UTF-8 (ErrInvalidUTF8 says so, so that the caller can answer it) and
// must not contain NUL, CR or LF.
func Parse(line string) (Message, error) {
	line = strings.TrimRight(line, "\r\n")
	var m Message
	if strings.ContainsAny(line, "\x00\r\n") {
		return m, ErrMalformed
	}
	if line != "" && line[0] == '@' {
		end := strings.IndexByte(line, ' ')
		if end < 0 {
			return m, ErrMalformed
		}
		if end+1 > MaxTags {
			return m, ErrTagsTooLong
		}
		for _, raw := range strings.Split(line[1:end], ";") {
			if raw == "" {
				continue
			}
			k, v, _ := strings.Cut(raw, "=")
			if !validKey(k) {
				return m, ErrMalformed
			}
			m.SetTag(k, unescapeTag(v))
		}
		line = strings.TrimLeft(line[end+1:], " ")
	}
	if len(line)+2 > MaxBody {
		return m, ErrTooLong
	}
	if !utf8.ValidString(line) {
		return m, ErrInvalidUTF8
	}
	for _, t := range m.Tags {
		if !utf8.ValidString(t.Value) {
			return m, ErrInvalidUTF8
		}
	}
	if line != "" && line[0] == ':' {
		end := strings.IndexByte(line, ' ')
		if end < 0 {
			return m, ErrMalformed
		}
		if end == 1 {
			return m, ErrMalformed // an empty source
		}
		m.Source = line[1:end]
		line = strings.TrimLeft(line[end+1:], " ")
	}
	cmd, rest, _ := strings.Cut(line, " ")
	if cmd == "" {
		return m, ErrEmpty
	}
	if cmd[0] == ':' || cmd[0] == '@' {
		return m, ErrMalformed
	}
	for i := 0; i < len(cmd); i++ {
		// Commands are letters or three digits; anything else printable
		// is still read, so that the server can answer "unknown
		// command" (ERR_UNKNOWNCOMMAND) instead of ignoring it.
		if c := cmd[i]; c <= ' ' || c == 0x7f {
			return m, ErrMalformed
		}
	}
	m.Command = strings.ToUpper(cmd)
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			break
		}
		if rest[0] == ':' || len(m.Params) == MaxParams-1 {
			// RFC 1459 §2.3.1: the 15th parameter takes the rest of
			// the line, colon or not.
			m.Params = append(m.Params, strings.TrimPrefix(rest, ":"))
			break
		}
		p, r, _ := strings.Cut(rest, " ")
		m.Params = append(m.Params, p)
		rest = r
	}
	return m, nil
}

// validKey reports whether k is a tag key: an optional '+' (client-only
// tag), an optional vendor ending in '/', and a name of letters, digits
// and '-'.
func validKey(k string) bool {
	k = strings.TrimPrefix(k, "+")
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '/') {
			return false
		}
	}
	return k[len(k)-1] != '/'
}

// unescapeTag undoes the tag value escaping of message-tags §"Escaping
// values": \: is ';', \s is space, \\ is '\', \r and \n are CR and LF;
// another escaped character stands for itself and a trailing '\' is
// dropped.
func unescapeTag(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(v) {
			break
		}
		switch v[i] {
		case ':':
			b.WriteByte(';')
		case 's':
			b.WriteByte(' ')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

func appendEscapedTag(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ';':
			b = append(b, `\:`...)
		case ' ':
			b = append(b, `\s`...)
		case '\\':
			b = append(b, `\\`...)
		case '\r':
			b = append(b, `\r`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// Append appends the message as one line with CR LF. Parameters other
// than the last must not be empty, start with ':' or contain a space;
// the last one gets a ':' when it needs one. CR, LF and NUL in
// parameters are replaced by spaces so that a message can never become
// two.
func (m Message) Append(b []byte) []byte {
	if len(m.Tags) > 0 {
		b = append(b, '@')
		for i, t := range m.Tags {
			if i > 0 {
				b = append(b, ';')
			}
			b = append(b, t.Key...)
			if t.Value != "" {
				b = append(b, '=')
				b = appendEscapedTag(b, t.Value)
			}
		}
		b = append(b, ' ')
	}
	if m.Source != "" {
		b = append(b, ':')
		b = appendClean(b, m.Source)
		b = append(b, ' ')
	}
	b = append(b, m.Command...)
	for i, p := range m.Params {
		b = append(b, ' ')
		if i == len(m.Params)-1 && (p == "" || p[0] == ':' || strings.ContainsAny(p, " \r\n\x00")) {
			b = append(b, ':')
		}
		b = appendClean(b, p)
	}
	return append(b, '\r', '\n')
}

func appendClean(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' || c == 0 {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

// String returns the line without its CR LF.
func (m Message) String() string {
	b := m.Append(nil)
	return string(b[:len(b)-2])
}

// Truncate cuts s to at most n bytes at a UTF-8 boundary.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
