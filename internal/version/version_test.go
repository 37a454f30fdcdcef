package version

import (
	"context"
	"log/slog"
	"runtime"
	"slices"
	"testing"
	"time"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

var fixed = time.Date(2006, 12, 19, 11, 58, 35, 123e6, time.FixedZone("MDT", -6*3600))

func newMux(cfg Config) *iq.Mux {
	mux := iq.NewMux(slog.New(slog.DiscardHandler))
	New(mux, "1.2.3", cfg, func() time.Time { return fixed })
	return mux
}

func TestVersion(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		typ     string
		want    stanza.Condition // "" for a result
		wantOS  string
		feature bool
	}{
		{name: "default", typ: "get", feature: true},
		{name: "with os", cfg: Config{ShowOS: true}, typ: "get", wantOS: runtime.GOOS, feature: true},
		{name: "hidden", cfg: Config{Hide: true, ShowOS: true}, typ: "get", want: stanza.ServiceUnavailable},
		{name: "set", typ: "set", want: stanza.BadRequest, feature: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mux := newMux(tc.cfg)
			if got := slices.Contains(mux.Features(iq.Server), NS); got != tc.feature {
				t.Errorf("advertised %s = %v, want %v", NS, got, tc.feature)
			}
			st := xmpptest.IQ(tc.typ, "romeo@montague.net/orchard", "capulet.com", xmlel.New(NS, "query"))
			resp := mux.Serve(context.Background(), iq.Server, st)
			if tc.want != "" {
				if e, ok := stanza.ParseError(resp); !ok || e.Condition != tc.want {
					t.Fatalf("Serve = %v, want error %s", resp, tc.want)
				}
				return
			}
			q := resp.Child(NS, "query")
			if resp.Attr("type") != "result" || q == nil {
				t.Fatalf("Serve = %v, want a result with a query", resp)
			}
			if got := q.ChildText(NS, "name"); got != "samtal" {
				t.Errorf("name = %q, want samtal", got)
			}
			if got := q.ChildText(NS, "version"); got != "1.2.3" {
				t.Errorf("version = %q, want 1.2.3", got)
			}
			if got := q.ChildText(NS, "os"); got != tc.wantOS || (tc.wantOS == "") != (q.Child(NS, "os") == nil) {
				t.Errorf("os = %q, want %q", got, tc.wantOS)
			}
		})
	}
}

func TestTime(t *testing.T) {
	tests := []struct {
		name    string
		typ     string
		payload *xmlel.Element
		want    stanza.Condition
	}{
		{"get", "get", xmlel.New(NSTime, "time"), ""},
		{"set", "set", xmlel.New(NSTime, "time"), stanza.BadRequest},
		{"other element", "get", xmlel.New(NSTime, "clock"), stanza.BadRequest},
	}
	mux := newMux(Config{Hide: true})
	if !slices.Contains(mux.Features(iq.Server), NSTime) {
		t.Errorf("Features = %v, want %s", mux.Features(iq.Server), NSTime)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := mux.Serve(context.Background(), iq.Server, xmpptest.IQ(tc.typ, "romeo@montague.net/orchard", "capulet.com", tc.payload))
			if tc.want != "" {
				if e, ok := stanza.ParseError(resp); !ok || e.Condition != tc.want {
					t.Fatalf("Serve = %v, want error %s", resp, tc.want)
				}
				return
			}
			el := resp.Child(NSTime, "time")
			if el == nil {
				t.Fatalf("Serve = %v, want a result with <time/>", resp)
			}
			if got := el.ChildText(NSTime, "tzo"); got != "+00:00" {
				t.Errorf("tzo = %q, want +00:00", got)
			}
			if got := el.ChildText(NSTime, "utc"); got != "2006-12-19T17:58:35.123Z" {
				t.Errorf("utc = %q, want 2006-12-19T17:58:35.123Z", got)
			}
		})
	}
}

func TestNotOnAccounts(t *testing.T) {
	mux := newMux(Config{})
	for _, ns := range []string{NS, NSTime} {
		if mux.Has(iq.Account, ns) {
			t.Errorf("Has(Account, %s) = true, want false", ns)
		}
	}
}
