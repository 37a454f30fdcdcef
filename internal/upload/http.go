package upload

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// inline are the types a browser may show in place: images, sound and
// video that it decodes without running anything, and plain text (which
// nosniff keeps plain). SVG is an image that runs scripts, so it is not
// here; neither is anything else.
var inline = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/avif": true,
	"audio/mpeg": true, "audio/ogg": true, "audio/opus": true, "audio/webm": true, "audio/mp4": true, "audio/aac": true, "audio/flac": true, "audio/wav": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true,
	"text/plain": true,
}

// downloadCSP sandboxes whatever a browser opens from the upload URLs
// (XEP-0363 §11): no script, no plugin, a unique origin.
const downloadCSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox"

// ServeHTTP serves /upload/<id>/<name>: PUT stores a slot's file, GET and
// HEAD serve it, OPTIONS answers CORS preflights (XEP-0363 §5).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "86400")
	rest, ok := strings.CutPrefix(r.URL.Path, "/upload/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	id, _, _ := strings.Cut(rest, "/")
	if !validID(id) {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		s.put(w, r, id)
	case http.MethodGet, http.MethodHead:
		s.get(w, r, id)
	default:
		h.Set("Allow", "GET, HEAD, PUT, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// put stores the file of a slot. The slot is used up by the first
// attempt, good or bad: a failed upload asks for a new slot (XEP-0363
// §5).
func (s *Service) put(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	sl, ok := s.slots[id]
	if !ok || sl.taken || s.now().After(sl.expires) || !sl.tokenOK(r.URL.Query().Get("token")) {
		s.mu.Unlock()
		http.Error(w, "no such upload slot, or it expired", http.StatusForbidden)
		return
	}
	// Taken now, so that a second PUT cannot race this one; the quota
	// stays promised until the file is stored or the slot dropped.
	sl.taken = true
	s.mu.Unlock()
	stored := false
	defer func() {
		if !stored {
			s.mu.Lock()
			s.dropSlot(id)
			s.mu.Unlock()
		}
	}()
	// XEP-0363 §5: the length must be the slot's size, and a type given
	// in the request must be the slot's.
	if r.ContentLength != sl.rec.Size {
		if r.ContentLength < 0 {
			http.Error(w, "Content-Length is required", http.StatusLengthRequired)
			return
		}
		http.Error(w, "Content-Length is not the size of the slot", http.StatusRequestEntityTooLarge)
		return
	}
	if sl.rec.Type != "" {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || !strings.EqualFold(mt, sl.rec.Type) {
			http.Error(w, "Content-Type is not the type of the slot", http.StatusUnsupportedMediaType)
			return
		}
	}
	dir := filepath.Join(s.cfg.Dir, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		s.log.Error("upload: create directory failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := s.store(dir, http.MaxBytesReader(w, r.Body, sl.rec.Size), sl.rec.Size); err != nil {
		os.RemoveAll(dir)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, errShort) {
			http.Error(w, "the body is not the size of the slot", http.StatusBadRequest)
			return
		}
		s.log.Error("upload: store failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	rec := sl.rec
	rec.Created = s.now()
	b, _ := json.Marshal(rec) // a record always marshals
	if err := writeFile(filepath.Join(dir, "meta.json"), b); err != nil {
		os.RemoveAll(dir)
		s.log.Error("upload: store failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	s.files[id] = rec
	delete(s.slots, id)
	s.release(rec.Owner)
	s.mu.Unlock()
	stored = true
	w.WriteHeader(http.StatusCreated)
}

// release counts an open slot of owner as used. s.mu is held.
func (s *Service) release(owner string) {
	if s.open[owner]--; s.open[owner] <= 0 {
		delete(s.open, owner)
	}
}

var errShort = errors.New("upload: body shorter than the slot")

// store writes the body to dir/data, all of it or nothing.
func (s *Service) store(dir string, body io.Reader, size int64) error {
	tmp := filepath.Join(dir, "data.tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, body)
	if err == nil && n != size {
		err = errShort
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "data"))
}

func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// get serves a stored file as passive content.
func (s *Service) get(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	rec, ok := s.files[id]
	s.mu.Unlock()
	if !ok || s.now().Sub(rec.Created) > s.cfg.Retention {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(s.cfg.Dir, id, "data"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Security-Policy", downloadCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, max-age=86400")
	ctype, disposition := "application/octet-stream", "attachment"
	if inline[rec.Type] {
		ctype, disposition = rec.Type, "inline"
	}
	h.Set("Content-Type", ctype)
	if cd := mime.FormatMediaType(disposition, map[string]string{"filename": rec.Name}); cd != "" {
		h.Set("Content-Disposition", cd)
	} else {
		h.Set("Content-Disposition", disposition)
	}
	http.ServeContent(w, r, "", rec.Created, f)
}
