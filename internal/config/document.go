package config

import (
	"encoding"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// document is a TOML file read with go-toml's parser for the positions of
// its keys, which the decoder does not give for values it decodes
// without error.
type document struct {
	name     string
	data     []byte
	lines    []int   // offset of the start of each line
	entries  []entry // in document order
	byKey    map[string]int
	byOffset map[int]int // entry whose key or value starts at an offset
	exprs    []expr
}

// entry is a key in the document: a key of a key-value (each part of a
// dotted key), a table header, or an element of an array.
type entry struct {
	key  string // "host[1].contact.abuse[0]"
	full string // the key of the whole expression part of which this is
	off  int    // where the key or the array element starts; -1 if unknown
	val  int    // where its value starts; -1 if unknown or not a value
	kind unstable.Kind
	expr int // index in exprs of the top-level expression it is part of
}

// expr is a top-level expression: a key-value or a table header.
type expr struct {
	start, end int // the bytes of the key-value, or of the header's line
	table      bool
	key        string
}

// scan parses data for the positions of its keys. The error is the
// parser's, a syntax error.
func scan(data []byte, name string) (*document, error) {
	d := &document{
		name:     name,
		data:     data,
		lines:    []int{0},
		byKey:    make(map[string]int),
		byOffset: make(map[int]int),
	}
	for i, b := range data {
		if b == '\n' {
			d.lines = append(d.lines, i+1)
		}
	}
	var p unstable.Parser
	p.Reset(data)
	table := ""
	arrays := make(map[string]int) // number of [[x]] seen for each x
	for p.NextExpression() {
		n := p.Expression()
		x := len(d.exprs)
		switch n.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts, offs := keyParts(n)
			keys := make([]string, len(parts))
			key := ""
			for i, part := range parts {
				key = dotKey(key, part)
				if i == len(parts)-1 && n.Kind == unstable.ArrayTable {
					arrays[key]++
					d.add(entry{key: key, full: key, off: offs[i], val: -1, expr: x})
					key += "[" + strconv.Itoa(arrays[key]-1) + "]"
				} else if c := arrays[key]; c > 0 {
					// [a.b] after [[a]] is in the last a.
					key += "[" + strconv.Itoa(c-1) + "]"
				}
				keys[i] = key
			}
			full := key
			for i, k := range keys {
				d.add(entry{key: k, full: full, off: offs[i], val: -1, expr: x})
			}
			table = full
			start := d.lines[d.line(offs[0])-1]
			for start < len(data) && (data[start] == ' ' || data[start] == '\t') {
				start++
			}
			end := start + bytesToEOL(data[start:])
			d.exprs = append(d.exprs, expr{start: start, end: end, table: true, key: full})
		case unstable.KeyValue:
			start := int(n.Raw.Offset)
			d.exprs = append(d.exprs, expr{start: start, end: start + int(n.Raw.Length)})
			d.exprs[x].key = d.keyValue(table, n, x)
		}
	}
	return d, p.Error()
}

// keyValue adds the entries of the key-value n in the table prefix, and
// returns its key.
func (d *document) keyValue(prefix string, n *unstable.Node, x int) string {
	parts, offs := keyParts(n)
	full := prefix
	for _, part := range parts {
		full = dotKey(full, part)
	}
	// Every part of a dotted key is where the whole key starts, as in
	// go-toml's errors.
	key := prefix
	v := n.Value()
	for i, part := range parts {
		key = dotKey(key, part)
		e := entry{key: key, full: full, off: offs[0], val: -1, expr: x}
		if i == len(parts)-1 {
			e.kind, e.val = v.Kind, valueOffset(v)
		}
		d.add(e)
	}
	d.value(full, v, x)
	return full
}

// value adds the entries of the elements of an array or inline table.
func (d *document) value(key string, v *unstable.Node, x int) {
	switch v.Kind {
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			k := key + "[" + strconv.Itoa(i) + "]"
			off := valueOffset(c)
			d.add(entry{key: k, full: k, off: off, val: off, kind: c.Kind, expr: x})
			d.value(k, c, x)
			i++
		}
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				d.keyValue(key, c, x)
			}
		}
	}
}

func (d *document) add(e entry) {
	i := len(d.entries)
	d.entries = append(d.entries, e)
	if _, ok := d.byKey[e.key]; !ok {
		d.byKey[e.key] = i
	}
	if e.off >= 0 {
		d.byOffset[e.off] = i
	}
	if e.val >= 0 {
		d.byOffset[e.val] = i
	}
}

// keyParts returns the parts of the key of a key-value or table header,
// and where each starts.
func keyParts(n *unstable.Node) ([]string, []int) {
	var parts []string
	var offs []int
	for it := n.Key(); it.Next(); {
		k := it.Node()
		parts = append(parts, string(k.Data))
		offs = append(offs, int(k.Raw.Offset))
	}
	return parts, offs
}

// valueOffset returns where the value v starts, -1 if the parser did not
// record it (arrays).
func valueOffset(v *unstable.Node) int {
	if v.Raw.Length == 0 {
		return -1
	}
	return int(v.Raw.Offset)
}

func dotKey(prefix, part string) string {
	if prefix == "" {
		return part
	}
	return prefix + "." + part
}

func bytesToEOL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return len(b)
}

