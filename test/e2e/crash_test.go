package e2e

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

const xSMNS = "urn:xmpp:sm:3"

// crashBody is a message body that carries its own checksum, so that a
// corrupted copy is told from a whole one.
func crashBody(id string) string {
	payload := strings.Repeat(id+" ", 8)
	sum := sha256.Sum256([]byte(payload))
	return "crash " + id + " | " + payload + "| " + hex.EncodeToString(sum[:8])
}

// crashID returns the id of a body, and false when the body is corrupted.
func crashID(body string) (string, bool) {
	rest, ok := strings.CutPrefix(body, "crash ")
	if !ok {
		return "", false
	}
	id, rest, _ := strings.Cut(rest, " | ")
	payload, sum, _ := strings.Cut(rest, "| ")
	want := sha256.Sum256([]byte(payload))
	return id, sum == hex.EncodeToString(want[:8]) && payload == strings.Repeat(id+" ", 8)
}

// smReceiver is an online client with stream management that reads
// everything and acknowledges what it read when asked (XEP-0198 §4).
type smReceiver struct {
	c    *raw
	mu   sync.Mutex
	got  map[string]int
	bad  []string
	done chan struct{}
}

func startReceiver(t *testing.T, s *Server, user, pw string) *smReceiver {
	c := dialRaw(t, s.C2S)
	c.login("localhost", user, pw)
	c.send("<enable xmlns='" + xSMNS + "'/>")
	if el := c.next(); el.Local != "enabled" {
		t.Fatalf("enable: %v", el)
	}
	c.send("<presence/>")
	r := &smReceiver{c: c, got: map[string]int{}, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		var h uint32
		for {
			_ = c.conn.SetReadDeadline(time.Now().Add(time.Minute))
			el, err := c.r.Next()
			if err != nil {
				return // the server was killed
			}
			switch {
			case el.Is(xSMNS, "r"):
				_, _ = c.conn.Write([]byte(fmt.Sprintf("<a xmlns='%s' h='%d'/>", xSMNS, h)))
			case el.Space == "" && (el.Local == "message" || el.Local == "presence" || el.Local == "iq"):
				h++
				body := el.ChildText("", "body")
				if body == "" {
					continue
				}
				r.mu.Lock()
				if id, ok := crashID(body); ok {
					r.got[id]++
				} else {
					r.bad = append(r.bad, body)
				}
				r.mu.Unlock()
			}
		}
	}()
	return r
}

// smSender sends messages with an ack request after each and records
// the highest 'h' the server answered: the messages it counts were
// handled (XEP-0198 §4).
type smSender struct {
	c     *raw
	acked atomic.Uint32
	done  chan struct{}
}

func startSender(t *testing.T, s *Server, user, pw string) *smSender {
	c := dialRaw(t, s.C2S)
	c.login("localhost", user, pw)
	c.send("<enable xmlns='" + xSMNS + "'/>")
	if el := c.next(); el.Local != "enabled" {
		t.Fatalf("enable: %v", el)
	}
	snd := &smSender{c: c, done: make(chan struct{})}
	go func() {
		defer close(snd.done)
		for {
			_ = c.conn.SetReadDeadline(time.Now().Add(time.Minute))
			el, err := c.r.Next()
			if err != nil {
				return
			}
			if el.Is(xSMNS, "a") {
				if h, err := strconv.ParseUint(el.Attr("h"), 10, 32); err == nil {
					snd.acked.Store(uint32(h))
				}
			}
		}
	}()
	return snd
}

