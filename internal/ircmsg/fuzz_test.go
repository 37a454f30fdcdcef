package ircmsg_test

import (
	"errors"
	"reflect"
	"testing"

	"samtal.org/samtal/internal/ircmsg"
)

// FuzzParse checks that every line that parses round-trips: parse →
// String → parse gives the same message, and that serializing never
// produces more than one line.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"PING :x", ":n!u@h PRIVMSG #c :hi there", `@a=b\s\:;c;+d/e=f PRIVMSG x :y`,
		"CAP LS 302", "AUTHENTICATE +", "TOPIC #a :", "C 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
		"@time=2026-01-01T00:00:00Z :s 001 n :Welcome", "\xff", "NICK \x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ircmsg.Parse(s)
		if err != nil {
			return
		}
		out := m.Append(nil)
		for i, c := range out[:len(out)-2] {
			if c == '\r' || c == '\n' || c == 0 {
				t.Fatalf("Parse(%q).Append has a line break or NUL at %d: %q", s, i, out)
			}
		}
		n, err := ircmsg.Parse(m.String())
		if errors.Is(err, ircmsg.ErrTooLong) {
			return // a ':' added to the last parameter
		}
		if err != nil {
			t.Fatalf("Parse(%q) → %q does not parse: %v", s, m.String(), err)
		}
		if len(n.Params) == 0 {
			n.Params = nil
		}
		if len(m.Params) == 0 {
			m.Params = nil
		}
		if !reflect.DeepEqual(m, n) {
			t.Fatalf("Parse(%q) = %#v; after a round trip %#v", s, m, n)
		}
	})
}
