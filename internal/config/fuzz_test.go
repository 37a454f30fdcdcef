package config

import (
	"bytes"
	"errors"
	"os"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

// FuzzParse checks that Parse never panics, that it reports a failure as
// a non-empty *Problems, and that a configuration it accepts encodes to
// TOML that decodes to the same configuration.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(exampleFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, m := range mistakes {
		f.Add([]byte(m.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			var ps *Problems
			if !errors.As(err, &ps) || len(*ps) == 0 {
				t.Fatalf("Parse(%q) = %v, want a non-empty *Problems", data, err)
			}
			for _, p := range *ps {
				if p.Msg == "" || p.Line < 0 || p.Col < 0 {
					t.Fatalf("Parse(%q): malformed problem %#v", data, p)
				}
			}
			return
		}
		b, err := toml.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal(Parse(%q)) = %v", data, err)
		}
		c2, err := Parse(b, "marshalled.toml")
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(%q))) = %v\n%s", data, err, b)
		}
		if b2, err := toml.Marshal(c2); err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("%q does not round-trip:\n%s\nthen\n%s", data, b, b2)
		}
	})
}
