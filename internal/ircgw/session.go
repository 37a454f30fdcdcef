package ircgw

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/transport"
	"samtal.org/samtal/internal/xmlel"
)

// errLineTooLong is a line longer than ircmsg.MaxLine; the rest of it is
// skipped.
var errLineTooLong = errors.New("ircgw: line too long")

// maxSentIDs bounds the ids of group chat messages remembered to
// recognize their reflection.
const maxSentIDs = 256

// Session is one IRC connection and, once registered, one resource of its
// account bound in the router: to the rest of the server it is a client
// session like any other.
type Session struct {
	svc     *Service
	raw     *transport.Conn
	conn    net.Conn
	tls     *tls.Conn
	br      *bufio.Reader
	q       *transport.Queue
	release func()
	tlsOn   bool
	ctx     context.Context
	ip      string
	began   time.Time // when the connection was accepted (Began)

	// Owned by the reader goroutine.
	nick       string
	user, real string
	pass       string
	capNeg     bool
	capVersion int
	registered bool
	sasl       *saslState
	account    jid.JID // bare, once authenticated or a guest
	guest      bool
	host       string
	authFails  int
	lineRate   transport.Bucket
	label      string
	collecting bool
	collected  []ircmsg.Message
	deferLabel bool         // the labeled response is an echo still to come
	batch      *clientBatch // an open draft/multiline batch (multiline.go)

	// jid is set before binding and never changes after.
	jid jid.JID

	// Shared with Send, under mu.
	mu      sync.Mutex
	caps    map[string]bool
	chans   map[string]*channel // by room bare JID
	calls   map[string]*call    // by iq id and MAM query id
	sent    map[string]sentMsg  // our group chat messages by id
	sentIDs []string
	away    string
	quits   map[string]time.Time // recent QUITs shown, by folded nick
	// contacts holds the available resources of the users whose
	// presence the client is sent, by bare JID (monitor.go).
	contacts map[string]map[string]shown
	monitor  map[string]string // MONITOR targets as given, by folded nick
	closed   bool
	async    chan struct{} // bounds answers to iq requests
}

func newSession(svc *Service, c net.Conn, tlsOn bool, release func()) *Session {
	s := &Session{
		svc: svc, release: release, tlsOn: tlsOn, ctx: svc.ctx,
		caps:     make(map[string]bool),
		chans:    make(map[string]*channel),
		calls:    make(map[string]*call),
		sent:     make(map[string]sentMsg),
		quits:    make(map[string]time.Time),
		contacts: make(map[string]map[string]shown),
		monitor:  make(map[string]string),
		async:    make(chan struct{}, 4),
		ip:       transport.IP(c),
		began:    time.Now(),
	}
	s.raw = transport.Wrap(c, transport.ConnConfig{Rate: svc.cfg.ReadRate, Burst: svc.cfg.ReadBurst, Idle: svc.cfg.AuthTimeout})
	s.raw.SetExpiry(time.Now().Add(svc.cfg.AuthTimeout))
	s.conn = s.raw
	s.q = transport.NewQueue(s.conn, svc.cfg.OutQueueBytes)
	return s
}

// JID returns the bound full JID.
func (s *Session) JID() jid.JID { return s.jid }

// Guest reports whether the session is a guest's, bound to no stored
// account. It is set before the session binds and never after.
func (s *Session) Guest() bool { return s.guest }

// Began returns when the connection was accepted: the router refuses to
// bind the session if its account was disabled or removed since
// (router.Beginner).
func (s *Session) Began() time.Time { return s.began }

// CloseWithError ends the connection with an IRC ERROR carrying the
// stream error's condition, as a conflict or a removed account does to
// a client stream.
func (s *Session) CloseWithError(e stream.Error) {
	msg := string(e.Condition)
	if e.Text != "" {
		msg += ": " + e.Text
	}
	s.closeWith(msg)
}

