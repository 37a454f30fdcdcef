package sasl

import (
	"bytes"
	"strings"
	"testing"
)

// fuzzConfig keeps iteration counts low so that the fuzzer spends its
// time in the parsers, not in PBKDF2.
func fuzzConfig(f *testing.F) Config {
	bindings := []ChannelBinding{
		{Type: CBTLSExporter, Data: []byte("exporter data, 32 bytes long....")},
		{Type: CBTLSServerEndPoint, Data: []byte("certificate hash")},
	}
	return Config{
		Creds:      newCreds(f, 2, []Hash{SHA1, SHA256}, "juliet", "pencil", "ju,l=iet", "pencil"),
		TLS:        true,
		Bindings:   bindings,
		Advertised: Names(true, bindings),
		FakeSecret: testSecret,
		Iterations: 2,
	}
}

// checkStep checks what holds for every Step result.
func checkStep(t *testing.T, out []byte, done bool, err error) {
	t.Helper()
	if err != nil && (out != nil || done) {
		t.Fatalf("Step = %q, %v, %v: output with an error", out, done, err)
	}
}

func FuzzSCRAMClientFirst(f *testing.F) {
	cfg := fuzzConfig(f)
	for _, s := range []string{
		"n,,n=juliet,r=fyko+d2lbbFgONRv9qkxdawL",
		"y,a=juliet@example.com,n=ju=2Cl=3Diet,r=abc,x=ext",
		"p=tls-exporter,,n=juliet,r=abc",
		"n,,m=ext,n=juliet,r=abc",
		"n,,n=nobody,r=abc",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, mech := range []string{SCRAMSHA256, SCRAMSHA1Plus} {
			e, err := Start(mech, cfg)
			if err != nil {
				t.Fatal(err)
			}
			out, done, err := e.Step(in)
			checkStep(t, out, done, err)
			if done {
				t.Fatalf("Step(%q) finished after client-first", in)
			}
			if err == nil && len(in) > 0 && !bytes.HasPrefix(out, []byte("r=")) {
				t.Fatalf("Step(%q) = %q, not a server-first-message", in, out)
			}
		}
	})
}

func FuzzSCRAMClientFinal(f *testing.F) {
	cfg := fuzzConfig(f)
	const first = "n,,n=juliet,r=fyko+d2lbbFgONRv9qkxdawL"
	const snonce = "3rfcNHYJY1ZVvWVs7j"
	// A correct client-final for the fixed nonces, and variations.
	c := &client{user: "juliet", pass: "pencil", hash: SHA256, advertised: cfg.Advertised, cbTypes: ChannelBindingTypes(cfg.Bindings)}
	e, err := Start(SCRAMSHA256, cfg)
	if err != nil {
		f.Fatal(err)
	}
	e.scram.snonce = snonce
	sf, _, err := e.Step(c.first())
	if err != nil {
		f.Fatal(err)
	}
	good, err := c.final(sf)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(strings.Replace(string(good), ",p=", ",x=y,p=", 1)))
	f.Add([]byte("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=AAAA"))
	f.Add([]byte("c=biws,r=x"))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := Start(SCRAMSHA256, cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.scram.snonce = snonce
		if _, _, err := e.Step([]byte(first)); err != nil {
			t.Fatal(err)
		}
		out, done, err := e.Step(in)
		checkStep(t, out, done, err)
		if done && (!bytes.HasPrefix(out, []byte("v=")) || !bytes.Equal(in, good)) {
			t.Fatalf("Step(%q) = %q: success with a message other than the correct one", in, out)
		}
	})
}

func FuzzPLAIN(f *testing.F) {
	cfg := fuzzConfig(f)
	for _, s := range []string{
		"\x00juliet\x00pencil",
		"juliet@example.com\x00JULIET\x00pencil",
		"\x00juliet\x00wrong",
		"\x00nobody\x00pencil",
		"a\x00b",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := Start(Plain, cfg)
		if err != nil {
			t.Fatal(err)
		}
		out, done, err := e.Step(in)
		checkStep(t, out, done, err)
		if done {
			fields := bytes.Split(in, []byte{0})
			if len(fields) != 3 || string(fields[2]) != "pencil" || (e.Username() != "juliet" && e.Username() != "ju,l=iet") {
				t.Fatalf("PLAIN accepted %q as %q", in, e.Username())
			}
		}
	})
}
