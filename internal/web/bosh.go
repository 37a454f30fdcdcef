package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// Namespaces of BOSH (XEP-0124) and its XMPP binding (XEP-0206).
const (
	NSHTTPBind = "http://jabber.org/protocol/httpbind"
	NSXBOSH    = "urn:xmpp:xbosh"
)

// BOSHConfig bounds BOSH sessions; zero fields take the defaults.
type BOSHConfig struct {
	// MaxWait is the longest a request is held (the client's 'wait' is
	// lowered to it); default 60s.
	MaxWait time.Duration
	// Inactivity is how long a session may have no request held before
	// it ends (XEP-0124 §12); default 60s.
	Inactivity time.Duration
	// MaxSessions bounds the open sessions; default 10000.
	MaxSessions int
	// OutBytes bounds what waits for the client to fetch it; past it the
	// stream code's writer waits, and its own queue limit then ends a
	// client that does not fetch. Default 1 MiB.
	OutBytes int
}

func (c BOSHConfig) withDefaults() BOSHConfig {
	if c.MaxWait <= 0 {
		c.MaxWait = 60 * time.Second
	}
	if c.Inactivity <= 0 {
		c.Inactivity = 60 * time.Second
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 10000
	}
	if c.OutBytes <= 0 {
		c.OutBytes = 1 << 20
	}
	return c
}

// boshHold is the most requests a session holds at once: one is all that
// long polling needs (XEP-0124 §11), and it bounds the server's waiting
// requests per session.
const boshHold = 1

// boshCache is how many answered requests a session keeps for
// retransmission (XEP-0124 §14.3).
const boshCache = boshHold + 2

// boshManager keeps the BOSH sessions by sid.
type boshManager struct {
	ctx   context.Context
	cfg   BOSHConfig
	lim   xmlstream.Limits
	serve func(net.Conn)
	log   *slog.Logger

	mu       sync.Mutex
	sessions map[string]*boshSession
	wg       sync.WaitGroup
}

func newBOSHManager(ctx context.Context, cfg BOSHConfig, lim xmlstream.Limits, serve func(net.Conn), log *slog.Logger) *boshManager {
	lim = lim.WithDefaults()
	// A body wraps the stanzas of one request: one level more, and room
	// for a few stanzas.
	lim.MaxDepth++
	lim.MaxStanzaBytes += 8192
	m := &boshManager{ctx: ctx, cfg: cfg.withDefaults(), lim: lim, serve: serve, log: log, sessions: make(map[string]*boshSession)}
	m.wg.Add(1)
	go m.sweep()
	return m
}

// sweep ends sessions whose client went away: no request held and none
// received within the inactivity period (XEP-0124 §12).
func (m *boshManager) sweep() {
	defer m.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-t.C:
			for _, s := range m.all() {
				if s.inactive(now) {
					s.kill()
				}
			}
		}
	}
}

func (m *boshManager) close() {
	for _, s := range m.all() {
		s.kill()
	}
	m.wg.Wait()
}

// all returns the sessions. Lock order: a session's mu, then the
// manager's (a session forgets itself with its mu held), so the list is
// copied before the sessions are looked at.
func (m *boshManager) all() []*boshSession {
	m.mu.Lock()
	defer m.mu.Unlock()
	all := make([]*boshSession, 0, len(m.sessions))
	for _, s := range m.sessions {
		all = append(all, s)
	}
	return all
}

func (m *boshManager) get(sid string) *boshSession {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions[sid]
}

func (m *boshManager) remove(s *boshSession) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions[s.sid] == s {
		delete(m.sessions, s.sid)
	}
}

