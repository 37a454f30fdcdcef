package upload

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

type fakeRouter struct {
	mu  sync.Mutex
	out []*stanza.Stanza
}

func (r *fakeRouter) Route(_ context.Context, st *stanza.Stanza) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out = append(r.out, st)
}

func (r *fakeRouter) IsLocal(domain string) bool { return domain == "example.org" }

type fixture struct {
	t   *testing.T
	s   *Service
	r   *fakeRouter
	ts  *httptest.Server
	dir string
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, r: &fakeRouter{}, dir: filepath.Join(t.TempDir(), "uploads"), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var ts *httptest.Server
	s, err := New(Config{
		Dir: f.dir, MaxFileSize: 100, Quota: 250, Retention: 24 * time.Hour,
		BaseURL: func(host string) string { return ts.URL },
	}, f.r, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return f.now }
	mux := http.NewServeMux()
	mux.Handle("/upload/", s)
	ts = httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	f.s, f.ts = s, ts
	return f
}

func mustJID(s string) jid.JID {
	j, err := jid.Parse(s)
	if err != nil {
		panic(err)
	}
	return j
}

// ask sends a request to the service and returns its answer.
func (f *fixture) ask(from string, payload *xmlel.Element) *xmlel.Element {
	f.t.Helper()
	el := xmlel.New("", "iq", "type", "get", "id", "q1", "from", from, "to", "upload.example.org").Append(payload)
	f.s.Handle(context.Background(), &stanza.Stanza{El: el, From: mustJID(from), To: mustJID("upload.example.org")})
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if len(f.r.out) == 0 {
		f.t.Fatal("no answer")
	}
	a := f.r.out[len(f.r.out)-1]
	if a.El.Attr("to") != from || a.El.Attr("from") != "upload.example.org" || a.El.Attr("id") != "q1" {
		f.t.Errorf("answer addressed %v", a.El)
	}
	return a.El
}

func request(name, size, ctype string) *xmlel.Element {
	return xmlel.New(NS, "request", "filename", name, "size", size, "content-type", ctype)
}

func (f *fixture) slot(from, name, size, ctype string) (put, get string) {
	f.t.Helper()
	a := f.ask(from, request(name, size, ctype))
	s := a.Child(NS, "slot")
	if a.Attr("type") != "result" || s == nil {
		f.t.Fatalf("slot request: %v", a)
	}
	return s.Child(NS, "put").Attr("url"), s.Child(NS, "get").Attr("url")
}

func (f *fixture) do(method, url, ctype, body string) *http.Response {
	f.t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func errorCondition(el *xmlel.Element) string {
	e, ok := stanza.ParseError(el)
	if !ok {
		return ""
	}
	return string(e.Condition)
}

func TestDisco(t *testing.T) {
	f := newFixture(t)
	a := f.ask("a@example.org/r", xmlel.New(stanza.NSDiscoInfo, "query"))
	q := a.Child(stanza.NSDiscoInfo, "query")
	s := q.String()
	for _, want := range []string{"category='store'", "type='file'", "var='" + NS + "'", "<value>100</value>", "var='max-file-size'"} {
		if !strings.Contains(s, want) {
			t.Errorf("disco#info %s lacks %s", s, want)
		}
	}
}

func TestSlotErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, from string
		req        *xmlel.Element
		cond       string
	}{
		{"too large", "a@example.org/r", request("a.txt", "101", ""), "not-acceptable"},
		{"no name", "a@example.org/r", request("", "10", ""), "bad-request"},
		{"no size", "a@example.org/r", request("a.txt", "", ""), "bad-request"},
		{"negative size", "a@example.org/r", request("a.txt", "-1", ""), "bad-request"},
		{"bad type", "a@example.org/r", request("a.txt", "10", "not a type"), "bad-request"},
		{"remote user", "a@elsewhere.example/r", request("a.txt", "10", ""), "forbidden"},
		{"other query", "a@example.org/r", xmlel.New("jabber:iq:version", "query"), "service-unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errorCondition(f.ask(tc.from, tc.req)); got != tc.cond {
				t.Errorf("error %q, want %q", got, tc.cond)
			}
		})
	}
	a := f.ask("a@example.org/r", request("a.txt", "101", ""))
	if a.Child("", "error").Child(NS, "file-too-large").ChildText(NS, "max-file-size") != "100" {
		t.Errorf("too large: %v, want the limit (XEP-0363 §4.2)", a)
	}
}

