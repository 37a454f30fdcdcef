package sqlutil

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Migration is one schema change: the file NNNN_what.sql.
type Migration struct {
	Version int
	Name    string // the file's base name
	SQL     string
}

// LoadMigrations returns the migrations in fsys matching pattern (such as
// "migrations/*.sql") in order, checking their names and numbering: every
// name is NNNN_what.sql, numbered from 0001, each number used once. A
// number may be missing: work done in parallel reserves numbers ahead.
func LoadMigrations(fsys fs.FS, pattern string) ([]Migration, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names { // fs.Glob sorts
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 || v < 1 {
			return nil, fmt.Errorf("migration %s: name is not NNNN_what.sql", base)
		}
		if len(ms) > 0 && v <= ms[len(ms)-1].Version {
			return nil, fmt.Errorf("migration %s: number %04d is used twice", base, v)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(b)})
	}
	return ms, nil
}

// Last returns the newest version in ms, 0 when there is none.
func Last(ms []Migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// Pending returns the migrations of ms that are not in applied, in order.
// A version in applied that ms does not know means the database was
// written by a newer samtal: Pending refuses it with an error wrapping
// newer, the backend's sentinel.
func Pending(ms []Migration, applied map[int]bool, newer error) ([]Migration, error) {
	known := make(map[int]bool, len(ms))
	for _, m := range ms {
		known[m.Version] = true
	}
	for v := range applied {
		if !known[v] {
			return nil, fmt.Errorf("%w: the database has schema version %d, which this samtal (up to %d) does not know; run a newer samtal or restore a backup",
				newer, v, Last(ms))
		}
	}
	var todo []Migration
	for _, m := range ms {
		if !applied[m.Version] {
			todo = append(todo, m)
		}
	}
	return todo, nil
}
