// Package upload is HTTP file upload (XEP-0363): a service at
// upload.<host> that hands out slots over XMPP, and the HTTP handler that
// takes the PUT of each slot and serves the file to whoever has its URL.
//
// Files live under the data directory, one directory per slot named by
// its random id (never by anything a client chose, so no path can
// escape), with the file and a small JSON record of its owner (a hash of
// the account's JID), name, type, size and time. They expire after a
// finite retention, count against a per-account quota, and go with the
// account that uploaded them.
//
// Downloads are never active content: only image, audio, video and plain
// text types are served inline, everything else as an attachment of type
// application/octet-stream, always with nosniff and a Content-Security-
// Policy that sandboxes whatever a browser opens (XEP-0363 §11).
package upload

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// NS is the namespace of XEP-0363.
const NS = "urn:xmpp:http:upload:0"

// Config configures the upload service.
type Config struct {
	// Dir holds the files; it is created 0700.
	Dir string
	// MaxFileSize is the largest file in bytes; Quota what one account
	// may have stored (and promised in open slots) at once.
	MaxFileSize int64
	Quota       int64
	// Retention is how long a file is kept.
	Retention time.Duration
	// SlotTTL is how long a slot's PUT URL is valid; default 5 minutes
	// (XEP-0363 §6 recommends about 300 s).
	SlotTTL time.Duration
	// MaxOpenSlots bounds the slots one account may hold unused; default
	// 10.
	MaxOpenSlots int
	// BaseURL returns the URL of the web server that serves the files of
	// a host, without a trailing slash: "https://chat.example.org".
	BaseURL func(host string) string
}

// Validate reports problems of c.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("upload: no directory")
	case c.MaxFileSize <= 0, c.Quota < c.MaxFileSize:
		return errors.New("upload: the quota must hold at least one file of the largest size")
	case c.Retention <= 0:
		return errors.New("upload: the retention must be positive")
	case c.BaseURL == nil:
		return errors.New("upload: no base URL")
	}
	return nil
}

// Router is where the service's answers go; *router.Router has it.
type Router interface {
	Route(ctx context.Context, st *stanza.Stanza)
	IsLocal(domain string) bool
}

// Service is the upload service. It is safe for concurrent use.
type Service struct {
	cfg    Config
	router Router
	log    *slog.Logger
	now    func() time.Time

	mu    sync.Mutex
	slots map[string]*slot // open slots by id
	files map[string]record
	used  map[string]int64 // bytes stored and promised, by owner key
	open  map[string]int   // open slots, by owner key
}

// slot is an upload that was allowed and has not come yet.
type slot struct {
	id      string
	token   [sha256.Size]byte // hash of the PUT token
	rec     record
	expires time.Time
	taken   bool // its PUT is under way
}

