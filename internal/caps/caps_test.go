package caps

import (
	"testing"

	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

func parse(t *testing.T, s string) *xmlel.Element {
	t.Helper()
	el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{MaxStanzaBytes: 1 << 16})
	if err != nil {
		t.Fatalf("Parse(%q) = %v", s, err)
	}
	return el
}

const (
	simple = `<query xmlns='http://jabber.org/protocol/disco#info'>
  <identity category='client' name='Exodus 0.9.1' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
</query>`
	complex = `<query xmlns='http://jabber.org/protocol/disco#info' node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>
    <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
    <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
    <feature var='http://jabber.org/protocol/caps'/>
    <feature var='http://jabber.org/protocol/disco#info'/>
    <feature var='http://jabber.org/protocol/disco#items'/>
    <feature var='http://jabber.org/protocol/muc'/>
    <x xmlns='jabber:x:data' type='result'>
      <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
      <field var='ip_version' type='text-multi'><value>ipv6</value><value>ipv4</value></field>
      <field var='os'><value>Mac</value></field>
      <field var='software_version'><value>0.11</value></field>
      <field var='os_version'><value>10.5.1</value></field>
      <field var='software'><value>Psi</value></field>
    </x>
  </query>`
)

func TestVer(t *testing.T) {
	tests := []struct {
		name  string
		query string
		hash  string
		want  string
		err   error
	}{
		// XEP-0115 §5.2 and §5.3.
		{"simple", simple, "sha-1", "QgayPKawpkPSDYmwT/WM94uAlu0=", nil},
		{"complex", complex, "sha-1", "q07IKJEyjvHSyhy//CH0CxmKi8w=", nil},
		{"unknown hash", simple, "md5", "", ErrHash},
		{"duplicate feature", `<query xmlns='http://jabber.org/protocol/disco#info'><feature var='a'/><feature var='a'/></query>`, "sha-1", "", ErrIllFormed},
		{"duplicate identity", `<query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='pc'/><identity category='client' type='pc'/></query>`, "sha-1", "", ErrIllFormed},
		{"duplicate form", `<query xmlns='http://jabber.org/protocol/disco#info'>
			<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>u</value></field></x>
			<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>u</value></field></x></query>`, "sha-1", "", ErrIllFormed},
		{"two FORM_TYPE values", `<query xmlns='http://jabber.org/protocol/disco#info'>
			<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>u</value><value>v</value></field></x></query>`, "sha-1", "", ErrIllFormed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Ver(parse(t, tc.query), tc.hash)
			if got != tc.want || err != tc.err {
				t.Errorf("Ver = %q, %v, want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestVerIgnoresForms checks that forms without a hidden FORM_TYPE do not
// count (XEP-0115 §5.4).
func TestVerIgnoresForms(t *testing.T) {
	withForms := `<query xmlns='http://jabber.org/protocol/disco#info'>
  <identity category='client' name='Exodus 0.9.1' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
  <x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'><value>u</value></field></x>
  <x xmlns='jabber:x:data' type='result'><field var='x'><value>u</value></field></x>
</query>`
	got, err := Ver(parse(t, withForms), "sha-1")
	if want := "QgayPKawpkPSDYmwT/WM94uAlu0="; got != want || err != nil {
		t.Errorf("Ver = %q, %v, want %q", got, err, want)
	}
}

func TestParse(t *testing.T) {
	p := parse(t, `<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://code.google.com/p/exodus' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>`)
	c, ok := Parse(p)
	if want := (Caps{Hash: "sha-1", Node: "http://code.google.com/p/exodus", Ver: "QgayPKawpkPSDYmwT/WM94uAlu0="}); !ok || c != want {
		t.Errorf("Parse = %v, %v, want %v", c, ok, want)
	}
	if _, ok := Parse(parse(t, `<presence xmlns='jabber:client'/>`)); ok {
		t.Error("Parse of presence without caps reports caps")
	}
	if _, ok := Parse(parse(t, `<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' node='n'/></presence>`)); ok {
		t.Error("Parse of caps without ver reports caps")
	}
}

func TestCache(t *testing.T) {
	c := NewCache[int](2)
	c.Put("a", 1)
	c.Put("b", 2)
	c.Put("a", 3) // an update is not a new entry
	c.Put("c", 4) // a goes, the oldest
	if _, ok := c.Get("a"); ok {
		t.Error("the oldest entry was kept")
	}
	if v, ok := c.Get("b"); !ok || v != 2 {
		t.Errorf("Get(b) = %v, %v", v, ok)
	}
	if v, ok := c.Get("c"); !ok || v != 4 {
		t.Errorf("Get(c) = %v, %v", v, ok)
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
}
