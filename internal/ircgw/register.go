package ircgw

import (
	"cmp"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"samtal.org/samtal/internal/ircmsg"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// capabilities are the IRCv3 capabilities the gateway implements, in the
// order CAP LS lists them. sasl gets its value in saslValue.
var capabilities = []string{
	"account-tag", "away-notify", "batch", "cap-notify", "draft/chathistory",
	"draft/multiline", "echo-message", "extended-join", "extended-monitor", "labeled-response", "message-tags",
	"multi-prefix", "sasl", "server-time", "userhost-in-names",
}

// Limits announced in ISUPPORT and enforced.
const (
	nickLen    = 64
	channelLen = 200
	topicLen   = 390
	keyLen     = 32
	kickLen    = 300
	awayLen    = 300
)

// preRegistration are the commands a client may send before it is
// registered (RFC 2812 §3.1, IRCv3 capability negotiation and SASL).
var preRegistration = map[string]bool{
	"CAP": true, "AUTHENTICATE": true, "PASS": true, "NICK": true, "USER": true,
	"PING": true, "PONG": true, "QUIT": true,
}

// dispatch handles one command; it reports true when the connection is
// to end.
func (s *Session) dispatch(m ircmsg.Message) bool {
	if !s.registered && !preRegistration[m.Command] {
		s.reply(s.numeric(errNotRegistered, "You have not registered"))
		return false
	}
	if ref, ok := m.Tag("batch"); ok && s.registered {
		// A line of a client batch waits for the batch's end.
		s.batchLine(ref, m)
		return false
	}
	// A batch's label answers the batch, when it ends (cmdBatch).
	if label, ok := m.Tag("label"); ok && s.registered && m.Command != "BATCH" && s.collectFor(label) {
		defer s.finishLabel()
	}
	h, ok := commands[m.Command]
	if !ok {
		s.reply(s.numeric(errUnknownCommand, m.Command, "Unknown command"))
		return false
	}
	if len(m.Params) < h.min {
		s.reply(s.numeric(errNeedMoreParams, m.Command, "Not enough parameters"))
		return false
	}
	return h.fn(s, m)
}

type command struct {
	min int
	fn  func(s *Session, m ircmsg.Message) bool
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"CAP":          {1, (*Session).cmdCap},
		"AUTHENTICATE": {1, (*Session).cmdAuthenticate},
		"PASS":         {1, (*Session).cmdPass},
		"NICK":         {0, (*Session).cmdNick},
		"USER":         {4, (*Session).cmdUser},
		"PING":         {1, (*Session).cmdPing},
		"PONG":         {0, func(*Session, ircmsg.Message) bool { return false }},
		"QUIT":         {0, (*Session).cmdQuit},
		"MOTD":         {0, func(s *Session, _ ircmsg.Message) bool { s.motd(); return false }},
		"PRIVMSG":      {0, (*Session).cmdPrivmsg},
		"NOTICE":       {0, (*Session).cmdPrivmsg},
		"TAGMSG":       {1, (*Session).cmdPrivmsg},
		"JOIN":         {1, (*Session).cmdJoin},
		"PART":         {1, (*Session).cmdPart},
		"TOPIC":        {1, (*Session).cmdTopic},
		"NAMES":        {0, (*Session).cmdNames},
		"WHO":          {0, (*Session).cmdWho},
		"WHOIS":        {1, (*Session).cmdWhois},
		"LIST":         {0, (*Session).cmdList},
		"INVITE":       {2, (*Session).cmdInvite},
		"KICK":         {2, (*Session).cmdKick},
		"MODE":         {1, (*Session).cmdMode},
		"AWAY":         {0, (*Session).cmdAway},
		"ISON":         {1, (*Session).cmdIson},
		"USERHOST":     {1, (*Session).cmdUserhost},
		"CHATHISTORY":  {3, (*Session).cmdChathistory},
		"VERSION":      {0, (*Session).cmdVersion},
		"TIME":         {0, (*Session).cmdTime},
		"LUSERS":       {0, (*Session).cmdLusers},
		"WHOWAS":       {1, (*Session).cmdWhowas},
		"OPER":         {2, (*Session).cmdOper},
		"MONITOR":      {1, (*Session).cmdMonitor},
		"BATCH":        {1, (*Session).cmdBatch},
	}
}

