package sasl

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// vectorTest drives the server with the fixed messages of a published
// example and checks every server message byte for byte.
func vectorTest(t *testing.T, mech string, h Hash, salt64, snonce string, cfg Config,
	clientFirst, serverFirst, clientFinal, serverFinal string) {
	t.Helper()
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil {
		t.Fatal(err)
	}
	k, err := DeriveKeys(h, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Creds = memCreds{keys: map[string]map[Hash]Keys{"user": {h: k}}}
	cfg.FakeSecret = testSecret
	e, err := Start(mech, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.scram.snonce = snonce
	out, done, err := e.Step([]byte(clientFirst))
	if err != nil || done || string(out) != serverFirst {
		t.Fatalf("Step(%q) = %q, %v, %v; want %q", clientFirst, out, done, err, serverFirst)
	}
	out, done, err = e.Step([]byte(clientFinal))
	if err != nil || !done || string(out) != serverFinal {
		t.Fatalf("Step(%q) = %q, %v, %v; want %q", clientFinal, out, done, err, serverFinal)
	}
	if e.Username() != "user" || e.Authzid() != "" {
		t.Errorf("Username, Authzid = %q, %q; want user, none", e.Username(), e.Authzid())
	}
}

func TestRFC5802Vector(t *testing.T) {
	// RFC 5802 §5.
	vectorTest(t, SCRAMSHA1, SHA1, "QSXCR+Q6sek8bf92", "3rfcNHYJY1ZVvWVs7j", Config{},
		"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
}

func TestRFC7677Vector(t *testing.T) {
	// RFC 7677 §3.
	vectorTest(t, SCRAMSHA256, SHA256, "W22ZaJ0SNY7soEsUEjb6gQ==", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", Config{},
		"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
}

func TestXEP0474Vector(t *testing.T) {
	// XEP-0474 §5 (version 0.5.0): SCRAM-SHA-1-PLUS with tls-exporter, the
	// "h" attribute, and an optional "x" extension in client-final.
	cfg := Config{
		TLS:        true,
		Advertised: []string{SCRAMSHA1, SCRAMSHA1Plus},
		Bindings: []ChannelBinding{
			{Type: CBTLSExporter, Data: []byte("THIS IS FAKE CB DATA")},
			{Type: CBTLSServerEndPoint, Data: []byte("something else")},
		},
	}
	vectorTest(t, SCRAMSHA1Plus, SHA1, "QSXCR+Q6sek8bf92", "a09117a6-ac50-4f2f-93f1-93799c2bddf6", cfg,
		"p=tls-exporter,,n=user,r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6",
		"r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6a09117a6-ac50-4f2f-93f1-93799c2bddf6,s=QSXCR+Q6sek8bf92,i=4096,h=G6k/rBLDqgOhRRaCuuatSDFkJ08=",
		"c=cD10bHMtZXhwb3J0ZXIsLFRISVMgSVMgRkFLRSBDQiBEQVRB,r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6a09117a6-ac50-4f2f-93f1-93799c2bddf6,x=19C6532F-1CF4-4A27-A18D-DC9CEA41BBB3,p=M/SIDjT+dfcxUh89jZEypRvFxB4=",
		"v=MQrMPvv7yv4x4Cq4W4Ih25EqS2c=")
}

func TestSSDP(t *testing.T) {
	// XEP-0474 §5: the hash of
	// "SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point",
	// whatever order the lists come in.
	got := ssdp(SHA1, []string{SCRAMSHA1Plus, SCRAMSHA1}, []string{CBTLSServerEndPoint, CBTLSExporter})
	if want := "G6k/rBLDqgOhRRaCuuatSDFkJ08="; got != want {
		t.Errorf("ssdp = %q, want %q", got, want)
	}
	if a, b := ssdp(SHA256, []string{SCRAMSHA256}, nil), ssdp(SHA256, []string{SCRAMSHA256}, []string{CBTLSExporter}); a == b {
		t.Errorf("ssdp ignores the channel-binding types")
	}
}

func testConfig(t *testing.T) Config {
	bindings := []ChannelBinding{
		{Type: CBTLSExporter, Data: []byte("exporter data, 32 bytes long....")},
		{Type: CBTLSServerEndPoint, Data: []byte("certificate hash")},
	}
	return Config{
		Creds:      newCreds(t, 4096, []Hash{SHA1, SHA256}, "juliet", "pencil", "ju,l=iet", "p\u00e4ss wörd"),
		TLS:        true,
		Bindings:   bindings,
		Advertised: Names(true, bindings),
		FakeSecret: testSecret,
		Iterations: 4096,
	}
}

var allMechs = []string{SCRAMSHA256Plus, SCRAMSHA1Plus, SCRAMSHA256, SCRAMSHA1, Plain}

func newClient(cfg Config, mech, user, pass string) *client {
	c := &client{user: user, pass: pass, advertised: cfg.Advertised, cbTypes: ChannelBindingTypes(cfg.Bindings)}
	if strings.HasSuffix(mech, "-PLUS") {
		c.flag = "p=" + cfg.Bindings[0].Type
		c.cbData = cfg.Bindings[0].Data
	}
	return c
}

func TestMechanisms(t *testing.T) {
	cfg := testConfig(t)
	for _, mech := range allMechs {
		for _, cb := range []int{0, 1} {
			if cb == 1 && !strings.HasSuffix(mech, "-PLUS") {
				continue
			}
			t.Run(mech+"/"+cfg.Bindings[cb].Type, func(t *testing.T) {
				c := newClient(cfg, mech, "Juliet", "pencil")
				if cb == 1 {
					c.flag, c.cbData = "p="+cfg.Bindings[1].Type, cfg.Bindings[1].Data
				}
				e, _, err := run(t, cfg, mech, c)
				if err != nil {
					t.Fatalf("%s: %v", mech, err)
				}
				if e.Username() != "juliet" || e.Authzid() != "" || e.Mechanism() != mech {
					t.Errorf("Username, Authzid, Mechanism = %q, %q, %q; want juliet, none, %s", e.Username(), e.Authzid(), e.Mechanism(), mech)
				}
			})
		}
	}
}

func TestWrongPasswordAndUnknownUser(t *testing.T) {
	cfg := testConfig(t)
	shape := regexp.MustCompile(`^r=fyko\+d2lbbFgONRv9qkxdawL[A-Z2-7]{26},s=[A-Za-z0-9+/]{22}==,i=4096,h=[A-Za-z0-9+/=]+$`)
	for _, mech := range allMechs {
		t.Run(mech, func(t *testing.T) {
			_, sfWrong, errWrong := run(t, cfg, mech, newClient(cfg, mech, "juliet", "pencil2"))
			_, sfUnknown, errUnknown := run(t, cfg, mech, newClient(cfg, mech, "romeo", "pencil"))
			_, sfUnknown2, _ := run(t, cfg, mech, newClient(cfg, mech, "romeo", "other"))
			_, sfOther, _ := run(t, cfg, mech, newClient(cfg, mech, "tybalt", "pencil"))
			for _, err := range []error{errWrong, errUnknown} {
				if !errors.Is(err, ErrNotAuthorized) {
					t.Errorf("error = %v, want ErrNotAuthorized", err)
				}
			}
			if errWrong.Error() != errUnknown.Error() {
				t.Errorf("wrong password gives %q, unknown user %q", errWrong, errUnknown)
			}
			if mech == Plain {
				return
			}
			for _, sf := range []string{sfWrong, sfUnknown} {
				if !shape.MatchString(sf) {
					t.Errorf("server-first %q does not have the usual shape", sf)
				}
			}
			salt := func(sf string) string { return strings.Split(sf, ",")[1] }
			if salt(sfUnknown) != salt(sfUnknown2) {
				t.Errorf("unknown user gets salts %s and %s: not stable", salt(sfUnknown), salt(sfUnknown2))
			}
			if salt(sfUnknown) == salt(sfOther) {
				t.Errorf("two unknown users get the same salt")
			}
		})
	}
}

// TestDisabled: every mechanism tells a client that proved the password
// of a disabled account so, and a wrong password exactly what it would
// learn for any account.
func TestDisabled(t *testing.T) {
	cfg := testConfig(t)
	creds := cfg.Creds.(memCreds)
	for h, k := range creds.keys["juliet"] {
		k.Disabled = true
		creds.keys["juliet"][h] = k
	}
	for _, mech := range allMechs {
		t.Run(mech, func(t *testing.T) {
			if _, _, err := run(t, cfg, mech, newClient(cfg, mech, "juliet", "pencil")); !errors.Is(err, ErrAccountDisabled) {
				t.Errorf("the right password: %v, want ErrAccountDisabled", err)
			}
			_, _, errWrong := run(t, cfg, mech, newClient(cfg, mech, "juliet", "pencil2"))
			_, _, errUnknown := run(t, cfg, mech, newClient(cfg, mech, "romeo", "pencil2"))
			if !errors.Is(errWrong, ErrNotAuthorized) || errWrong.Error() != errUnknown.Error() {
				t.Errorf("a wrong password: %v; an unknown user: %v; want the same ErrNotAuthorized", errWrong, errUnknown)
			}
		})
	}
}

func TestPLAINSHA1Only(t *testing.T) {
	cfg := testConfig(t)
	cfg.Creds = newCreds(t, 4096, []Hash{SHA1}, "juliet", "pencil")
	if _, _, err := run(t, cfg, Plain, &client{user: "juliet", pass: "pencil"}); err != nil {
		t.Errorf("PLAIN with SHA-1 keys: %v", err)
	}
	if _, _, err := run(t, cfg, Plain, &client{user: "juliet", pass: "pencil2"}); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("PLAIN with SHA-1 keys, wrong password: %v, want ErrNotAuthorized", err)
	}
	// SCRAM-SHA-256 without SHA-256 keys fails like an unknown user.
	if _, _, err := run(t, cfg, SCRAMSHA256, newClient(cfg, SCRAMSHA256, "juliet", "pencil")); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("SCRAM-SHA-256 without keys: %v, want ErrNotAuthorized", err)
	}
}

func TestEscapingAndAuthzid(t *testing.T) {
	cfg := testConfig(t)
	for _, mech := range allMechs {
		t.Run(mech, func(t *testing.T) {
			c := newClient(cfg, mech, "ju,l=iet", "p\u00e4ss wörd")
			c.authzid = "ju,l=iet@example.com/a=b,c"
			if mech == Plain {
				c.authzid = "ju,l=iet@example.com"
			}
			e, _, err := run(t, cfg, mech, c)
			if err != nil {
				t.Fatal(err)
			}
			if e.Username() != "ju,l=iet" || e.Authzid() != c.authzid {
				t.Errorf("Username, Authzid = %q, %q; want %q, %q", e.Username(), e.Authzid(), "ju,l=iet", c.authzid)
			}
		})
	}
}

func TestChannelBinding(t *testing.T) {
	cfg := testConfig(t)
	tests := []struct {
		name   string
		mech   string
		flag   string
		cbData []byte
		cfg    func(*Config)
		want   error
	}{
		{name: "tampered data", mech: SCRAMSHA256Plus, flag: "p=tls-exporter", cbData: []byte("exporter data of another conn.."), want: ErrNotAuthorized},
		{name: "data of other type", mech: SCRAMSHA256Plus, flag: "p=tls-exporter", cbData: []byte("certificate hash"), want: ErrNotAuthorized},
		{name: "unsupported type", mech: SCRAMSHA256Plus, flag: "p=tls-unique", cbData: []byte("x"), want: ErrNotAuthorized},
		{name: "plus with n", mech: SCRAMSHA256Plus, flag: "n", want: ErrMalformed},
		{name: "plus with y", mech: SCRAMSHA1Plus, flag: "y", want: ErrMalformed},
		{name: "p without plus", mech: SCRAMSHA256, flag: "p=tls-exporter", cbData: []byte("exporter data, 32 bytes long...."), want: ErrMalformed},
		{name: "downgrade y", mech: SCRAMSHA256, flag: "y", want: ErrNotAuthorized},
		{name: "downgrade y, advertised nil", mech: SCRAMSHA256, flag: "y", want: ErrNotAuthorized,
			cfg: func(c *Config) { c.Advertised = nil }},
		{name: "y without plus offered", mech: SCRAMSHA256, flag: "y",
			cfg: func(c *Config) { c.Advertised = []string{SCRAMSHA256, SCRAMSHA1} }},
		{name: "y without bindings", mech: SCRAMSHA1, flag: "y",
			cfg: func(c *Config) { c.Advertised, c.Bindings = nil, nil }},
		{name: "n with plus offered", mech: SCRAMSHA256, flag: "n"},
		{name: "bad cb-name", mech: SCRAMSHA256Plus, flag: "p=tls_exporter", want: ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfg
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			c := newClient(cfg, tc.mech, "juliet", "pencil")
			c.flag, c.cbData = tc.flag, tc.cbData
			_, _, err := run(t, cfg, tc.mech, c)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("%s %s: %v, want %v", tc.mech, tc.flag, err, tc.want)
			}
		})
	}
}

