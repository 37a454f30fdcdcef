package dataform

import (
	"errors"
	"reflect"
	"testing"

	"samtal.org/samtal/internal/xmlstream"
)

func TestParse(t *testing.T) {
	const doc = `<x xmlns='jabber:x:data' type='submit'>
  <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>
  <field var='with'><value>juliet@capulet.lit</value></field>
  <field var='ids' type='text-multi'><value>a</value><value>b</value></field>
  <field type='fixed'><value>note</value></field>
</x>`
	el, err := xmlstream.Parse([]byte(doc), xmlstream.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(el)
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if f.Type != TypeSubmit || f.FormType() != "urn:xmpp:mam:2" || f.Value("with") != "juliet@capulet.lit" {
		t.Errorf("Parse = %+v", f)
	}
	if ids, _ := f.Field("ids"); !reflect.DeepEqual(ids.Values, []string{"a", "b"}) {
		t.Errorf("ids = %q, want [a b]", ids.Values)
	}
	if _, ok := f.Field("nothing"); ok || f.Value("nothing") != "" {
		t.Errorf("Field(nothing) found")
	}
	back, err := Parse(f.Element())
	if err != nil || !reflect.DeepEqual(back, f) {
		t.Errorf("Parse(Element()) = %+v, %v, want %+v", back, err, f)
	}
}

func TestParseInvalid(t *testing.T) {
	for _, doc := range []string{
		`<x xmlns='jabber:x:data'/>`,
		`<x xmlns='jabber:x:data' type='weird'/>`,
		`<x xmlns='urn:other' type='submit'/>`,
		`<x xmlns='jabber:x:data' type='submit'><field><value>v</value></field></x>`,
		`<x xmlns='jabber:x:data' type='submit'><field var='a'/><field var='a'/></x>`,
	} {
		el, err := xmlstream.Parse([]byte(doc), xmlstream.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if f, err := Parse(el); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%s) = %+v, %v, want ErrInvalid", doc, f, err)
		}
	}
	if _, err := Parse(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Parse(nil) = %v, want ErrInvalid", err)
	}
}

func TestParseBool(t *testing.T) {
	for s, want := range map[string][2]bool{"1": {true, true}, "true": {true, true}, "0": {false, true}, "false": {false, true}, "yes": {false, false}} {
		if v, ok := ParseBool(s); v != want[0] || ok != want[1] {
			t.Errorf("ParseBool(%q) = %v, %v, want %v, %v", s, v, ok, want[0], want[1])
		}
	}
}
