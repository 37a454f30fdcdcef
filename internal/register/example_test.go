package register_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/register"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// The c2s layer keeps one State per connection and passes every iq that
// arrives before authentication to PreAuth.
func ExampleRegister_PreAuth() {
	policy := func(host string) register.Policy { return register.Invite }
	invites := register.NewMemoryInvites(nil)
	r := register.New(register.Config{Iterations: 4096}, policy, nil, invites,
		router.New([]string{"example.org"}), iq.NewMux(slog.Default()), slog.Default())

	var state register.State // one per connection
	get := xmlel.New("", stanza.IQ, "type", "get", "id", "reg1").Append(xmlel.New(register.NS, "query"))
	resp := r.PreAuth(context.Background(), "example.org", &state, &stanza.Stanza{El: get})
	fmt.Println("legacy fields before the invitation:", resp.FirstElement().Child(register.NS, "username") != nil)

	// The client presents its invitation (XEP-0445).
	token, _ := invites.Create(context.Background(), "example.org", time.Hour)
	set := xmlel.New("", stanza.IQ, "type", "set", "id", "pa1").Append(xmlel.New(register.NSPreAuth, "preauth", "token", token))
	resp = r.PreAuth(context.Background(), "example.org", &state, &stanza.Stanza{El: set})
	fmt.Println("preauth:", resp.Attr("type"))

	resp = r.PreAuth(context.Background(), "example.org", &state, &stanza.Stanza{El: get})
	fmt.Println("legacy fields after the invitation:", resp.FirstElement().Child(register.NS, "username") != nil)
	// Output:
	// legacy fields before the invitation: false
	// preauth: result
	// legacy fields after the invitation: true
}
