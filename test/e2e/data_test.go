package e2e

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the store, opened read-only to inspect it
)

// slixData runs a scenario of interop/slix_data.py.
func (s *Server) slixData(t *testing.T, scenario, password, tag string, users ...string) {
	t.Helper()
	s.slixScript(t, "interop/slix_data.py", scenario, password, []string{"--expect", tag}, users...)
}

// DB returns the path of the server's SQLite database.
func (s *Server) DB() string { return filepath.Join(s.Dir, "data", "samtal.db") }

// mention is a row of the store that contains a string.
type mention struct {
	table string
	owner string // the account the row belongs to, "" for none
	row   string
}

// mentions scans every column of every row of every table of the store
// for needle (case-insensitively). It knows no table: a table added by
// any later area is scanned too. A row's owner is the value of its
// column that references accounts (directly, or through a composite key
// whose column is named account), as the schema requires of per-user
// tables.
func mentions(t *testing.T, dbPath, needle string) []mention {
	t.Helper()
	u := url.URL{Scheme: "file", Path: dbPath, RawQuery: "mode=ro&_pragma=busy_timeout(10000)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables := queryStrings(t, db, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
	needle = strings.ToLower(needle)
	var out []mention
	for _, table := range tables {
		owner := ""
		rows, err := db.Query(fmt.Sprintf("SELECT \"from\", \"table\", \"to\" FROM pragma_foreign_key_list('%s')", table))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var from, ref string
			var to sql.NullString
			if err := rows.Scan(&from, &ref, &to); err != nil {
				t.Fatal(err)
			}
			if ref == "accounts" || from == "account" {
				owner = from
			}
		}
		rows.Close()
		if table == "accounts" {
			owner = "jid"
		}
		rows, err = db.Query(fmt.Sprintf("SELECT * FROM \"%s\"", table))
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var row strings.Builder
			m := mention{table: table}
			for i, v := range vals {
				var s string
				switch v := v.(type) {
				case []byte:
					s = string(v)
				case nil:
				default:
					s = fmt.Sprint(v)
				}
				if cols[i] == owner {
					m.owner = s
				}
				fmt.Fprintf(&row, "%s=%q ", cols[i], s)
			}
			if strings.Contains(strings.ToLower(row.String()), needle) {
				m.row = row.String()
				out = append(out, m)
			}
		}
		rows.Close()
	}
	if len(tables) < 5 {
		t.Fatalf("only tables %q in %s", tables, dbPath)
	}
	return out
}

func queryStrings(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// checkGone fails when the store holds anything of user: any row that
// mentions the user's JID must belong to another account (a contact's
// roster item, a message the user sent to someone offline), which is that
// account's data and stays (see PRIVACY.md).
func checkGone(t *testing.T, s *Server, user string) {
	t.Helper()
	found := mentions(t, s.DB(), user)
	for _, m := range found {
		if m.owner == "" || strings.EqualFold(m.owner, user) {
			t.Errorf("after removal, table %s still holds data of %s: %s", m.table, user, m.row)
		} else {
			t.Logf("kept as %s's data: %s: %s", m.owner, m.table, m.row)
		}
	}
}

// requestFASTToken logs in with SASL2 PLAIN and asks for a FAST token
// (XEP-0484 §3.2), so that the store holds one for the user.
func requestFASTToken(t *testing.T, s *Server, user, pw string) {
	t.Helper()
	_, succ := plain2(t, s.C2S, user, pw, "<user-agent id='"+uuid4()+"'><software>samtal e2e</software></user-agent>"+
		"<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>")
	if !succ.Is(xSASL2, "success") || succ.Child(xFAST, "token") == nil {
		t.Fatalf("SASL2 with a token request: %v", succ)
	}
}

// TestAccountDataLifecycle fills an account with every kind of data
// through slixmpp, exports it with `samtal user export`, removes it with
// `samtal user remove` (then nothing of it may be left in any table),
// imports it back with `samtal user import` and checks through slixmpp
// that the user logs in with the same password and finds it all. Then
// the account is removed in-band (XEP-0077) and the store is scanned
// again.
func TestAccountDataLifecycle(t *testing.T) {
	s := StartServer(t, Options{Top: "sasl_channel_binding = false"})
	const pw = "pw-data"
	for _, u := range []string{"alice", "bob", "carol"} {
		s.AddUser(u, pw)
	}
	const tag = "tag-7f3a"
	s.slixData(t, "data_fill", pw, tag, "alice", "bob", "carol")
	requestFASTToken(t, s, "alice", pw)
	tables := map[string]bool{}
	for _, m := range mentions(t, s.DB(), "alice@localhost") {
		tables[m.table] = true
	}
	// Every area the scan must then find empty holds something of alice.
	for _, want := range []string{"accounts", "account_keys", "roster_items", "roster_pending", "offline_messages",
		"vcards", "private_xml", "blocklist", "pubsub_nodes", "pubsub_items", "pubsub_subscriptions", "fast_tokens", "archive", "room_affiliations"} {
		if !tables[want] {
			t.Errorf("the filled store has nothing of alice in %s", want)
		}
	}

	file := filepath.Join(t.TempDir(), "alice.xml")
	if out, err := s.Run("", "user", "export", "--output", file, "alice@localhost"); err != nil {
		t.Fatalf("samtal user export: %v\n%s", err, out)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v, want 0600: it holds the SCRAM keys", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(file)
	for _, want := range []string{"urn:xmpp:pie:0", "SCRAM-SHA-256", "offline 1 " + tag, "Alice Data",
		"entry 1 " + tag, "Ally " + tag, "spammer@localhost", "carol@localhost", "bob@localhost",
		"<archive xmlns='urn:xmpp:pie:0#mam'>", "archived " + tag,
		"<subscriptions node='urn:example:samtal:data'><subscription jid='bob@localhost' subscription='subscribed'/>"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the export lacks %q", want)
		}
	}

	if out, err := s.Samtal("", "remove", "alice@localhost"); err != nil {
		t.Fatalf("samtal user remove: %v\n%s", err, out)
	}
	checkGone(t, s, "alice@localhost")
	for _, secret := range []string{tag} {
		for _, m := range mentions(t, s.DB(), secret) {
			if m.owner != "bob@localhost" && m.owner != "carol@localhost" {
				t.Errorf("after removal %q is still in %s: %s", secret, m.table, m.row)
			}
		}
	}

	if out, err := s.Samtal("", "import", file); err != nil || !strings.Contains(out, "imported alice@localhost") {
		t.Fatalf("samtal user import: %v\n%s", err, out)
	}
	if out, err := s.Samtal("", "import", file); err == nil || !strings.Contains(out, "exists") {
		t.Errorf("a second import over the account: %v\n%s", err, out)
	}
	s.slixData(t, "data_check", pw, tag, "alice", "bob", "carol")

	// In-band removal leaves nothing either.
	s.slixData(t, "data_fill", pw, tag, "alice", "bob", "carol")
	s.slixData(t, "data_remove", pw, tag, "alice")
	checkGone(t, s, "alice@localhost")
}
