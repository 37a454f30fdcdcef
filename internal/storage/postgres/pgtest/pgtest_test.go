package pgtest

import (
	"runtime"
	"testing"
)

// recorder is a testing.TB that records how Database ended the test.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()                 { r.TB.Helper() }
func (r *recorder) Skipf(string, ...any)    { r.skipped = true; runtime.Goexit() }
func (r *recorder) Fatal(...any)            { r.failed = true; runtime.Goexit() }
func (r *recorder) Fatalf(string, ...any)   { r.failed = true; runtime.Goexit() }
func (r *recorder) Cleanup(f func())        { r.TB.Cleanup(f) }
func (r *recorder) Logf(f string, a ...any) { r.TB.Logf(f, a...) }

// TestMissing checks what a test that needs PostgreSQL does when it is
// not installed: it is skipped, except in CI, where it fails.
func TestMissing(t *testing.T) {
	defer func(g string) { binGlob = g }(binGlob)
	binGlob = t.TempDir() + "/*/bin"
	for _, tc := range []struct {
		ci            string
		skip, failure bool
	}{
		{"", true, false},
		{"false", true, false},
		{"true", false, true},
		{"1", false, true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			var s Server
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				s.Database(r)
			}()
			<-done
			if r.skipped != tc.skip || r.failed != tc.failure {
				t.Errorf("Database with CI=%q: skipped %v, failed %v; want %v, %v", tc.ci, r.skipped, r.failed, tc.skip, tc.failure)
			}
			if s.cmd != nil || s.dir != "" {
				t.Errorf("Database started something without PostgreSQL")
			}
		})
	}
}