func TestUploadAndDownload(t *testing.T) {
	f := newFixture(t)
	put, get := f.slot("a@example.org/r", "très cool.png", "5", "image/png")
	if !strings.HasPrefix(put, get+"?token=") || !strings.Contains(get, "/tr%C3%A8s%20cool.png") {
		t.Errorf("put %s get %s", put, get)
	}
	for _, tc := range []struct {
		name, url, ctype, body string
		status                 int
	}{
		{"no token", get, "image/png", "12345", http.StatusForbidden},
		{"wrong token", get + "?token=x", "image/png", "12345", http.StatusForbidden},
	} {
		if resp := f.do("PUT", tc.url, tc.ctype, tc.body); resp.StatusCode != tc.status {
			t.Errorf("%s: PUT = %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
	if resp := f.do("GET", get, "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET before PUT = %d, want 404", resp.StatusCode)
	}
	if resp := f.do("PUT", put, "image/png", "12345"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT = %d, want 201", resp.StatusCode)
	}
	if resp := f.do("PUT", put, "image/png", "12345"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("second PUT = %d, want 403", resp.StatusCode)
	}
	resp, err := http.Get(get)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h := resp.Header
	if string(b) != "12345" || h.Get("Content-Type") != "image/png" || !strings.HasPrefix(h.Get("Content-Disposition"), "inline") ||
		h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") ||
		h.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("GET = %q with %v", b, h)
	}
}

// TestNoActiveContent: whatever type a client claims, HTML, SVG and the
// like are attachments of an inert type.
func TestNoActiveContent(t *testing.T) {
	f := newFixture(t)
	for _, ctype := range []string{"text/html", "image/svg+xml", "application/javascript", ""} {
		put, get := f.slot("a@example.org/r", "x.html", "20", ctype)
		if resp := f.do("PUT", put, ctype, "<script>1</script>xx"); resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT %s = %d", ctype, resp.StatusCode)
		}
		resp := f.do("GET", get, "", "")
		if resp.Header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("%q served as %v", ctype, resp.Header)
		}
	}
}

func TestPutChecks(t *testing.T) {
	f := newFixture(t)
	put, _ := f.slot("a@example.org/r", "a.png", "5", "image/png")
	if resp := f.do("PUT", put, "image/png", "123456"); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("PUT of the wrong length = %d, want 413", resp.StatusCode)
	}
	put, _ = f.slot("a@example.org/r", "a.png", "5", "image/png")
	if resp := f.do("PUT", put, "text/html", "12345"); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("PUT of the wrong type = %d, want 415", resp.StatusCode)
	}
	// A slot expires.
	put, _ = f.slot("a@example.org/r", "a.png", "5", "image/png")
	f.now = f.now.Add(6 * time.Minute)
	if resp := f.do("PUT", put, "image/png", "12345"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("PUT after the slot expired = %d, want 403", resp.StatusCode)
	}
}

func TestPaths(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/upload/../../etc/passwd", "/upload/..%2f..%2fetc%2fpasswd/x", "/upload/" + strings.Repeat("a", 31) + "/x", "/upload/" + strings.Repeat("A", 32) + "/x"} {
		resp := f.do("GET", f.ts.URL+p, "", "")
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
	if got := cleanName("../../a/b\\c\x00.png"); strings.ContainsAny(got, "/\\\x00") {
		t.Errorf("cleanName = %q", got)
	}
	if got := cleanName(strings.Repeat("é", 150)); len(got) > 200 || !utf8.ValidString(got) {
		t.Errorf("cleanName of a long name = %q", got)
	}
}

// TestQuotaRetentionRemoval: the quota counts stored files and open
// slots; files expire; an account's files go with it.
func TestQuotaRetentionRemoval(t *testing.T) {
	f := newFixture(t)
	var gets []string
	for range 2 {
		put, get := f.slot("a@example.org/r", "a.bin", "100", "")
		if resp := f.do("PUT", put, "", strings.Repeat("x", 100)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT = %d", resp.StatusCode)
		}
		gets = append(gets, get)
	}
	f.slot("a@example.org/r", "a.bin", "50", "")
	a := f.ask("a@example.org/r", request("b.bin", "1", ""))
	if errorCondition(a) != "resource-constraint" || a.Child("", "error").Attr("type") != "wait" || a.Child("", "error").Child(NS, "retry") == nil {
		t.Errorf("over quota: %v, want resource-constraint, wait, retry", a)
	}
	// Another account has its own quota.
	f.slot("b@example.org/r", "b.bin", "100", "")

	// After the retention the files are gone, and so is the quota used.
	f.now = f.now.Add(25 * time.Hour)
	if n, err := f.s.Sweep(); err != nil || n != 2 {
		t.Errorf("Sweep = %d, %v, want 2 files deleted", n, err)
	}
	if resp := f.do("GET", gets[0], "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of an expired file = %d", resp.StatusCode)
	}
	put, get := f.slot("a@example.org/r", "a.bin", "100", "")
	f.do("PUT", put, "", strings.Repeat("x", 100))
	put2, get2 := f.slot("b@example.org/r", "b.bin", "10", "")
	f.do("PUT", put2, "", strings.Repeat("y", 10))

	n, err := f.s.RemoveUser(mustJID("a@example.org"))
	if err != nil || n != 1 {
		t.Errorf("RemoveUser = %d, %v, want 1", n, err)
	}
	if resp := f.do("GET", get, "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of a removed account's file = %d", resp.StatusCode)
	}
	if resp := f.do("GET", get2, "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("GET of another account's file = %d", resp.StatusCode)
	}
	// RemoveOwner works on the directory alone, for the command line.
	if n, err := RemoveOwner(f.dir, mustJID("b@example.org")); err != nil || n != 1 {
		t.Errorf("RemoveOwner = %d, %v, want 1", n, err)
	}
	entries, _ := os.ReadDir(f.dir)
	if len(entries) != 0 {
		t.Errorf("%d entries left in the upload directory", len(entries))
	}
}
