package iq

import (
	"context"
	"log/slog"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

func TestAwait(t *testing.T) {
	m := NewMux(slog.New(slog.DiscardHandler))
	peer := jid.MustParse("romeo@example.org/orchard")
	other := jid.MustParse("mallory@example.org/x")
	ch, done, err := m.Await("q1", peer)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	answer := func(from jid.JID, id, typ string) {
		el := xmlel.New("", "iq", "type", typ, "id", id)
		if r := m.Serve(context.Background(), Account, &stanza.Stanza{El: el, From: from}); r != nil {
			t.Fatalf("Serve(response) = %v, want nil", r)
		}
	}
	answer(other, "q1", "result") // not from the peer asked
	answer(peer, "q2", "result")  // not this request
	select {
	case st := <-ch:
		t.Fatalf("got %v before the peer answered", st.El)
	default:
	}
	answer(peer, "q1", "error")
	select {
	case st := <-ch:
		if st.Type() != "error" {
			t.Fatalf("got %v, want the error", st.El)
		}
	default:
		t.Fatal("the answer did not arrive")
	}
	answer(peer, "q1", "result") // answered once only: no block, no panic
}

func TestAwaitLimit(t *testing.T) {
	m := NewMux(slog.New(slog.DiscardHandler))
	peer := jid.MustParse("romeo@example.org/orchard")
	var dones []func()
	for i := range MaxPending {
		_, done, err := m.Await(string(rune('a'+i%26))+string(rune(i)), peer)
		if err != nil {
			t.Fatalf("Await %d = %v", i, err)
		}
		dones = append(dones, done)
	}
	if _, _, err := m.Await("one-more", peer); err != ErrTooManyPending {
		t.Fatalf("Await over the limit = %v, want ErrTooManyPending", err)
	}
	dones[0]()
	if _, _, err := m.Await("one-more", peer); err != nil {
		t.Fatalf("Await after one was done = %v", err)
	}
}
