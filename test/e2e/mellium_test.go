package e2e

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"net"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	mjid "mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// TestSCRAMPlusMellium logs in with SCRAM -PLUS from an independent
// client, mellium.im/xmpp with mellium.im/sasl, which binds to the TLS
// channel with tls-exporter (RFC 9266) on TLS 1.3. It offers the server
// only the -PLUS mechanism, so a login proves channel binding works. Two
// such sessions then exchange a message.
//
// Neither slixmpp 1.8 (tls-unique only) nor profanity (libstrophe 0.12.2
// has no -PLUS) can do this; mellium has no tls-server-end-point, so that
// binding is tested by samtal's own SASL tests only.
func TestSCRAMPlusMellium(t *testing.T) {
	s := StartServer(t, Options{})
	const pw = "correct horse battery staple"
	s.AddUser("alice", pw)
	s.AddUser("bob", pw)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	login := func(t *testing.T, user string, direct bool, mech sasl.Mechanism) *xmpp.Session {
		t.Helper()
		addr := mjid.MustParse(user + "@localhost")
		cfg := &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
		var (
			conn     net.Conn
			err      error
			features []xmpp.StreamFeature
		)
		if direct {
			conn, err = tls.Dial("tcp", s.TLS, cfg)
		} else {
			conn, err = net.Dial("tcp", s.C2S)
			features = append(features, xmpp.StartTLS(cfg))
		}
		if err != nil {
			t.Fatal(err)
		}
		features = append(features, xmpp.SASL("", pw, mech), xmpp.BindResource())
		sess, err := xmpp.NewClientSession(ctx, addr, conn, features...)
		if err != nil {
			conn.Close()
			t.Fatalf("%s with %s: %v", user, mech.Name, err)
		}
		if v := sess.ConnectionState().Version; v != tls.VersionTLS13 {
			t.Errorf("TLS version %x, want 1.3", v)
		}
		return sess
	}

	for _, tc := range []struct {
		name   string
		direct bool
		mech   sasl.Mechanism
	}{
		{"STARTTLS SCRAM-SHA-256-PLUS", false, sasl.ScramSha256Plus},
		{"STARTTLS SCRAM-SHA-1-PLUS", false, sasl.ScramSha1Plus},
		{"direct TLS SCRAM-SHA-256-PLUS", true, sasl.ScramSha256Plus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := metric(t, s.Admin, `samtal_c2s_auth_total{mechanism="`+tc.mech.Name+`",result="success"}`)
			sess := login(t, "alice", tc.direct, tc.mech)
			if sess.LocalAddr().Resourcepart() == "" {
				t.Errorf("no resource bound: %v", sess.LocalAddr())
			}
			sess.Close()
			after := metric(t, s.Admin, `samtal_c2s_auth_total{mechanism="`+tc.mech.Name+`",result="success"}`)
			if after != before+1 {
				t.Errorf("%s successes %v -> %v, want one more", tc.mech.Name, before, after)
			}
		})
	}

	// A wrong password is refused with -PLUS as well.
	t.Run("wrong password", func(t *testing.T) {
		conn, err := net.Dial("tcp", s.C2S)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cfg := &tls.Config{ServerName: "localhost", InsecureSkipVerify: true}
		_, err = xmpp.NewClientSession(ctx, mjid.MustParse("alice@localhost"), conn,
			xmpp.StartTLS(cfg), xmpp.SASL("", pw+"x", sasl.ScramSha256Plus), xmpp.BindResource())
		if err == nil {
			t.Fatal("a wrong password was accepted")
		}
	})

	// Two -PLUS sessions exchange a message.
	t.Run("message", func(t *testing.T) {
		alice := login(t, "alice", false, sasl.ScramSha256Plus)
		defer alice.Close()
		bob := login(t, "bob", true, sasl.ScramSha256Plus)
		defer bob.Close()
		got := make(chan string, 1)
		serveErr := make(chan error, 1)
		go func() {
			serveErr <- bob.Serve(xmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
				if start.Name.Local != "message" {
					return nil
				}
				var m struct {
					stanza.Message
					Body string `xml:"body"`
				}
				// The stream's decoder has seen the start element; a new
				// one must see it again.
				d := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), t))
				if err := d.Decode(&m); err != nil {
					return err
				}
				select {
				case got <- m.From.String() + " " + m.Body:
				default:
				}
				return nil
			}))
		}()
		go func() { _ = alice.Serve(nil) }()
		// bob is not available (no presence): address the full JID.
		msg := struct {
			stanza.Message
			Body string `xml:"body"`
		}{
			Message: stanza.Message{To: bob.LocalAddr(), Type: stanza.ChatMessage},
			Body:    "hello over a bound channel",
		}
		if err := alice.Encode(ctx, msg); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if want := alice.LocalAddr().String() + " hello over a bound channel"; m != want {
				t.Errorf("bob got %q, want %q", m, want)
			}
		case err := <-serveErr:
			t.Fatalf("bob's session ended: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("bob got no message")
		}
	})
}
