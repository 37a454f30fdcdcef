package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in the file as a string: Go syntax
// ("90s", "5m", "1h30m") plus "d" for days of 24 hours ("30d", "1d12h").
type Duration time.Duration

const day = 24 * time.Hour

// errDurationSyntax explains the accepted forms; it is what the file's
// author needs to see, whatever the exact parse failure was.
var errDurationSyntax = errors.New(`want a number with a unit: "90s", "5m", "2h" or "30d"`)

// ParseDuration parses s as a Duration: Go syntax, as time.ParseDuration
// accepts it, optionally preceded by a number of days, "30d" or "1.5d12h".
func ParseDuration(s string) (Duration, error) {
	days, rest, hasDays := strings.Cut(s, "d")
	if !hasDays {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %w", s, errDurationSyntax)
		}
		return Duration(d), nil
	}
	neg := strings.HasPrefix(days, "-")
	n, err := strconv.ParseFloat(strings.TrimLeft(days, "+-"), 64)
	if err != nil || days == "" || strings.ContainsAny(days, "eEnNiIxXpP_") {
		// ContainsAny keeps ParseFloat's exponents, hex, NaN, Inf and
		// digit separators out of the syntax.
		return 0, fmt.Errorf("invalid duration %q: %w", s, errDurationSyntax)
	}
	var r time.Duration
	if rest != "" {
		if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
			return 0, fmt.Errorf("invalid duration %q: %w", s, errDurationSyntax)
		}
		if r, err = time.ParseDuration(rest); err != nil {
			return 0, fmt.Errorf("invalid duration %q: %w", s, errDurationSyntax)
		}
	}
	total := n*float64(day) + float64(r)
	if total >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid duration %q: too long", s)
	}
	d := time.Duration(total)
	if neg {
		d = -d
	}
	return Duration(d), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler; the text parses back to
// d.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// String formats d as ParseDuration reads it: whole days as "30d", any
// other duration as time.Duration.String does.
func (d Duration) String() string {
	t := time.Duration(d)
	if t != 0 && t%day == 0 {
		return strconv.FormatInt(int64(t/day), 10) + "d"
	}
	return t.String()
}