func (s *Session) saslMechanisms() []string {
	m := []string{sasl.Plain, sasl.SCRAMSHA256, sasl.SCRAMSHA1}
	if s.svc.cfg.ClientCAs != nil && s.tls != nil {
		m = append([]string{"EXTERNAL"}, m...)
	}
	return m
}

func (s *Session) capList(values bool) []string {
	out := make([]string, 0, len(capabilities))
	for _, c := range capabilities {
		if values && c == "sasl" {
			c += "=" + strings.Join(s.saslMechanisms(), ",")
		}
		if values && c == capMultiline {
			c += "=" + multilineValue
		}
		out = append(out, c)
	}
	return out
}

// cmdCap is capability negotiation (IRCv3 capability negotiation 3.2).
func (s *Session) cmdCap(m ircmsg.Message) bool {
	sub := strings.ToUpper(m.Param(0))
	src := s.svc.cfg.ServerName
	nick := s.nick
	if nick == "" {
		nick = "*"
	}
	switch sub {
	case "LS":
		if !s.registered {
			s.capNeg = true
		}
		if v, err := strconv.Atoi(m.Param(1)); err == nil && v > s.capVersion {
			s.capVersion = v
		}
		if s.capVersion >= 302 {
			s.setCap("cap-notify", true) // implicit with 302
		}
		list := s.capList(s.capVersion >= 302)
		// Split so that each line stays well within 512 bytes.
		for len(list) > 0 {
			n := len(list)
			line := strings.Join(list, " ")
			for len(line) > 400 && n > 1 {
				n--
				line = strings.Join(list[:n], " ")
			}
			list = list[n:]
			params := []string{nick, "LS"}
			if len(list) > 0 && s.capVersion >= 302 {
				params = append(params, "*")
			}
			s.reply(ircmsg.Message{Source: src, Command: "CAP", Params: append(params, line)})
		}
	case "LIST":
		var on []string
		for _, c := range capabilities {
			if s.hasCap(c) {
				on = append(on, c)
			}
		}
		s.reply(ircmsg.Message{Source: src, Command: "CAP", Params: []string{nick, "LIST", strings.Join(on, " ")}})
	case "REQ":
		if !s.registered {
			s.capNeg = true
		}
		req := strings.Fields(m.Param(1))
		ok := len(req) > 0
		for _, c := range req {
			name := strings.TrimPrefix(c, "-")
			if !slices.Contains(capabilities, name) || (name == "cap-notify" && strings.HasPrefix(c, "-") && s.capVersion >= 302) {
				ok = false
			}
		}
		if !ok {
			s.reply(ircmsg.Message{Source: src, Command: "CAP", Params: []string{nick, "NAK", m.Param(1)}})
			return false
		}
		for _, c := range req {
			s.setCap(strings.TrimPrefix(c, "-"), !strings.HasPrefix(c, "-"))
		}
		s.reply(ircmsg.Message{Source: src, Command: "CAP", Params: []string{nick, "ACK", m.Param(1)}})
	case "END":
		if !s.registered {
			s.capNeg = false
			return s.tryRegister()
		}
	default:
		s.reply(s.numeric("410", m.Param(0), "Invalid CAP command"))
	}
	return false
}

func (s *Session) setCap(c string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.caps[c] = true
	} else {
		delete(s.caps, c)
	}
}

// saslState is an AUTHENTICATE exchange in progress.
type saslState struct {
	mech string
	ex   *sasl.Exchange
	buf  []byte
}

// maxSASL bounds what a client may send in one exchange step.
const maxSASL = 8192

