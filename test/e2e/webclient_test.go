package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the store's driver, to look into the store

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/upload"
)

// webDir is the npm project of the web client and its browser tests.
const webDir = "../../web"

func requireBrowser(t *testing.T) {
	t.Helper()
	requireTool(t, func() error {
		if _, err := os.Stat("/usr/bin/chromium"); err != nil {
			return err
		}
		_, err := os.Stat(filepath.Join(webDir, "node_modules", "playwright-core"))
		return err
	}, "chromium and playwright-core (scripts/deps.sh, scripts/webclient.sh)")
	if _, err := os.Stat("../../internal/webclient/files/dist/converse.min.js"); err != nil {
		t.Fatalf("the web client is not built (run `make test`, which builds it): %v", err)
	}
}

// TestWebClient drives the built-in web client in Chromium: two users
// log in over WebSocket, add each other, exchange plain messages, a file
// and OMEMO-encrypted messages (the store must never hold their text),
// talk in a group chat when the server has a group chat service, and a
// third logs in over BOSH. Screenshots go to test/artifacts/webclient.
func TestWebClient(t *testing.T) {
	requireBrowser(t)
	// converse.js enables stream management: a closed page leaves a
	// session waiting to be resumed, whose stanzas go to offline storage
	// when the window ends. A short window lets the offline step see
	// that without waiting minutes.
	s := StartServer(t, Options{Extra: "[stream]\nresume_window = \"3s\"\n"})
	pw := map[string]string{"alice": "alice's long password", "bob": "bob's long password", "carol": "carol's long password"}
	var users []string
	for u, p := range pw {
		s.AddUser(u, p)
		users = append(users, u+":"+p)
	}
	muc := conferenceService(t, s, "carol", pw["carol"])
	if muc == "" {
		t.Fatal("no conference service in the server's disco#items: the group chat step cannot run")
	}
	artifacts, err := filepath.Abs("../artifacts/webclient")
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(artifacts)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "test/webclient.mjs")
	cmd.Dir = webDir
	// On timeout, SIGTERM lets playwright close Chromium with it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	cmd.Env = append(os.Environ(),
		"SAMTAL_URL=https://localhost:"+Port(s.Web)+"/",
		"SAMTAL_DOMAIN="+s.Domain,
		"SAMTAL_USERS="+strings.Join(users, ","),
		"SAMTAL_MUC="+muc,
		"SAMTAL_ARTIFACTS="+artifacts,
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	db := openStore(t, s)
	passed := false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		t.Log(line)
		if line == "PASS webclient" {
			passed = true
		}
		what, arg, ok := strings.Cut(strings.TrimPrefix(line, "CHECK "), " ")
		if !ok || !strings.HasPrefix(line, "CHECK ") {
			continue
		}
		answer := "OK"
		if err := s.checkStore(db, what, arg); err != nil {
			answer = "FAIL " + strings.ReplaceAll(err.Error(), "\n", " ")
			t.Errorf("check %s: %v", what, err)
		}
		io.WriteString(stdin, answer+"\n")
	}
	err = cmd.Wait()
	if err != nil || !passed {
		t.Fatalf("browser test failed (%v); screenshots in %s", err, artifacts)
	}
}

