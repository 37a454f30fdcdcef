package main

import "testing"

func TestStampFrom(t *testing.T) {
	for _, c := range []struct{ msg, want string }{
		{"<message to='b@x/r'><body>hi</body></message>", "<message from='a@x/r' to='b@x/r'><body>hi</body></message>"},
		{"<message/>", "<message from='a@x/r'/>"},
	} {
		got := string(stampFrom([]byte("queued"), []byte(c.msg), []byte(" from='a@x/r'")))
		if got != "queued"+c.want {
			t.Errorf("stampFrom(%q) = %q, want %q", c.msg, got, "queued"+c.want)
		}
	}
}
