package register

import (
	"testing"
	"unicode/utf8"

	"samtal.org/samtal/internal/xmlstream"
)

// FuzzParseSubmission feeds arbitrary registration requests to the form
// and legacy field parser (XEP-0077 §3, §4, XEP-0004). Nothing may
// panic, and what it returns comes from the request: valid UTF-8, no
// longer than the request.
func FuzzParseSubmission(f *testing.F) {
	for _, seed := range []string{
		`<query xmlns='jabber:iq:register'><username>bill</username><password>Calliope</password></query>`,
		`<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>jabber:iq:register</value></field><field var='username'><value>juliet</value></field><field var='password'><value>R0m30</value></field><field var='token'><value>abc</value></field></x></query>`,
		`<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='username'><value>a</value><value>b</value></field><field var='username'><value>c</value></field></x></query>`,
		`<query xmlns='jabber:iq:register'><preauth xmlns='urn:xmpp:pars:0' token='tok'/><username>x</username></query>`,
		`<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='form'/><remove/></query>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := xmlstream.Parse(data, xmlstream.Limits{})
		if err != nil {
			return
		}
		s := parseSubmission(q)
		for _, v := range []string{s.username, s.password, s.token} {
			if !utf8.ValidString(v) || len(v) > len(data) {
				t.Fatalf("parseSubmission(%q) gave %q", data, v)
			}
		}
	})
}
