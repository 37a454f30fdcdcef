package turn

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

func testDiscovery(t *testing.T) (*iq.Mux, *Discovery) {
	t.Helper()
	mux := iq.NewMux(slog.New(slog.NewTextHandler(io.Discard, nil)))
	d := NewDiscovery(DiscoveryConfig{
		Services: []Service{
			{Type: "stun", Port: 3478, Transport: "udp"},
			{Type: "turn", Port: 3478, Transport: "udp", Secret: testSecret},
			{Type: "turn", Port: 3478, Transport: "tcp", Secret: testSecret},
			{Type: "turns", Port: 5349, Transport: "tcp", Secret: testSecret},
			{Type: "turn", Host: "turn.example.net", Port: 3478, Transport: "udp", Secret: "coturn secret", Name: "coturn"},
		},
		Lifetime:   time.Hour,
		UserSecret: testSecret,
	}, mux)
	d.now = func() time.Time { return time.Unix(1_700_000_000, 0) }
	return mux, d
}

// ask sends a request from a user to the server and returns the answer.
func ask(t *testing.T, mux *iq.Mux, from, to, payload string) *xmlel.Element {
	t.Helper()
	el, err := xmlstream.Parse([]byte("<iq type='get' id='q1'>"+payload+"</iq>"), xmlstream.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	st := &stanza.Stanza{El: el, From: jid.MustParse(from), To: jid.MustParse(to)}
	return mux.Serve(context.Background(), iq.Server, st)
}

func TestServices(t *testing.T) {
	mux, _ := testDiscovery(t)
	res := ask(t, mux, "juliet@example.org/phone", "example.org", "<services xmlns='urn:xmpp:extdisco:2'/>")
	if res.Attr("type") != "result" {
		t.Fatalf("services: %v", res)
	}
	svcs := res.Child(NS, "services").Elements()
	if len(svcs) != 5 {
		t.Fatalf("services: %d, want 5: %v", len(svcs), res)
	}
	stun := svcs[0]
	if stun.Attr("type") != "stun" || stun.Attr("host") != "example.org" || stun.Attr("port") != "3478" || stun.Attr("transport") != "udp" || stun.HasAttr("username") || stun.HasAttr("restricted") {
		t.Errorf("stun service = %v", stun)
	}
	turn := svcs[1]
	wantUser := "1700003600:" + Pseudonym(testSecret, "juliet@example.org")
	if turn.Attr("username") != wantUser || turn.Attr("password") != Password(testSecret, wantUser) ||
		turn.Attr("restricted") != "1" || turn.Attr("expires") != "2023-11-14T23:13:20Z" {
		t.Errorf("turn service = %v, want username %s and its password, restricted, expires", turn, wantUser)
	}
	if svcs[3].Attr("type") != "turns" || svcs[3].Attr("port") != "5349" {
		t.Errorf("turns service = %v", svcs[3])
	}
	ext := svcs[4]
	if ext.Attr("host") != "turn.example.net" || ext.Attr("name") != "coturn" || ext.Attr("password") != Password("coturn secret", ext.Attr("username")) {
		t.Errorf("external service = %v, want its own host and secret", ext)
	}

	res = ask(t, mux, "juliet@example.org/phone", "example.org", "<services xmlns='urn:xmpp:extdisco:2' type='turns'/>")
	svcs = res.Child(NS, "services").Elements()
	if len(svcs) != 1 || svcs[0].Attr("type") != "turns" || res.Child(NS, "services").Attr("type") != "turns" {
		t.Errorf("services of type turns = %v", res)
	}
}

func TestRequestCredentials(t *testing.T) {
	mux, _ := testDiscovery(t)
	res := ask(t, mux, "juliet@example.org/phone", "example.org",
		"<credentials xmlns='urn:xmpp:extdisco:2'><service host='example.org' type='turn'/></credentials>")
	got := res.Child(NS, "credentials").Elements()
	if len(got) != 2 || got[0].Attr("transport") != "udp" || got[1].Attr("transport") != "tcp" || got[0].Attr("password") == "" {
		t.Errorf("credentials for the two turn services on example.org = %v", res)
	}
	res = ask(t, mux, "juliet@example.org/phone", "example.org",
		"<credentials xmlns='urn:xmpp:extdisco:2'><service host='example.org' type='turns' port='5349'/></credentials>")
	if got := res.Child(NS, "credentials").Elements(); len(got) != 1 || got[0].Attr("username") == "" {
		t.Errorf("credentials for turns port 5349 = %v", res)
	}
	for _, tc := range []struct{ name, payload, cond string }{
		{"unknown service", "<credentials xmlns='urn:xmpp:extdisco:2'><service host='example.org' type='turn' port='9'/></credentials>", "item-not-found"},
		{"no host", "<credentials xmlns='urn:xmpp:extdisco:2'><service type='turn'/></credentials>", "bad-request"},
		{"unknown element", "<push xmlns='urn:xmpp:extdisco:2'/>", "bad-request"},
	} {
		res := ask(t, mux, "juliet@example.org/phone", "example.org", tc.payload)
		if res.Attr("type") != "error" || res.Child("", "error").Child(stanza.NSStanzas, tc.cond) == nil {
			t.Errorf("%s: %v, want %s", tc.name, res, tc.cond)
		}
	}
}

// TestDiscoveryForbidden checks that only the host's own users get
// services: a relay costs its operator.
func TestDiscoveryForbidden(t *testing.T) {
	mux, _ := testDiscovery(t)
	for _, from := range []string{"mallory@elsewhere.example/x", "elsewhere.example", "juliet@other.example.org/phone"} {
		res := ask(t, mux, from, "example.org", "<services xmlns='urn:xmpp:extdisco:2'/>")
		if res.Attr("type") != "error" || res.Child("", "error").Child(stanza.NSStanzas, "forbidden") == nil {
			t.Errorf("services for %s: %v, want forbidden", from, res)
		}
	}
}