// serveBOSH handles one BOSH request: a <body/> POSTed to /http-bind.
func (s *Server) serveBOSH(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "BOSH requests are POSTed", http.StatusMethodNotAllowed)
		return
	}
	m := s.bosh
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(m.lim.MaxStanzaBytes)))
	if err != nil {
		writeBody(w, terminate("policy-violation"))
		return
	}
	body, err := xmlstream.Parse(data, m.lim)
	if err != nil || !body.Is(NSHTTPBind, "body") {
		writeBody(w, terminate("bad-request"))
		return
	}
	rid, err := strconv.ParseInt(body.Attr("rid"), 10, 64)
	// XEP-0124 §14.1: rid is below 2^53.
	if err != nil || rid < 0 || rid > 1<<53-1 {
		if sess := m.get(body.Attr("sid")); sess != nil {
			// The client takes the condition as the session's end
			// (§17.2); so does the server, rather than keep a session
			// no request of that client will reach again.
			sess.fail()
		}
		writeBody(w, terminate("bad-request"))
		return
	}
	var sess *boshSession
	if sid := body.Attr("sid"); sid == "" {
		sess, err = m.create(body, rid, r.RemoteAddr)
		if err != nil {
			writeBody(w, terminate(err.Error()))
			return
		}
	} else if sess = m.get(sid); sess == nil {
		// XEP-0124 §17.1: an unknown or expired session.
		writeBody(w, terminate("item-not-found"))
		return
	}
	resp, req := sess.receive(body, rid)
	if resp != nil {
		writeBody(w, resp)
		return
	}
	t := time.NewTimer(sess.wait)
	defer t.Stop()
	select {
	case b := <-req.done:
		writeBody(w, b)
	case <-t.C:
		writeBody(w, sess.expire(req))
	case <-r.Context().Done():
		sess.expire(req)
	}
}

func writeBody(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b) // the client may be gone; it will ask again
}

// terminate is a terminal binding condition (XEP-0124 §17.2), or with
// no condition the acknowledgement of the client's termination (§13):
// 'condition' is one of the names of §17.2 or absent, never empty.
func terminate(condition string) []byte {
	if condition == "" {
		return []byte("<body xmlns='" + NSHTTPBind + "' type='terminate'/>")
	}
	return []byte("<body xmlns='" + NSHTTPBind + "' type='terminate' condition='" + condition + "'/>")
}

// recoverable is the recoverable binding condition (XEP-0124 §17.3).
var recoverable = []byte("<body xmlns='" + NSHTTPBind + "' type='error'/>")

// boshError is an error whose text is a terminal binding condition.
type boshError string

func (e boshError) Error() string { return string(e) }

// create starts a session for a session creation request (XEP-0124 §7.1,
// XEP-0206 §4).
func (m *boshManager) create(body *xmlel.Element, rid int64, remoteAddr string) (*boshSession, error) {
	to := body.Attr("to")
	if to == "" {
		return nil, boshError("improper-addressing")
	}
	wait := m.cfg.MaxWait
	if v, err := strconv.Atoi(body.Attr("wait")); err == nil && v >= 0 && time.Duration(v)*time.Second < wait {
		wait = time.Duration(v) * time.Second
	}
	hold := boshHold
	if v, err := strconv.Atoi(body.Attr("hold")); err == nil && v >= 0 && v < hold {
		hold = v
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	streamEnd, conn := newPipe(remoteAddr)
	s := &boshSession{
		m:       m,
		sid:     base64.RawURLEncoding.EncodeToString(b),
		to:      to,
		lang:    body.Lang(),
		wait:    wait,
		hold:    hold,
		acks:    body.Attr("ack") == "1",
		ver:     boshVersion(body.Attr("ver")),
		next:    rid,
		pending: make(map[int64]*boshRequest),
		answers: make(map[int64][]byte),
		conn:    conn,
		active:  time.Now(),
		create:  rid,
	}
	s.outCond = sync.NewCond(&s.mu)
	s.inCond = sync.NewCond(&s.mu)
	m.mu.Lock()
	if m.ctx.Err() != nil || len(m.sessions) >= m.cfg.MaxSessions {
		m.mu.Unlock()
		conn.Close()
		streamEnd.Close()
		// Only the conditions of XEP-0124 §17.2 are understood; the
		// session limit is the server's, not a rule the client broke.
		if m.ctx.Err() != nil {
			return nil, boshError("system-shutdown")
		}
		return nil, boshError("internal-server-error")
	}
	m.sessions[s.sid] = s
	m.wg.Add(3)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		m.serve(streamEnd)
	}()
	go func() {
		defer m.wg.Done()
		s.input()
	}()
	go func() {
		defer m.wg.Done()
		s.output()
	}()
	s.mu.Lock()
	s.push(streamHeader(to, attrNS(body, NSXBOSH, "version"), s.lang))
	s.mu.Unlock()
	return s, nil
}

// boshRequest is a request the session holds until it has something to
// answer with.
type boshRequest struct {
	rid  int64
	done chan []byte // the answer, once
}

