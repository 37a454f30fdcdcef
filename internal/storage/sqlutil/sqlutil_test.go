package sqlutil

import (
	"errors"
	"slices"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []int
		wantErr bool
	}{
		{"ordered with a gap", fstest.MapFS{"m/0003_c.sql": file("c"), "m/0001_a.sql": file("a")}, []int{1, 3}, false},
		{"none", fstest.MapFS{}, nil, false},
		{"no underscore", fstest.MapFS{"m/0001.sql": file("")}, nil, true},
		{"short number", fstest.MapFS{"m/001_a.sql": file("")}, nil, true},
		{"zero", fstest.MapFS{"m/0000_a.sql": file("")}, nil, true},
		{"number twice", fstest.MapFS{"m/0001_a.sql": file(""), "m/0001_b.sql": file("")}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := LoadMigrations(tc.files, "m/*.sql")
			if (err != nil) != tc.wantErr {
				t.Fatalf("LoadMigrations = %v, want error %v", err, tc.wantErr)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("LoadMigrations versions = %v, want %v", got, tc.want)
			}
			if len(ms) > 0 && (ms[0].Name != "0001_a.sql" || ms[0].SQL != "a") {
				t.Errorf("LoadMigrations[0] = %+v, want 0001_a.sql with its text", ms[0])
			}
		})
	}
}

func TestPending(t *testing.T) {
	ms := []Migration{{Version: 1}, {Version: 2}, {Version: 4}}
	todo, err := Pending(ms, map[int]bool{2: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(todo) != 2 || todo[0].Version != 1 || todo[1].Version != 4 {
		t.Errorf("Pending = %+v, want versions 1 and 4", todo)
	}
	newer := errors.New("newer")
	if _, err := Pending(ms, map[int]bool{1: true, 3: true}, newer); !errors.Is(err, newer) {
		t.Errorf("Pending with unknown version 3 = %v, want %v", err, newer)
	}
	if Last(ms) != 4 || Last(nil) != 0 {
		t.Errorf("Last = %d, %d, want 4, 0", Last(ms), Last(nil))
	}
}
