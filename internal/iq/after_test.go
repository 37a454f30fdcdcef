package iq

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// TestRespondThenAfter checks that what a handler queues with After runs
// once its answer is sent, in order, and that After outside Respond runs
// at once.
func TestRespondThenAfter(t *testing.T) {
	m := NewMux(slog.New(slog.DiscardHandler))
	var log []string
	m.Handle(Account, "urn:example", func(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
		After(ctx, func() { log = append(log, "first after") })
		After(ctx, func() { log = append(log, "second after") })
		log = append(log, "handler")
		return nil, nil
	})
	el := xmlel.New("", stanza.IQ, "type", "get", "id", "q1").Append(xmlel.New("urn:example", "q"))
	st := &stanza.Stanza{El: el, From: jid.MustParse("juliet@example.org/balcony"), To: jid.MustParse("juliet@example.org")}
	m.Respond(context.Background(), Account, st, func(resp *xmlel.Element) {
		log = append(log, "answer "+resp.Attr("type"))
	})
	if want := []string{"handler", "answer result", "first after", "second after"}; !slices.Equal(log, want) {
		t.Errorf("order = %q, want %q", log, want)
	}
	log = nil
	After(context.Background(), func() { log = append(log, "now") })
	if !slices.Equal(log, []string{"now"}) {
		t.Errorf("After outside Respond: %q", log)
	}
}
