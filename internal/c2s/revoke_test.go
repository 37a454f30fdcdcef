package c2s

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stream"
)

// TestRevokedBeforeBind logs in to an account disabled after the
// connection began, as a login that read the account just before the
// change does: binding, the RFC 6120 way or with Bind 2, ends the stream
// as the account's bound sessions were ended (router.Revoke).
func TestRevokedBeforeBind(t *testing.T) {
	plain := base64.StdEncoding.EncodeToString([]byte("\x00juliet\x00secret"))
	for _, sasl2 := range []bool{false, true} {
		t.Run(fmt.Sprint("sasl2=", sasl2), func(t *testing.T) {
			svc, addr := listenJuliet(t, Config{})
			t.Cleanup(func() { svc.Close(context.Background()) })
			c := dialTLS(t, addr)
			disabled := stream.Error{Condition: stream.NotAuthorized, Text: "account disabled"}
			svc.router.Revoke(jid.MustParse("juliet@example.org"), disabled)
			if sasl2 {
				fmt.Fprint(c.w, "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>"+plain+
					"</initial-response><bind xmlns='urn:xmpp:bind:0'><tag>Test</tag></bind></authenticate>")
			} else {
				fmt.Fprint(c.w, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+plain+"</auth>")
				if el := c.next(); el.Local != "success" {
					t.Fatalf("want <success/>, got %v", el)
				}
				c.r.Reset(c.w.(io.Reader)) // the stream restarts (RFC 6120 §6.4.6)
				c.open()
				fmt.Fprint(c.w, "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
			}
			el := c.next()
			if !el.Is(stream.NS, "error") || el.Child(stream.NSErrors, string(stream.NotAuthorized)) == nil ||
				el.ChildText(stream.NSErrors, "text") != disabled.Text {
				t.Fatalf("after binding, got %v, want the stream error %v", el, disabled)
			}
			if n := svc.router.Count(); n != 0 {
				t.Errorf("%d sessions bound, want none", n)
			}
		})
	}
}