// Room tells a sender with much to send how much the connection takes
// now (router.Pacer): its queue is kept under half its bound and, once
// past that, drains to a quarter before more comes, so that a backlog of
// offline messages reaches a client that reads slowly at its pace.
func (s *Session) Room() router.Room {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed || s.q.Closing() {
		return router.Room{Gone: true}
	}
	limit := s.svc.cfg.OutQueueBytes
	if limit <= 0 {
		return router.Unbounded
	}
	if p := s.q.Pending(); p <= limit/4 {
		return router.Room{Bytes: max(limit/2-p, 1), Stanzas: math.MaxInt}
	}
	return router.Room{Ready: s.q.WhenBelow(limit / 4)}
}

// closeWith sends ERROR and closes the connection after it.
func (s *Session) closeWith(reason string) {
	s.mu.Lock()
	s.closed = true
	s.wakeWaiters()
	s.mu.Unlock()
	s.q.CloseWith(ircmsg.New("ERROR", "Closing link: "+reason).Append(nil), true)
	s.raw.SetExpiry(time.Now()) // wakes the reader
}

func (s *Session) serve() {
	s.svc.track(s, true)
	defer s.svc.track(s, false)
	defer func() {
		if p := recover(); p != nil {
			s.svc.log.Error("irc session panic", "panic", p)
		}
		s.finish()
	}()
	if s.tlsOn {
		tc := tls.Server(s.raw, s.svc.cfg.TLS)
		_ = tc.SetDeadline(time.Now().Add(s.svc.cfg.AuthTimeout))
		if err := tc.HandshakeContext(s.ctx); err != nil {
			return
		}
		_ = tc.SetDeadline(time.Time{})
		s.tls, s.conn = tc, tc
		s.q.SetConn(tc)
	}
	s.br = bufio.NewReaderSize(s.conn, ircmsg.MaxLine+2)
	err := s.run()
	switch {
	case err == nil:
	case errors.Is(err, transport.ErrExpired) && !s.registered:
		s.closeWith("Registration timed out")
	case errors.Is(err, transport.ErrIdle), errors.Is(err, transport.ErrExpired):
		s.closeWith("Ping timeout")
	}
}

// wakeWaiters ends every wait of the reader (answers, joins, echoes):
// the session is closing. s.mu is held.
func (s *Session) wakeWaiters() {
	for _, c := range s.calls {
		c.finish()
	}
	for _, ch := range s.chans {
		ch.signal()
	}
	for id, m := range s.sent {
		if m.done != nil {
			close(m.done)
		}
		delete(s.sent, id)
	}
}

// finish unbinds the session and releases what it holds.
func (s *Session) finish() {
	s.mu.Lock()
	s.closed = true
	s.wakeWaiters()
	s.mu.Unlock()
	s.q.Finish(2 * time.Second)
	if s.release != nil {
		s.release()
		s.release = nil
	}
	if !s.registered {
		return
	}
	s.svc.removeUser(s.account)
	if last, ok := s.svc.router.Unbind(s); ok {
		s.svc.core.Ended(s.svc.ctx, s, last)
	}
}

func (s *Session) run() error {
	for {
		line, err := s.readLine()
		if errors.Is(err, errLineTooLong) {
			s.reply(s.numeric(errInputTooLong, "Input line was too long"))
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if s.isClosed() {
			return nil
		}
		s.throttle()
		if strings.HasPrefix(line, "@") {
			// message-tags: a client sends at most 4096 bytes of tags,
			// '@' and the space included.
			if end := strings.IndexByte(line, ' '); end < 0 || end+1 > ircmsg.MaxClientTags {
				s.reply(s.numeric(errInputTooLong, "Input line was too long"))
				continue
			}
		}
		m, err := ircmsg.Parse(line)
		switch {
		case errors.Is(err, ircmsg.ErrEmpty):
			continue
		case errors.Is(err, ircmsg.ErrInvalidUTF8):
			cmd, _, _ := strings.Cut(strings.TrimPrefix(line, "@"), " ")
			if strings.HasPrefix(line, "@") {
				_, rest, _ := strings.Cut(line, " ")
				cmd, _, _ = strings.Cut(rest, " ")
			}
			if !validCommand(cmd) {
				cmd = "*"
			}
			s.reply(ircmsg.Message{Source: s.svc.cfg.ServerName, Command: "FAIL", Params: []string{strings.ToUpper(cmd), "INVALID_UTF8", "Message rejected: it is not valid UTF-8"}})
			continue
		case errors.Is(err, ircmsg.ErrTooLong), errors.Is(err, ircmsg.ErrTagsTooLong):
			s.reply(s.numeric(errInputTooLong, "Input line was too long"))
			continue
		case err != nil:
			continue // RFC 1459 §2.3.1: malformed lines are ignored silently
		}
		if done := s.dispatch(m); done {
			return nil
		}
	}
}

func validCommand(c string) bool {
	if c == "" || len(c) > 32 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if b := c[i]; !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9') {
			return false
		}
	}
	return true
}