// boshSession is one BOSH session and its pipe to the stream code.
type boshSession struct {
	m        *boshManager
	sid      string
	to, lang string
	wait     time.Duration
	hold     int
	acks     bool
	ver      string // the BOSH version both sides support
	create   int64  // rid of the session creation request
	conn     net.Conn
	outCond  *sync.Cond // output waits while out is full
	inCond   *sync.Cond // input waits for in

	mu       sync.Mutex
	next     int64                  // rid of the next request to process
	pending  map[int64]*boshRequest // arrived ahead of their turn
	bodies   map[int64]*xmlel.Element
	held     []*boshRequest   // processed, waiting for output; by rid
	answers  map[int64][]byte // recent answers, for retransmission
	out      [][]byte         // elements for the client
	outBytes int
	in       []byte // bytes for the stream code
	started  bool   // the stream header came: the creation answer can go
	streamID string
	from     string
	ended    bool // the stream ended; the next answer terminates
	closing  bool // the client terminated the session
	gone     bool // killed or terminated: the pipe is closed
	active   time.Time
}

// receive takes a request. It returns the answer at once (a
// retransmission, an error, or data waiting), or the request to wait on.
func (s *boshSession) receive(body *xmlel.Element, rid int64) ([]byte, *boshRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active = time.Now()
	if s.closing {
		return terminate(""), nil
	}
	if rid < s.next {
		// XEP-0124 §14.3: a repeated request gets the same answer.
		if a, ok := s.answers[rid]; ok {
			return a, nil
		}
		for i, h := range s.held {
			if h.rid == rid {
				return nil, s.again(h, func(r *boshRequest) { s.held[i] = r })
			}
		}
		// The answer is gone: a terminal condition, which ends the
		// session (§17.2) rather than leave it to a client that gave
		// it up.
		s.terminated()
		return terminate("item-not-found"), nil
	}
	if h := s.pending[rid]; h != nil {
		s.bodies[rid] = body
		return nil, s.again(h, func(r *boshRequest) { s.pending[rid] = r })
	}
	if rid >= s.next+int64(s.hold)+1+boshCache {
		// XEP-0124 §14.2: too far ahead of the requests received so far.
		s.terminated()
		return terminate("item-not-found"), nil
	}
	if s.acks && body.Attr("ack") != "" {
		if ack, err := strconv.ParseInt(body.Attr("ack"), 10, 64); err == nil {
			for r := range s.answers {
				if r <= ack {
					delete(s.answers, r)
				}
			}
		}
	}
	req := &boshRequest{rid: rid, done: make(chan []byte, 1)}
	s.pending[rid] = req
	if s.bodies == nil {
		s.bodies = make(map[int64]*xmlel.Element)
	}
	s.bodies[rid] = body
	// Process every request whose turn has come, in rid order.
	for {
		r, ok := s.pending[s.next]
		if !ok {
			break
		}
		b := s.bodies[s.next]
		delete(s.pending, s.next)
		delete(s.bodies, s.next)
		s.next++
		s.process(r, b)
	}
	s.dispatch()
	return nil, req
}

// again takes a request whose rid came before and is not answered yet:
// the first copy's connection is likely broken. That copy gets a
// recoverable binding condition at once and the answer goes to the new
// one (XEP-0124 §14.3); set puts the new one in the first's place. The
// condition is not kept for retransmission (§14.3 keeps only answers
// that were no error).
func (s *boshSession) again(first *boshRequest, set func(*boshRequest)) *boshRequest {
	r := &boshRequest{rid: first.rid, done: make(chan []byte, 1)}
	set(r)
	first.done <- recoverable
	return r
}

// process passes a request's payload to the stream code and holds it.
func (s *boshSession) process(r *boshRequest, body *xmlel.Element) {
	if s.closing {
		// It came after the client's termination, in rid order.
		s.answer(r, terminate(""))
		return
	}
	if r.rid != s.create {
		if attrNS(body, NSXBOSH, "restart") == "true" {
			// XEP-0206 §5: the client restarts the stream after SASL.
			s.push(streamHeader(s.to, "1.0", s.lang))
		}
		for _, el := range body.Elements() {
			if b, ok := appendInput(el, s.m.inMax()); ok {
				s.push(b)
			} else {
				s.end()
			}
		}
		if body.Attr("type") == "terminate" {
			// XEP-0124 §13: the payload goes first, then the stream
			// ends; the request is answered at once.
			s.push([]byte(stream.Close))
			s.closing = true
			s.answer(r, terminate(""))
			for len(s.held) > 0 {
				s.answer(s.held[0], terminate(""))
			}
			// The session is over for the client: forget it now
			// rather than after the inactivity sweep, where it would
			// count against MaxSessions. The pipe stays open until the
			// stream code, which output no longer throttles, has read
			// the payload and the close and ended the stream.
			s.m.remove(s)
			return
		}
	}
	s.held = append(s.held, r)
}

