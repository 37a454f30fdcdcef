package iq

import (
	"context"

	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// afterKey is the context key of the work that follows a request's
// answer.
type afterKey struct{}

// WithAfter returns a context in which After queues work, and the
// function that runs it, to be called once the answer has been sent.
// Respond uses it; a service that sends its own answers uses it too.
func WithAfter(ctx context.Context) (context.Context, func()) {
	var queue []func()
	return context.WithValue(ctx, afterKey{}, &queue), func() {
		for _, f := range queue {
			f()
		}
	}
}

// After queues f to run once the answer to the request being served is
// sent, as the last published item follows the result of a subscription
// (XEP-0060 §6.1.7); outside WithAfter it runs f now. f must not use a
// context that ends with the request's.
func After(ctx context.Context, f func()) {
	if q, ok := ctx.Value(afterKey{}).(*[]func()); ok {
		*q = append(*q, f)
		return
	}
	f()
}

// Respond is Serve, then send with the response when there is one, then
// what the handler queued with After.
func (m *Mux) Respond(ctx context.Context, t Target, st *stanza.Stanza, send func(*xmlel.Element)) {
	ctx, then := WithAfter(ctx)
	if resp := m.Serve(ctx, t, st); resp != nil {
		send(resp)
	}
	then()
}
