package ping

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

func mustJID(s string) jid.JID {
	j, err := jid.Parse(s)
	if err != nil {
		panic(err)
	}
	return j
}

func request(typ, from, to string, payload *xmlel.Element) *stanza.Stanza {
	el := xmlel.New("", stanza.IQ, "type", typ, "id", "p1", "from", from, "to", to).Append(payload)
	st := &stanza.Stanza{El: el, From: mustJID(from)}
	if to != "" {
		st.To = mustJID(to)
	}
	return st
}

func TestPing(t *testing.T) {
	mux := iq.NewMux(slog.New(slog.DiscardHandler))
	New(mux)
	tests := []struct {
		name   string
		target iq.Target
		st     *stanza.Stanza
		want   stanza.Condition // "" for a result
	}{
		{"client to server", iq.Server, request("get", "juliet@capulet.lit/balcony", "capulet.lit", xmlel.New(NS, "ping")), ""},
		{"server to server", iq.Server, request("get", "montague.lit", "capulet.lit", xmlel.New(NS, "ping")), ""},
		{"own bare JID", iq.Account, request("get", "juliet@capulet.lit/balcony", "juliet@capulet.lit", xmlel.New(NS, "ping")), ""},
		{"someone's bare JID", iq.Account, request("get", "romeo@montague.lit/home", "juliet@capulet.lit", xmlel.New(NS, "ping")), ""},
		{"set", iq.Server, request("set", "juliet@capulet.lit/balcony", "capulet.lit", xmlel.New(NS, "ping")), stanza.BadRequest},
		{"other element", iq.Server, request("get", "juliet@capulet.lit/balcony", "capulet.lit", xmlel.New(NS, "pong")), stanza.BadRequest},
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
				if resp.Attr("id") != "p1" || resp.Attr("to") != tc.st.From.String() {
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
