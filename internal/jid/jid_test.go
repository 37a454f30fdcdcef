package jid_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"samtal.org/samtal/internal/jid"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in             string
		local, dom, res      string
		want                 string // canonical String(); "" means in
		bare, full, isDomain bool
	}{
		// RFC 7622 §3.5.1: valid JIDs.
		{name: "rfc bare", in: "juliet@example.com", local: "juliet", dom: "example.com", bare: true},
		{name: "rfc full", in: "juliet@example.com/foo", local: "juliet", dom: "example.com", res: "foo", full: true},
		{name: "rfc space in resource", in: "juliet@example.com/foo bar", local: "juliet", dom: "example.com", res: "foo bar", full: true},
		{name: "rfc at in resource", in: "juliet@example.com/foo@bar", local: "juliet", dom: "example.com", res: "foo@bar", full: true},
		{name: "rfc escaped space", in: `foo\20bar@example.com`, local: `foo\20bar`, dom: "example.com", bare: true},
		{name: "rfc fussball", in: "fussball@example.com", local: "fussball", dom: "example.com", bare: true},
		{name: "rfc sharp s", in: "fußball@example.com", local: "fußball", dom: "example.com", bare: true},
		{name: "rfc pi", in: "π@example.com", local: "π", dom: "example.com", bare: true},
		{name: "rfc capital sigma", in: "Σ@example.com/foo", local: "σ", dom: "example.com", res: "foo", want: "σ@example.com/foo", full: true},
		{name: "rfc small sigma", in: "σ@example.com/foo", local: "σ", dom: "example.com", res: "foo", full: true},
		{name: "rfc final sigma", in: "ς@example.com/foo", local: "ς", dom: "example.com", res: "foo", full: true},
		{name: "rfc symbol in resource", in: "king@example.com/♚", local: "king", dom: "example.com", res: "♚", full: true},
		{name: "rfc domain", in: "example.com", dom: "example.com", bare: true, isDomain: true},
		{name: "rfc domain resource", in: "example.com/foobar", dom: "example.com", res: "foobar", full: true},
		{name: "rfc jid in resource", in: "a.example.com/b@example.net", dom: "a.example.com", res: "b@example.net", full: true},

		// Preparation.
		{name: "upper case", in: "Juliet@Example.COM/Balcony", local: "juliet", dom: "example.com", res: "Balcony", want: "juliet@example.com/Balcony", full: true},
		{name: "upper case domain only", in: "EXAMPLE.com", dom: "example.com", want: "example.com", bare: true, isDomain: true},
		{name: "trailing dot", in: "juliet@example.com.", local: "juliet", dom: "example.com", want: "juliet@example.com", bare: true},
		{name: "trailing dot full", in: "juliet@example.com./r", local: "juliet", dom: "example.com", res: "r", want: "juliet@example.com/r", full: true},
		{name: "slash in resource", in: "a@b/c/d", local: "a", dom: "b", res: "c/d", full: true},
		{name: "at after slash", in: "a/b@c", dom: "a", res: "b@c", full: true},
		{name: "resource spaces", in: "juliet@example.com/ foo ", local: "juliet", dom: "example.com", res: " foo ", full: true},
		{name: "resource case kept", in: "a@b/ÄÖ", local: "a", dom: "b", res: "ÄÖ", full: true},
		{name: "resource nbsp mapped", in: "a@b/x\u00a0y", local: "a", dom: "b", res: "x y", want: "a@b/x y", full: true},
		{name: "resource NFC", in: "a@b/Re\u0301s", local: "a", dom: "b", res: "Rés", want: "a@b/Rés", full: true},
		{name: "local NFC", in: "e\u0301@example.com", local: "é", dom: "example.com", want: "é@example.com", bare: true},
		{name: "local full width", in: "ｊｕｌｉｅｔ@example.com", local: "juliet", dom: "example.com", want: "juliet@example.com", bare: true},
		{name: "local upper unicode", in: "ÉLODIE@example.com", local: "élodie", dom: "example.com", want: "élodie@example.com", bare: true},
		{name: "local ascii symbols", in: "a!#$%*+-=?^_`{|}~.b@example.com", local: "a!#$%*+-=?^_`{|}~.b", dom: "example.com", bare: true},

		// Domainparts.
		{name: "idn", in: "bücher.example", dom: "bücher.example", bare: true, isDomain: true},
		{name: "idn upper", in: "BÜCHER.example", dom: "bücher.example", want: "bücher.example", bare: true, isDomain: true},
		{name: "a-label", in: "xn--bcher-kva.example", dom: "bücher.example", want: "bücher.example", bare: true, isDomain: true},
		{name: "a-label upper", in: "u@XN--BCHER-KVA.example", local: "u", dom: "bücher.example", want: "u@bücher.example", bare: true},
		{name: "ideographic full stop", in: "例え。テスト", dom: "例え.テスト", want: "例え.テスト", bare: true, isDomain: true},
		{name: "full width full stop", in: "a@b．c", local: "a", dom: "b.c", want: "a@b.c", bare: true},
		{name: "full width domain", in: "ＥＸＡＭＰＬＥ.com", dom: "example.com", want: "example.com", bare: true, isDomain: true},
		{name: "ipv4", in: "u@192.0.2.1/r", local: "u", dom: "192.0.2.1", res: "r", full: true},
		{name: "ipv6", in: "u@[2001:db8::1]", local: "u", dom: "[2001:db8::1]", bare: true},
		{name: "ipv6 canonical", in: "[2001:DB8:0:0::1]", dom: "[2001:db8::1]", want: "[2001:db8::1]", bare: true, isDomain: true},
		{name: "single label", in: "localhost", dom: "localhost", bare: true, isDomain: true},
		{name: "digit labels", in: "1.2.3.04", dom: "1.2.3.04", bare: true, isDomain: true},
		{name: "label 63", in: strings.Repeat("a", 63) + ".example", dom: strings.Repeat("a", 63) + ".example", bare: true, isDomain: true},
		{name: "inner hyphens", in: "a-b--c.example", dom: "a-b--c.example", bare: true, isDomain: true},

		// Lengths.
		{name: "local 1023", in: strings.Repeat("x", 1023) + "@d", local: strings.Repeat("x", 1023), dom: "d", bare: true},
		{name: "resource 1023", in: "d/" + strings.Repeat("x", 1023), dom: "d", res: strings.Repeat("x", 1023), full: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, parse := range []func(string) (jid.JID, error){jid.Parse, jid.ParseSlow} {
				j, err := parse(tc.in)
				if err != nil {
					t.Fatalf("Parse(%q) = %v, want nil error", tc.in, err)
				}
				want := tc.want
				if want == "" {
					want = tc.in
				}
				if got := j.String(); got != want {
					t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, want)
				}
				if j.Local() != tc.local || j.Domain() != tc.dom || j.Resource() != tc.res {
					t.Errorf("Parse(%q) = (%q, %q, %q), want (%q, %q, %q)", tc.in,
						j.Local(), j.Domain(), j.Resource(), tc.local, tc.dom, tc.res)
				}
				if j.IsBare() != tc.bare || j.IsFull() != tc.full || j.IsDomain() != tc.isDomain || j.IsZero() {
					t.Errorf("Parse(%q): bare, full, domain, zero = %v, %v, %v, %v; want %v, %v, %v, false", tc.in,
						j.IsBare(), j.IsFull(), j.IsDomain(), j.IsZero(), tc.bare, tc.full, tc.isDomain)
				}
				k, err := jid.New(tc.local, tc.dom, tc.res)
				if err != nil || k != j {
					t.Errorf("New(%q, %q, %q) = %v, %v; want %v", tc.local, tc.dom, tc.res, k, err, j)
				}
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct{ name, in string }{
		// RFC 7622 §3.5.2.
		{"rfc quotes", `"juliet"@example.com`},
		{"rfc space in localpart", "foo bar@example.com"},
		{"rfc empty local and resource", "@example.com/"},
		{"rfc compatibility character", "henryⅣ@example.com"},
		{"rfc symbol in localpart", "♚@example.com"},
		{"rfc empty domain", "juliet@"},
		{"rfc no domain", "/foobar"},

		{"empty", ""},
		{"at", "@"},
		{"slash", "/"},
		{"empty local", "@example.com"},
		{"empty resource", "example.com/"},
		{"empty domain with resource", "lp@/rp"},
		{"two at", "a@b@example.com"},
		{"ampersand", "b&d@example.net"},
		{"apostrophe", "b'd@example.net"},
		{"colon", "b:d@example.net"},
		{"less", "b<d@example.net"},
		{"greater", "b>d@example.net"},
		{"full width at", "a＠b@example.net"},
		{"nul in local", "a\x00@example.com"},
		{"tab in local", "a\t@example.com"},
		{"del in local", "a\x7f@example.com"},
		{"nul in domain", "foo@ex\x00ample.org"},
		{"nul in resource", "a@b/c\x00"},
		{"newline in resource", "a@b/c\nd"},
		{"invalid utf8 local", "\xff\xfe@example.com"},
		{"invalid utf8 domain", "\xff\xfe"},
		{"invalid utf8 resource", "example.com/\xff"},
		{"space in domain", "exa mple.com"},
		{"underscore in domain", "do_main.com"},
		{"leading hyphen", "user@-do-main.com"},
		{"trailing hyphen", "user@do-main-.com"},
		{"empty label", "user@conference..example.org"},
		{"only dot", "."},
		{"two trailing dots", "example.com.."},
		{"leading dot", ".example.com"},
		{"reserved label", "ab--cd.example"},
		{"label 64", strings.Repeat("a", 64) + ".example"},
		{"bad a-label", "xn--a.example"},
		{"ascii a-label", "xn--abc-.example"},
		{"non canonical a-label", "xn--bcher-KVA0.example"},
		{"a-label of upper case", "xn--bcher-2pa.example"}, // "bÜcher"
		{"idn symbol", "♚.example"},
		{"idn combining mark first", "\u0301a.example"},
		{"ipv4 literal", "[127.0.0.1]"},
		{"open bracket", "[::1"},
		{"close bracket", "::1]"},
		{"zone", "[fe80::1%eth0]"},
		{"bracket garbage", "[example.com]"},
		{"local 1024", strings.Repeat("x", 1024) + "@d"},
		{"resource 1024", "d/" + strings.Repeat("x", 1024)},
		{"domain 1024", strings.Repeat(strings.Repeat("a", 63)+".", 16) + "b"},
		{"huge", strings.Repeat("a", 20000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, parse := range []func(string) (jid.JID, error){jid.Parse, jid.ParseSlow} {
				j, err := parse(tc.in)
				if !errors.Is(err, jid.ErrMalformed) {
					t.Errorf("Parse(%q) = %q, %v; want ErrMalformed", tc.in, j, err)
				}
			}
		})
	}
}

func TestNew(t *testing.T) {
	j, err := jid.New("Juliet", "Example.com", "Balcony")
	if err != nil || j.String() != "juliet@example.com/Balcony" {
		t.Errorf(`New("Juliet", "Example.com", "Balcony") = %q, %v; want "juliet@example.com/Balcony"`, j, err)
	}
	for _, tc := range []struct{ l, d, r string }{
		{"b@d", "example.net", ""},
		{"b/d", "example.net", ""},
		{"e", "", ""},
		{"e", "[example.net]", ""},
		{"e", "example.net/r", ""},
		{"e", "a@example.net", ""},
		{"", "example.net", "\x00"},
		{strings.Repeat("a", 1024), "example.net", ""},
	} {
		if j, err := jid.New(tc.l, tc.d, tc.r); !errors.Is(err, jid.ErrMalformed) {
			t.Errorf("New(%q, %q, %q) = %q, %v; want ErrMalformed", tc.l, tc.d, tc.r, j, err)
		}
	}
}

func TestDerived(t *testing.T) {
	j := jid.MustParse("juliet@example.com/balcony")
	if got, want := j.Bare(), jid.MustParse("juliet@example.com"); got != want {
		t.Errorf("Bare() = %q, want %q", got, want)
	}
	if got, want := j.Domainpart(), jid.MustParse("example.com"); got != want || !got.IsDomain() {
		t.Errorf("Domainpart() = %q, want %q", got, want)
	}
	if got, want := jid.MustParse("example.com/r").Bare(), jid.MustParse("example.com"); got != want {
		t.Errorf("Bare() = %q, want %q", got, want)
	}
	k, err := j.WithResource("Orchard ☘")
	if want := jid.MustParse("juliet@example.com/Orchard ☘"); err != nil || k != want {
		t.Errorf("WithResource() = %q, %v; want %q", k, err, want)
	}
	if k, err := j.WithResource(""); err != nil || k != j.Bare() {
		t.Errorf(`WithResource("") = %q, %v; want %q`, k, err, j.Bare())
	}
	if k, err := j.WithResource("a\x00"); !errors.Is(err, jid.ErrMalformed) {
		t.Errorf("WithResource(NUL) = %q, %v; want ErrMalformed", k, err)
	}
	if k, err := (jid.JID{}).WithResource("r"); !errors.Is(err, jid.ErrMalformed) {
		t.Errorf("JID{}.WithResource() = %q, %v; want ErrMalformed", k, err)
	}
	d, err := jid.MustParse("example.com").WithResource("r")
	if err != nil || d.String() != "example.com/r" || d.Local() != "" {
		t.Errorf("WithResource on domain = %q, %v; want example.com/r", d, err)
	}

	var z jid.JID
	if !z.IsZero() || z.IsBare() || z.IsFull() || z.IsDomain() || z.String() != "" ||
		z.Local() != "" || z.Domain() != "" || z.Resource() != "" || z.Bare() != z || z.Domainpart() != z {
		t.Errorf("zero JID is not empty: %#v", z)
	}

	// Equal JIDs built in different ways are the same map key.
	m := map[jid.JID]int{jid.MustParse("JULIET@example.COM/r"): 1}
	if m[j.Bare().Domainpart()] != 0 || m[jid.MustParse("juliet@example.com/r")] != 1 {
		t.Errorf("map lookup by equal JID failed")
	}
	if !j.Equal(jid.MustParse("Juliet@Example.com./balcony")) || j.Equal(j.Bare()) {
		t.Errorf("Equal disagrees with preparation")
	}
}

func TestText(t *testing.T) {
	j := jid.MustParse("juliet@example.com/balcony")
	b, err := j.MarshalText()
	if err != nil || string(b) != j.String() {
		t.Fatalf("MarshalText() = %q, %v", b, err)
	}
	var k jid.JID
	if err := k.UnmarshalText([]byte("Juliet@example.com/balcony")); err != nil || k != j {
		t.Errorf("UnmarshalText() = %q, %v; want %q", k, err, j)
	}
	if err := k.UnmarshalText(nil); err != nil || !k.IsZero() {
		t.Errorf("UnmarshalText(nil) = %q, %v; want zero", k, err)
	}
	if err := k.UnmarshalText([]byte("@")); !errors.Is(err, jid.ErrMalformed) {
		t.Errorf("UnmarshalText(@) = %v, want ErrMalformed", err)
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("MustParse(\"@\") did not panic")
		}
	}()
	jid.MustParse("@")
}

