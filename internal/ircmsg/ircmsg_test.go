package ircmsg_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"samtal.org/samtal/internal/ircmsg"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		line string
		want ircmsg.Message
		err  error
	}{
		{"simple", "PING :hello world", ircmsg.Message{Command: "PING", Params: []string{"hello world"}}, nil},
		{"lower case command", "privmsg #a :hi", ircmsg.Message{Command: "PRIVMSG", Params: []string{"#a", "hi"}}, nil},
		{"source", ":nick!u@h PRIVMSG #c :x y", ircmsg.Message{Source: "nick!u@h", Command: "PRIVMSG", Params: []string{"#c", "x y"}}, nil},
		{"tags", `@a=b\sc\:d;e;+f/g=\\ PING x`, ircmsg.Message{Tags: []ircmsg.Tag{{"a", "b c;d"}, {"e", ""}, {"+f/g", `\`}}, Command: "PING", Params: []string{"x"}}, nil},
		{"duplicate tag", `@a=1;a=2 PING`, ircmsg.Message{Tags: []ircmsg.Tag{{"a", "2"}}, Command: "PING"}, nil},
		{"empty trailing", "TOPIC #c :", ircmsg.Message{Command: "TOPIC", Params: []string{"#c", ""}}, nil},
		{"extra spaces", "USER  a  0 *  :real name", ircmsg.Message{Command: "USER", Params: []string{"a", "0", "*", "real name"}}, nil},
		{"crlf", "QUIT\r\n", ircmsg.Message{Command: "QUIT"}, nil},
		{"fifteen params", "C 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", ircmsg.Message{Command: "C", Params: []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15 16"}}, nil},
		{"empty", "", ircmsg.Message{}, ircmsg.ErrEmpty},
		{"only source", ":src", ircmsg.Message{}, ircmsg.ErrMalformed},
		{"nul", "PRIVMSG a :b\x00c", ircmsg.Message{}, ircmsg.ErrMalformed},
		{"bad utf8", "PRIVMSG a :\xff", ircmsg.Message{}, ircmsg.ErrInvalidUTF8},
		{"odd command", "NO_SUCH_CMD a", ircmsg.Message{Command: "NO_SUCH_CMD", Params: []string{"a"}}, nil},
		{"control in command", "PR\x01V a", ircmsg.Message{}, ircmsg.ErrMalformed},
		{"bad tag key", "@a=b;=c PING", ircmsg.Message{}, ircmsg.ErrMalformed},
		{"too long", "PRIVMSG a :" + strings.Repeat("x", 510), ircmsg.Message{}, ircmsg.ErrTooLong},
		{"tags too long", "@a=" + strings.Repeat("x", 8200) + " PING", ircmsg.Message{}, ircmsg.ErrTagsTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ircmsg.Parse(tc.line)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Parse(%q) error = %v, want %v", tc.line, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse(%q) = %#v, %v, want %#v", tc.line, got, err, tc.want)
			}
		})
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		m    ircmsg.Message
		want string
	}{
		{ircmsg.New("PING", "x"), "PING x"},
		{ircmsg.New("PRIVMSG", "#c", "hello world"), "PRIVMSG #c :hello world"},
		{ircmsg.New("PRIVMSG", "#c", ":)"), "PRIVMSG #c ::)"},
		{ircmsg.New("TOPIC", "#c", ""), "TOPIC #c :"},
		{ircmsg.Message{Source: "a!b@c", Command: "NOTICE", Params: []string{"x", "line1\r\nQUIT"}}, ":a!b@c NOTICE x :line1  QUIT"},
		{ircmsg.Message{Tags: []ircmsg.Tag{{"time", "2026-01-01T00:00:00.000Z"}, {"k", "a b;c\\"}, {"f", ""}}, Command: "PING", Params: []string{"x"}},
			`@time=2026-01-01T00:00:00.000Z;k=a\sb\:c\\;f PING x`},
	}
	for _, tc := range tests {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.m, got, tc.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := ircmsg.Truncate("héllo", 2); got != "h" {
		t.Errorf("Truncate = %q, want %q", got, "h")
	}
	if got := ircmsg.Truncate("abc", 5); got != "abc" {
		t.Errorf("Truncate = %q, want %q", got, "abc")
	}
}