// openStore opens the server's SQLite store for reading beside the
// running server.
func openStore(t *testing.T, s *Server) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.Dir, "data", "samtal.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// checkStore answers the browser test's questions about the store.
func (s *Server) checkStore(db *sql.DB, what, arg string) error {
	switch what {
	case "upload":
		// The file is stored under the data directory, in the
		// uploader's name (a hash of it).
		dir := filepath.Join(s.Dir, "data", "uploads", arg)
		b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
		if err != nil {
			return err
		}
		alice, _ := jid.Parse("alice@" + s.Domain)
		if !strings.Contains(string(b), upload.OwnerKey(alice)) {
			return fmt.Errorf("meta.json of %s does not name alice: %s", arg, b)
		}
		_, err = os.Stat(filepath.Join(dir, "data"))
		return err
	case "omemo-ready":
		// Each user's OMEMO device list is published (converse.js
		// publishes it once its keys are made).
		return poll(time.Minute, func() error {
			for _, u := range strings.Split(arg, ",") {
				var n int
				err := db.QueryRow(`SELECT count(*) FROM pubsub_items WHERE account = ? AND node IN ('urn:xmpp:omemo:2:devices', 'eu.siacs.conversations.axolotl.devicelist')`, u+"@"+s.Domain).Scan(&n)
				if err != nil {
					return err
				}
				if n == 0 {
					return fmt.Errorf("%s has no OMEMO device list yet", u)
				}
			}
			return nil
		})
	case "sessions":
		// The server counts arg bound sessions (one user left).
		return poll(15*time.Second, func() error {
			resp, err := http.Get("http://" + s.Admin + "/metrics")
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(b), "\nsamtal_c2s_sessions "+arg+"\n") {
				return fmt.Errorf("the server does not count %s sessions", arg)
			}
			return nil
		})
	case "offline-encrypted":
		// The message waits for bob as an OMEMO payload; the text is
		// nowhere in the store.
		err := poll(15*time.Second, func() error {
			var stanza string
			err := db.QueryRow(`SELECT stanza FROM offline_messages WHERE account = ? ORDER BY id DESC LIMIT 1`, "bob@"+s.Domain).Scan(&stanza)
			if err != nil {
				return fmt.Errorf("no offline message for bob: %w", err)
			}
			if !strings.Contains(stanza, "<encrypted") || !strings.Contains(stanza, "<payload>") {
				return fmt.Errorf("the offline message has no OMEMO payload: %.300s", stanza)
			}
			// The archive keeps the same message for bob's other
			// devices: as the OMEMO payload too.
			if err := db.QueryRow(`SELECT stanza FROM archive WHERE account = ? ORDER BY seq DESC LIMIT 1`, "bob@"+s.Domain).Scan(&stanza); err != nil {
				return fmt.Errorf("no archived message for bob: %w", err)
			}
			if !strings.Contains(stanza, "<encrypted") || !strings.Contains(stanza, "<payload>") {
				return fmt.Errorf("the archived message has no OMEMO payload: %.300s", stanza)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return storeHasNot(db, arg)
	case "offline-delivered":
		err := poll(15*time.Second, func() error {
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM offline_messages WHERE account = ?`, "bob@"+s.Domain).Scan(&n); err != nil {
				return err
			}
			if n != 0 {
				return fmt.Errorf("%d offline messages still wait for bob", n)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return storeHasNot(db, arg)
	}
	return fmt.Errorf("unknown check %q", what)
}

// storeHasNot checks that no text column of any table of the store (the
// offline messages, the archive where there is one, PEP items, ...)
// contains text.
func storeHasNot(db *sql.DB, text string) error {
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, name)
	}
	rows.Close()
	for _, table := range tables {
		cols, err := db.Query(`SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			return err
		}
		var names []string
		for cols.Next() {
			var c string
			if err := cols.Scan(&c); err != nil {
				cols.Close()
				return err
			}
			names = append(names, c)
		}
		cols.Close()
		for _, c := range names {
			var n int
			q := fmt.Sprintf(`SELECT count(*) FROM %q WHERE instr(CAST(%q AS TEXT), ?) > 0`, table, c)
			if err := db.QueryRow(q, text).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("the store holds the plain text in %s.%s", table, c)
			}
		}
	}
	return nil
}

func poll(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// conferenceService returns the JID of the server's group chat service
// (XEP-0045 §6.1: an item of the server's disco#items whose identity is
// conference/text), or "" when it has none.
func conferenceService(t *testing.T, s *Server, user, password string) string {
	t.Helper()
	c := dialRaw(t, s.C2S)
	defer c.conn.Close()
	c.login(s.Domain, user, password)
	c.send("<iq type='get' id='items' to='" + s.Domain + "'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	items := c.next()
	q := items.Child("http://jabber.org/protocol/disco#items", "query")
	if q == nil {
		t.Fatalf("disco#items: %v", items)
	}
	for _, it := range q.Elements() {
		j := it.Attr("jid")
		c.send("<iq type='get' id='info' to='" + j + "'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
		info := c.next().Child("http://jabber.org/protocol/disco#info", "query")
		if info == nil {
			continue
		}
		for _, id := range info.Elements() {
			if id.Local == "identity" && id.Attr("category") == "conference" && id.Attr("type") == "text" {
				return j
			}
		}
	}
	return ""
}