// readLine reads one line without its ending. A line longer than
// ircmsg.MaxLine is skipped to its end and reported as errLineTooLong.
func (s *Session) readLine() (string, error) {
	b, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = s.br.ReadSlice('\n')
		}
		if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(b) > 0 {
			return string(b), nil
		}
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// throttle delays the reader when the client sends commands faster than
// its rate (burst twice the rate): a flood slows the flooder only, as a
// client stream's stanza rate does.
func (s *Session) throttle() {
	rate := float64(s.svc.cfg.LineRate)
	s.lineRate.Take(time.Now(), 1, rate, 2*rate)
}

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// hasCap reports whether the client enabled a capability; the reader
// may call it without the lock, Send's helpers call it with it.
func (s *Session) hasCap(c string) bool { return s.caps[c] }

// filterTags drops the tags the client did not ask for.
func (s *Session) filterTags(m ircmsg.Message) ircmsg.Message {
	if len(m.Tags) == 0 {
		return m
	}
	var out []ircmsg.Tag
	for _, t := range m.Tags {
		keep := false
		switch {
		case t.Key == "time":
			keep = s.caps["server-time"]
		case t.Key == "account":
			keep = s.caps["account-tag"]
		case t.Key == "batch":
			keep = s.caps["batch"]
		case t.Key == tagConcat:
			keep = s.caps[capMultiline]
		case t.Key == "label":
			keep = s.caps["labeled-response"]
		case t.Key == "msgid", strings.HasPrefix(t.Key, "+"):
			keep = s.caps["message-tags"]
		}
		if keep {
			out = append(out, t)
		}
	}
	m.Tags = out
	return m
}

// reply sends a line from the reader goroutine, as part of the response
// to the command being handled (collected for labeled-response).
func (s *Session) reply(m ircmsg.Message) {
	if s.collecting {
		s.collected = append(s.collected, m)
		return
	}
	s.mu.Lock()
	s.push(m)
	s.mu.Unlock()
}

// push queues a line for the client; s.mu is held.
func (s *Session) push(m ircmsg.Message) {
	if s.closed {
		return
	}
	m = s.filterTags(m)
	if m.Command == "TAGMSG" && !s.caps["message-tags"] {
		return
	}
	if cut := fit(m); !slices.Equal(cut.Params, m.Params) {
		if namesLast(m) {
			s.svc.log.Error(cutName, "command", m.Command)
		}
		m = cut
	}
	_, over := s.q.Append(m.Append)
	if over {
		s.closed = true
		s.q.CloseWith(ircmsg.New("ERROR", "Closing link: SendQ exceeded").Append(nil), false)
		s.raw.SetExpiry(time.Now())
	}
}

// fit cuts the last parameter of a message whose body (without tags)
// would pass ircmsg.MaxBody, at a UTF-8 boundary: a long topic in a
// numeric with a long channel name, say. Messages that carry text are
// split before they get here.
func fit(m ircmsg.Message) ircmsg.Message {
	if len(m.Params) == 0 {
		return m
	}
	tags := m.Tags
	m.Tags = nil
	over := len(m.Append(nil)) - ircmsg.MaxBody
	m.Tags = tags
	if over <= 0 {
		return m
	}
	params := append([]string(nil), m.Params...)
	last := params[len(params)-1]
	params[len(params)-1] = ircmsg.Truncate(last, max(len(last)-over, 0))
	m.Params = params
	return m
}

