package dataform

import (
	"reflect"
	"testing"

	"samtal.org/samtal/internal/xmlstream"
)

// FuzzParse checks that a parsed form survives Element and Parse again.
func FuzzParse(f *testing.F) {
	f.Add(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='ids'><value>a</value><value>b</value></field></x>`)
	f.Add(`<x xmlns='jabber:x:data' type='form'><title>T</title><instructions>I</instructions><field type='fixed'><value>v</value></field></x>`)
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
		if err != nil {
			return
		}
		form, err := Parse(el)
		if err != nil {
			return
		}
		back, err := Parse(form.Element())
		if err != nil || !reflect.DeepEqual(back, form) {
			t.Fatalf("Parse(%q) = %+v does not round-trip: %+v, %v", s, form, back, err)
		}
	})
}
