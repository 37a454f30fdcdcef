package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestGoSendxmpp has a real end-user client, go-sendxmpp, deliver a
// message to a slixmpp receiver, over STARTTLS and over direct TLS.
// go-sendxmpp 0.5.6 (Debian 12) authenticates with PLAIN (its library
// has no SCRAM) and needs -n for the self-signed certificate.
func TestGoSendxmpp(t *testing.T) {
	requireTool(t, func() error { _, err := exec.LookPath("go-sendxmpp"); return err }, "go-sendxmpp")
	// The slixmpp receiver needs SCRAM without -PLUS (see core_test.go).
	s := StartServer(t, Options{Top: "sasl_channel_binding = false"})
	const pw = "correct horse battery staple"
	s.AddUser("sender", pw)
	s.AddUser("receiver", pw)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"starttls", []string{"-j", s.C2S}},
		{"direct tls", []string{"-t", "-j", s.TLS}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := "hello from go-sendxmpp over " + tc.name
			recv := s.SlixStart(t, "receive", pw, []string{"--expect", body}, "receiver", "sender")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := append([]string{"-u", "sender@localhost", "-p", pw, "-n", "--timeout", "10"}, tc.args...)
			cmd := exec.CommandContext(ctx, "go-sendxmpp", append(args, "receiver@localhost")...)
			// A home of its own: no configuration file of the machine's.
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
			cmd.Stdin = strings.NewReader(body + "\n")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go-sendxmpp: %v\n%s", err, out)
			}
			recv.Wait()
			// The receiver used SCRAM; the sender, PLAIN.
			if n := metric(t, s.Admin, `samtal_c2s_auth_total{mechanism="PLAIN",result="success"}`); n < 1 {
				t.Errorf("no PLAIN login counted; go-sendxmpp used another mechanism")
			}
		})
	}
}
