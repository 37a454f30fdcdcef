package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Problem is one mistake in a configuration.
type Problem struct {
	// File is the file the key came from: the name given to Parse, the
	// path given to Load, "command line" for a value an Overrides set, or
	// "" for a default.
	File string
	// Line and Col locate the key in File, from 1; 0 when unknown.
	Line, Col int
	// Key is the key as the file spells it, with indexes of arrays and
	// array tables: "host[1].cert", "limits.read_rate", "listen.c2s[0]".
	// It is "" for a problem with the whole file.
	Key string
	// Msg says what is wrong.
	Msg string
}

// String returns "file:line:col: key: msg", leaving out what is unknown:
// "samtal.toml:12:1: limits.read_rate: must be positive",
// "samtal.toml: host[0].domain: ...".
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
			if p.Col > 0 {
				b.WriteString(":" + strconv.Itoa(p.Col))
			}
		}
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every mistake found in a configuration, in the order of the
// file; the problems without a line come last.
type Problems []Problem

// Error returns the first problem, and how many more there are.
func (ps *Problems) Error() string {
	if ps == nil || len(*ps) == 0 {
		return "config: no problems"
	}
	s := (*ps)[0].String()
	if n := len(*ps) - 1; n > 0 {
		s += fmt.Sprintf(" (and %d more)", n)
	}
	return s
}

// add records a problem with key, relative to the section being
// validated.
func (ps *Problems) add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// section adds the problems of err, the result of the Validate method of
// the section named prefix ("limits", "host[1]"). The keys of a *Problems
// are made relative to the whole file; any other error becomes a problem
// with key prefix, each error of an errors.Join one of its own.
func (ps *Problems) section(prefix string, err error) {
	if err == nil {
		return
	}
	var sub *Problems
	if errors.As(err, &sub) {
		for _, p := range *sub {
			p.Key = joinKey(prefix, p.Key)
			*ps = append(*ps, p)
		}
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			ps.section(prefix, e)
		}
		return
	}
	ps.add(prefix, "%s", err.Error())
}

// err returns ps as an error, nil when there are no problems.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &ps
}

// sortByPosition orders ps by position, keeping the order of problems at the same
// position and putting the problems without a line last.
func (ps Problems) sortByPosition() {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// joinKey appends key to prefix: "limits" and "read_rate" make
// "limits.read_rate", "listen.c2s" and "[0]" make "listen.c2s[0]".
func joinKey(prefix, key string) string {
	switch {
	case prefix == "":
		return key
	case key == "":
		return prefix
	case strings.HasPrefix(key, "["):
		return prefix + key
	}
	return prefix + "." + key
}

// parentKey returns the key of the table or array that holds key, "" for
// a key at the top level.
func parentKey(key string) string {
	if strings.HasSuffix(key, "]") {
		if i := strings.LastIndexByte(key, '['); i >= 0 {
			return key[:i]
		}
	}
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i]
	}
	return ""
}
