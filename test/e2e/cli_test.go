package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigCheck: every mistake of a file is reported with its line, and
// the server refuses to start on it with one line saying why.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	content := `log_level = "loud"
registration = "open"

[listen]
c2s = ["127.0.0.1:99999"]

[[host]]
domain = "Not A Domain"

[limits]
read_rate = -1
`
	if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "config", "check", bad).CombinedOutput()
	if err == nil {
		t.Fatalf("config check accepted a bad file:\n%s", out)
	}
	for _, want := range []string{"bad.toml:1:", "log_level", "listen.c2s", "host[0].domain", "limits.read_rate"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
	cmd := exec.Command(binary, "serve", "--config", bad)
	done := make(chan []byte, 1)
	go func() { b, _ := cmd.CombinedOutput(); done <- b }()
	select {
	case b := <-done:
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], "invalid configuration") {
			t.Errorf("serve on a bad config printed %q, want one line naming the problem", b)
		}
		if cmd.ProcessState.ExitCode() == 0 {
			t.Error("serve on a bad config exited 0")
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("serve did not refuse a bad config")
	}

	good := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(good, []byte("log_level = \"warn\"\n[[host]]\ndomain = \"example.org\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(binary, "config", "check", good).CombinedOutput(); err != nil {
		t.Errorf("config check refused a good file: %v\n%s", err, out)
	}
}

// TestFlagsOnly: one command starts a server for a given domain without a
// file, and the user commands work on its data while it runs.
func TestFlagsOnly(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	c2s, tls, admin, web := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	cmd := exec.Command(binary, "--domain", "chat.example", "--data-dir", data,
		"--c2s", c2s, "--c2s-tls", tls, "--admin", admin, "--web", web, "--registration", "open")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "create the first account") {
		if time.Now().After(deadline) {
			t.Fatalf("no start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The printed account command works as printed.
	printed := "samtal user add --data-dir " + data + " --domain chat.example admin@chat.example"
	if !strings.Contains(out.String(), printed) {
		t.Fatalf("start message does not give the account command:\n%s", out.String())
	}
	add := exec.Command(binary, strings.Fields(printed)[1:]...)
	add.Stdin = strings.NewReader("admin password\n")
	if b, err := add.CombinedOutput(); err != nil {
		t.Errorf("the printed command failed: %v\n%s", err, b)
	}
	user := func(stdin string, args ...string) string {
		t.Helper()
		c := exec.Command(binary, append([]string{"user", args[0], "--data-dir", data, "--domain", "chat.example"}, args[1:]...)...)
		c.Stdin = strings.NewReader(stdin)
		b, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("samtal user %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	user("first password\n", "add", "ada@chat.example")
	user("", "list")
	if got := user("", "list"); !strings.Contains(got, "ada@chat.example") {
		t.Errorf("user list = %q", got)
	}
	// A login reads the account; the server keeps its keys for the next
	// one. A password changed by another process replaces them at once.
	dialRaw(t, c2s).login("chat.example", "ada", "first password")
	user("second password\n", "passwd", "ada@chat.example")
	if el := dialRaw(t, c2s).auth("chat.example", "ada", "first password"); el.Local != "failure" {
		t.Errorf("the old password after passwd: %v", el)
	}

	// The host is chat.example, not localhost.
	c := dialRaw(t, c2s)
	c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
	if _, err := c.r.Header(); err != nil {
		t.Fatal(err)
	}
	if got := c.streamError(); got != "host-unknown" {
		t.Errorf("stream to localhost: %s, want host-unknown", got)
	}
	r := dialRaw(t, c2s)
	if full := r.login("chat.example", "ada", "second password"); !strings.HasPrefix(full, "ada@chat.example/") {
		t.Errorf("bound %q", full)
	}

	// Metrics on the admin listener count the sessions (the first
	// login's is still open) and the logins.
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"samtal_c2s_sessions 2", `samtal_c2s_auth_total{mechanism="PLAIN",result="success"} 2`, `samtal_c2s_auth_total{mechanism="PLAIN",result="not-authorized"} 1`, "samtal_storage_seconds_bucket", "samtal_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// Disabled by another process: the next login with the right
	// password fails with account-disabled, one with a wrong password as
	// for any account; enabled again, the account logs in.
	if got := user("", "disable", "ada@chat.example"); !strings.Contains(got, "disabled ada@chat.example") {
		t.Errorf("user disable = %q", got)
	}
	// The running server sees it and ends ada's open session.
	if got := r.streamError(); got != "not-authorized" {
		t.Errorf("ada's session after user disable: %s, want not-authorized", got)
	}
	if el := dialRaw(t, c2s).auth("chat.example", "ada", "second password"); el.Local != "failure" || el.FirstElement() == nil || el.FirstElement().Local != "account-disabled" {
		t.Errorf("the right password of a disabled account: %v, want <failure><account-disabled/>", el)
	}
	if el := dialRaw(t, c2s).auth("chat.example", "ada", "a wrong password"); el.FirstElement() == nil || el.FirstElement().Local != "not-authorized" {
		t.Errorf("a wrong password of a disabled account: %v, want <failure><not-authorized/>", el)
	}
	if got := user("", "enable", "ada@chat.example"); !strings.Contains(got, "enabled ada@chat.example") {
		t.Errorf("user enable = %q", got)
	}
	again := dialRaw(t, c2s)
	again.login("chat.example", "ada", "second password")

	if got := user("", "remove", "ada@chat.example"); !strings.Contains(got, "removed") {
		t.Errorf("user remove = %q", got)
	}
	if got := again.streamError(); got != "not-authorized" {
		t.Errorf("ada's session after user remove: %s, want not-authorized", got)
	}
	if el := dialRaw(t, c2s).auth("chat.example", "ada", "second password"); el.Local != "failure" {
		t.Errorf("a removed account logs in: %v", el)
	}
	c3 := exec.Command(binary, "user", "remove", "--data-dir", data, "--domain", "chat.example", "ada@chat.example")
	if b, err := c3.CombinedOutput(); err == nil || !strings.Contains(string(b), "does not exist") {
		t.Errorf("removing a missing account: %v %s", err, b)
	}
}