// cmdAuthenticate is IRCv3 SASL 3.2: the client picks a mechanism, then
// sends base64 chunks of at most 400 bytes, a shorter chunk or "+"
// ending each message.
func (s *Session) cmdAuthenticate(m ircmsg.Message) bool {
	arg := m.Param(0)
	if !s.account.IsZero() {
		s.reply(s.numeric(errSASLAlready, "You have already authenticated"))
		return false
	}
	if arg == "*" {
		if s.sasl != nil {
			s.sasl = nil
			s.reply(s.numeric(errSASLAborted, "SASL authentication aborted"))
		} else {
			s.reply(s.numeric(errSASLFail, "SASL authentication failed"))
		}
		return false
	}
	if s.sasl == nil {
		mech := strings.ToUpper(arg)
		if !slices.Contains(s.saslMechanisms(), mech) {
			s.reply(s.numeric(rplSASLMechs, strings.Join(s.saslMechanisms(), ","), "are available SASL mechanisms"))
			s.reply(s.numeric(errSASLFail, "SASL authentication failed"))
			return false
		}
		st := &saslState{mech: mech}
		if mech != "EXTERNAL" {
			ex, err := sasl.Start(mech, sasl.Config{
				Creds: &hostCreds{s: s}, TLS: true, FakeSecret: s.svc.cfg.FakeSecret,
				Iterations: s.svc.cfg.SCRAMIterations, Advertised: s.saslMechanisms(),
			})
			if err != nil {
				s.reply(s.numeric(errSASLFail, "SASL authentication failed"))
				return false
			}
			st.ex = ex
		}
		s.sasl = st
		s.reply(ircmsg.New("AUTHENTICATE", "+"))
		return false
	}
	if len(arg) > 400 {
		s.sasl = nil
		s.reply(s.numeric(errSASLTooLong, "SASL message too long"))
		return false
	}
	if arg != "+" {
		s.sasl.buf = append(s.sasl.buf, arg...)
	}
	if len(s.sasl.buf) > maxSASL {
		s.sasl = nil
		s.reply(s.numeric(errSASLTooLong, "SASL message too long"))
		return false
	}
	if len(arg) == 400 {
		return false // more to come
	}
	in, err := base64.StdEncoding.DecodeString(string(s.sasl.buf))
	s.sasl.buf = s.sasl.buf[:0]
	if err != nil {
		return s.saslFailed(err)
	}
	if s.sasl.mech == "EXTERNAL" {
		user, err := s.external(string(in))
		if err != nil {
			return s.saslFailed(err)
		}
		s.loggedIn(user)
		return false
	}
	out, done, err := s.sasl.ex.Step(in)
	if err != nil {
		return s.saslFailed(err)
	}
	if done {
		user, ok := s.accountFor(s.sasl.ex.Username())
		if az := s.sasl.ex.Authzid(); ok && az != "" {
			// An authorization identity may only name the same
			// account ("alice", "Alice" or "alice@host").
			if a, aok := s.accountFor(az); !aok || !a.Equal(user) {
				ok = false
			}
		}
		if !ok {
			return s.saslFailed(sasl.ErrInvalidAuthzid)
		}
		if len(out) > 0 {
			s.sendAuthenticate(out)
		}
		s.loggedIn(user)
		return false
	}
	s.sendAuthenticate(out)
	return false
}

// sendAuthenticate sends a challenge in chunks of 400 (IRCv3 SASL 3.2).
func (s *Session) sendAuthenticate(b []byte) {
	enc := base64.StdEncoding.EncodeToString(b)
	for len(enc) >= 400 {
		s.reply(ircmsg.New("AUTHENTICATE", enc[:400]))
		enc = enc[400:]
	}
	if enc == "" {
		enc = "+"
	}
	s.reply(ircmsg.New("AUTHENTICATE", enc))
}

