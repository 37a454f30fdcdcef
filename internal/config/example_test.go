package config_test

import (
	"errors"
	"fmt"

	"samtal.org/samtal/internal/config"
)

func ExampleParse() {
	file := `log_level = "info"
[listen]
c2s = ["0.0.0.0:5222"]
allow_plaintext = true

[limits]
read_rate = 0
auth_timeout = 30
`
	_, err := config.Parse([]byte(file), "samtal.toml")
	var ps *config.Problems
	if errors.As(err, &ps) {
		for _, p := range *ps {
			fmt.Println(p)
		}
	}
	// Output:
	// samtal.toml:4:1: listen.allow_plaintext: plaintext is only for loopback, and listen.c2s[0] is 0.0.0.0:5222
	// samtal.toml:7:1: limits.read_rate: must be positive
	// samtal.toml:8:16: limits.auth_timeout: wrong type: got integer, want a duration such as "90s", "5m" or "30d"
}

func ExampleOverrides_Apply() {
	c := config.Default()
	config.Overrides{Domain: "chat.example", C2S: []string{"127.0.0.1:15222"}}.Apply(&c)
	fmt.Println(c.Hosts[0].Domain, c.Listen.C2S, c.Validate())
	// Output: chat.example [127.0.0.1:15222] <nil>
}
