package c2s

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// TestResumeOnAnotherNode checks, on a node of a cluster, that SM-IDs
// name the node, and that a resumption of a session another live node
// holds is redirected there with see-other-host, while one of an
// unknown node, or of this node, fails with item-not-found.
func TestResumeOnAnotherNode(t *testing.T) {
	svc, addr := listenJuliet(t, Config{
		ResumeWindow: time.Minute, Location: "n1.example.org:5222", ResumeNode: "n1",
		ResumeElsewhere: func(node string) (string, bool) {
			if node == "n2" {
				return "n2.example.org:5222", true
			}
			return "", false
		},
	})
	t.Cleanup(func() { svc.Close(context.Background()) })

	a := dialTLS(t, addr)
	succ := a.authenticate("<bind xmlns='urn:xmpp:bind:0'><tag>Test</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>")
	enabled := succ.Child(nsBind2, "bound").Child(nsSM, "enabled")
	if enabled == nil || !strings.HasSuffix(enabled.Attr("id"), ".n1") || enabled.Attr("location") != "n1.example.org:5222" {
		t.Fatalf("<enabled/> = %v, want an SM-ID ending in .n1 and this node's location", enabled)
	}
	random, _, _ := strings.Cut(enabled.Attr("id"), ".")

	// Unknown node, and this node: the session is not there.
	for _, previd := range []string{random + ".n3", random + "x.n1", random} {
		c := dialTLS(t, addr)
		succ := c.authenticate("<resume xmlns='urn:xmpp:sm:3' previd='" + previd + "' h='0'/>")
		if f := succ.Child(nsSM, "failed"); f == nil || f.Child(nsStanzas, "item-not-found") == nil {
			t.Errorf("resuming %q: %v, want <failed><item-not-found/>", previd, succ)
		}
	}

	// A live node that holds it: see-other-host, over SASL2 and over a
	// stream that authenticated with SASL and resumes with <resume/>.
	b := dialTLS(t, addr)
	fmt.Fprint(b.w, "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>"+
		base64.StdEncoding.EncodeToString([]byte("\x00juliet\x00secret"))+"</initial-response>"+
		"<resume xmlns='urn:xmpp:sm:3' previd='"+random+".n2' h='0'/></authenticate>")
	wantRedirect(t, b.next())

	c := dialTLS(t, addr)
	fmt.Fprint(c.w, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+
		base64.StdEncoding.EncodeToString([]byte("\x00juliet\x00secret"))+"</auth>")
	if el := c.next(); !el.Is("urn:ietf:params:xml:ns:xmpp-sasl", "success") {
		t.Fatalf("SASL: %v", el)
	}
	c.r.Reset(c.w.(io.Reader))
	c.open()
	fmt.Fprint(c.w, "<resume xmlns='urn:xmpp:sm:3' previd='"+random+".n2' h='3'/>")
	wantRedirect(t, c.next())
}

func wantRedirect(t *testing.T, el *xmlel.Element) {
	t.Helper()
	if !el.Is(stream.NS, "error") {
		t.Fatalf("got %v, want a stream error", el)
	}
	if h := el.Child(stream.NSErrors, string(stream.SeeOtherHost)); h == nil || h.Text() != "n2.example.org:5222" {
		t.Fatalf("stream error %v, want <see-other-host>n2.example.org:5222</see-other-host>", el)
	}
}