// saslFailed answers a failed exchange, after the address's penalty;
// it reports true when the connection has failed too often and ends.
// Only a client that proved the account's credentials learns that the
// account is disabled.
func (s *Session) saslFailed(err error) bool {
	s.sasl = nil
	if d := s.svc.fails.fail(s.ip); d > 0 {
		time.Sleep(d)
	}
	text := "SASL authentication failed"
	if errors.Is(err, sasl.ErrAccountDisabled) {
		text += ": your account is disabled"
	}
	s.reply(s.numeric(errSASLFail, text))
	if s.authFails++; s.authFails >= maxAuthFailures {
		s.closeWith("Too many authentication failures")
		return true
	}
	return false
}

func (s *Session) loggedIn(user jid.JID) {
	s.sasl = nil
	s.svc.fails.succeed(s.ip)
	s.account, s.host = user, user.Domain()
	nick := NickFor(user, user.Domain())
	s.reply(s.numeric(rplLoggedIn, nick+"!"+s.userName()+"@"+hostPart(s.host), nick, "You are now logged in as "+nick))
	s.reply(s.numeric(rplSASLSuccess, "SASL authentication successful"))
}

// accountFor turns a SASL or PASS username ("alice" or
// "alice@example.org") into the bare JID of an account of a served host.
func (s *Session) accountFor(username string) (jid.JID, bool) {
	host := s.svc.cfg.Hosts[0]
	local := username
	if l, h, ok := strings.Cut(username, "@"); ok {
		local, host = l, h
	}
	if !slices.Contains(s.svc.cfg.Hosts, host) {
		return jid.JID{}, false
	}
	j, err := jid.New(local, host, "")
	if err != nil {
		return jid.JID{}, false
	}
	return j, true
}

// hostCreds looks SASL usernames up as accounts of the served hosts.
type hostCreds struct{ s *Session }

func (h *hostCreds) Keys(username string, hash sasl.Hash) (sasl.Keys, error) {
	j, ok := h.s.accountFor(username)
	if !ok {
		return sasl.Keys{}, sasl.ErrNoSuchUser
	}
	return h.s.svc.creds.Keys(j.String(), hash)
}

// external is SASL EXTERNAL (RFC 4422 Appendix A) with the client's TLS
// certificate, verified against the configured client CAs: the account
// is the certificate's subject common name, a bare JID or a localpart of
// the first host. An authorization identity, when sent, must name the
// same account.
func (s *Session) external(authzid string) (jid.JID, error) {
	if s.tls == nil || s.svc.cfg.ClientCAs == nil {
		return jid.JID{}, sasl.ErrNotAuthorized
	}
	certs := s.tls.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return jid.JID{}, sasl.ErrNotAuthorized
	}
	opts := x509VerifyOptions(s.svc.cfg.ClientCAs, certs[1:])
	if _, err := certs[0].Verify(opts); err != nil {
		return jid.JID{}, sasl.ErrNotAuthorized
	}
	user, ok := s.accountFor(certs[0].Subject.CommonName)
	if !ok {
		return jid.JID{}, sasl.ErrNotAuthorized
	}
	if authzid != "" {
		if a, ok := s.accountFor(authzid); !ok || !a.Equal(user) {
			return jid.JID{}, sasl.ErrInvalidAuthzid
		}
	}
	// A certificate proves no password: whether the account exists and
	// is disabled (XEP-0133 §4.3) is asked here.
	switch off, err := s.svc.accounts.Disabled(s.ctx, user); {
	case err != nil:
		return jid.JID{}, sasl.ErrNotAuthorized // no such account, or unreadable
	case off:
		return jid.JID{}, sasl.ErrAccountDisabled
	}
	return user, nil
}

// cmdPass keeps the password for registration: "user:password" (or a
// password for the nick's account) when the client does not use SASL.
func (s *Session) cmdPass(m ircmsg.Message) bool {
	if s.registered {
		s.reply(s.numeric(errAlreadyReg, "You may not reregister"))
		return false
	}
	s.pass = m.Param(0)
	return false
}

