package e2e

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/xmlel"
)

// Namespaces, spelled out here as the XEPs write them, independent of
// the server's constants.
const (
	xSASL   = "urn:ietf:params:xml:ns:xmpp-sasl"
	xSASL2  = "urn:xmpp:sasl:2"
	xBind2  = "urn:xmpp:bind:0"
	xFAST   = "urn:xmpp:fast:0"
	xSM     = "urn:xmpp:sm:3"
	xCSI    = "urn:xmpp:csi:0"
	xStream = "http://etherx.jabber.org/streams"
	xCB     = "urn:xmpp:sasl-cb:0"
)

// starttls opens the stream and negotiates TLS; it returns the features
// of the encrypted stream.
func (c *raw) starttls(domain string) *xmlel.Element {
	c.t.Helper()
	c.open(domain)
	c.next()
	c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	if el := c.next(); el.Local != "proceed" {
		c.t.Fatalf("starttls: %v", el)
	}
	tc := tls.Client(c.conn, &tls.Config{ServerName: domain, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn = tc
	c.r.Reset(tc)
	c.open(domain)
	return c.next()
}

// exporter returns the tls-exporter channel-binding data (RFC 9266).
func (c *raw) exporter() []byte {
	c.t.Helper()
	cs := c.conn.(*tls.Conn).ConnectionState()
	b, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// texts returns the text of each child named local.
func texts(el *xmlel.Element, space, local string) []string {
	var out []string
	for _, c := range el.Elements() {
		if c.Is(space, local) {
			out = append(out, c.Text())
		}
	}
	return out
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func hmacSHA256(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// scram is a SCRAM-SHA-256 client written from RFC 5802 and RFC 7677.
type scram struct {
	user, pass, cnonce, gs2 string
	cb                      []byte
	first                   string // server-first-message
	authMsg                 string
	salted                  []byte
}

func (s *scram) clientFirst() string { return s.gs2 + "n=" + s.user + ",r=" + s.cnonce }

// final returns the client-final-message for the server-first-message
// and the server's attributes.
func (s *scram) final(t *testing.T, serverFirst string) (string, map[string]string) {
	t.Helper()
	s.first = serverFirst
	attrs := map[string]string{}
	for _, kv := range strings.Split(serverFirst, ",") {
		k, v, _ := strings.Cut(kv, "=")
		attrs[k] = v
	}
	if !strings.HasPrefix(attrs["r"], s.cnonce) {
		t.Fatalf("server nonce %q does not extend ours", attrs["r"])
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil {
		t.Fatal(err)
	}
	var iter int
	fmt.Sscan(attrs["i"], &iter)
	s.salted, err = pbkdf2.Key(sha256.New, s.pass, salt, iter, 32)
	if err != nil {
		t.Fatal(err)
	}
	clientKey := hmacSHA256(s.salted, []byte("Client Key"))
	stored := sha256.Sum256(clientKey)
	without := "c=" + b64(append([]byte(s.gs2), s.cb...)) + ",r=" + attrs["r"]
	s.authMsg = "n=" + s.user + ",r=" + s.cnonce + "," + serverFirst + "," + without
	proof := hmacSHA256(stored[:], []byte(s.authMsg))
	subtle.XORBytes(proof, proof, clientKey)
	return without + ",p=" + b64(proof), attrs
}

// verify checks the server-final-message.
func (s *scram) verify(t *testing.T, serverFinal string) {
	t.Helper()
	serverKey := hmacSHA256(s.salted, []byte("Server Key"))
	want := "v=" + b64(hmacSHA256(serverKey, []byte(s.authMsg)))
	if serverFinal != want {
		t.Fatalf("server signature %q, want %q", serverFinal, want)
	}
}

// ssdp is XEP-0474 §4.1's hash of what the client saw announced.
func ssdp(mechs, cbTypes []string) string {
	m := slices.Sorted(slices.Values(mechs))
	s := strings.Join(m, "\x1e")
	if len(cbTypes) > 0 {
		s += "\x1f" + strings.Join(slices.Sorted(slices.Values(cbTypes)), "\x1e")
	}
	h := sha256.Sum256([]byte(s))
	return b64(h[:])
}

func uuid4() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// plain2 opens a stream to addr and authenticates user with PLAIN over
// SASL2 (XEP-0388); inner goes inside <authenticate/> (a user agent, a
// token request). It returns the stream and the server's answer.
func plain2(t *testing.T, addr, user, pw, inner string) (*raw, *xmlel.Element) {
	t.Helper()
	c := dialRaw(t, addr)
	c.starttls("localhost")
	c.send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>" +
		b64([]byte("\x00"+user+"\x00"+pw)) + "</initial-response>" + inner + "</authenticate>")
	return c, c.next()
}

// fastAuth sends a SASL2 authentication with a FAST token (XEP-0484
// §3.4) and returns the server's answer.
func (c *raw) fastAuth(mech, user, token, uaID, extra string, cb []byte) *xmlel.Element {
	c.t.Helper()
	ir := append([]byte(user+"\x00"), hmacSHA256([]byte(token), []byte("Initiator"), cb)...)
	c.send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='" + mech + "'><initial-response>" + b64(ir) +
		"</initial-response><user-agent id='" + uaID + "'><software>samtal e2e</software></user-agent>" + extra + "</authenticate>")
	return c.next()
}

// TestSASL2Bind2FAST logs in the way Conversations and Monal do, with a
// hand-written client that checks the wire: SASL2 (XEP-0388) with
// SCRAM-SHA-256-PLUS and XEP-0474 downgrade protection, Bind 2
// (XEP-0386) with inline stream management and CSI, a FAST token
// (XEP-0484) requested, used (with and without channel binding),
// replayed, rotated and invalidated, and a session resumed inline.
func TestSASL2Bind2FAST(t *testing.T) {
	s := StartServer(t, Options{})
	s.AddUser("juliet", "r0meo&more")
	const user, pass = "juliet", "r0meo&more"
	uaID := uuid4()

	// Features (XEP-0388 §2.1, XEP-0386 §2, XEP-0198 §9, XEP-0484 §3.1).
	c := dialRaw(t, s.C2S)
	f := c.starttls("localhost")
	sasl1 := texts(f.Child(xSASL, "mechanisms"), xSASL, "mechanism")
	auth := f.Child(xSASL2, "authentication")
	if auth == nil {
		t.Fatalf("no SASL2 feature: %v", f)
	}
	mechs := texts(auth, xSASL2, "mechanism")
	if !slices.Equal(mechs, sasl1) || !slices.Contains(mechs, "SCRAM-SHA-256-PLUS") {
		t.Errorf("SASL2 mechanisms %q, want the SASL1 list %q with -PLUS", mechs, sasl1)
	}
	inline := auth.Child(xSASL2, "inline")
	if inline.Child(xSM, "sm") == nil {
		t.Errorf("no inline <sm/>: %v", inline)
	}
	var bindFeatures []string
	for _, fe := range inline.Child(xBind2, "bind").Child(xBind2, "inline").Elements() {
		if fe.Is(xBind2, "feature") {
			bindFeatures = append(bindFeatures, fe.Attr("var"))
		}
	}
	if !slices.Contains(bindFeatures, xSM) || !slices.Contains(bindFeatures, xCSI) {
		t.Errorf("Bind 2 inline features %q, want sm and csi", bindFeatures)
	}
	fastMechs := texts(inline.Child(xFAST, "fast"), xFAST, "mechanism")
	for _, m := range []string{"HT-SHA-256-NONE", "HT-SHA-256-EXPR"} {
		if !slices.Contains(fastMechs, m) {
			t.Errorf("FAST mechanisms %q lack %s", fastMechs, m)
		}
	}
	var cbTypes []string
	for _, cb := range f.Child(xCB, "sasl-channel-binding").Elements() {
		cbTypes = append(cbTypes, cb.Attr("type"))
	}

	// SCRAM-SHA-256-PLUS over SASL2 with Bind 2, inline SM and CSI, and
	// a token request.
	sc := &scram{user: user, pass: pass, cnonce: "fyko+d2lbbFgONRv9qkxdawL", gs2: "p=tls-exporter,,", cb: c.exporter()}
	c.send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256-PLUS'>" +
		"<initial-response>" + b64([]byte(sc.clientFirst())) + "</initial-response>" +
		"<user-agent id='" + uaID + "'><software>samtal e2e</software><device>test bench</device></user-agent>" +
		"<bind xmlns='urn:xmpp:bind:0'><tag>e2e</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/><inactive xmlns='urn:xmpp:csi:0'/></bind>" +
		"<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>" +
		"</authenticate>")
	ch := c.next()
	if !ch.Is(xSASL2, "challenge") {
		t.Fatalf("want a SASL2 challenge, got %v", ch)
	}
	first, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(ch.Text()))
	final, attrs := sc.final(t, string(first))
	if want := ssdp(mechs, cbTypes); attrs["h"] != want {
		t.Errorf("XEP-0474 h = %q, want %q (hash of the SASL2 list)", attrs["h"], want)
	}
	c.send("<response xmlns='urn:xmpp:sasl:2'>" + b64([]byte(final)) + "</response>")
	succ := c.next()
	if !succ.Is(xSASL2, "success") {
		t.Fatalf("want SASL2 success, got %v", succ)
	}
	data, _ := base64.StdEncoding.DecodeString(succ.ChildText(xSASL2, "additional-data"))
	sc.verify(t, string(data))
	full := succ.ChildText(xSASL2, "authorization-identifier")
	if !strings.HasPrefix(full, "juliet@localhost/e2e/") || len(full) <= len("juliet@localhost/e2e/") {
		t.Errorf("authorization-identifier %q, want juliet@localhost/e2e/<id> (XEP-0386 §3.1)", full)
	}
	bound := succ.Child(xBind2, "bound")
	enabled := bound.Child(xSM, "enabled")
	if enabled == nil || enabled.Attr("resume") != "true" || enabled.Attr("id") == "" {
		t.Fatalf("<bound/> lacks a resumable <enabled/>: %v", succ)
	}
	tokEl := succ.Child(xFAST, "token")
	if tokEl == nil || tokEl.Attr("token") == "" {
		t.Fatalf("no FAST token in %v", succ)
	}
	token := tokEl.Attr("token")
	if exp, err := time.Parse(time.RFC3339, tokEl.Attr("expiry")); err != nil || time.Until(exp) < 24*time.Hour {
		t.Errorf("token expiry %q: %v", tokEl.Attr("expiry"), err)
	}
	// Features follow at once, without a restart (XEP-0388 §2.6.1):
	// no bind and no sm any more, csi still.
	f2 := c.next()
	if !f2.Is(xStream, "features") || f2.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind") != nil ||
		f2.Child(xSM, "sm") != nil || f2.Child(xCSI, "csi") == nil {
		t.Errorf("features after SASL2 success: %v", f2)
	}
	c.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq><r xmlns='urn:xmpp:sm:3'/>")
	if el := c.next(); el.Attr("id") != "p1" || el.Attr("type") != "result" {
		t.Fatalf("ping: %v", el)
	}
	if el := c.next(); !el.Is(xSM, "a") || el.Attr("h") != "1" {
		t.Fatalf("want <a h='1'/>, got %v", el)
	}

	// FAST with HT-SHA-256-NONE and the same client: the same resource
	// (XEP-0386 §3.1), which replaces the first session.
	c2 := dialRaw(t, s.C2S)
	c2.starttls("localhost")
	succ = c2.fastAuth("HT-SHA-256-NONE", user, token, uaID,
		"<bind xmlns='urn:xmpp:bind:0'><tag>e2e</tag></bind><fast xmlns='urn:xmpp:fast:0' count='1'/>", nil)
	if !succ.Is(xSASL2, "success") {
		t.Fatalf("FAST: %v", succ)
	}
	data, _ = base64.StdEncoding.DecodeString(succ.ChildText(xSASL2, "additional-data"))
	if want := hmacSHA256([]byte(token), []byte("Responder")); !hmac.Equal(data, want) {
		t.Errorf("FAST additional-data %x, want HMAC(token, \"Responder\") %x", data, want)
	}
	if got := succ.ChildText(xSASL2, "authorization-identifier"); got != full {
		t.Errorf("FAST bound %q, want the stable resource %q", got, full)
	}
	if succ.Child(xFAST, "token") != nil {
		t.Errorf("a fresh token was rotated: %v", succ)
	}
	if got := c.streamError(); got != "conflict" {
		t.Errorf("first session ended with %q, want conflict", got)
	}
	c2.next() // features

	// The same counter again is a replay (XEP-0484 §3.4).
	c3 := dialRaw(t, s.C2S)
	c3.starttls("localhost")
	el := c3.fastAuth("HT-SHA-256-NONE", user, token, uaID, "<fast xmlns='urn:xmpp:fast:0' count='1'/>", nil)
	if !el.Is(xSASL2, "failure") || el.Child(xSASL, "not-authorized") == nil {
		t.Errorf("replayed count: %v", el)
	}
	// A wrong token, another mechanism, another client: refused.
	for _, tc := range []struct{ name, mech, token, ua string }{
		{"wrong token", "HT-SHA-256-NONE", token + "x", uaID},
		{"other mechanism", "HT-SHA-256-EXPR", token, uaID},
		{"other client", "HT-SHA-256-NONE", token, uuid4()},
	} {
		cx := dialRaw(t, s.C2S)
		cx.starttls("localhost")
		var cb []byte
		if tc.mech == "HT-SHA-256-EXPR" {
			cb = cx.exporter()
		}
		if el := cx.fastAuth(tc.mech, user, tc.token, tc.ua, "<fast xmlns='urn:xmpp:fast:0'/>", cb); !el.Is(xSASL2, "failure") {
			t.Errorf("%s: %v", tc.name, el)
		}
	}

	// A channel-bound token (HT-SHA-256-EXPR) for a second client:
	// requested with a password login, used with tls-exporter data. (For
	// the same client it would replace the first token once used,
	// XEP-0484 §3.5.)
	ua2 := uuid4()
	c4, succ := plain2(t, s.C2S, user, pass, "<user-agent id='"+ua2+"'/>"+
		"<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-EXPR'/>")
	exprToken := succ.Child(xFAST, "token").Attr("token")
	if got := succ.ChildText(xSASL2, "authorization-identifier"); got != "juliet@localhost" {
		t.Errorf("unbound authorization-identifier %q, want the bare JID", got)
	}
	if f := c4.next(); f.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind") == nil {
		t.Errorf("features without Bind 2 lack <bind/>: %v", f)
	}
	c5 := dialRaw(t, s.C2S)
	c5.starttls("localhost")
	cb := c5.exporter()
	succ = c5.fastAuth("HT-SHA-256-EXPR", user, exprToken, ua2, "<fast xmlns='urn:xmpp:fast:0' invalidate='true'/>", cb)
	if !succ.Is(xSASL2, "success") {
		t.Fatalf("FAST with tls-exporter: %v", succ)
	}
	data, _ = base64.StdEncoding.DecodeString(succ.ChildText(xSASL2, "additional-data"))
	if want := hmacSHA256([]byte(exprToken), []byte("Responder"), cb); !hmac.Equal(data, want) {
		t.Errorf("FAST -EXPR additional-data %x, want %x", data, want)
	}
	// Invalidated (XEP-0484 §3.6): no new token, and the old one is dead.
	if succ.Child(xFAST, "token") != nil {
		t.Errorf("a token came with invalidate: %v", succ)
	}
	c6 := dialRaw(t, s.C2S)
	c6.starttls("localhost")
	cb = c6.exporter()
	if el := c6.fastAuth("HT-SHA-256-EXPR", user, exprToken, ua2, "<fast xmlns='urn:xmpp:fast:0'/>", cb); !el.Is(xSASL2, "failure") {
		t.Errorf("an invalidated token still works: %v", el)
	}

	// Inline resumption (XEP-0198 §9.2): the session of c2 loses its
	// connection; a new one resumes it inside SASL2, bind ignored, and no
	// features follow.
	c7 := dialRaw(t, s.C2S)
	c7.starttls("localhost")
	succ = c7.fastAuth("HT-SHA-256-NONE", user, token, uaID,
		"<bind xmlns='urn:xmpp:bind:0'><tag>e2e</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind><fast xmlns='urn:xmpp:fast:0'/>", nil)
	if !succ.Is(xSASL2, "success") {
		t.Fatalf("FAST: %v", succ)
	}
	smID := succ.Child(xBind2, "bound").Child(xSM, "enabled").Attr("id")
	c7.next() // features
	c7.send("<message to='juliet@localhost' id='m1'><body>to myself</body></message>")
	c7.conn.Close()
	time.Sleep(300 * time.Millisecond)
	c8 := dialRaw(t, s.C2S)
	c8.starttls("localhost")
	succ = c8.fastAuth("HT-SHA-256-NONE", user, token, uaID,
		"<resume xmlns='urn:xmpp:sm:3' h='0' previd='"+smID+"'/><bind xmlns='urn:xmpp:bind:0'><tag>other</tag></bind><fast xmlns='urn:xmpp:fast:0'/>", nil)
	resumed := succ.Child(xSM, "resumed")
	if resumed == nil || resumed.Attr("previd") != smID || resumed.Attr("h") != "1" {
		t.Fatalf("want <resumed h='1' previd='%s'/> in success: %v", smID, succ)
	}
	if got := succ.ChildText(xSASL2, "authorization-identifier"); got != full {
		t.Errorf("resumed as %q, want %q", got, full)
	}
	if succ.Child(xBind2, "bound") != nil {
		t.Errorf("bind processed although resumed: %v", succ)
	}
	// What follows is the session, not features.
	c8.send("<iq type='get' id='p2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	for {
		el := c8.next()
		if el.Is(xStream, "features") {
			t.Fatal("features after a resumption")
		}
		if el.Attr("id") == "p2" {
			break
		}
	}
}

// endpoint returns the tls-server-end-point channel-binding data (RFC
// 5929 §4.1) of the server's ECDSA-SHA256 certificate.
func (c *raw) endpoint() []byte {
	cs := c.conn.(*tls.Conn).ConnectionState()
	h := sha256.Sum256(cs.PeerCertificates[0].Raw)
	return h[:]
}

// TestFASTRotation checks token rotation (XEP-0484 §3.5) with
// HT-SHA-256-ENDP: a token used in the second half of its life brings a
// new one; the old one keeps working until the new one is used, a newer
// unused token replaces an older unused one, and using the new one ends
// the old.
func TestFASTRotation(t *testing.T) {
	s := StartServer(t, Options{Extra: "[stream]\nfast_token_lifetime = \"10s\"\n"})
	s.AddUser("romeo", "juliet&more")
	ua := uuid4()
	login := func(token string) *xmlel.Element {
		t.Helper()
		c := dialRaw(t, s.C2S)
		f := c.starttls("localhost")
		if !slices.Contains(texts(f.Child(xSASL2, "authentication").Child(xSASL2, "inline").Child(xFAST, "fast"), xFAST, "mechanism"), "HT-SHA-256-ENDP") {
			t.Fatalf("HT-SHA-256-ENDP not offered: %v", f)
		}
		return c.fastAuth("HT-SHA-256-ENDP", "romeo", token, ua, "<fast xmlns='urn:xmpp:fast:0'/>", c.endpoint())
	}
	_, el := plain2(t, s.C2S, "romeo", "juliet&more", "<user-agent id='"+ua+"'/>"+
		"<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-ENDP'/>")
	t1 := el.Child(xFAST, "token").Attr("token")

	el = login(t1)
	if !el.Is(xSASL2, "success") || el.Child(xFAST, "token") != nil {
		t.Fatalf("a young token: want success without rotation, got %v", el)
	}
	time.Sleep(6 * time.Second) // into the second half of its life
	el = login(t1)
	t2 := el.Child(xFAST, "token")
	if !el.Is(xSASL2, "success") || t2 == nil {
		t.Fatalf("an old token: want success with a new token, got %v", el)
	}
	// The old token still works until the new one is used, and brings a
	// newer one that replaces the unused t2.
	el = login(t1)
	t3 := el.Child(xFAST, "token")
	if !el.Is(xSASL2, "success") || t3 == nil {
		t.Fatalf("the old token before the new one is used: %v", el)
	}
	if el := login(t2.Attr("token")); !el.Is(xSASL2, "failure") {
		t.Errorf("a replaced unused token works: %v", el)
	}
	if el := login(t3.Attr("token")); !el.Is(xSASL2, "success") || el.Child(xFAST, "token") != nil {
		t.Errorf("the newest token: %v", el)
	}
	if el := login(t1); !el.Is(xSASL2, "failure") {
		t.Errorf("the old token works after the new one was used: %v", el)
	}
}

// TestDisabledFAST: a FAST token proves no password, so the server asks
// the account's state before it takes one. Disabled (by another
// process, as `samtal user disable` does), the token and the password
// are refused with account-disabled, over SASL2 as over RFC 6120 SASL;
// enabled again, the same token logs in.
func TestDisabledFAST(t *testing.T) {
	s := StartServer(t, Options{})
	s.AddUser("romeo", "juliet&more")
	ua := uuid4()
	_, el := plain2(t, s.C2S, "romeo", "juliet&more", "<user-agent id='"+ua+"'/>"+
		"<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-ENDP'/>")
	token := el.Child(xFAST, "token").Attr("token")
	fast := func() *xmlel.Element {
		t.Helper()
		c := dialRaw(t, s.C2S)
		c.starttls("localhost")
		return c.fastAuth("HT-SHA-256-ENDP", "romeo", token, ua, "<fast xmlns='urn:xmpp:fast:0'/>", c.endpoint())
	}
	disabled := func(el *xmlel.Element, ns string) bool {
		return el.Is(ns, "failure") && el.FirstElement() != nil && el.FirstElement().Local == "account-disabled"
	}

	if out, err := s.Samtal("", "disable", "romeo@"+s.Domain); err != nil {
		t.Fatalf("samtal user disable: %v\n%s", err, out)
	}
	if el := fast(); !disabled(el, xSASL2) {
		t.Errorf("a FAST token of a disabled account: %v, want <failure><account-disabled/>", el)
	}
	if _, el := plain2(t, s.C2S, "romeo", "juliet&more", ""); !disabled(el, xSASL2) {
		t.Errorf("the password over SASL2: %v, want <failure><account-disabled/>", el)
	}
	if el := dialRaw(t, s.C2S).auth(s.Domain, "romeo", "juliet&more"); !disabled(el, "urn:ietf:params:xml:ns:xmpp-sasl") {
		t.Errorf("the password over RFC 6120 SASL: %v, want <failure><account-disabled/>", el)
	}

	if out, err := s.Samtal("", "enable", "romeo@"+s.Domain); err != nil {
		t.Fatalf("samtal user enable: %v\n%s", err, out)
	}
	if el := fast(); !el.Is(xSASL2, "success") {
		t.Errorf("the same token once enabled: %v, want success", el)
	}
}
