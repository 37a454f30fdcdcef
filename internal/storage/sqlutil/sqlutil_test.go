package sqlutil

import (
	"errors"
	"math"
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

func TestRangeBetween(t *testing.T) {
	seqs := map[string]int64{"a": 10, "b": 20}
	errNo := errors.New("no rows")
	seqOf := func(id string) (int64, error) {
		if s, ok := seqs[id]; ok {
			return s, nil
		}
		return 0, errNo
	}
	r, err := Full().Between("a", "b", seqOf)
	if err != nil || r != (Range{10, 20}) {
		t.Errorf("Between(a, b) = %v, %v, want {10 20}", r, err)
	}
	r, err = Range{15, 30}.Between("a", "", seqOf)
	if err != nil || r != (Range{15, 30}) {
		t.Errorf("{15 30}.Between(a, \"\") = %v, %v, want {15 30}", r, err)
	}
	if _, err := Full().Between("", "x", seqOf); !errors.Is(err, errNo) {
		t.Errorf("Between(\"\", x) = %v, want %v", err, errNo)
	}
	r = Full()
	r.Empty()
	if r.Lo < r.Hi || Full() != (Range{0, math.MaxInt64}) {
		t.Errorf("Empty range = %v", r)
	}
}

func TestPage(t *testing.T) {
	tests := []struct {
		name         string
		rows         []string
		n            int
		backward     bool
		want         []string
		wantSeqs     []int64
		wantComplete bool
	}{
		{"forward, more", []string{"a", "b", "c"}, 2, false, []string{"a", "b"}, []int64{1, 2}, false},
		{"forward, all", []string{"a", "b"}, 2, false, []string{"a", "b"}, []int64{1, 2}, true},
		{"backward, more", []string{"c", "b", "a"}, 2, true, []string{"b", "c"}, []int64{2, 1}, false},
		{"empty", nil, 0, false, nil, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seqs := make([]int64, len(tc.rows))
			for i := range seqs {
				seqs[i] = int64(i + 1)
			}
			got, gotSeqs, complete := Page(tc.rows, seqs, tc.n, tc.backward)
			if !slices.Equal(got, tc.want) || !slices.Equal(gotSeqs, tc.wantSeqs) || complete != tc.wantComplete {
				t.Errorf("Page = %v, %v, %v, want %v, %v, %v", got, gotSeqs, complete, tc.want, tc.wantSeqs, tc.wantComplete)
			}
		})
	}
}

// The names of the operations are what operators see in metrics and
// errors; they must not change with the code that makes them.
func TestPubsubOps(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   func(PubsubOps) PubsubOp
		want PubsubOp
	}{
		{"pubsub", func(o PubsubOps) PubsubOp { return o.Nodes }, PubsubOp{"pubsub.nodes", "pubsub nodes"}},
		{"pubsub", func(o PubsubOps) PubsubOp { return o.ConfigureNode }, PubsubOp{"pubsub.configurenode", "pubsub configure node"}},
		{"pubsub services", func(o PubsubOps) PubsubOp { return o.CreateNode }, PubsubOp{"pubsubservices.createnode", "pubsub services create node"}},
		{"pubsub services", func(o PubsubOps) PubsubOp { return o.Publish }, PubsubOp{"pubsubservices.publish", "pubsub services publish"}},
	} {
		if got := tc.op(PubsubTables{Name: tc.name}.Ops()); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestPubsubTablesExpand(t *testing.T) {
	const q = "SELECT {publisher} FROM {nodes} n JOIN {items} i ON i.{owner} = n.{owner}"
	pep := PubsubTables{Nodes: "pubsub_nodes", Items: "pubsub_items", Owner: "account"}
	if got, want := pep.Expand(q), "SELECT '' FROM pubsub_nodes n JOIN pubsub_items i ON i.account = n.account"; got != want {
		t.Errorf("PEP: %q, want %q", got, want)
	}
	service := PubsubTables{Nodes: "pubsub_service_nodes", Items: "pubsub_service_items", Owner: "service", Publisher: true}
	if got, want := service.Expand(q), "SELECT publisher FROM pubsub_service_nodes n JOIN pubsub_service_items i ON i.service = n.service"; got != want {
		t.Errorf("services: %q, want %q", got, want)
	}
}
