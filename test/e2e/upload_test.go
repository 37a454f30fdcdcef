package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const nsUpload = "urn:xmpp:http:upload:0"

// TestUploadLifecycle checks the upload service from the outside: it is
// listed in disco with its size limit, a slot's PUT stores the file, the
// GET serves it as passive content, and removing the account (in-band,
// XEP-0077, or with samtal user remove) deletes its files.
func TestUploadLifecycle(t *testing.T) {
	s := StartServer(t, Options{Extra: "[upload]\nmax_file_size = 1000\nquota = 5000\n"})
	s.AddUser("up", "upload password")
	s.AddUser("up2", "upload password")
	// The URLs name the host, localhost; the test reaches it at
	// 127.0.0.1, where the self-signed certificate is not valid.
	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	slot := func(c *raw, name, size string) (put, get string) {
		t.Helper()
		c.send("<iq type='get' id='slot' to='upload." + s.Domain + "'><request xmlns='" + nsUpload + "' filename='" + name + "' size='" + size + "' content-type='text/plain'/></iq>")
		el := c.next()
		sl := el.Child(nsUpload, "slot")
		if sl == nil {
			t.Fatalf("slot: %v", el)
		}
		return sl.Child(nsUpload, "put").Attr("url"), sl.Child(nsUpload, "get").Attr("url")
	}
	do := func(method, url, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/plain")
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	files := func() int {
		entries, _ := os.ReadDir(filepath.Join(s.Dir, "data", "uploads"))
		return len(entries)
	}

	c := dialRaw(t, s.C2S)
	c.login(s.Domain, "up", "upload password")
	c.send("<iq type='get' id='items' to='" + s.Domain + "'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	if items := c.next(); !strings.Contains(items.String(), "jid='upload."+s.Domain+"'") {
		t.Errorf("disco#items lacks the upload service: %v", items)
	}
	c.send("<iq type='get' id='info' to='upload." + s.Domain + "'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if info := c.next().String(); !strings.Contains(info, nsUpload) || !strings.Contains(info, "<value>1000</value>") {
		t.Errorf("disco#info of the upload service: %s", info)
	}
	c.send("<iq type='get' id='big' to='upload." + s.Domain + "'><request xmlns='" + nsUpload + "' filename='big' size='1001'/></iq>")
	if el := c.next(); el.Attr("type") != "error" || el.Child("", "error").Child(nsUpload, "file-too-large") == nil {
		t.Errorf("too large: %v", el)
	}

	put, get := slot(c, "notes.txt", "11")
	if !strings.HasPrefix(get, "https://localhost:"+Port(s.Web)+"/upload/") {
		t.Errorf("GET URL %s is not on the web listener", get)
	}
	local := func(u string) string { return strings.Replace(u, "localhost", "127.0.0.1", 1) }
	if resp := do("PUT", local(put), "hello world"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT = %d", resp.StatusCode)
	}
	resp := do("GET", local(get), "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/plain" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("GET = %d %v", resp.StatusCode, resp.Header)
	}
	if files() != 1 {
		t.Fatalf("%d files stored, want 1", files())
	}

	// In-band removal (XEP-0077 §3.2) takes the uploads along; they go
	// just after the answer, with the account's sessions.
	c.send("<iq type='set' id='rm'><query xmlns='jabber:iq:register'><remove/></query></iq>")
	c.next()
	if err := poll(5*time.Second, func() error {
		if n := files(); n != 0 {
			return fmt.Errorf("%d files left after the account was removed", n)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if resp := do("GET", local(get), ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET after the account was removed = %d, want 404", resp.StatusCode)
	}

	// So does samtal user remove, from another process.
	c2 := dialRaw(t, s.C2S)
	c2.login(s.Domain, "up2", "upload password")
	put, _ = slot(c2, "a.txt", "1")
	do("PUT", local(put), "x")
	if files() != 1 {
		t.Fatalf("%d files stored, want 1", files())
	}
	if out, err := s.Samtal("", "remove", "up2@"+s.Domain); err != nil {
		t.Fatalf("samtal user remove: %v\n%s", err, out)
	}
	if files() != 0 {
		t.Errorf("%d files left after samtal user remove", files())
	}
}

// TestSlixmppUpload: slixmpp's own XEP-0363 plugin finds the service,
// uploads, and another slixmpp client downloads the file.
func TestSlixmppUpload(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false"})
	const pw = "correct horse battery staple"
	s.AddUser("ua", pw)
	s.AddUser("ub", pw)
	s.Slix(t, "upload", pw, "ua", "ub")
}