// inMax bounds the bytes that wait for the stream code in a session.
func (m *boshManager) inMax() int { return m.lim.MaxStanzaBytes * 4 }

// push queues bytes for the stream code.
func (s *boshSession) push(b []byte) {
	if s.gone {
		return
	}
	if len(s.in)+len(b) > s.m.inMax() {
		// The stream code reads too slowly for this client (it is
		// being throttled): end the session rather than buffer more.
		s.end()
		return
	}
	s.in = append(s.in, b...)
	s.inCond.Signal()
}

// dispatch answers held requests: the oldest with what is waiting for the
// client, and the oldest ones beyond 'hold' with nothing (XEP-0124 §11).
func (s *boshSession) dispatch() {
	for len(s.held) > 0 {
		r := s.held[0]
		if r.rid == s.create && !s.started && !s.ended {
			return
		}
		switch {
		case len(s.out) > 0 || s.ended:
			s.answer(r, s.body(r))
		case len(s.held) > s.hold:
			s.answer(r, s.body(r))
		default:
			return
		}
	}
}

// answer sends an answer to the oldest held request, or to r if it is
// not held, and keeps it for retransmission.
func (s *boshSession) answer(r *boshRequest, b []byte) {
	for i, h := range s.held {
		if h == r {
			s.held = append(s.held[:i], s.held[i+1:]...)
			break
		}
	}
	s.answers[r.rid] = b
	for rid := range s.answers {
		if rid < s.next-boshCache {
			delete(s.answers, rid)
		}
	}
	s.active = time.Now()
	r.done <- b
	s.outCond.Broadcast()
}

// body builds the answer to r: the creation attributes for the first
// request, then everything waiting for the client.
func (s *boshSession) body(r *boshRequest) []byte {
	b := []byte("<body xmlns='" + NSHTTPBind + "' xmlns:stream='" + stream.NS + "'")
	if r.rid == s.create {
		attrs := []string{
			"sid", s.sid,
			"wait", strconv.Itoa(int(s.wait / time.Second)),
			"requests", strconv.Itoa(s.hold + 1),
			"inactivity", strconv.Itoa(int(s.m.cfg.Inactivity / time.Second)),
			"polling", "2",
			"hold", strconv.Itoa(s.hold),
			"ver", s.ver,
			"from", s.from,
			"authid", s.streamID,
		}
		if s.acks {
			attrs = append(attrs, "ack", strconv.FormatInt(r.rid, 10))
		}
		for i := 0; i < len(attrs); i += 2 {
			if attrs[i+1] != "" {
				b = append(b, ' ')
				b = append(b, attrs[i]...)
				b = append(b, "='"...)
				b = xmlel.EscapeAttr(b, attrs[i+1])
				b = append(b, '\'')
			}
		}
		// XEP-0206 §4 and §5: the XMPP version and restart logic.
		b = append(b, " xmlns:xmpp='"+NSXBOSH+"' xmpp:version='1.0' xmpp:restartlogic='true'"...)
	} else if s.acks && s.next-1 != r.rid {
		// XEP-0124 §9.1: the highest rid received with all before it.
		b = append(b, " ack='"+strconv.FormatInt(s.next-1, 10)+"'"...)
	}
	if s.ended {
		defer s.terminated()
		b = append(b, " type='terminate'"...)
		for _, el := range s.out {
			if len(el) > len("<stream:error") && string(el[:len("<stream:error")]) == "<stream:error" {
				// XEP-0206 §6: a stream error ends the session.
				b = append(b, " condition='remote-stream-error'"...)
				break
			}
		}
	}
	if len(s.out) == 0 {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	for _, el := range s.out {
		b = append(b, el...)
	}
	s.out = s.out[:0]
	s.outBytes = 0
	return append(b, "</body>"...)
}

// expire answers a request whose wait is over with what is waiting, or
// nothing, unless it was answered meanwhile.
func (s *boshSession) expire(r *boshRequest) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[r.rid] == r {
		// The requests before it never came: the connection is broken
		// beyond what retransmission repairs (XEP-0124 §14.2).
		delete(s.pending, r.rid)
		delete(s.bodies, r.rid)
		s.terminated()
		return terminate("item-not-found")
	}
	for _, h := range s.held {
		if h == r {
			s.answer(r, s.body(r))
			break
		}
	}
	return <-r.done
}

