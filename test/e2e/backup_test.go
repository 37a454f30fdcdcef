package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStorageBackup backs up a running server with `samtal storage backup`,
// then starts the server on the backup's files alone: the accounts log
// in with their passwords, and the roster, the offline messages, the
// message archives and an uploaded file are there, under the same
// secret and certificate.
func TestStorageBackup(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false"})
	const pw = "correct horse battery staple"
	for _, u := range []string{"pa", "pb", "mo", "mm", "ua", "ub"} {
		s.AddUser(u, pw)
	}
	s.Slix(t, "roster", pw, "pa", "pb")
	s.Slix(t, "send_offline", pw, "pa", "pb")
	s.Slix(t, "mam_store", pw, "mo", "mm")
	s.Slix(t, "upload", pw, "ua", "ub")

	data := filepath.Join(s.Dir, "data")
	backup := filepath.Join(s.Dir, "backup")
	out, err := s.Run("", "storage", "backup", "--to", backup)
	t.Logf("samtal storage backup:\n%s", out)
	if err != nil || !strings.Contains(out, "backup complete") {
		t.Fatalf("samtal storage backup: %v", err)
	}
	if out, err := s.Run("", "storage", "backup", "--to", backup); err == nil || !strings.Contains(out, "not empty") {
		t.Errorf("a second backup into the same directory = %v, %q, want a refusal", err, out)
	}
	before := map[string][]byte{}
	for _, name := range []string{"secret", "turn-secret", "certs/" + s.Domain + ".crt"} {
		if before[name], err = os.ReadFile(filepath.Join(data, name)); err != nil {
			t.Fatal(err)
		}
	}

	// The restore as the command tells it: the data directory replaced by
	// the backup.
	s.Stop()
	if err := os.Rename(data, data+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(backup, data); err != nil {
		t.Fatal(err)
	}
	s.start()
	for name, b := range before {
		if got, err := os.ReadFile(filepath.Join(data, name)); err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s after the restore is not the one before: %v", name, err)
		}
	}
	s.Slix(t, "receive_offline", pw, "pa", "pb")
	s.Slix(t, "mam_stored", pw, "mo", "mm")

	// The uploaded file is served again.
	ups, err := os.ReadDir(filepath.Join(data, "uploads"))
	if err != nil || len(ups) != 1 {
		t.Fatalf("uploads after the restore: %v, %v, want the one file", ups, err)
	}
	dir := filepath.Join(data, "uploads", ups[0].Name())
	var meta struct{ Name string }
	if b, err := os.ReadFile(filepath.Join(dir, "meta.json")); err != nil || json.Unmarshal(b, &meta) != nil {
		t.Fatalf("the upload's record: %v", err)
	}
	want, err := os.ReadFile(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	// The address is 127.0.0.1, for which the certificate is not.
	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	resp, err := httpc.Get("https://" + s.Web + "/upload/" + ups[0].Name() + "/" + url.PathEscape(meta.Name))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || !bytes.Equal(got, want) || len(got) != 3000 {
		t.Errorf("GET of the uploaded file after the restore = %d, %d bytes, %v; want the 3000 bytes uploaded", resp.StatusCode, len(got), err)
	}
}
