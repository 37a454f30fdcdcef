package router

import (
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

type session struct{ j jid.JID }

func (s *session) JID() jid.JID                { return s.j }
func (s *session) Send(*xmlel.Element)         {}
func (s *session) CloseWithError(stream.Error) {}

func TestRebindKeepsPresence(t *testing.T) {
	r := New([]string{"example.org"})
	full := jid.MustParse("juliet@example.org/balcony")
	old, next := &session{full}, &session{full}
	if _, err := r.Bind(old, false, 0); err != nil {
		t.Fatal(err)
	}
	pres := xmlel.New("", "presence")
	r.SetPresence(full, pres, 5)
	r.SetInterested(full)
	if !r.Rebind(old, next) {
		t.Fatal("Rebind = false")
	}
	res := r.Resources(full.Bare())
	if len(res) != 1 || res[0].Session != next || !res[0].Available || res[0].Priority != 5 || res[0].Presence != pres || !res[0].Interested {
		t.Errorf("after Rebind: %+v", res)
	}
	if r.Unbind(old) {
		t.Error("Unbind(old) = true after Rebind")
	}
	if r.Rebind(old, &session{full}) {
		t.Error("Rebind from a session no longer bound = true")
	}
	other := &session{jid.MustParse("juliet@example.org/garden")}
	if r.Rebind(next, other) {
		t.Error("Rebind to another JID = true")
	}
	if !r.Unbind(next) || r.Count() != 0 {
		t.Error("the resumed session does not unbind")
	}
}