// record is what the service knows of a file; it is stored beside the file
// as meta.json.
type record struct {
	Owner   string    `json:"owner"`
	Name    string    `json:"name"`
	Type    string    `json:"type,omitempty"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

// New returns the service with the files already in cfg.Dir.
func New(cfg Config, r Router, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.SlotTTL <= 0 {
		cfg.SlotTTL = 5 * time.Minute
	}
	if cfg.MaxOpenSlots <= 0 {
		cfg.MaxOpenSlots = 10
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	s := &Service{cfg: cfg, router: r, log: log, now: time.Now, slots: make(map[string]*slot)}
	if _, err := s.Sweep(); err != nil {
		return nil, err
	}
	return s, nil
}

// OwnerKey is how files name their owner: a hash of the account's bare
// JID, so that the upload directory lists no addresses.
func OwnerKey(user jid.JID) string {
	h := sha256.Sum256([]byte("samtal upload owner\x00" + user.Bare().String()))
	return hex.EncodeToString(h[:16])
}

// Sweep deletes expired files, uploads that never completed and slots
// that were not used, and reloads the index from the directory (which
// also sees files that RemoveOwner deleted from another process). It
// returns the number of files deleted.
func (s *Service) Sweep() (int, error) {
	now := s.now()
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sl := range s.slots {
		if now.After(sl.expires) && !sl.taken {
			s.dropSlot(id)
		}
	}
	files := make(map[string]record, len(entries))
	deleted := 0
	for _, e := range entries {
		id := e.Name()
		if !validID(id) || !e.IsDir() {
			continue
		}
		dir := filepath.Join(s.cfg.Dir, id)
		rec, err := readRecord(dir)
		if err != nil {
			// An upload in progress has no record yet; one older than
			// its slot never finished.
			if _, open := s.slots[id]; open {
				continue
			}
			if fi, serr := e.Info(); serr == nil && now.Sub(fi.ModTime()) < s.cfg.SlotTTL+time.Hour {
				continue
			}
			if os.RemoveAll(dir) == nil {
				deleted++
			}
			continue
		}
		if now.Sub(rec.Created) > s.cfg.Retention {
			if os.RemoveAll(dir) == nil {
				deleted++
			}
			continue
		}
		files[id] = rec
	}
	s.files = files
	s.used = make(map[string]int64)
	for _, rec := range files {
		s.used[rec.Owner] += rec.Size
	}
	s.open = make(map[string]int)
	for _, sl := range s.slots {
		s.used[sl.rec.Owner] += sl.rec.Size
		s.open[sl.rec.Owner]++
	}
	return deleted, nil
}

// RemoveUser deletes the files and open slots of an account, for account
// removal.
func (s *Service) RemoveUser(user jid.JID) (int, error) {
	owner := OwnerKey(user)
	s.mu.Lock()
	for id, sl := range s.slots {
		if sl.rec.Owner == owner {
			s.dropSlot(id)
		}
	}
	for id, rec := range s.files {
		if rec.Owner == owner {
			delete(s.files, id)
		}
	}
	delete(s.used, owner)
	s.mu.Unlock()
	return RemoveOwner(s.cfg.Dir, user)
}

// RemoveOwner deletes every file in dir that user uploaded. It works on
// the directory alone, so that an administration command can use it
// while the server runs; the server's next Sweep notices.
func RemoveOwner(dir string, user jid.JID) (int, error) {
	owner := OwnerKey(user)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if !validID(e.Name()) || !e.IsDir() {
			continue
		}
		d := filepath.Join(dir, e.Name())
		rec, err := readRecord(d)
		if err != nil || rec.Owner != owner {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func readRecord(dir string) (record, error) {
	var rec record
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return rec, err
	}
	err = json.Unmarshal(b, &rec)
	return rec, err
}

// dropSlot forgets an open slot and what it promised. s.mu is held.
func (s *Service) dropSlot(id string) {
	sl, ok := s.slots[id]
	if !ok {
		return
	}
	delete(s.slots, id)
	s.used[sl.rec.Owner] -= sl.rec.Size
	s.release(sl.rec.Owner)
}

// idEncoding writes ids and tokens: lowercase base32 without padding, so
// that they are safe in paths and URLs.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// idLen is the length of an id: 160 random bits.
const idLen = 32

func randomString() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return idEncoding.EncodeToString(b)
}

// validID reports whether id can be a slot id; anything else is never
// used to build a path.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// cleanName makes a client's file name safe for a URL path segment and a
// Content-Disposition header, keeping its extension (XEP-0363 §4.2 asks
// that the name be kept intact where it can).
func cleanName(name string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == '\\' || unicode.IsControl(r) || r == utf8.RuneError:
			return '_'
		}
		return r
	}, name)
	name = strings.Trim(name, " .")
	if len(name) > 200 {
		name = strings.ToValidUTF8(name[:200], "")
	}
	if name == "" {
		return "file"
	}
	return name
}

// Handle serves the stanzas sent to the upload service's domain.
func (s *Service) Handle(ctx context.Context, st *stanza.Stanza) {
	if st.Kind() != stanza.IQ {
		if st.Kind() == stanza.Message && st.Type() != "error" {
			s.reply(ctx, st, stanza.ErrorReply(st.El, stanza.E(stanza.ServiceUnavailable)))
		}
		return
	}
	if !st.IsRequest() {
		return
	}
	el, err := s.serveIQ(st)
	if err != nil {
		el = st.Answer(nil, err, func(err error) { s.log.Error("upload failed", "err", err) })
	}
	s.reply(ctx, st, el)
}

func (s *Service) reply(ctx context.Context, st *stanza.Stanza, el *xmlel.Element) {
	if el == nil || st.From.IsZero() {
		return
	}
	el.SetAttr("from", st.To.String())
	el.SetAttr("to", st.From.String())
	s.router.Route(ctx, &stanza.Stanza{El: el, From: st.To, To: st.From})
}

func (s *Service) serveIQ(st *stanza.Stanza) (*xmlel.Element, error) {
	q := st.Payload()
	switch {
	case q == nil || !st.To.IsDomain():
		return nil, stanza.E(stanza.ServiceUnavailable)
	case st.Type() == "get" && q.Is(stanza.NSDiscoInfo, "query") && q.Attr("node") == "":
		return st.Result(s.info()), nil
	case st.Type() == "get" && q.Is(stanza.NSDiscoItems, "query") && q.Attr("node") == "":
		return st.Result(xmlel.New(stanza.NSDiscoItems, "query")), nil
	case st.Type() == "get" && q.Is(NS, "request"):
		return s.request(st, q)
	}
	return nil, stanza.E(stanza.ServiceUnavailable)
}

// info is the disco#info of the service, with the largest file size
// (XEP-0363 §3, XEP-0128).
func (s *Service) info() *xmlel.Element {
	form := xmlel.New(stanza.NSDataForm, "x", "type", "result").Append(
		xmlel.New(stanza.NSDataForm, "field", "var", "FORM_TYPE", "type", "hidden").Append(
			xmlel.TextElement(stanza.NSDataForm, "value", NS)),
		xmlel.New(stanza.NSDataForm, "field", "var", "max-file-size").Append(
			xmlel.TextElement(stanza.NSDataForm, "value", strconv.FormatInt(s.cfg.MaxFileSize, 10))),
	)
	return xmlel.New(stanza.NSDiscoInfo, "query").Append(
		xmlel.New(stanza.NSDiscoInfo, "identity", "category", "store", "type", "file", "name", "HTTP File Upload"),
		xmlel.New(stanza.NSDiscoInfo, "feature", "var", stanza.NSDiscoInfo),
		xmlel.New(stanza.NSDiscoInfo, "feature", "var", NS),
		form,
	)
}

// request hands out a slot (XEP-0363 §4).
func (s *Service) request(st *stanza.Stanza, q *xmlel.Element) (*xmlel.Element, error) {
	if !s.router.IsLocal(st.From.Domain()) || st.From.Local() == "" {
		return nil, stanza.E(stanza.Forbidden).WithText("only accounts of this server may upload")
	}
	name := q.Attr("filename")
	size, err := strconv.ParseInt(q.Attr("size"), 10, 64)
	if name == "" || err != nil || size <= 0 {
		return nil, stanza.E(stanza.BadRequest).WithText("a file name and a positive size are required")
	}
	ctype := q.Attr("content-type")
	if ctype != "" {
		mt, _, err := mime.ParseMediaType(ctype)
		if err != nil || len(ctype) > 255 {
			return nil, stanza.E(stanza.BadRequest).WithText("invalid content type")
		}
		ctype = mt
	}
	if size > s.cfg.MaxFileSize {
		// XEP-0363 §4.2: not-acceptable, with the limit.
		return nil, stanza.E(stanza.NotAcceptable).
			WithText(fmt.Sprintf("File too large. The maximum file size is %d bytes", s.cfg.MaxFileSize)).
			WithExtra(xmlel.New(NS, "file-too-large").Append(
				xmlel.TextElement(NS, "max-file-size", strconv.FormatInt(s.cfg.MaxFileSize, 10))))
	}
	owner := OwnerKey(st.From)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[owner] >= s.cfg.MaxOpenSlots {
		e := stanza.E(stanza.ResourceConstraint).WithText("too many uploads at once")
		e.Type = stanza.Wait
		return nil, e.WithExtra(retry(now.Add(s.cfg.SlotTTL)))
	}
	if s.used[owner]+size > s.cfg.Quota {
		// XEP-0363 §4.2: a quota is a temporary error; space frees up
		// when the oldest file expires.
		e := stanza.E(stanza.ResourceConstraint).WithText("Quota reached")
		e.Type = stanza.Wait
		if t, ok := s.oldest(owner); ok {
			e = e.WithExtra(retry(t.Add(s.cfg.Retention)))
		}
		return nil, e
	}
	name = cleanName(name)
	id := randomString()
	token := randomString()
	s.slots[id] = &slot{
		id:      id,
		token:   sha256.Sum256([]byte(token)),
		rec:     record{Owner: owner, Name: name, Type: ctype, Size: size},
		expires: now.Add(s.cfg.SlotTTL),
	}
	s.used[owner] += size
	s.open[owner]++
	get := s.cfg.BaseURL(strings.TrimPrefix(st.To.Domain(), "upload.")) + "/upload/" + id + "/" + url.PathEscape(name)
	put := get + "?token=" + token
	return st.Result(xmlel.New(NS, "slot").Append(
		xmlel.New(NS, "put", "url", put),
		xmlel.New(NS, "get", "url", get),
	)), nil
}

func retry(t time.Time) *xmlel.Element {
	return xmlel.New(NS, "retry", "stamp", t.UTC().Format("2006-01-02T15:04:05Z"))
}

// oldest returns when the owner's oldest file was stored. s.mu is held.
func (s *Service) oldest(owner string) (time.Time, bool) {
	var t time.Time
	for _, rec := range s.files {
		if rec.Owner == owner && (t.IsZero() || rec.Created.Before(t)) {
			t = rec.Created
		}
	}
	return t, !t.IsZero()
}

// tokenOK reports whether token opens sl, in constant time.
func (sl *slot) tokenOK(token string) bool {
	h := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(h[:], sl.token[:]) == 1
}
