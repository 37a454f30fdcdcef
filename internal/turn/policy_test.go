package turn

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPolicyDefault(t *testing.T) {
	p := NewPolicy(nil, nil, nil, 49152, 65535)
	cases := []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", false},
		{"127.5.6.7", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata service
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"192.0.2.1", false},
		{"fe80::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"ff02::1", false},
		{"2001:db8::1", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::7f00:1", false}, // NAT64 of 127.0.0.1
		{"64:ff9b::a00:1", false},  // NAT64 of 10.0.0.1
		{"2002:7f00:1::1", false},  // 6to4 of 127.0.0.1
		{"fe80::1%eth0", false},
		{"93.184.216.34", true},
		{"8.8.8.8", true},
		{"172.32.0.1", true},
		{"2a00:1450:4001::1", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"::ffff:8.8.8.8", true},
	}
	for _, tc := range cases {
		ip := netip.MustParseAddr(tc.ip)
		if got := p.Permit(ip); got != tc.want {
			t.Errorf("Permit(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}

func TestPolicyAllowDeny(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16")}
	deny := []netip.Prefix{netip.MustParsePrefix("93.184.216.0/24")}
	p := NewPolicy(allow, deny, nil, 49152, 65535)
	for ip, want := range map[string]bool{
		"127.0.0.1":        true,
		"::ffff:127.0.0.1": true,
		"10.1.2.3":         true,
		"10.2.0.1":         false,
		"93.184.216.34":    false,
		"93.184.217.1":     true,
		"::1":              false,
	} {
		if got := p.Permit(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Permit(%s) = %v, want %v", ip, got, want)
		}
	}
}

func TestPolicySelf(t *testing.T) {
	pub := netip.MustParseAddr("93.184.216.34")
	p := NewPolicy(nil, nil, []netip.Addr{pub}, 49152, 65535)
	cases := []struct {
		addr string
		want bool
	}{
		{"93.184.216.34:50000", true}, // another relay on this server
		{"93.184.216.34:49152", true},
		{"93.184.216.34:65535", true},
		{"93.184.216.34:53", false}, // a service of the machine
		{"93.184.216.34:5222", false},
		{"93.184.216.34:49151", false},
		{"93.184.216.35:53", true},
		{"127.0.0.1:50000", false},
	}
	for _, tc := range cases {
		if got := p.PermitPort(netip.MustParseAddrPort(tc.addr)); got != tc.want {
			t.Errorf("PermitPort(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	// An explicitly allowed prefix lifts the port restriction: the
	// operator asked for it (tests on loopback do).
	p = NewPolicy([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, nil, []netip.Addr{netip.MustParseAddr("127.0.0.1")}, 49152, 65535)
	if !p.PermitPort(netip.MustParseAddrPort("127.0.0.1:40000")) {
		t.Errorf("PermitPort(127.0.0.1:40000) = false with 127.0.0.0/8 allowed, want true")
	}
}

func TestCredentials(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	user, pass := Credentials("secret", "u1", now.Add(time.Hour))
	if user != "1700003600:u1" {
		t.Errorf("username = %q, want 1700003600:u1", user)
	}
	// Computed independently: printf 1700003600:u1 |
	// openssl dgst -sha1 -hmac secret -binary | base64
	if want := "6E/0HTuaYDX4LCgCo8AtInK5mQE="; pass != want {
		t.Errorf("password = %q, want %q", pass, want)
	}
	if u, ok := parseUsername(user, now); !ok || u != "u1" {
		t.Errorf("parseUsername(%q) = %q, %v, want u1, true", user, u, ok)
	}
	if _, ok := parseUsername(user, now.Add(2*time.Hour)); ok {
		t.Errorf("parseUsername(%q) after expiry = ok", user)
	}
	for _, bad := range []string{"", "u1", "1700003600", "1700003600:", "soon:u1", "-1:u1"} {
		if _, ok := parseUsername(bad, now); ok {
			t.Errorf("parseUsername(%q) = ok, want refused", bad)
		}
	}
	a, b := Pseudonym("s", "juliet@example.org"), Pseudonym("s", "romeo@example.org")
	if a == b || a != Pseudonym("s", "juliet@example.org") || a == Pseudonym("t", "juliet@example.org") {
		t.Errorf("Pseudonym is not a stable per-user, per-secret name: %q %q", a, b)
	}
}

func TestLoadSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "turn-secret")
	s1, err := LoadSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	if len(s1) < 32 {
		t.Errorf("secret %q is short", s1)
	}
	s2, err := LoadSecret(path)
	if err != nil || s2 != s1 {
		t.Errorf("second LoadSecret = %q, %v, want the first secret", s2, err)
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecret(path); err == nil {
		t.Error("a short secret was accepted")
	}
}