// TestFastPath checks every ASCII byte in every position of every part
// against the PRECIS reference (the differential that FuzzParse runs on
// random input), so that the fast path's byte classes are exact.
func TestFastPath(t *testing.T) {
	var inputs []string
	for c := 0; c < 0x80; c++ {
		b := string(rune(c))
		for _, f := range []string{
			"%s", "%sa@b", "a%s@b", "a%s@b/c", "a@%s", "a@b%s", "a@%sb", "a@b.%s", "a@b-%s", "a@b/%s",
			"a@b/c%s", "%s@b/c", "ab%s-c.d", "ab-%s.d", "a@xn--%s", "a@b/%s%s",
		} {
			inputs = append(inputs, strings.ReplaceAll(f, "%s", b))
		}
	}
	for _, s := range inputs {
		fast, errFast := jid.Parse(s)
		slow, errSlow := jid.ParseSlow(s)
		if fast != slow || (errFast == nil) != (errSlow == nil) {
			t.Errorf("Parse(%q) = %q, %v; slow path gives %q, %v", s, fast, errFast, slow, errSlow)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"juliet@example.com/balcony", 0},
		{"example.com", 0},
		{"Juliet@Example.com/Balcony", 1},
		{"juliet@example.com./balcony", 1},
	} {
		if got := testing.AllocsPerRun(100, func() { _, _ = jid.Parse(tc.in) }); got != tc.want {
			t.Errorf("Parse(%q) allocates %v times, want %v", tc.in, got, tc.want)
		}
	}
	j := jid.MustParse("juliet@example.com/balcony")
	if got := testing.AllocsPerRun(100, func() { _ = j.Bare().Domainpart().String() }); got != 0 {
		t.Errorf("Bare().Domainpart().String() allocates %v times, want 0", got)
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"ascii", "juliet@example.com/balcony"},
		{"ascii-upper", "Juliet@Example.com/Balcony"},
		{"unicode", "fußball@bücher.example/♚ König"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jid.Parse(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The same ASCII JID through PRECIS, for comparison.
	b.Run("ascii-precis", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jid.ParseSlow("juliet@example.com/balcony"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func ExampleParse() {
	j, err := jid.Parse("Juliet@Example.com/Balcony")
	if err != nil {
		panic(err)
	}
	fmt.Println(j)
	fmt.Println(j.Bare())
	fmt.Println(j.Local(), j.Domain(), j.Resource())
	// Output:
	// juliet@example.com/Balcony
	// juliet@example.com
	// juliet example.com Balcony
}
