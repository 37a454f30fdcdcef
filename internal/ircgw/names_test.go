package ircgw

import (
	"testing"
	"unicode/utf8"

	"samtal.org/samtal/internal/jid"
)

func TestNames(t *testing.T) {
	const host = "example.org"
	users := []struct {
		jid, nick string
	}{
		{"alice@example.org", "alice"},
		{"o.brien@example.org", "o|2e|brien"},
		{"9lives@example.org", "|39|lives"},
		{"a|b@example.org", "a|7c|b"},
		{"romeo@remote.example", "romeo|40|remote|2e|example"},
		{"zoë@example.org", "zoë"},
	}
	for _, u := range users {
		j := jid.MustParse(u.jid)
		if got := NickFor(j, host); got != u.nick {
			t.Errorf("NickFor(%s) = %q, want %q", u.jid, got, u.nick)
		}
		if got, ok := UserFor(u.nick, host); !ok || !got.Equal(j) {
			t.Errorf("UserFor(%q) = %v, %v, want %s", u.nick, got, ok, u.jid)
		}
	}
	for _, bad := range []string{"", "a|2e", "|61|", "a|2E|b|", "a.b", "alice|40|example|2e|org", "|0|", "a b"} {
		if j, ok := UserFor(bad, host); ok {
			t.Errorf("UserFor(%q) = %v, want no user", bad, j)
		}
	}
	if j, ok := UserFor("Alice", host); !ok || j.String() != "alice@example.org" {
		t.Errorf("UserFor(Alice) = %v, %v", j, ok)
	}

	rooms := []struct{ room, channel string }{
		{"samtal@conference.example.org", "#samtal"},
		{"dev.talk@conference.example.org", "#dev.talk"},
		{"café@conference.example.org", "#café"},
		{"a,b;c@conference.example.org", "#a|2c|b|3b|c"},
	}
	for _, r := range rooms {
		j := jid.MustParse(r.room)
		if got := ChannelFor(j); got != r.channel {
			t.Errorf("ChannelFor(%s) = %q, want %q", r.room, got, r.channel)
		}
		if got, ok := RoomFor(r.channel, "conference.example.org"); !ok || !got.Equal(j) {
			t.Errorf("RoomFor(%q) = %v, %v, want %s", r.channel, got, ok, r.room)
		}
	}
	if j, ok := RoomFor("#SAMTAL", "conference.example.org"); !ok || j.Local() != "samtal" {
		t.Errorf("RoomFor(#SAMTAL) = %v, %v", j, ok)
	}
	for _, bad := range []string{"#", "samtal", "#a|", "#Été", "#a@b", "#|61|"} {
		if j, ok := RoomFor(bad, "conference.example.org"); ok {
			t.Errorf("RoomFor(%q) = %v, want no room", bad, j)
		}
	}
	for _, n := range []string{"Romeo", "Juliet Capulet", "|", "-x", "🙂"} {
		if got, ok := OccupantNick(IRCNick(n)); !ok || got != n {
			t.Errorf("OccupantNick(IRCNick(%q)) = %q, %v", n, got, ok)
		}
	}
}

// FuzzNames checks that the escaping is injective and always gives a
// valid IRC name: every string that escapes comes back unchanged, and
// an IRC name names at most one room.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"alice", "o.brien", "a|b", "Juliet Capulet", "9", "-", "#", "é", "\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // lines are checked for UTF-8 before names are read
		}
		for _, nick := range []bool{true, false} {
			e := escape(s, nick)
			for _, c := range []byte(e) {
				if c <= ' ' || c == ',' || c == ':' || c == '@' || c == '!' && nick || c == 0x7f {
					t.Fatalf("escape(%q, %v) = %q has %q", s, nick, e, c)
				}
			}
			if s == "" {
				continue
			}
			if u, ok := unescape(e, nick); !ok || u != s {
				t.Fatalf("unescape(escape(%q, %v)) = %q, %v", s, nick, u, ok)
			}
		}
		if r, ok := RoomFor(s, "conference.example.org"); ok {
			if ChannelFor(r) != foldASCII(s) {
				t.Fatalf("RoomFor(%q) = %s, whose channel is %q", s, r, ChannelFor(r))
			}
		}
		if u, ok := UserFor(s, "example.org"); ok {
			if foldASCII(NickFor(u, "example.org")) != foldASCII(s) {
				t.Fatalf("UserFor(%q) = %s, whose nick is %q", s, u, NickFor(u, "example.org"))
			}
		}
	})
}
