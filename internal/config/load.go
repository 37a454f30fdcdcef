package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Load reads the file at path and returns Default overlaid with it. The
// error, if any, is a *Problems listing every problem of the file and of
// the configuration it makes; the Config is then what could be decoded,
// for inspection only.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already the problem's File
		}
		c := Default()
		c.src = &source{name: path}
		return c, &Problems{{File: path, Msg: "cannot read: " + err.Error()}}
	}
	return Parse(data, path)
}

// Parse returns Default overlaid with the TOML document data, named name
// in problems. The error, if any, is a *Problems as Load returns it.
func Parse(data []byte, name string) (Config, error) {
	d, err := scan(data, name)
	if err != nil {
		c := Default()
		c.src = &source{name: name}
		return c, &Problems{d.syntaxProblem(err)}
	}
	c, ps := d.decode()
	c.src = &source{name: name, pos: d.positions()}
	// The decoder dropped the keys it reported: their values are defaults
	// or zero, and a problem of Validate with them would be noise.
	decoded := len(ps)
	var vs *Problems
	if errors.As(c.Validate(), &vs) {
	validation:
		for _, v := range *vs {
			for _, p := range ps[:decoded] {
				if p.Key != "" && under(v.Key, p.Key) {
					continue validation
				}
			}
			ps = append(ps, v)
		}
	}
	ps.sortByPosition()
	return c, ps.err()
}

// maxDecodes bounds how many times decode drops a wrong key-value and
// tries again.
const maxDecodes = 100

// typeMismatch matches go-toml's message for a value of the wrong type;
// the submatch is the TOML type of the value.
var typeMismatch = regexp.MustCompile(`^cannot decode TOML (.+?) into `)

// decode decodes d in strict mode over Default. When the decoder stops at
// a value it cannot store, decode records the problem, blanks that
// key-value out of its copy of the document and decodes again, so that
// every such value is reported; unknown keys are all reported by one
// decode.
func (d *document) decode() (Config, Problems) {
	buf := bytes.Clone(d.data)
	var ps Problems

	// go-toml hands the raw text of any scalar to a TextUnmarshaler
	// (Duration), and returns its error without a position: check here
	// that those values are strings.
	for _, e := range d.entries {
		if e.kind == unstable.Invalid || e.kind == unstable.String {
			continue
		}
		t := typeOf(e.key)
		if t == nil || !isText(t) {
			continue
		}
		off := e.val
		if off < 0 {
			off = e.off
		}
		ps = append(ps, d.problem(off, e.key, fmt.Sprintf("wrong type: got %s, want %s", kindName(e.kind), describe(t))))
		d.blank(buf, e.expr)
	}

	for n := 1; ; n++ {
		c := Default()
		c.Hosts = nil // so that decode tells whether the file has hosts
		err := toml.NewDecoder(bytes.NewReader(buf)).DisallowUnknownFields().Decode(&c)
		var se *toml.StrictMissingError
		var de *toml.DecodeError
		switch {
		case err == nil:
		case errors.As(err, &se): // before DecodeError, which it wraps
			for i := range se.Errors {
				ps = append(ps, d.unknownKey(&se.Errors[i]))
			}
		case errors.As(err, &de):
			ps = append(ps, d.decodeProblem(de))
			x := d.exprAt(d.offset(de.Position()))
			if x >= 0 && n < maxDecodes && d.blank(buf, x) {
				continue
			}
			if n >= maxDecodes {
				ps = append(ps, Problem{File: d.name, Msg: "too many problems; stopped decoding"})
			}
		default:
			ps = append(ps, Problem{File: d.name, Msg: strings.TrimPrefix(err.Error(), "toml: ")})
		}
		if c.Hosts == nil {
			c.Hosts = Default().Hosts
		}
		return c, ps
	}
}

// decodeProblem turns an error of the decoder into a Problem.
func (d *document) decodeProblem(de *toml.DecodeError) Problem {
	off := d.offset(de.Position())
	key := d.keyAt(off, de.Key())
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	if m := typeMismatch.FindStringSubmatch(msg); m != nil {
		if t := typeOf(key); t != nil {
			msg = fmt.Sprintf("wrong type: got %s, want %s", m[1], describe(t))
		}
	}
	if strings.HasPrefix(msg, "cannot store an array table") {
		// [[x]] for a table x: the key is that of its element, "x[0]".
		key = parentKey(key)
		if t := typeOf(key); t != nil {
			msg = "wrong type: got array of tables, want " + describe(t)
		}
	}
	return d.problem(off, key, msg)
}

// unknownKey turns an error of strict mode into a Problem, suggesting the
// known key that is closest to it.
func (d *document) unknownKey(de *toml.DecodeError) Problem {
	off := d.offset(de.Position())
	key := d.keyAt(off, de.Key())
	msg := "unknown key"
	if strings.Contains(de.Error(), "table") {
		msg = "unknown table"
		if strings.HasSuffix(key, "]") { // [[x]]: name x, not x[0]
			key = parentKey(key)
		}
	}
	parent := parentKey(key)
	for strings.HasSuffix(parent, "]") { // an unknown array table
		parent = parentKey(parent)
	}
	name := strings.TrimPrefix(strings.TrimPrefix(key, parent), ".")
	name, _, _ = strings.Cut(name, "[")
	if s := suggest(typeOf(parent), name); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return d.problem(off, key, msg)
}

// syntaxProblem turns the error of the parser into a Problem.
func (d *document) syntaxProblem(err error) Problem {
	p := Problem{File: d.name, Msg: "invalid TOML: " + err.Error()}
	var pe *unstable.ParserError
	if !errors.As(err, &pe) {
		return p
	}
	p.Key = strings.Join(pe.Key, ".")
	// The highlight is a subslice of the document, as go-toml's own
	// DecodeError assumes: its capacity gives its offset.
	if off := cap(d.data) - cap(pe.Highlight); off >= 0 && off <= len(d.data) {
		p.Line, p.Col = d.position(off)
	}
	return p
}

// source locates the keys of a Config in the file it was parsed from, and
// knows which keys the command line overrode.
type source struct {
	name       string
	pos        map[string]position
	overridden []string
}

type position struct{ line, col int }

// fromCommandLine is Problem.File for a value that Overrides set.
const fromCommandLine = "command line"

// locate sets the file, line and column of a problem found by Validate:
// where the file has its key or, failing that, the nearest table or array
// that holds it.
func (s *source) locate(p Problem) Problem {
	if s == nil || p.File != "" {
		return p
	}
	for _, k := range s.overridden {
		if under(p.Key, k) {
			p.File = fromCommandLine
			return p
		}
	}
	p.File = s.name
	for k := p.Key; k != ""; k = parentKey(k) {
		if pos, ok := s.pos[k]; ok {
			p.Line, p.Col = pos.line, pos.col
			break
		}
	}
	return p
}

// override returns a copy of s in which key and every key under it come
// from the command line.
func (s *source) override(key string) *source {
	n := &source{}
	if s != nil {
		*n = *s
		n.overridden = append([]string(nil), s.overridden...)
	}
	n.overridden = append(n.overridden, key)
	return n
}

// under reports whether key is k or a key in the table or array k.
func under(key, k string) bool {
	if !strings.HasPrefix(key, k) {
		return false
	}
	rest := key[len(k):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}
