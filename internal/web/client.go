package web

import (
	"bytes"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// clientCSP is the web client's policy: its scripts, styles, fonts and
// images come from this origin only; 'wasm-unsafe-eval' lets the OMEMO
// library compile its curve25519 WebAssembly module, and nothing else is
// evaluated. connect-src 'self' covers the WebSocket, BOSH and uploads;
// blob: and data: are the decrypted files and avatars converse.js shows.
// Styles need 'unsafe-inline': converse.js's templates set style
// attributes (the browser test fails on any violation of this policy);
// styles cannot run script.
const clientCSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; " +
	"style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; " +
	"font-src 'self'; connect-src 'self'; manifest-src 'self'; worker-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// client serves the web client: index.html rendered with this server's
// domain and endpoints, the rest as static files.
type client struct {
	files   fs.FS
	index   *template.Template
	hosts   []string
	built   bool // dist/converse.min.js is there
	modTime time.Time
}

func newClient(files fs.FS, hosts []string) (*client, error) {
	c := &client{files: files, hosts: hosts, modTime: time.Now()}
	t, err := template.ParseFS(files, "index.html")
	if err != nil {
		return nil, err
	}
	c.index = t
	if _, err := fs.Stat(files, "dist/converse.min.js"); err == nil {
		c.built = true
	}
	return c, nil
}

// serveClient serves the web client at /, or says why there is none.
func (s *Server) serveClient(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	c := s.client
	if c == nil || !c.built {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		if c == nil {
			_, _ = w.Write([]byte("samtal: the web client is turned off ([web] client = false).\n"))
			return
		}
		_, _ = w.Write([]byte("samtal: the web client was not built into this binary; build it with `make build` (runs npm in web/).\n"))
		return
	}
	w.Header().Set("Content-Security-Policy", clientCSP)
	p := r.URL.Path
	if p == "/" || p == "/index.html" {
		c.serveIndex(w, r, s.baseURL(r).Path)
		return
	}
	name := strings.TrimPrefix(path.Clean(p), "/")
	if name == "index.html" || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	f, err := c.files.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	rs, ok := f.(interface {
		Read([]byte) (int, error)
		Seek(int64, int) (int64, error)
	})
	if !ok {
		http.NotFound(w, r)
		return
	}
	if strings.HasPrefix(name, "dist/") {
		w.Header().Set("Cache-Control", "max-age=86400")
	}
	http.ServeContent(w, r, name, c.modTime, rs)
}

// serveIndex renders the login page with the domain to log in to and the
// endpoints, as meta elements that samtal.js reads: the page has no
// inline script, which its policy forbids.
func (c *client) serveIndex(w http.ResponseWriter, r *http.Request, base string) {
	domain := c.hosts[0]
	host := strings.ToLower(r.Host)
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	for _, h := range c.hosts {
		if h == host {
			domain = h
		}
	}
	var buf bytes.Buffer
	err := c.index.Execute(&buf, struct {
		Domain, WebSocket, BOSH string
	}{domain, base + "/xmpp-websocket", base + "/http-bind"})
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(buf.Bytes())
}
