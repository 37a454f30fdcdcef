package mam

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"samtal.org/samtal/internal/archive"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/rsm"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/storage/storagetest"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

// BenchmarkQueryPage measures a whole archive query as a client opening a
// conversation makes it: the last page of 50 messages with one contact,
// from an archive of a million messages (100,000 with -short), from the
// parsed request to the 50 result messages and the <fin/> handed to the
// session. Building the archive takes a minute or more; it is not timed.
func BenchmarkQueryPage(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	store, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "samtal.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	const user = "romeo@example.net"
	if err := store.Accounts().Create(b.Context(), storage.Account{User: user}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	storagetest.FillArchive(b, store, user, n)
	b.Logf("archived %d messages in %v", n, time.Since(start).Round(time.Second))

	r := router.New([]string{"example.net"})
	log := slog.New(slog.DiscardHandler)
	mux := iq.NewMux(log)
	s := New(Config{Default: storage.ArchiveAlways, DefaultPage: 50, MaxPage: 100, Retention: 24 * time.Hour},
		store.Archive(), store.Roster(), r, mux, log)
	sess := xmpptest.NewSession(user + "/balcony")
	if _, err := r.Bind(sess, true, 0); err != nil {
		b.Fatal(err)
	}
	q := archive.Query{QueryID: "q", With: jid.MustParse("juliet@example.com"), Page: rsm.Query{Max: 50, HasBefore: true, Index: -1}}
	st := &stanza.Stanza{
		El:   xmlel.New("", "iq", "type", "set", "id", "q1").Append(q.Element()),
		From: sess.JID(), To: jid.MustParse(user),
	}
	ctx := b.Context()
	for b.Loop() {
		resp := mux.Serve(ctx, iq.Account, st)
		if resp.Attr("type") != "result" {
			b.Fatalf("query = %s", resp)
		}
		if got := sess.Take(); len(got) != 50 {
			b.Fatalf("%d results, want 50", len(got))
		}
	}
	_ = s
}
