package pgtest

import (
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

var pg Server

func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }

// TestDatabase checks that each test gets its own empty database, whose
// default collation is not byte order.
func TestDatabase(t *testing.T) {
	ctx := t.Context()
	u1, u2 := pg.Database(t), pg.Database(t)
	if u1 == u2 {
		t.Fatalf("two databases with the URL %q", u1)
	}
	c, err := pgx.Connect(ctx, u1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE TABLE t (s text)"); err != nil {
		t.Fatal(err)
	}
	var first string
	if err := c.QueryRow(ctx, "SELECT s FROM (VALUES ('zoe'), ('émile')) v(s) ORDER BY s LIMIT 1").Scan(&first); err != nil {
		t.Fatal(err)
	}
	if first != "émile" {
		t.Errorf("default collation puts %q first, want a linguistic order (émile first)", first)
	}
	c2, err := pgx.Connect(ctx, u2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(ctx)
	var n int
	if err := c2.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 't'").Scan(&n); err != nil || n != 0 {
		t.Errorf("the second database has %d tables t (%v), want none", n, err)
	}
}