// TestSSDPDowngrade shows the client side of XEP-0474: a mechanism list
// stripped by an attacker makes the client's hash differ.
func TestSSDPDowngrade(t *testing.T) {
	cfg := testConfig(t)
	c := newClient(cfg, SCRAMSHA1, "juliet", "pencil")
	c.advertised = []string{SCRAMSHA1} // what a MITM left
	c.hash = SHA1
	e, err := Start(SCRAMSHA1, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sf, _, err := e.Step(c.first())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.final(sf); err == nil || !strings.Contains(err.Error(), "downgrade") {
		t.Errorf("client accepted server-first %q after a downgrade: %v", sf, err)
	}
}

func TestSCRAMMalformed(t *testing.T) {
	cfg := testConfig(t)
	const nonce = "fyko+d2lbbFgONRv9qkxdawL"
	firsts := []struct {
		name, msg string
		want      error
	}{
		{"empty", "", ErrMalformed}, // after the empty challenge
		{"no header", "n=juliet,r=" + nonce, ErrMalformed},
		{"one comma", "n,n=juliet", ErrMalformed},
		{"bad flag", "x,,n=juliet,r=" + nonce, ErrMalformed},
		{"bad authzid", "n,b=x,n=juliet,r=" + nonce, ErrMalformed},
		{"empty authzid value", "n,a=,n=juliet,r=" + nonce, ErrMalformed},
		{"bad escape", "n,,n=ju=2cliet,r=" + nonce, ErrMalformed},
		{"bad escape authzid", "n,a=x=41,n=juliet,r=" + nonce, ErrMalformed},
		{"trailing equals", "n,,n=juliet=,r=" + nonce, ErrMalformed},
		{"mandatory extension", "n,,m=ext,n=juliet,r=" + nonce, ErrMalformed},
		{"no username", "n,,r=" + nonce, ErrMalformed},
		{"empty username", "n,,n=,r=" + nonce, ErrMalformed},
		{"no nonce", "n,,n=juliet", ErrMalformed},
		{"empty nonce", "n,,n=juliet,r=", ErrMalformed},
		{"space in nonce", "n,,n=juliet,r=a b", ErrMalformed},
		{"non-ascii nonce", "n,,n=juliet,r=ä", ErrMalformed},
		{"swapped", "n,,r=" + nonce + ",n=juliet", ErrMalformed},
		{"bad extension", "n,,n=juliet,r=" + nonce + ",xx", ErrMalformed},
		{"empty extension", "n,,n=juliet,r=" + nonce + ",", ErrMalformed},
		{"nul", "n,,n=jul\x00iet,r=" + nonce, ErrMalformed},
		{"invalid utf-8", "n,,n=jul\xffiet,r=" + nonce, ErrMalformed},
		{"too long", "n,,n=juliet,r=" + strings.Repeat("a", 9000), ErrMalformed},
	}
	for _, tc := range firsts {
		t.Run("first/"+tc.name, func(t *testing.T) {
			e, err := Start(SCRAMSHA256, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.msg == "" {
				if out, done, err := e.Step(nil); err != nil || done || len(out) != 0 {
					t.Fatalf("Step(nil) = %q, %v, %v; want an empty challenge", out, done, err)
				}
			}
			if out, done, err := e.Step([]byte(tc.msg)); !errors.Is(err, tc.want) || done || out != nil {
				t.Errorf("Step(%q) = %q, %v, %v; want %v", tc.msg, out, done, err, tc.want)
			}
			if _, _, err := e.Step([]byte("n,,n=juliet,r=" + nonce)); !errors.Is(err, ErrMalformed) {
				t.Errorf("Step after failure = %v, want ErrMalformed", err)
			}
		})
	}

	// A valid extension in client-first is ignored.
	c := newClient(cfg, SCRAMSHA256, "juliet", "pencil")
	c.ext = "x=ext=ension"
	if _, _, err := run(t, cfg, SCRAMSHA256, c); err != nil {
		t.Errorf("client-first with extension: %v", err)
	}

	// Client-final messages, each checked against a correct one.
	c = newClient(cfg, SCRAMSHA256, "juliet", "pencil")
	c.hash = SHA256
	e, err := Start(SCRAMSHA256, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sf, _, err := e.Step(c.first())
	if err != nil {
		t.Fatal(err)
	}
	good, err := c.final(sf)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(good), ",") // c=, r=, p=
	finals := []struct {
		name, msg string
		want      error
	}{
		{"empty", "", ErrMalformed},
		{"no proof", parts[0] + "," + parts[1], ErrMalformed},
		{"proof first", parts[2] + "," + parts[0] + "," + parts[1], ErrMalformed},
		{"no channel binding", parts[1] + "," + parts[2], ErrMalformed},
		{"proof not last", parts[0] + "," + parts[1] + "," + parts[2] + ",x=y", ErrMalformed},
		{"bad extension", parts[0] + "," + parts[1] + ",x," + parts[2], ErrMalformed},
		{"bad c base64", "c=biws!," + parts[1] + "," + parts[2], ErrIncorrectEncoding},
		{"bad p base64", parts[0] + "," + parts[1] + ",p=***", ErrIncorrectEncoding},
		{"unpadded c", "c=biw," + parts[1] + "," + parts[2], ErrIncorrectEncoding},
		{"wrong c", "c=eSws," + parts[1] + "," + parts[2], ErrNotAuthorized},
		{"wrong nonce", parts[0] + "," + parts[1] + "x," + parts[2], ErrNotAuthorized},
		{"short proof", parts[0] + "," + parts[1] + ",p=AAAA", ErrNotAuthorized},
		{"zero proof", parts[0] + "," + parts[1] + ",p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)), ErrNotAuthorized},
		{"nul", parts[0] + "," + parts[1] + ",x=\x00," + parts[2], ErrMalformed},
		{"invalid utf-8", parts[0] + "," + parts[1] + ",x=\xff," + parts[2], ErrMalformed},
	}
	snonce := e.scram.snonce
	for _, tc := range finals {
		t.Run("final/"+tc.name, func(t *testing.T) {
			e, err := Start(SCRAMSHA256, cfg)
			if err != nil {
				t.Fatal(err)
			}
			e.scram.snonce = snonce
			if got, _, err := e.Step(c.first()); err != nil || !bytes.Equal(got, sf) {
				t.Fatalf("server-first = %q, %v; want %q", got, err, sf)
			}
			if out, done, err := e.Step([]byte(tc.msg)); !errors.Is(err, tc.want) || done || out != nil {
				t.Errorf("Step(%q) = %q, %v, %v; want %v", tc.msg, out, done, err, tc.want)
			}
		})
	}
}

func TestPLAIN(t *testing.T) {
	cfg := testConfig(t)
	tests := []struct {
		name, msg string
		want      error
	}{
		{"ok", "\x00juliet\x00pencil", nil},
		{"ok with authzid", "juliet@example.com\x00juliet\x00pencil", nil},
		{"ok upper case", "\x00JULIET\x00pencil", nil},
		{"wrong password", "\x00juliet\x00Pencil", ErrNotAuthorized},
		{"unknown user", "\x00romeo\x00pencil", ErrNotAuthorized},
		{"unpreparable user", "\x00♚\x00pencil", ErrNotAuthorized},
		{"unpreparable password", "\x00juliet\x00pen\x01cil", ErrNotAuthorized},
		{"one field", "juliet", ErrMalformed},
		{"two fields", "juliet\x00pencil", ErrMalformed},
		{"four fields", "\x00juliet\x00pencil\x00", ErrMalformed},
		{"empty authcid", "\x00\x00pencil", ErrMalformed},
		{"empty password", "\x00juliet\x00", ErrMalformed},
		{"invalid utf-8", "\x00jul\xffiet\x00pencil", ErrMalformed},
		{"too long", "\x00" + strings.Repeat("j", 1024) + "\x00pencil", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Start(Plain, cfg)
			if err != nil {
				t.Fatal(err)
			}
			out, done, err := e.Step([]byte(tc.msg))
			if tc.want == nil && (err != nil || !done || out != nil) || tc.want != nil && (!errors.Is(err, tc.want) || done) {
				t.Errorf("Step(%q) = %q, %v, %v; want %v", tc.msg, out, done, err, tc.want)
			}
		})
	}

	// No initial response: an empty challenge first.
	e, err := Start(Plain, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if out, done, err := e.Step([]byte{}); err != nil || done || len(out) != 0 {
		t.Fatalf("Step(empty) = %q, %v, %v; want empty challenge", out, done, err)
	}
	if _, done, err := e.Step([]byte("\x00juliet\x00pencil")); err != nil || !done || e.Username() != "juliet" {
		t.Errorf("Step after empty challenge = %v, %v, user %q", done, err, e.Username())
	}
}

func TestStart(t *testing.T) {
	cfg := testConfig(t)
	noTLS := cfg
	noTLS.TLS, noTLS.Bindings, noTLS.Advertised = false, nil, Names(false, nil)
	scramOnly := cfg
	scramOnly.Advertised = []string{SCRAMSHA256}
	tests := []struct {
		name, mech string
		cfg        Config
		want       error
	}{
		{"unknown", "DIGEST-MD5", cfg, ErrInvalidMechanism},
		{"lower case", "plain", cfg, ErrInvalidMechanism},
		{"empty", "", cfg, ErrInvalidMechanism},
		{"plain without tls", Plain, noTLS, ErrEncryptionRequired},
		{"plus without bindings", SCRAMSHA256Plus, noTLS, ErrInvalidMechanism},
		{"not advertised", SCRAMSHA1, scramOnly, ErrInvalidMechanism},
		{"plain not advertised", Plain, scramOnly, ErrInvalidMechanism},
		{"advertised", SCRAMSHA256, scramOnly, nil},
		{"scram without tls", SCRAMSHA1, noTLS, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Start(tc.mech, tc.cfg); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Start(%q) = %v, want %v", tc.mech, err, tc.want)
			}
		})
	}

	for _, bad := range []Config{
		{FakeSecret: testSecret},
		{Creds: cfg.Creds},
		{Creds: cfg.Creds, FakeSecret: testSecret, Iterations: -1},
		{Creds: cfg.Creds, FakeSecret: testSecret, Bindings: []ChannelBinding{{Type: "tls unique", Data: []byte{1}}}},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", bad)
		}
		if _, err := Start(SCRAMSHA256, bad); err == nil {
			t.Errorf("Start with %+v succeeded", bad)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

func TestTemporaryFailure(t *testing.T) {
	cfg := testConfig(t)
	boom := errors.New("database on fire")
	cfg.Creds = memCreds{err: boom}
	for _, mech := range allMechs {
		_, _, err := run(t, cfg, mech, newClient(cfg, mech, "juliet", "pencil"))
		if !errors.Is(err, ErrTemporaryAuthFailure) || !errors.Is(err, boom) {
			t.Errorf("%s: %v, want ErrTemporaryAuthFailure wrapping the cause", mech, err)
		}
	}
	cfg.Creds = memCreds{keys: map[string]map[Hash]Keys{"juliet": {SHA256: {Salt: []byte{1}, Iterations: 1}}}}
	if _, _, err := run(t, cfg, SCRAMSHA256, newClient(cfg, SCRAMSHA256, "juliet", "pencil")); !errors.Is(err, ErrTemporaryAuthFailure) {
		t.Errorf("corrupt keys: %v, want ErrTemporaryAuthFailure", err)
	}
}

func TestNames(t *testing.T) {
	b := []ChannelBinding{{Type: CBTLSServerEndPoint, Data: []byte{1}}}
	for _, tc := range []struct {
		tls      bool
		bindings []ChannelBinding
		want     []string
	}{
		{false, nil, []string{SCRAMSHA256, SCRAMSHA1}},
		{true, nil, []string{SCRAMSHA256, SCRAMSHA1, Plain}},
		{true, b, []string{SCRAMSHA256Plus, SCRAMSHA1Plus, SCRAMSHA256, SCRAMSHA1, Plain}},
		{true, []ChannelBinding{{Type: CBTLSExporter, Data: nil}}, []string{SCRAMSHA256, SCRAMSHA1, Plain}},
	} {
		if got := Names(tc.tls, tc.bindings); !slices.Equal(got, tc.want) {
			t.Errorf("Names(%v, %v) = %q, want %q", tc.tls, tc.bindings, got, tc.want)
		}
	}
	got := ChannelBindingTypes([]ChannelBinding{
		{Type: CBTLSExporter, Data: []byte{1}}, {Type: CBTLSServerEndPoint, Data: []byte{2}}, {Type: CBTLSExporter, Data: []byte{3}}, {Type: "tls-unique", Data: nil},
	})
	if want := []string{CBTLSExporter, CBTLSServerEndPoint}; !slices.Equal(got, want) {
		t.Errorf("ChannelBindingTypes() = %q, want %q", got, want)
	}
}

func TestDeriveKeys(t *testing.T) {
	salt := NewSalt()
	if len(salt) != 16 || bytes.Equal(salt, NewSalt()) {
		t.Errorf("NewSalt() = %x: want 16 random bytes", salt)
	}
	k, err := DeriveKeys(SHA256, "pencil", salt, 4096)
	if err != nil || len(k.StoredKey) != 32 || len(k.ServerKey) != 32 || k.Iterations != 4096 || !bytes.Equal(k.Salt, salt) {
		t.Fatalf("DeriveKeys() = %+v, %v", k, err)
	}
	salt[0]++
	if bytes.Equal(k.Salt, salt) {
		t.Errorf("DeriveKeys keeps the caller's salt slice")
	}
	// OpaqueString maps non-ASCII spaces and applies NFC: equal keys.
	a, _ := DeriveKeys(SHA1, "a\u00a0e\u0301", []byte("salt"), 1)
	b, _ := DeriveKeys(SHA1, "a é", []byte("salt"), 1)
	if !bytes.Equal(a.StoredKey, b.StoredKey) {
		t.Errorf("DeriveKeys does not prepare the password")
	}
	for _, tc := range []struct {
		h    Hash
		pw   string
		salt []byte
		iter int
	}{
		{"SHA-512", "pencil", []byte("s"), 1},
		{SHA256, "pencil", nil, 1},
		{SHA256, "pencil", []byte("s"), 0},
		{SHA256, "", []byte("s"), 1},
		{SHA256, "pen\x00cil", []byte("s"), 1},
	} {
		if k, err := DeriveKeys(tc.h, tc.pw, tc.salt, tc.iter); err == nil {
			t.Errorf("DeriveKeys(%q, %q, %q, %d) = %+v, want an error", tc.h, tc.pw, tc.salt, tc.iter, k)
		}
	}
	if _, err := DeriveKeys(SHA256, "", []byte("s"), 1); !errors.Is(err, ErrInvalidPassword) {
		t.Errorf("DeriveKeys(empty password) = %v, want ErrInvalidPassword", err)
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
		err  error
	}{
		{"=", []byte{}, nil},
		{"", []byte{}, nil},
		{"biws", []byte("n,,"), nil},
		{"biw", nil, ErrIncorrectEncoding},
		{"bi ws", nil, ErrIncorrectEncoding},
		{"biws\n", nil, ErrIncorrectEncoding},
		{"bi==", nil, ErrIncorrectEncoding}, // non-zero padding bits
	} {
		got, err := Decode(tc.in)
		if !bytes.Equal(got, tc.want) || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("Decode(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestFakeKeysNotStored(t *testing.T) {
	// An account whose keys happen to be what fakeKeys would give is
	// still refused for an unknown user: the fake flag decides.
	cfg := testConfig(t)
	e, err := Start(SCRAMSHA256, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Step([]byte("n,,n=nobody,r=abc")); err != nil {
		t.Fatal(err)
	}
	if !e.scram.fake {
		t.Errorf("unknown user not marked fake")
	}
	k := fakeKeys(cfg, SHA256, "nobody")
	if len(k.Salt) != 16 || k.Iterations != cfg.Iterations || len(k.StoredKey) != 32 || len(k.ServerKey) != 32 {
		t.Errorf("fakeKeys = %+v: not shaped like real keys", k)
	}
	cfg.FakeSecret = []byte("another secret, 32 bytes long...")
	if bytes.Equal(fakeKeys(cfg, SHA256, "nobody").Salt, k.Salt) {
		t.Errorf("fake salt does not depend on the secret")
	}
}