// TestCrashSafety kills the server with SIGKILL at random moments while
// a client sends messages with stream management, alternately to a user
// who is online (and acknowledges what it reads) and to one who is
// offline, and restarts it, five times. Then every message the server
// acknowledged to the sender ('h') must have been delivered exactly once
// (online, or from offline storage after the restart), no message twice,
// none corrupted, and the database must pass its integrity check.
//
// A message to an online user lives only in memory until that user's
// client acknowledges it: a SIGKILL in that moment loses it from the
// stream, but the message archive (XEP-0313) holds it. The archives of
// sender and recipient must each hold every acknowledged message exactly
// once, and none twice, none corrupted.
func TestCrashSafety(t *testing.T) {
	s := StartServer(t, Options{LogLevel: "info", Limits: "offline_messages = 10000\nstanza_rate = 1000"})
	for _, u := range []string{"sender", "online", "away"} {
		s.AddUser(u, "pw-"+u)
	}
	type sent struct {
		to    string
		acked bool
	}
	all := map[string]*sent{}
	live := map[string]int{}
	var corrupted []string
	const rounds = 5
	for round := range rounds {
		if round > 0 {
			s.start()
		}
		rcv := startReceiver(t, s, "online", "pw-online")
		snd := startSender(t, s, "sender", "pw-sender")
		killAt := time.Now().Add(time.Duration(200+rand.IntN(1300)) * time.Millisecond)
		var ids []string
		for i := 0; time.Now().Before(killAt) && i < 5000; i++ {
			id := fmt.Sprintf("r%d-%d", round, i)
			to := "away@localhost"
			if i%2 == 0 {
				to = "online@localhost"
			}
			all[id] = &sent{to: to}
			ids = append(ids, id)
			msg := fmt.Sprintf("<message to='%s' type='chat' id='%s'><body>%s</body></message><r xmlns='%s'/>",
				to, id, xmlEscape(crashBody(id)), xSMNS)
			if _, err := snd.c.conn.Write([]byte(msg)); err != nil {
				break
			}
			// A window of 50 unacknowledged messages, as a client
			// keeps: the kill then falls among messages being handled.
			for i+1-int(snd.acked.Load()) > 50 && time.Now().Before(killAt) {
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(time.Until(killAt))
		s.Kill()
		<-snd.done
		<-rcv.done
		h := int(snd.acked.Load())
		if h > len(ids) {
			t.Fatalf("round %d: h=%d counts more than the %d messages sent", round, h, len(ids))
		}
		for _, id := range ids[:h] {
			all[id].acked = true
		}
		rcv.mu.Lock()
		for id, n := range rcv.got {
			live[id] += n
		}
		corrupted = append(corrupted, rcv.bad...)
		rcv.mu.Unlock()
		t.Logf("round %d: %d messages sent, %d acknowledged, %d received online before the kill", round, len(ids), h, len(rcv.got))
	}

	checkIntegrity(t, s)
	// The archive (XEP-0313) is written before a message is
	// acknowledged: the sender's copy and the recipient's.
	arch := archivedCrash(t, s)
	s.start()
	offline := map[string]int{}
	for _, u := range []string{"online", "away"} {
		for body, n := range collectBodies(t, s, u, "pw-"+u, "crash ", 1) {
			id, ok := crashID(body)
			if !ok {
				corrupted = append(corrupted, body)
				continue
			}
			offline[id] += n
		}
	}
	archived := map[string]bool{} // XEP-0313: a message the recipient's archive holds counts as delivered
	corrupted = append(corrupted, arch.bad...)
	for id, m := range all {
		for _, who := range []string{"sender@localhost", m.to} {
			n := arch.n[who][id]
			if n > 1 || m.acked && n != 1 {
				t.Errorf("%s (to %s, acknowledged %v) is %d times in the archive of %s", id, m.to, m.acked, n, who)
			}
		}
		archived[id] = arch.n[m.to][id] == 1
	}
	var ackedN, lostInFlight int
	for id, m := range all {
		n := live[id] + offline[id]
		if n > 1 {
			t.Errorf("%s (to %s) was delivered %d times", id, m.to, n)
		}
		if !m.acked {
			continue
		}
		ackedN++
		if n == 1 || archived[id] {
			continue
		}
		if m.to == "online@localhost" {
			lostInFlight++
			t.Logf("%s to the online user was acknowledged to its sender and lost in flight", id)
			continue
		}
		t.Errorf("%s (to %s) was acknowledged and never delivered", id, m.to)
	}
	for _, b := range corrupted {
		t.Errorf("a corrupted message arrived: %q", b)
	}
	t.Logf("%d kills, %d messages, %d acknowledged, %d delivered online, %d from offline storage, %d in the sender's archive, %d lost in flight to the online user",
		rounds, len(all), ackedN, len(live), len(offline), len(arch.n["sender@localhost"]), lostInFlight)
	if ackedN < rounds {
		t.Errorf("only %d messages were acknowledged: the test proved little", ackedN)
	}
}

// crashArchive is what the archives of a stopped server hold of the
// crash test's messages.
type crashArchive struct {
	n   map[string]map[string]int // account -> message id -> copies
	bad []string                  // corrupted bodies
}

// archivedCrash reads the message archive of a stopped server's store.
func archivedCrash(t *testing.T, s *Server) crashArchive {
	t.Helper()
	u := url.URL{Scheme: "file", Path: s.DB()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT account, stanza FROM archive")
	if err != nil {
		t.Fatalf("reading the archive: %v", err)
	}
	defer rows.Close()
	a := crashArchive{n: map[string]map[string]int{}}
	for rows.Next() {
		var account, st string
		if err := rows.Scan(&account, &st); err != nil {
			t.Fatal(err)
		}
		el, err := xmlstream.Parse([]byte(st), xmlstream.Limits{MaxStanzaBytes: 1 << 20, MaxDepth: 32})
		if err != nil {
			a.bad = append(a.bad, st)
			continue
		}
		body := el.ChildText("", "body")
		if !strings.HasPrefix(body, "crash ") {
			continue
		}
		id, ok := crashID(body)
		if !ok {
			a.bad = append(a.bad, body)
			continue
		}
		if a.n[account] == nil {
			a.n[account] = map[string]int{}
		}
		a.n[account][id]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return a
}

func xmlEscape(s string) string {
	return string(xmlel.EscapeText(nil, s))
}

// checkIntegrity runs SQLite's integrity check on the store of a
// stopped server.
func checkIntegrity(t *testing.T, s *Server) {
	t.Helper()
	u := url.URL{Scheme: "file", Path: s.DB()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity check after the kills: %q, %v", res, err)
	}
}