// numeric returns a numeric reply to the client. Its parameters but the
// last often quote what the client sent (a nick, a channel, a
// reference): each goes through safeParam, and one too long for the
// line is "*" (fitQuoted).
func (s *Session) numeric(code string, params ...string) ircmsg.Message {
	nick := s.nick
	if nick == "" {
		nick = "*"
	}
	m := ircmsg.Message{Source: s.svc.cfg.ServerName, Command: code, Params: safeParams(append([]string{nick}, params...))}
	return fitQuoted(m, 1)
}

// safeParam returns p as a middle parameter can carry it. One that is
// empty, begins with ':' or holds a space (or a CR, LF or NUL, which
// become spaces) would move the parameters after it: a client reads
// replies by position, and "432 * a b :Erroneous nickname" names the
// nick "a". Such a parameter is "*", as IRC servers write a name they
// cannot show.
func safeParam(p string) string {
	if p == "" || p[0] == ':' || strings.ContainsAny(p, " \r\n\x00") {
		return "*"
	}
	return p
}

// safeParams makes every parameter but the last, which may hold
// anything, safe (safeParam). It changes params in place.
func safeParams(params []string) []string {
	for i := 0; i < len(params)-1; i++ {
		params[i] = safeParam(params[i])
	}
	return params
}

// fitQuoted makes a reply that quotes what the client sent fit in a
// line with (the start of) its text: while the reply, its last
// parameter cut to minText bytes, passes ircmsg.MaxBody, the longest of
// the parameters from params[first] to the one before the last is "*".
// A quoted name is never cut, as fit cuts text: a shorter nick would be
// someone else's. It changes m.Params in place.
func fitQuoted(m ircmsg.Message, first int) ircmsg.Message {
	n := len(m.Params)
	for n >= 2 {
		head := ircmsg.Message{Source: m.Source, Command: m.Command, Params: m.Params[:n-1]}
		// " :" and the text after the head (whose CR LF is counted).
		if len(head.Append(nil))+2+min(len(m.Params[n-1]), minText) <= ircmsg.MaxBody {
			break
		}
		longest := -1
		for i := first; i < n-1; i++ {
			if m.Params[i] != "*" && (longest < 0 || len(m.Params[i]) > len(m.Params[longest])) {
				longest = i
			}
		}
		if longest < 0 {
			break
		}
		m.Params[longest] = "*"
	}
	return m
}

// nickOf returns the nick of a user: the one its IRC session chose
// (which may differ in case from the account name), or NickFor.
func (s *Session) nickOf(u jid.JID) string {
	if iu, ok := s.svc.ircUserOf(u.Bare()); ok {
		return iu.nick
	}
	return NickFor(u, s.host)
}

// accountTag returns the account-tag value of a user: its account name
// when it is an account of the client's host, not a guest.
func (s *Session) accountTag(u jid.JID) (string, bool) {
	if u.IsZero() || u.Local() == "" || u.Domain() != s.host {
		return "", false
	}
	if iu, ok := s.svc.ircUserOf(u.Bare()); ok && iu.guest {
		return "", false
	}
	return NickFor(u, s.host), true
}

// prefix is the client's own source, nick!user@host.
func (s *Session) prefix() string {
	return s.nick + "!" + s.userName() + "@" + hostPart(s.host)
}

// userName is the user part of the client's hostmask: the name it gave
// in USER, as IRC servers show it, or its escaped localpart.
func (s *Session) userName() string {
	if s.user != "" {
		return s.user
	}
	if !s.account.IsZero() {
		return ircmsg.Truncate(escape(s.account.Local(), false), 32)
	}
	return "*"
}

// userOf returns the user part of a user's hostmask: the USER name of
// its IRC session, or its escaped localpart.
func (s *Session) userOf(u jid.JID) string {
	if iu, ok := s.svc.ircUserOf(u.Bare()); ok {
		return iu.user
	}
	return ircmsg.Truncate(escape(u.Local(), false), 32)
}

// maxLabel bounds a usable label: a longer one is ignored, and its
// command answered as if it had none.
const maxLabel = 64

