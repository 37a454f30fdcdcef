package stanza_test

import (
	"errors"
	"strings"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

func TestAnswer(t *testing.T) {
	req := xmlel.New("", stanza.IQ, "type", "get", "id", "q1", "from", "a@example.org/r", "to", "example.org")
	st := &stanza.Stanza{El: req, From: jid.MustParse("a@example.org/r"), To: jid.MustParse("example.org")}
	var failed []error
	log := func(err error) { failed = append(failed, err) }

	res := st.Answer(xmlel.New("urn:example", "q"), nil, log)
	if res.Attr("type") != "result" || res.Attr("to") != "a@example.org/r" || res.Child("urn:example", "q") == nil {
		t.Errorf("result = %s", res)
	}
	res = st.Answer(nil, stanza.E(stanza.Forbidden), log)
	if se, ok := stanza.ParseError(res); !ok || se.Condition != stanza.Forbidden {
		t.Errorf("stanza error = %s", res)
	}
	if len(failed) != 0 {
		t.Errorf("a stanza error was logged: %v", failed)
	}
	secret := errors.New("disk on fire at /var/lib/samtal")
	res = st.Answer(nil, secret, log)
	if se, ok := stanza.ParseError(res); !ok || se.Condition != stanza.InternalServerError || strings.Contains(res.String(), "fire") {
		t.Errorf("internal error = %s", res)
	}
	if len(failed) != 1 || failed[0] != secret {
		t.Errorf("failed got %v", failed)
	}
	req.SetAttr("type", "error")
	if res := st.Answer(nil, secret, log); res != nil {
		t.Errorf("an error answered: %s", res)
	}
}
