package e2e

import (
	"os"
	"strings"
	"testing"

	"samtal.org/samtal/internal/storage/postgres/pgtest"
)

// pg is the PostgreSQL server of this package's tests, started by the
// first test that asks for a database.
var pg pgtest.Server

// TestPostgres moves a server from SQLite to PostgreSQL with `samtal
// storage migrate`, then drives it on PostgreSQL with slixmpp: what was
// stored before the move (a roster, offline messages, the accounts and
// their passwords, message archives, a group chat room with its members,
// subject and archive) is there after it; the scenarios of the core,
// blocking, PEP, the archive and group chat pass; and a room made on
// PostgreSQL survives a restart; and an account disabled with `samtal
// user` ends its open session.
func TestPostgres(t *testing.T) {
	// A password the server does not ask for (the test cluster trusts
	// local connections): it must show nowhere.
	const secret = "pg-secret-not-shown"
	url := pg.Database(t) + "&password=" + secret
	s := StartServer(t, Options{Top: "sasl_channel_binding = false", Limits: "stanza_rate = 400"})
	const pw = "correct horse battery staple"
	for _, u := range []string{"pa", "pb", "mo", "mm", "mx"} {
		s.AddUser(u, pw)
	}
	s.Slix(t, "roster", pw, "pa", "pb")
	s.Slix(t, "send_offline", pw, "pa", "pb")
	s.Slix(t, "mam_store", pw, "mo", "mm")
	s.slixMUC(t, "persist", pw, "mo", "mm")
	s.Stop()

	out, err := s.Run("", "storage", "migrate", "--to", url)
	if err != nil || !strings.Contains(out, "checked 5 accounts") {
		t.Fatalf("samtal storage migrate: %v\n%s", err, out)
	}
	t.Logf("samtal storage migrate:\n%s", out)
	out, err = s.Run("", "storage", "migrate", "--to", url)
	if err == nil || !strings.Contains(out, "not empty") {
		t.Errorf("a second migration = %v, %q, want a refusal", err, out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("samtal storage migrate printed the password: %q", out)
	}

	cfg, err := os.ReadFile(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append([]byte("storage = \""+url+"\"\n"), cfg...)
	if err := os.WriteFile(s.Config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	// The SQLite file goes, so that nothing can come from it.
	for _, f := range []string{"samtal.db", "samtal.db-wal", "samtal.db-shm"} {
		if err := os.Remove(s.Dir + "/data/" + f); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	s.Restart()
	s.Slix(t, "receive_offline", pw, "pa", "pb")
	s.Slix(t, "mam_stored", pw, "mo", "mm")
	s.slixMUC(t, "persisted", pw, "mo", "mm", "mx")
	for _, u := range []string{"ra", "rb", "oa", "ob", "va", "vb", "ba", "bb", "bk", "bx", "ea", "eb",
		"sa", "sb", "ka", "kb", "kc", "no", "nm", "nx", "ro", "rm", "rx", "rd"} {
		s.AddUser(u, pw) // through PostgreSQL, while the server runs
	}
	t.Run("messages", func(t *testing.T) { s.Slix(t, "messages", pw, "sa", "sb") })
	t.Run("roster", func(t *testing.T) { s.Slix(t, "roster", pw, "ra", "rb") })
	t.Run("offline", func(t *testing.T) { s.Slix(t, "offline", pw, "oa", "ob") })
	t.Run("rosterver", func(t *testing.T) { s.Slix(t, "rosterver", pw, "va", "vb") })
	t.Run("blocking", func(t *testing.T) { s.Slix(t, "blocking", pw, "ba", "bb") })
	// Private XML and PEP nodes and items, in step.
	t.Run("bookmarks", func(t *testing.T) { s.slixPEP(t, "bookmarks", pw, "bk", "bx") })
	// vCards and PEP avatars.
	t.Run("avatar", func(t *testing.T) { s.slixPEP(t, "avatar", pw, "ea", "eb") })
	// The archive paged every way, by contact, time and id.
	t.Run("mam", func(t *testing.T) { s.Slix(t, "mam_paging", pw, "ka", "kb", "kc") })
	t.Run("muc", func(t *testing.T) { s.slixMUC(t, "rooms", pw, "ro", "rm", "rx", "rd") })
	// A room made on PostgreSQL, and the archive, after a restart.
	t.Run("restart", func(t *testing.T) {
		s.slixMUC(t, "persist", pw, "no", "nm")
		s.Restart()
		s.slixMUC(t, "persisted", pw, "no", "nm", "nx")
		s.Slix(t, "mam_stored", pw, "mo", "mm")
	})
	if out, err := s.Samtal("", "list"); err != nil || !strings.Contains(out, "pa@localhost") || !strings.Contains(out, "vb@localhost") {
		t.Errorf("samtal user list on PostgreSQL = %v, %q", err, out)
	}
	// An account disabled with samtal user, in another process: the
	// server hears of it from PostgreSQL and ends the open session.
	t.Run("disable", func(t *testing.T) {
		c := dialRaw(t, s.C2S)
		c.login("localhost", "ra", pw)
		if out, err := s.Samtal("", "disable", "ra@localhost"); err != nil {
			t.Fatalf("samtal user disable: %v\n%s", err, out)
		}
		if got := c.streamError(); got != "not-authorized" {
			t.Errorf("ra's session after user disable: %s, want not-authorized", got)
		}
	})
	s.Stop()
	if strings.Contains(s.Output(), secret) {
		t.Errorf("the server printed the storage password")
	}
	if _, err := os.Stat(s.Dir + "/data/samtal.db"); err == nil {
		t.Errorf("the server on PostgreSQL created an SQLite file")
	}
}