// collectFor starts collecting the response to a command labeled label,
// when the client negotiated labeled-response and the label is usable
// (not empty, at most maxLabel bytes). It reports whether it did; the
// caller then defers finishLabel.
func (s *Session) collectFor(label string) bool {
	if label == "" || len(label) > maxLabel || !s.hasCap("labeled-response") {
		return false
	}
	s.label, s.collecting = label, true
	return true
}

// finishLabel sends the collected response of a labeled command
// (labeled-response: one line gets the label, none an ACK, several a
// batch).
func (s *Session) finishLabel() {
	lines := s.collected
	label := s.label
	deferred := s.deferLabel
	s.collecting, s.collected, s.label, s.deferLabel = false, nil, "", false
	if deferred && len(lines) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(lines) == 0:
		s.push(ircmsg.Message{Tags: []ircmsg.Tag{{Key: "label", Value: label}}, Source: s.svc.cfg.ServerName, Command: "ACK"})
	case len(lines) == 1 || !s.caps["batch"] || isMultilineBatch(lines):
		// A multiline echo carries the label on its opening BATCH
		// (draft/multiline, "Labeled response").
		lines[0].SetTag("label", label)
		for _, l := range lines {
			s.push(l)
		}
	default:
		id := randomID(8)
		s.push(ircmsg.Message{Tags: []ircmsg.Tag{{Key: "label", Value: label}}, Source: s.svc.cfg.ServerName, Command: "BATCH", Params: []string{"+" + id, "labeled-response"}})
		for _, l := range lines {
			if _, ok := l.Tag("batch"); !ok {
				l.SetTag("batch", id)
			}
			s.push(l)
		}
		s.push(ircmsg.Message{Source: s.svc.cfg.ServerName, Command: "BATCH", Params: []string{"-" + id}})
	}
}

// route sends a stanza from the session's resource into the server, as
// a client stream hands its stanzas to the IM core. It must not be
// called with s.mu held: delivery may call Send on this session.
func (s *Session) route(el *xmlel.Element) {
	el.SetAttr("from", s.jid.String())
	st := &stanza.Stanza{El: el, From: s.jid}
	if to := el.Attr("to"); to != "" {
		t, err := jid.Parse(to)
		if err != nil {
			return
		}
		st.To = t
	}
	s.svc.core.Outbound(s.ctx, s, st)
}

// call is an iq request waiting for its answer, and the archive results
// that arrive before it.
type call struct {
	done    chan struct{}
	once    sync.Once
	result  *xmlel.Element
	results []*xmlel.Element
	max     int
}

func (c *call) finish() { c.once.Do(func() { close(c.done) }) }

// errTimeout is an iq that got no answer in time.
var errTimeout = errors.New("ircgw: no answer")

// request sends an iq and waits for its answer; for an archive query,
// the results that came before it are returned too.
func (s *Session) request(el *xmlel.Element, queryID string, maxResults int) (*xmlel.Element, []*xmlel.Element, error) {
	id := randomID(12)
	el.SetAttr("id", id)
	c := &call{done: make(chan struct{}), max: maxResults}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, errTimeout
	}
	s.calls[id] = c
	if queryID != "" {
		s.calls["q:"+queryID] = c
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.calls, id)
		delete(s.calls, "q:"+queryID)
		s.mu.Unlock()
	}()
	s.route(el)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		return nil, nil, errTimeout
	}
	s.mu.Lock()
	res, results := c.result, c.results
	s.mu.Unlock()
	if res == nil {
		return nil, nil, errTimeout
	}
	if res.Attr("type") == "error" {
		e, _ := stanza.ParseError(res)
		return res, results, e
	}
	return res, results, nil
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:n]
}

// fail sends a standard reply (IRCv3 standard-replies): FAIL, the
// command, a code, context that often quotes what the client sent
// (safeParam), and a description.
func (s *Session) fail(cmd, code, text string, ctx ...string) {
	p := append([]string{cmd, code}, ctx...)
	s.reply(fitQuoted(ircmsg.Message{Source: s.svc.cfg.ServerName, Command: "FAIL", Params: safeParams(append(p, text))}, 2))
}
