package config

import (
	"errors"
	"strings"
	"testing"
)

func TestIRCValidate(t *testing.T) {
	ok := Default().IRC
	ok.Listen = []string{"0.0.0.0:6697"}
	ok.ListenPlain = []string{"127.0.0.1:6667"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v, want nil", ok, err)
	}
	tests := []struct {
		name string
		edit func(*IRC)
		key  string
	}{
		{"plaintext off loopback", func(c *IRC) { c.ListenPlain = []string{"0.0.0.0:6667"} }, "listen_plain[0]"},
		{"bad address", func(c *IRC) { c.Listen = []string{"nowhere"} }, "listen[0]"},
		{"bad server name", func(c *IRC) { c.ServerName = "not a name" }, "server_name"},
		{"network with a space", func(c *IRC) { c.Network = "my net" }, "network"},
		{"no channels", func(c *IRC) { c.MaxChannels = 0 }, "max_channels"},
		{"huge history", func(c *IRC) { c.MaxHistory = 100000 }, "max_history"},
		{"no line rate", func(c *IRC) { c.LineRate = 0 }, "line_rate"},
		{"missing client CA", func(c *IRC) { c.ClientCA = "/nonexistent/ca.pem" }, "client_ca"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			var ps *Problems
			if err := c.Validate(); !errors.As(err, &ps) || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("Validate = %v, want a problem with %s", err, tc.key)
			}
		})
	}
	plain := ok
	plain.ListenPlain = []string{"0.0.0.0:6667"}
	plain.AllowPlaintext = true
	if err := plain.Validate(); err != nil {
		t.Fatalf("Validate with allow_plaintext = %v, want nil", err)
	}
}
