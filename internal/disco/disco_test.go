package disco

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmpptest"
)

// fakeRoster is an in-memory roster: user -> contact -> subscription.
type fakeRoster struct {
	items map[string]map[string]storage.Subscription
	err   error
}

func (r fakeRoster) Item(_ context.Context, user, contact string) (storage.RosterItem, error) {
	if r.err != nil {
		return storage.RosterItem{}, r.err
	}
	sub, ok := r.items[user][contact]
	if !ok {
		return storage.RosterItem{}, storage.ErrNotFound
	}
	return storage.RosterItem{Contact: contact, Subscription: sub}, nil
}

var roster = fakeRoster{items: map[string]map[string]storage.Subscription{
	"juliet@capulet.lit": {
		"romeo@montague.lit":    storage.SubBoth,
		"nurse@capulet.lit":     storage.SubFrom,
		"tybalt@capulet.lit":    storage.SubTo,
		"benvolio@montague.lit": storage.SubNone,
	},
}}

func newDisco(t *testing.T, r Roster) (*iq.Mux, *Disco) {
	t.Helper()
	mux := iq.NewMux(slog.New(slog.DiscardHandler))
	cfg := Config{Contacts: map[string]Contacts{
		"capulet.lit": {
			"support": {"https://capulet.lit/support", "xmpp:support@capulet.lit"},
			"abuse":   {"mailto:abuse@capulet.lit"},
			"sales":   nil,
		},
	}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
	d := New(cfg, mux, r)
	// Another service, as it would register itself.
	mux.AddFeature(iq.Server, "urn:xmpp:ping")
	mux.AddFeature(iq.Account, "urn:xmpp:mam:2")
	return mux, d
}

const contactForm = `<x xmlns='jabber:x:data' type='result'>` +
	`<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/network/serverinfo</value></field>` +
	`<field var='abuse-addresses'><value>mailto:abuse@capulet.lit</value></field>` +
	`<field var='support-addresses'><value>https://capulet.lit/support</value><value>xmpp:support@capulet.lit</value></field>` +
	`</x>`

func TestServerInfo(t *testing.T) {
	mux, _ := newDisco(t, roster)
	tests := []struct {
		name string
		st   *stanza.Stanza
		want stanza.Condition
		form string // the extension form, "" for none
	}{
		{"host with contacts", xmpptest.IQ("get", "romeo@montague.lit/orchard", "capulet.lit", xmlel.New(NSInfo, "query")), "", contactForm},
		{"host without contacts", xmpptest.IQ("get", "montague.lit", "montague.lit", xmlel.New(NSInfo, "query")), "", ""},
		{"node", xmpptest.IQ("get", "romeo@montague.lit/orchard", "capulet.lit", xmlel.New(NSInfo, "query", "node", "x")), stanza.ItemNotFound, ""},
		{"set", xmpptest.IQ("set", "romeo@montague.lit/orchard", "capulet.lit", xmlel.New(NSInfo, "query")), stanza.BadRequest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := mux.Serve(context.Background(), iq.Server, tc.st)
			if tc.want != "" {
				if e, ok := stanza.ParseError(resp); !ok || e.Condition != tc.want {
					t.Fatalf("Serve = %v, want error %s", resp, tc.want)
				}
				return
			}
			q := resp.Child(NSInfo, "query")
			if resp.Attr("type") != "result" || q == nil {
				t.Fatalf("Serve = %v, want a result", resp)
			}
			ids := q.Elements()
			if len(ids) == 0 || !ids[0].Is(NSInfo, "identity") || ids[0].Attr("category") != "server" || ids[0].Attr("type") != "im" || ids[0].Attr("name") != "samtal" {
				t.Errorf("Serve = %v, want a server/im identity named samtal first", resp)
			}
			var features []string
			var forms []string
			for _, c := range q.Elements() {
				switch {
				case c.Is(NSInfo, "feature"):
					features = append(features, c.Attr("var"))
				case c.Is(stanza.NSDataForm, "x"):
					forms = append(forms, c.String())
				}
			}
			want := []string{NSInfo, NSItems, "urn:xmpp:ping"}
			slices.Sort(want)
			if !slices.Equal(features, want) {
				t.Errorf("features = %v, want %v", features, want)
			}
			switch {
			case tc.form == "" && len(forms) != 0:
				t.Errorf("forms = %v, want none", forms)
			case tc.form != "" && (len(forms) != 1 || forms[0] != tc.form):
				t.Errorf("forms = %v, want [%s]", forms, tc.form)
			}
		})
	}
}