// inactive reports whether the client has not been heard from for too
// long with no request held.
func (s *boshSession) inactive(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held) == 0 && now.Sub(s.active) > s.m.cfg.Inactivity
}

// attrNS returns the value of the attribute in namespace space.
func attrNS(el *xmlel.Element, space, local string) string {
	for _, a := range el.Attrs {
		if a.Space == space && a.Local == local {
			return a.Value
		}
	}
	return ""
}

// end makes the stream code end the stream: the pipe closes, which the
// stream code sees as the client gone.
func (s *boshSession) end() {
	if s.gone {
		return
	}
	s.gone = true
	s.ended = true
	s.inCond.Broadcast()
	s.outCond.Broadcast()
	s.conn.Close()
}

// terminated forgets the session once its end was delivered.
func (s *boshSession) terminated() {
	s.end()
	s.m.remove(s)
}

// fail ends the session after a terminal binding condition answered a
// request of its client.
func (s *boshSession) fail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.terminated()
}

// kill ends the session without telling the client (inactivity,
// shutdown).
func (s *boshSession) kill() {
	s.mu.Lock()
	for len(s.held) > 0 {
		s.ended = true
		s.answer(s.held[0], terminate("system-shutdown"))
	}
	s.end()
	s.mu.Unlock()
	s.m.remove(s)
}

// input writes what the client sent to the stream code, in order.
func (s *boshSession) input() {
	for {
		s.mu.Lock()
		for len(s.in) == 0 && !s.gone {
			s.inCond.Wait()
		}
		if len(s.in) == 0 && s.gone {
			s.mu.Unlock()
			return
		}
		b := s.in
		s.in = nil
		s.mu.Unlock()
		if _, err := s.conn.Write(b); err != nil {
			return
		}
	}
}

// output reads the stream code's bytes back as a stream and queues each
// element for the client. The header gives the session's 'from' and
// 'authid'; after SASL <success/> the stream restarts (XEP-0206 §5).
func (s *boshSession) output() {
	r := xmlstream.NewReader(s.conn, outLimits)
	defer func() {
		s.mu.Lock()
		s.ended = true
		s.end()
		s.dispatch()
		s.mu.Unlock()
	}()
	for {
		hdr, err := r.Header()
		if err != nil {
			return
		}
		s.mu.Lock()
		if !s.started {
			s.started = true
			s.streamID = hdr.Attr("id")
			s.from = hdr.Attr("from")
		}
		s.mu.Unlock()
		for {
			el, err := r.Next()
			if errors.Is(err, io.EOF) || err != nil {
				return
			}
			b := appendFramed(el)
			s.mu.Lock()
			for s.outBytes > s.m.cfg.OutBytes && !s.gone && !s.closing {
				s.outCond.Wait()
			}
			if !s.closing {
				s.out = append(s.out, b)
				s.outBytes += len(b)
				if el.Is(stream.NS, "error") {
					// A stream error ends the stream (RFC 6120
					// §4.9.1.1): the answer that carries it ends
					// the session with remote-stream-error (XEP-0206
					// §6), not one before the close tag comes.
					s.ended = true
				}
				s.dispatch()
			}
			// else no request will fetch it: dropping it lets the
			// stream code write its way to the end of the stream.
			s.mu.Unlock()
			if el.Is(stream.NSSASL, "success") {
				r.Reset(s.conn)
				break
			}
		}
	}
}

// boshVersion is the lower of the client's BOSH version and ours, 1.11
// (XEP-0124 §7.2).
func boshVersion(client string) string {
	const ours = "1.11"
	major, minor, ok := strings.Cut(client, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if !ok || err1 != nil || err2 != nil || ma < 0 || mi < 0 {
		return ours
	}
	if ma < 1 || ma == 1 && mi < 11 {
		return strconv.Itoa(ma) + "." + strconv.Itoa(mi)
	}
	return ours
}
