package metrics

import (
	"strings"
	"sync"
	"testing"
)

func TestCounterVecConcurrent(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("samtal_test_total", "Test.", "kind")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				c.With([]string{"message", "presence", "iq"}[i%3]).Inc()
			}
		}()
	}
	wg.Wait()
	if got := c.With("message").Value() + c.With("presence").Value() + c.With("iq").Value(); got != 8000 {
		t.Fatalf("counted %d, want 8000", got)
	}
	var b strings.Builder
	r.Write(&b)
	want := "# HELP samtal_test_total Test.\n# TYPE samtal_test_total counter\n" +
		"samtal_test_total{kind=\"iq\"} 2664\nsamtal_test_total{kind=\"message\"} 2672\nsamtal_test_total{kind=\"presence\"} 2664\n"
	if b.String() != want {
		t.Fatalf("wrote\n%s\nwant\n%s", b.String(), want)
	}
}

func TestVecLabelCount(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("samtal_test_total", "Test.", "a", "b")
	c.With("x", "y").Add(2)
	if c.With("x", "y").Value() != 2 || c.With("x", "z").Value() != 0 {
		t.Fatal("labels mixed up")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a wrong number of label values did not panic")
		}
	}()
	c.With("x")
}
