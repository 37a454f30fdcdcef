package pubsub_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/pubsub"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage/sqlite"
	"samtal.org/samtal/internal/xmpptest"
)

// BenchmarkPublish measures a publication to an open node with n
// subscribers on a real SQLite store: the item stored, the node and its
// subscriptions read, and a notification made and serialized for each
// subscriber, as a session would write it. notifications/s counts
// those.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			store, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { store.Close() })
			var delivered, bytes atomic.Int64
			r := router.New([]string{"example.org"})
			deliver := router.HandlerFunc(func(_ context.Context, st *stanza.Stanza) {
				delivered.Add(1)
				bytes.Add(int64(len(st.El.String())))
			})
			r.SetLocal(deliver)
			r.SetRemote(deliver)
			svc, err := pubsub.New(pubsub.Config{
				Domain:    service,
				MayCreate: func(jid.JID) bool { return true },
			}, r, store.PubsubServices(), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			ask := func(from, typ, payload string) {
				st := xmpptest.IQ(typ, from, service, xmpptest.Parse(b, payload))
				svc.Handle(b.Context(), st)
			}
			ask(alice, "set", ps+"<create node='news'/><configure>"+
				form("http://jabber.org/protocol/pubsub#node_config", "pubsub#access_model", "open")+"</configure>"+end)
			for i := range n {
				u := fmt.Sprintf("u%d@example.org", i)
				ask(u+"/r", "set", ps+"<subscribe node='news' jid='"+u+"'/>"+end)
			}
			item := entry("A community post of ordinary length, with a title and nothing else")
			delivered.Store(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ask(alice, "set", publish("news", fmt.Sprint(i), item))
			}
			b.StopTimer()
			// Each publication is answered too.
			if got, want := delivered.Load(), int64(b.N)*int64(n+1); got != want {
				b.Fatalf("delivered %d stanzas, want %d", got, want)
			}
			b.ReportMetric(float64(int64(b.N)*int64(n))/b.Elapsed().Seconds(), "notifications/s")
		})
	}
}