func (s *Session) cmdNick(m ircmsg.Message) bool {
	nick := m.Param(0)
	if nick == "" {
		s.reply(s.numeric(errNoNicknameGiven, "No nickname given"))
		return false
	}
	if !s.registered {
		if _, ok := OccupantNick(nick); !ok || len(nick) > nickLen || strings.ContainsAny(nick, "@!#&") {
			s.reply(s.numeric(errErroneusNick, nick, "Erroneous nickname"))
			return false
		}
		s.nick = nick
		return s.tryRegister()
	}
	if foldASCII(nick) == foldASCII(s.nick) {
		return false
	}
	// NOTSPEC(RFC 2812 §3.1.2): the nick is the account's name, the
	// same for every client of the account; it does not change.
	if u, ok := UserFor(nick, s.host); ok && s.known(u) {
		s.reply(s.numeric(errNickInUse, nick, "Nickname is already in use"))
		return false
	}
	s.reply(s.numeric(errErroneusNick, nick, "Your nick is your account name and cannot change"))
	return false
}

func (s *Session) cmdUser(m ircmsg.Message) bool {
	if s.registered {
		s.reply(s.numeric(errAlreadyReg, "You may not reregister"))
		return false
	}
	if m.Param(0) == "" || m.Param(3) == "" {
		s.reply(s.numeric(errNeedMoreParams, "USER", "Not enough parameters"))
		return false
	}
	// The user name goes into hostmasks: only what is safe there.
	s.user = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.~", r) {
			return r
		}
		return -1
	}, ircmsg.Truncate(m.Param(0), 32))
	if s.user == "" {
		s.user = "user"
	}
	s.real = ircmsg.Truncate(m.Param(3), 100)
	return s.tryRegister()
}

func (s *Session) cmdPing(m ircmsg.Message) bool {
	s.reply(ircmsg.Message{Source: s.svc.cfg.ServerName, Command: "PONG", Params: []string{s.svc.cfg.ServerName, m.Param(0)}})
	return false
}

func (s *Session) cmdQuit(m ircmsg.Message) bool {
	reason := "Client Quit"
	if r := m.Param(0); r != "" {
		reason = "Quit: " + ircmsg.Truncate(r, awayLen)
	}
	if s.registered {
		s.leaveAll(reason, true)
	}
	s.closeWith(reason)
	return true
}

// tryRegister completes registration once NICK and USER are in and
// capability negotiation is over: it authenticates (SASL before, PASS
// now, or a guest), binds a resource and welcomes the client.
func (s *Session) tryRegister() bool {
	if s.registered || s.nick == "" || s.user == "" || s.capNeg {
		return false
	}
	if s.account.IsZero() && s.pass != "" {
		user, pass, ok := strings.Cut(s.pass, ":")
		if !ok {
			user, pass = s.nick, s.pass
		}
		s.pass = ""
		if err := s.checkPassword(user, pass); err != nil {
			if d := s.svc.fails.fail(s.ip); d > 0 {
				time.Sleep(d)
			}
			if errors.Is(err, sasl.ErrAccountDisabled) {
				s.reply(s.numeric(errYoureBanned, "Your account is disabled"))
				s.closeWith("Account disabled")
				return true
			}
			s.reply(s.numeric(errPasswdMismatch, "Password incorrect"))
			s.closeWith("Bad password")
			return true
		}
	}
	if s.account.IsZero() {
		if !s.svc.cfg.Guests {
			s.fail("*", "ACCOUNT_REQUIRED", "Log in with SASL or PASS account:password")
			s.closeWith("Authentication required")
			return true
		}
		host := s.svc.cfg.Hosts[0]
		user, ok := UserFor(s.nick, host)
		if !ok || user.Domain() != host {
			bad := s.nick
			s.nick = ""
			s.reply(s.numeric(errErroneusNick, bad, "Erroneous nickname"))
			return false
		}
		exists, err := s.svc.accounts.Exists(s.ctx, user)
		if err != nil || exists || s.bound(user) {
			bad := s.nick
			s.nick = ""
			s.reply(s.numeric(errNickInUse, bad, "Nickname is already in use"))
			return false
		}
		s.account, s.host, s.guest = user, host, true
	}
	full, err := s.account.WithResource("irc-" + randomID(8))
	if err != nil {
		s.closeWith("Bad account")
		return true
	}
	s.jid = full
	oldNick := s.nick
	if canon := NickFor(s.account, s.host); foldASCII(oldNick) != foldASCII(canon) {
		s.nick = canon
	}
	s.q.Start()
	if _, err := s.svc.router.Bind(s, false, s.svc.cfg.SessionsPerAcct); err != nil {
		// The account was disabled or removed while this client
		// registered: it ends as the account's sessions did.
		var revoked *router.RevokedError
		if errors.As(err, &revoked) {
			s.CloseWithError(revoked.Stream)
			return true
		}
		s.closeWith("Too many sessions")
		return true
	}
	s.svc.addUser(s.account, s.nick, s.userName(), s.realName(), s.guest)
	s.registered = true
	if s.release != nil {
		s.release()
		s.release = nil
	}
	s.raw.SetExpiry(time.Time{})
	// From the short registration timeout to the idle timeout: a PING
	// after IdleTimeout of silence, the end a minute later (zero: never).
	s.raw.SetIdle(s.svc.cfg.IdleTimeout, time.Minute, func() {
		s.mu.Lock()
		s.push(ircmsg.New("PING", s.svc.cfg.ServerName))
		s.mu.Unlock()
	})
	s.welcome()
	if oldNick != s.nick {
		s.reply(ircmsg.Message{Source: oldNick + "!" + s.userName() + "@" + hostPart(s.host), Command: "NICK", Params: []string{s.nick}})
	}
	// Available presence makes the session a resource that receives
	// chats like any client (RFC 6121 §4.2).
	s.route(xmlel.New("", stanza.Presence))
	return false
}

