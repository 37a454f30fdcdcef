package ping

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

func TestPing(t *testing.T) {
	mux := iq.NewMux(slog.New(slog.DiscardHandler))
	New(mux)
	tests := []struct {
		name   string
		target iq.Target
		st     *stanza.Stanza
		want   stanza.Condition // "" for a result
	}{
		{"client to server", iq.Server, xmpptest.IQ("get", "juliet@capulet.lit/balcony", "capulet.lit", xmlel.New(NS, "ping")), ""},
		{"server to server", iq.Server, xmpptest.IQ("get", "montague.lit", "capulet.lit", xmlel.New(NS, "ping")), ""},
		{"own bare JID", iq.Account, xmpptest.IQ("get", "juliet@capulet.lit/balcony", "juliet@capulet.lit", xmlel.New(NS, "ping")), ""},
		{"someone's bare JID", iq.Account, xmpptest.IQ("get", "romeo@montague.lit/home", "juliet@capulet.lit", xmlel.New(NS, "ping")), ""},
		{"set", iq.Server, xmpptest.IQ("set", "juliet@capulet.lit/balcony", "capulet.lit", xmlel.New(NS, "ping")), stanza.BadRequest},
		{"other element", iq.Server, xmpptest.IQ("get", "juliet@capulet.lit/balcony", "capulet.lit", xmlel.New(NS, "pong")), stanza.BadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := mux.Serve(context.Background(), tc.target, tc.st)
			if resp == nil {
				t.Fatal("Serve = nil, want a response")
			}
			if tc.want == "" {
				if resp.Attr("type") != "result" || len(resp.Elements()) != 0 {
					t.Fatalf("Serve = %v, want an empty result", resp)
				}
				if resp.Attr("id") != tc.st.El.Attr("id") || resp.Attr("to") != tc.st.From.String() {
					t.Errorf("Serve = %v, want id p1 to %s", resp, tc.st.From)
				}
				return
			}
			e, ok := stanza.ParseError(resp)
			if !ok || e.Condition != tc.want {
				t.Fatalf("Serve = %v, want error %s", resp, tc.want)
			}
		})
	}
}

func TestFeatures(t *testing.T) {
	mux := iq.NewMux(slog.New(slog.DiscardHandler))
	New(mux)
	for _, target := range []iq.Target{iq.Server, iq.Account} {
		if !slices.Contains(mux.Features(target), NS) {
			t.Errorf("Features(%v) = %v, want %s", target, mux.Features(target), NS)
		}
	}
}
