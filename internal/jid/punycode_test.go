package jid

import "testing"

func TestPunycode(t *testing.T) {
	// Generated with Python's "punycode" codec; (L), (B) and (M) are the
	// samples of RFC 3492 §7.1.
	for _, tc := range []struct{ u, p string }{
		{"bücher", "bcher-kva"},
		{"münchen", "mnchen-3ya"},
		{"3年B組金八先生", "3B-ww4c5e180e575a65lsy2b"},
		{"他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"},
		{"安室奈美恵-with-SUPER-MONKEYS", "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n"},
		{"ü", "tda"},
		{"例え", "r8jz45g"},
		{"テスト", "zckzah"},
		{"παράδειγμα", "hxajbheg2az3al"},
		{"\U0001F600", "e28h"},
	} {
		if got, ok := punyEncode(tc.u); !ok || got != tc.p {
			t.Errorf("punyEncode(%q) = %q, %v; want %q", tc.u, got, ok, tc.p)
		}
		if got, ok := punyDecode(tc.p); !ok || got != tc.u {
			t.Errorf("punyDecode(%q) = %q, %v; want %q", tc.p, got, ok, tc.u)
		}
	}
	for _, bad := range []string{"99999999999", "é-a", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "-!"} {
		if got, ok := punyDecode(bad); ok && punyEncodeEq(got, bad) {
			t.Errorf("punyDecode(%q) = %q, want an error or a non-canonical result", bad, got)
		}
	}
}

func punyEncodeEq(u, p string) bool {
	e, ok := punyEncode(u)
	return ok && e == p
}