// checkPassword logs the client in with PASS: the error is the
// exchange's, sasl.ErrAccountDisabled for a disabled account.
func (s *Session) checkPassword(user, pass string) error {
	ex, err := sasl.Start(sasl.Plain, sasl.Config{
		Creds: &hostCreds{s: s}, TLS: true, FakeSecret: s.svc.cfg.FakeSecret, Iterations: s.svc.cfg.SCRAMIterations,
	})
	if err != nil {
		return err
	}
	if _, done, err := ex.Step([]byte("\x00" + user + "\x00" + pass)); err != nil || !done {
		return cmp.Or(err, sasl.ErrNotAuthorized)
	}
	j, ok := s.accountFor(ex.Username())
	if !ok {
		return sasl.ErrNotAuthorized
	}
	s.account, s.host = j, j.Domain()
	return nil
}

// isupport are the ISUPPORT tokens (modern IRC "RPL_ISUPPORT").
func (s *Session) isupport() []string {
	c := s.svc.cfg
	return []string{
		"AWAYLEN=" + strconv.Itoa(awayLen),
		"CASEMAPPING=ascii",
		"CHANLIMIT=#:" + strconv.Itoa(c.MaxChannels),
		"CHANMODES=b,k,l,imnst",
		"CHANNELLEN=" + strconv.Itoa(channelLen),
		"CHANTYPES=#",
		"CHATHISTORY=" + strconv.Itoa(c.MaxHistory),
		"ELIST=",
		"HOSTLEN=" + strconv.Itoa(hostLen),
		"KEYLEN=" + strconv.Itoa(keyLen),
		"KICKLEN=" + strconv.Itoa(kickLen),
		"MAXTARGETS=1",
		"MODES=4",
		"MONITOR=" + strconv.Itoa(monitorLimit),
		"MSGREFTYPES=msgid,timestamp",
		"NETWORK=" + c.Network,
		"NICKLEN=" + strconv.Itoa(nickLen),
		"PREFIX=(ov)@+",
		"TARGMAX=PRIVMSG:1,NOTICE:1,TAGMSG:1,JOIN:" + strconv.Itoa(c.MaxChannels) + ",PART:" + strconv.Itoa(c.MaxChannels) + ",NAMES:1,WHOIS:1",
		"TOPICLEN=" + strconv.Itoa(topicLen),
		"UTF8ONLY",
		"WHOX",
	}
}

