package im

import (
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// Bounds of what one fuzzed stanza may cause: stanzas sent to sessions
// and to other servers, and the size of each.
const (
	fuzzMaxInput   = 4096
	fuzzMaxOutputs = 500
	fuzzMaxBytes   = 1 << 20
)

// FuzzCore feeds arbitrary stanzas to the IM core, as c2s hands them over
// (from a bound session, 'from' stamped, 'to' prepared) or as they arrive
// from elsewhere, with a real router and SQLite store whose state grows
// over the run. Nothing may panic, and what one stanza causes is bounded
// in count and size.
func FuzzCore(f *testing.F) {
	for _, seed := range []string{
		"\x00<message to='bob@example.org' type='chat'><body>hi</body></message>",
		"\x01<presence/>",
		"\x01<presence type='unavailable'/>",
		"\x02<presence to='alice@example.org' type='subscribe'/>",
		"\x00<presence to='bob@example.org' type='subscribed'/>",
		"\x00<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='carol@remote.example' name='C'><group>g</group></item></query></iq>",
		"\x00<iq type='get' id='r'><query xmlns='jabber:iq:roster' ver=''/></iq>",
		"\x02<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'><item jid='alice@example.org'/></block></iq>",
		"\x02<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'/></iq>",
		"\x03<message from='carol@remote.example/x' to='alice@example.org' type='chat'><body>from afar</body></message>",
		"\x03<presence from='carol@remote.example' to='alice@example.org' type='subscribe'/>",
		"\x01<message to='alice@example.org/two' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
		"\x00<iq type='get' id='d' to='bob@example.org/one'><ping xmlns='urn:xmpp:ping'/></iq>",
		"\x00<presence to='room@conference.remote.example/nick'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f, Config{RosterItems: 50, OfflineMessages: 50})
	e.user("alice")
	e.user("bob")
	sessions := []*session{
		e.online("alice@example.org/one", "1"),
		e.online("alice@example.org/two", "5"),
		e.online("bob@example.org/one", ""),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 || len(data) > fuzzMaxInput {
			return
		}
		who := int(data[0]) % (len(sessions) + 1)
		el, err := xmlstream.Parse(data[1:], xmlstream.Limits{MaxStanzaBytes: fuzzMaxInput, MaxDepth: 32})
		if err != nil || !stanza.IsStanza(el) {
			return
		}
		st := &stanza.Stanza{El: el}
		if to := el.Attr("to"); to != "" {
			j, err := jid.Parse(to)
			if err != nil {
				return // c2s answers jid-malformed itself
			}
			st.To = j
			el.SetAttr("to", j.String())
		}
		if who < len(sessions) {
			s := sessions[who]
			st.From = s.jid
			el.SetAttr("from", s.jid.String())
			e.im.Outbound(e.ctx, s, st)
		} else {
			// From another server: both addresses must be there.
			from, err := jid.Parse(el.Attr("from"))
			if err != nil || st.To.IsZero() || from.Domain() == host {
				return
			}
			st.From = from
			e.r.Route(e.ctx, st)
		}
		var out []*xmlel.Element
		for _, s := range sessions {
			out = append(out, s.take()...)
		}
		out = append(out, e.takeRemote()...)
		if len(out) > fuzzMaxOutputs {
			t.Fatalf("one stanza caused %d stanzas", len(out))
		}
		for _, o := range out {
			if n := len(o.String()); n > fuzzMaxBytes {
				t.Fatalf("one stanza caused a stanza of %d bytes", n)
			}
		}
	})
}