func TestServerItems(t *testing.T) {
	mux, d := newDisco(t, roster)
	d.AddItem("capulet.lit", Item{JID: "conference.capulet.lit"})
	d.AddItem("capulet.lit", Item{JID: "upload.capulet.lit", Name: "old"})
	d.AddItem("capulet.lit", Item{JID: "upload.capulet.lit", Name: "File upload"})
	d.AddItem("capulet.lit", Item{JID: "capulet.lit", Node: "news", Name: "News"})
	d.AddItem("capulet.lit", Item{JID: "gone.capulet.lit"})
	d.RemoveItem("capulet.lit", "gone.capulet.lit", "")
	d.AddItem("montague.lit", Item{JID: "conference.montague.lit"})

	tests := []struct {
		name string
		st   *stanza.Stanza
		want []string // items as XML, or nil with cond
		cond stanza.Condition
	}{
		{"items", xmpptest.IQ("get", "romeo@montague.lit/orchard", "capulet.lit", xmlel.New(NSItems, "query")), []string{
			`<item xmlns='http://jabber.org/protocol/disco#items' jid='conference.capulet.lit'/>`,
			`<item xmlns='http://jabber.org/protocol/disco#items' jid='upload.capulet.lit' name='File upload'/>`,
			`<item xmlns='http://jabber.org/protocol/disco#items' jid='capulet.lit' name='News' node='news'/>`,
		}, ""},
		{"no items", xmpptest.IQ("get", "romeo@montague.lit/orchard", "verona.lit", xmlel.New(NSItems, "query")), []string{}, ""},
		{"node", xmpptest.IQ("get", "romeo@montague.lit/orchard", "capulet.lit", xmlel.New(NSItems, "query", "node", "news")), nil, stanza.ItemNotFound},
		{"set", xmpptest.IQ("set", "romeo@montague.lit/orchard", "capulet.lit", xmlel.New(NSItems, "query")), nil, stanza.BadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := mux.Serve(context.Background(), iq.Server, tc.st)
			if tc.cond != "" {
				if e, ok := stanza.ParseError(resp); !ok || e.Condition != tc.cond {
					t.Fatalf("Serve = %v, want error %s", resp, tc.cond)
				}
				return
			}
			q := resp.Child(NSItems, "query")
			if q == nil {
				t.Fatalf("Serve = %v, want a result", resp)
			}
			got := []string{}
			for _, c := range q.Elements() {
				got = append(got, c.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("items = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAccountInfo(t *testing.T) {
	tests := []struct {
		name   string
		from   string
		node   string
		roster Roster
		want   stanza.Condition
	}{
		{name: "owner", from: "juliet@capulet.lit/balcony"},
		{name: "owner's other resource", from: "juliet@capulet.lit"},
		{name: "contact with subscription both", from: "romeo@montague.lit/orchard"},
		{name: "contact with subscription from", from: "nurse@capulet.lit/kitchen"},
		{name: "own server", from: "capulet.lit"},
		{name: "contact with subscription to", from: "tybalt@capulet.lit/street", want: stanza.ServiceUnavailable},
		{name: "contact with subscription none", from: "benvolio@montague.lit/x", want: stanza.ServiceUnavailable},
		{name: "stranger", from: "paris@verona.lit/y", want: stanza.ServiceUnavailable},
		{name: "other server", from: "montague.lit", want: stanza.ServiceUnavailable},
		{name: "stranger with node", from: "paris@verona.lit/y", node: "x", want: stanza.ServiceUnavailable},
		{name: "owner with node", from: "juliet@capulet.lit/balcony", node: "x", want: stanza.ItemNotFound},
		{name: "roster fails", from: "romeo@montague.lit/orchard", roster: fakeRoster{err: errors.New("disk on fire")}, want: stanza.InternalServerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.roster
			if r == nil {
				r = roster
			}
			mux, _ := newDisco(t, r)
			st := xmpptest.IQ("get", tc.from, "juliet@capulet.lit", xmlel.New(NSInfo, "query", "node", tc.node))
			resp := mux.Serve(context.Background(), iq.Account, st)
			if tc.want != "" {
				if e, ok := stanza.ParseError(resp); !ok || e.Condition != tc.want {
					t.Fatalf("Serve = %v, want error %s", resp, tc.want)
				}
				return
			}
			want := `<query xmlns='http://jabber.org/protocol/disco#info'>` +
				`<identity category='account' type='registered'/>` +
				`<feature var='http://jabber.org/protocol/disco#info'/>` +
				`<feature var='http://jabber.org/protocol/disco#items'/>` +
				`<feature var='urn:xmpp:mam:2'/></query>`
			if q := resp.Child(NSInfo, "query"); q == nil || q.String() != want {
				t.Errorf("Serve = %v, want a result with %s", resp, want)
			}
		})
	}
}

func TestAccountItems(t *testing.T) {
	tests := []struct {
		name string
		from string
		node string
		want stanza.Condition
	}{
		{name: "owner", from: "juliet@capulet.lit/balcony"},
		{name: "contact", from: "romeo@montague.lit/orchard"},
		{name: "stranger", from: "paris@verona.lit/y"},
		{name: "stranger with node", from: "paris@verona.lit/y", node: "urn:xmpp:avatar:data"},
		{name: "owner with node", from: "juliet@capulet.lit/balcony", node: "urn:xmpp:avatar:data", want: stanza.ItemNotFound},
	}
	mux, _ := newDisco(t, roster)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := xmpptest.IQ("get", tc.from, "juliet@capulet.lit", xmlel.New(NSItems, "query", "node", tc.node))
			resp := mux.Serve(context.Background(), iq.Account, st)
			if tc.want != "" {
				if e, ok := stanza.ParseError(resp); !ok || e.Condition != tc.want {
					t.Fatalf("Serve = %v, want error %s", resp, tc.want)
				}
				return
			}
			q := resp.Child(NSItems, "query")
			if resp.Attr("type") != "result" || q == nil || len(q.Children) != 0 || q.Attr("node") != tc.node {
				t.Errorf("Serve = %v, want an empty result for node %q", resp, tc.node)
			}
		})
	}
}

func TestContactsValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Contacts
		ok   bool
	}{
		{"empty", nil, true},
		{"all roles", Contacts{"abuse": {"a:b"}, "admin": {"a:b"}, "feedback": {"a:b"}, "sales": {"a:b"}, "security": {"a:b"}, "status": {"https://s"}, "support": {"a:b"}}, true},
		{"unknown role", Contacts{"press": {"mailto:press@example.org"}}, false},
		{"empty address", Contacts{"abuse": {""}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestNodes(t *testing.T) {
	mux, d := newDisco(t, roster)
	d.HandleNode("http://jabber.org/protocol/commands", Node{
		Items: func(_ context.Context, st *stanza.Stanza) ([]Item, error) {
			if st.From.Domain() != st.To.Domain() {
				return nil, nil // commands for local users only
			}
			return []Item{{JID: st.To.String(), Node: "cmd", Name: "A command"}}, nil
		},
	})
	d.HandleNode("cmd", Node{
		Info: func(context.Context, *stanza.Stanza) (*xmlel.Element, error) {
			return xmlel.New(NSInfo, "query", "node", "cmd"), nil
		},
	})
	resp := mux.Serve(context.Background(), iq.Server, xmpptest.IQ("get", "juliet@capulet.lit/balcony", "capulet.lit",
		xmlel.New(NSItems, "query", "node", "http://jabber.org/protocol/commands")))
	want := `<query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'><item jid='capulet.lit' name='A command' node='cmd'/></query>`
	if q := resp.Child(NSItems, "query"); q == nil || q.String() != want {
		t.Errorf("items of the commands node = %v, want %s", resp, want)
	}
	resp = mux.Serve(context.Background(), iq.Server, xmpptest.IQ("get", "romeo@montague.lit/orchard", "capulet.lit",
		xmlel.New(NSItems, "query", "node", "http://jabber.org/protocol/commands")))
	if q := resp.Child(NSItems, "query"); q == nil || len(q.Elements()) != 0 {
		t.Errorf("items of the commands node for a stranger = %v, want none", resp)
	}
	resp = mux.Serve(context.Background(), iq.Server, xmpptest.IQ("get", "romeo@montague.lit/orchard", "capulet.lit", xmlel.New(NSInfo, "query", "node", "cmd")))
	if q := resp.Child(NSInfo, "query"); q == nil || q.Attr("node") != "cmd" {
		t.Errorf("info of a node = %v", resp)
	}
	resp = mux.Serve(context.Background(), iq.Server, xmpptest.IQ("get", "romeo@montague.lit/orchard", "capulet.lit", xmlel.New(NSItems, "query", "node", "cmd")))
	if e, ok := stanza.ParseError(resp); !ok || e.Condition != stanza.ItemNotFound {
		t.Errorf("items of a node without items = %v, want item-not-found", resp)
	}
}

// Features that depend on the host show in its disco#info only.
func TestHostFeatures(t *testing.T) {
	mux, _ := newDisco(t, roster)
	mux.AddHostFeatures(func(domain string) []string {
		if domain == "capulet.lit" {
			return []string{"urn:xmpp:reporting:1", "urn:xmpp:ping"}
		}
		return nil
	})
	for _, tc := range []struct {
		host string
		want []string
	}{
		{"capulet.lit", []string{NSInfo, NSItems, "urn:xmpp:ping", "urn:xmpp:reporting:1"}},
		{"montague.lit", []string{NSInfo, NSItems, "urn:xmpp:ping"}},
	} {
		resp := mux.Serve(context.Background(), iq.Server, xmpptest.IQ("get", "romeo@montague.lit/orchard", tc.host, xmlel.New(NSInfo, "query")))
		var features []string
		for _, c := range resp.Child(NSInfo, "query").Elements() {
			if c.Is(NSInfo, "feature") {
				features = append(features, c.Attr("var"))
			}
		}
		slices.Sort(tc.want)
		if !slices.Equal(features, tc.want) {
			t.Errorf("features of %s = %v, want %v", tc.host, features, tc.want)
		}
	}
}