func (s *Session) welcome() {
	c := s.svc.cfg
	s.reply(s.numeric(rplWelcome, "Welcome to the "+c.Network+" IRC gateway, "+s.prefix()))
	s.reply(s.numeric(rplYourHost, "Your host is "+c.ServerName+", running samtal"))
	s.reply(s.numeric(rplCreated, "This server was created "+s.svc.created.UTC().Format(time.RFC1123)))
	s.reply(s.numeric(rplMyInfo, c.ServerName, "samtal", "i", "abiklmnoqstv", "abkloqv"))
	s.sendISupport()
	s.cmdLusers(ircmsg.Message{})
	s.motd()
}

func (s *Session) sendISupport() {
	tokens := s.isupport()
	for len(tokens) > 0 {
		n := min(len(tokens), 12)
		s.reply(s.numeric(rplISupport, append(tokens[:n:n], "are supported by this server")...))
		tokens = tokens[n:]
	}
}

func (s *Session) motd() {
	if len(s.svc.cfg.MOTD) == 0 {
		s.reply(s.numeric(errNoMotd, "MOTD File is missing"))
		return
	}
	s.reply(s.numeric(rplMotdStart, "- "+s.svc.cfg.ServerName+" Message of the day - "))
	for _, l := range s.svc.cfg.MOTD {
		s.reply(s.numeric(rplMotd, "- "+l))
	}
	s.reply(s.numeric(rplEndOfMotd, "End of /MOTD command."))
}

func (s *Session) cmdLusers(ircmsg.Message) bool {
	// Every user is invisible (+i): XMPP users and IRC users alike.
	n, peak := s.svc.router.Count(), s.svc.router.Peak()
	s.reply(s.numeric(rplLUserClient, fmt.Sprintf("There are 0 users and %d invisible on 1 servers", n)))
	s.reply(s.numeric(rplLUserMe, fmt.Sprintf("I have %d clients and 0 servers", n)))
	s.reply(s.numeric(rplLocalUsers, strconv.Itoa(n), strconv.Itoa(peak), fmt.Sprintf("Current local users %d, max %d", n, peak)))
	s.reply(s.numeric(rplGlobalUsers, strconv.Itoa(n), strconv.Itoa(peak), fmt.Sprintf("Current global users %d, max %d", n, peak)))
	return false
}

func (s *Session) cmdVersion(ircmsg.Message) bool {
	s.reply(s.numeric(rplVersion, "samtal", s.svc.cfg.ServerName, "samtal IRC gateway"))
	s.sendISupport()
	return false
}

// cmdWhowas answers that nobody was: samtal keeps no record of the
// nicks that left (privacy by default).
func (s *Session) cmdWhowas(m ircmsg.Message) bool {
	nick := m.Param(0)
	s.reply(s.numeric(errWasNoSuchNick, nick, "There was no such nickname"))
	s.reply(s.numeric(rplEndOfWhowas, nick, "End of WHOWAS"))
	return false
}

// cmdOper refuses: the gateway has no IRC operators; the server is run
// with samtal's own commands.
func (s *Session) cmdOper(ircmsg.Message) bool {
	s.reply(s.numeric(errNoOperHost, "No O-lines for your host"))
	return false
}

func (s *Session) cmdTime(ircmsg.Message) bool {
	s.reply(s.numeric(rplTime, s.svc.cfg.ServerName, time.Now().UTC().Format(time.RFC1123)))
	return false
}

var _ router.Session = (*Session)(nil)

// x509VerifyOptions verifies a client certificate for SASL EXTERNAL.
func x509VerifyOptions(roots *x509.CertPool, chain []*x509.Certificate) x509.VerifyOptions {
	inter := x509.NewCertPool()
	for _, c := range chain {
		inter.AddCert(c)
	}
	return x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
}