// positions returns the position of the first occurrence of every key.
func (d *document) positions() map[string]position {
	m := make(map[string]position, len(d.byKey))
	for k, i := range d.byKey {
		if off := d.entries[i].off; off >= 0 {
			l, c := d.position(off)
			m[k] = position{l, c}
		}
	}
	return m
}

// line returns the line of the byte at off, from 1.
func (d *document) line(off int) int {
	return sort.Search(len(d.lines), func(i int) bool { return d.lines[i] > off })
}

// position returns the line and column (in bytes, as go-toml counts) of
// the byte at off, from 1.
func (d *document) position(off int) (line, col int) {
	l := d.line(off)
	return l, off - d.lines[l-1] + 1
}

// offset returns the offset of a line and column, -1 if out of the
// document.
func (d *document) offset(line, col int) int {
	if line < 1 || line > len(d.lines) || col < 1 {
		return -1
	}
	off := d.lines[line-1] + col - 1
	if off > len(d.data) {
		return -1
	}
	return off
}

// keyAt returns the key of the expression at off; fallback, the decoder's
// idea of it, when off is not the start of a key or value.
func (d *document) keyAt(off int, fallback []string) string {
	if i, ok := d.byOffset[off]; ok {
		return d.entries[i].full
	}
	if x := d.exprAt(off); x >= 0 {
		return d.exprs[x].key
	}
	return strings.Join(fallback, ".")
}

// exprAt returns the index of the expression that holds off, -1 if none.
func (d *document) exprAt(off int) int {
	if off < 0 {
		return -1
	}
	for i, x := range d.exprs {
		if x.start <= off && off < x.end {
			return i
		}
	}
	return -1
}

// blank drops the expression x from buf, a copy of the document, by
// overwriting it with spaces; for a table header, the whole table goes.
// Lines stay where they are. It reports whether anything changed.
func (d *document) blank(buf []byte, x int) bool {
	start, end := d.exprs[x].start, d.exprs[x].end
	if d.exprs[x].table {
		end = len(buf)
		for _, y := range d.exprs[x+1:] {
			if y.table {
				end = y.start
				break
			}
		}
	}
	changed := false
	for i := start; i < end; i++ {
		if buf[i] != '\n' && buf[i] != ' ' {
			buf[i] = ' '
			changed = true
		}
	}
	return changed
}

// problem returns a problem at the byte off of the document.
func (d *document) problem(off int, key, msg string) Problem {
	p := Problem{File: d.name, Key: key, Msg: msg}
	if off >= 0 {
		p.Line, p.Col = d.position(off)
	}
	return p
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// isText reports whether values of type t are decoded from text.
func isText(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(textUnmarshaler)
}

// typeOf returns the Go type of the value at key in a Config, nil if
// there is no such key.
func typeOf(key string) reflect.Type {
	t := reflect.TypeFor[Config]()
	if key == "" {
		return t
	}
	for _, part := range strings.Split(key, ".") {
		name, idx, _ := strings.Cut(part, "[")
		f, ok := field(t, name)
		if !ok {
			return nil
		}
		t = f.Type
		for idx != "" {
			if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
				return nil
			}
			t = t.Elem()
			_, idx, _ = strings.Cut(idx, "[")
		}
	}
	return t
}

// field returns the field of the struct type t that the TOML key name
// decodes into, as go-toml finds it.
func field(t reflect.Type, name string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		if n := tomlName(f); n == name || n == "" && strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// tomlName returns the key of a field from its tag, "" when it has none
// and "-" when it is not decoded.
func tomlName(f reflect.StructField) string {
	n, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	return n
}

// suggest returns the key of the struct type t that is closest to name,
// "" if none is close.
func suggest(t reflect.Type, name string) string {
	if t == nil {
		return ""
	}
	if k := t.Kind(); k == reflect.Slice || k == reflect.Array {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return ""
	}
	best, bestDist := "", 3 // suggest only a key within two edits
	for _, f := range reflect.VisibleFields(t) {
		n := tomlName(f)
		if !f.IsExported() || n == "" || n == "-" {
			continue
		}
		if dist := editDistance(n, name); dist < bestDist && dist < len(name) {
			best, bestDist = n, dist
		}
	}
	return best
}

// editDistance returns the Levenshtein distance of a and b in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // not a near miss, and keeps the work small
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describe names the TOML type that values of type t are written as.
func describe(t reflect.Type) string {
	if t == reflect.TypeFor[Duration]() {
		return `a duration such as "90s", "5m" or "30d"`
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Struct, reflect.Map:
		return "table"
	case reflect.Slice, reflect.Array:
		switch e := t.Elem(); {
		case e.Kind() == reflect.Struct:
			return "array of tables"
		case e == reflect.TypeFor[Duration]():
			return "array of durations"
		default:
			return "array of " + describe(e) + "s"
		}
	}
	return t.String()
}

// kindName names a kind of TOML value as go-toml's messages do.
func kindName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "string"
	case unstable.Bool:
		return "boolean"
	case unstable.Integer:
		return "integer"
	case unstable.Float:
		return "float"
	case unstable.Array:
		return "array"
	case unstable.InlineTable:
		return "inline table"
	case unstable.DateTime:
		return "datetime"
	case unstable.LocalDateTime:
		return "local datetime"
	case unstable.LocalDate:
		return "local date"
	case unstable.LocalTime:
		return "local time"
	}
	return k.String()
}
