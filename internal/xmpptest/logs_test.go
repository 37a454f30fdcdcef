package xmpptest

import (
	"log/slog"
	"strings"
	"testing"
)

func TestLogs(t *testing.T) {
	l := &Logs{Level: slog.LevelWarn, Match: func(text string) bool { return strings.Contains(text, "panic") }}
	log := slog.New(l)
	log.Info("session panic", "err", "below the level")
	log.Error("store failed")
	log.Error("session panic", "err", "boom")
	if got := l.Take(); len(got) != 1 || got[0] != "session panic err=boom" {
		t.Fatalf("Take = %q, want the one panic at or above the level, with its attributes", got)
	}
	if got := l.Take(); got != nil {
		t.Fatalf("second Take = %q, want nothing", got)
	}
	for range 2 * maxLogs {
		log.Warn("panic")
	}
	if got := l.Take(); len(got) != maxLogs {
		t.Fatalf("kept %d records, want at most %d", len(got), maxLogs)
	}
}
