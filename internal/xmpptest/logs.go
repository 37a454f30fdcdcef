package xmpptest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
)

// maxLogs bounds the records Logs keeps between two Takes: a run fails
// on the first few.
const maxLogs = 16

// Logs is a slog.Handler that keeps what a service logs that a test must
// fail on: records at Level or above whose text (the message and the
// record's attributes) Match accepts, every one when Match is nil. A fuzz
// target gives the service slog.New(logs) and looks at Take after each
// input: a recovered panic ends only its session or stream, which is
// right for a server and would hide the bug from the fuzzer.
type Logs struct {
	Level slog.Level
	Match func(text string) bool

	mu   sync.Mutex
	kept []string
}

func (l *Logs) Enabled(_ context.Context, level slog.Level) bool { return level >= l.Level }
func (l *Logs) WithAttrs([]slog.Attr) slog.Handler               { return l }
func (l *Logs) WithGroup(string) slog.Handler                    { return l }

func (l *Logs) Handle(_ context.Context, r slog.Record) error {
	text := r.Message
	r.Attrs(func(a slog.Attr) bool {
		text += " " + a.String()
		return true
	})
	if l.Match != nil && !l.Match(text) {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.kept) < maxLogs {
		l.kept = append(l.kept, text)
	}
	return nil
}

// Take returns the records kept since it was last called.
func (l *Logs) Take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.kept
	l.kept = nil
	return kept
}

// Fail fails tb with the records kept since the last Take, if any.
func (l *Logs) Fail(tb testing.TB) {
	tb.Helper()
	if kept := l.Take(); len(kept) > 0 {
		tb.Fatalf("logged: %q", kept)
	}
}
