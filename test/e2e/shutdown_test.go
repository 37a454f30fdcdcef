package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestGracefulShutdown stops the server with SIGTERM while a client with
// stream management has messages it did not acknowledge: the client is
// told system-shutdown, the server exits 0 with its write-ahead log
// checkpointed, and after the restart the messages come
// from offline storage, each once.
func TestGracefulShutdown(t *testing.T) {
	s := StartServer(t, Options{})
	s.AddUser("reader", "pw-r")
	s.AddUser("writer", "pw-w")
	r := dialRaw(t, s.C2S)
	full := r.login("localhost", "reader", "pw-r")
	r.send("<enable xmlns='urn:xmpp:sm:3'/><presence/>")
	w := dialRaw(t, s.C2S)
	w.login("localhost", "writer", "pw-w")
	for i := range 4 {
		w.send(fmt.Sprintf("<message to='%s' type='chat'><body>unacked %d</body></message>", full, i))
	}
	// The reader reads them all, but acknowledges none.
	got := 0
	for got < 4 {
		if el := r.next(); strings.HasPrefix(el.ChildText("", "body"), "unacked ") {
			got++
		}
	}
	s.Stop()
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM %d, want 0", code)
	}
	if cond := r.streamError(); cond != "system-shutdown" {
		t.Errorf("stream error %q, want system-shutdown", cond)
	}
	if fi, err := os.Stat(s.DB() + "-wal"); err == nil && fi.Size() > 0 {
		t.Errorf("the write-ahead log holds %d bytes after a clean stop; Close checkpoints it", fi.Size())
	}
	s.start()
	seen := collectBodies(t, s, "reader", "pw-r", "unacked ", 4)
	if len(seen) != 4 {
		t.Errorf("%d of 4 unacknowledged messages came back after the restart: %v", len(seen), seen)
	}
	for b, n := range seen {
		if n != 1 {
			t.Errorf("%q arrived %d times", b, n)
		}
	}
}
