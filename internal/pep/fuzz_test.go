package pep

import (
	"testing"

	"samtal.org/samtal/internal/xmlstream"
)

// FuzzConfigForm feeds arbitrary data forms to the node configuration
// parser, as owners submit them (XEP-0060 §8.2.4) and account imports
// carry them (XEP-0227 §3.10.1). Nothing may panic, an accepted form
// gives a configuration within the limit, and a configuration read from a
// form comes back the same from its own form.
func FuzzConfigForm(f *testing.F) {
	const limit = 50
	for _, seed := range []string{
		DefaultConfig().form(limit).String(),
		`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x>`,
		`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#persist_items'><value>true</value></field></x>`,
		`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#roster_groups_allowed'><value>a</value><value>b</value></field><field var='pubsub#access_model'><value>roster</value></field></x>`,
		`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>9999</value></field><field var='pubsub#unknown'><value>1</value></field></x>`,
		`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#title'><value>a</value></field><field var='pubsub#title'><value>b</value></field></x>`,
		`<x xmlns='jabber:x:data' type='cancel'/>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := xmlstream.Parse(data, xmlstream.Limits{})
		if err != nil {
			return
		}
		// As an owner's configure request: every option must be known.
		if form, err := parseForm(x); err == nil {
			c := DefaultConfig()
			if err := c.apply(form, limit); err == nil {
				if c.maxItems(limit) < 1 || c.maxItems(limit) > limit {
					t.Fatalf("max items %d outside 1..%d", c.maxItems(limit), limit)
				}
				back, ignored, err := ConfigFromForm(c.form(limit), limit)
				if err != nil || len(ignored) > 0 {
					t.Fatalf("the form of %+v does not read back: %v, ignored %q", c, err, ignored)
				}
				if d, err := decodeConfig(back); err != nil || !d.equal(c) {
					t.Fatalf("round trip: %+v, want %+v (%v)", d, c, err)
				}
			}
		}
		// As an import: unknown options are ignored, not fatal.
		stored, _, err := ConfigFromForm(x, limit)
		if err != nil {
			return
		}
		c, err := decodeConfig(stored)
		if err != nil {
			t.Fatalf("ConfigFromForm stored %q, which does not decode: %v", stored, err)
		}
		if _, err := ConfigForm(stored, limit); err != nil {
			t.Fatalf("ConfigForm(%q): %v", stored, err)
		}
		if c.maxItems(limit) < 1 || c.maxItems(limit) > limit {
			t.Fatalf("imported max items %d outside 1..%d", c.maxItems(limit), limit)
		}
	})
}
