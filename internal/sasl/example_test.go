package sasl_test

import (
	"errors"
	"fmt"

	"samtal.org/samtal/internal/sasl"
)

// accounts is a Credentials over a map, as the server implements it over
// storage.
type accounts map[string]sasl.Keys

func (a accounts) Keys(user string, h sasl.Hash) (sasl.Keys, error) {
	k, ok := a[user]
	if !ok || h != sasl.SHA256 {
		return sasl.Keys{}, sasl.ErrNoSuchUser
	}
	return k, nil
}

func Example() {
	keys, err := sasl.DeriveKeys(sasl.SHA256, "pencil", sasl.NewSalt(), 4096)
	if err != nil {
		panic(err)
	}
	cfg := sasl.Config{
		Creds:      accounts{"juliet": keys},
		TLS:        true,
		Advertised: sasl.Names(true, nil),
		FakeSecret: []byte("a secret of at least 16 bytes"),
	}
	fmt.Println(cfg.Advertised)

	// <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABwZW5jaWw=</auth>
	e, err := sasl.Start("PLAIN", cfg)
	if err != nil {
		panic(err)
	}
	in, err := sasl.Decode("AGp1bGlldABwZW5jaWw=")
	if err != nil {
		panic(err) // send <incorrect-encoding/>
	}
	_, done, err := e.Step(in)
	switch {
	case errors.Is(err, sasl.ErrNotAuthorized):
		fmt.Println("<not-authorized/>")
	case err != nil:
		fmt.Println("another condition:", err)
	case done && e.Authzid() != "" && e.Authzid() != e.Username()+"@example.com":
		fmt.Println("<invalid-authzid/>")
	case done:
		fmt.Println("<success/> for", e.Username())
	}
	// Output:
	// [SCRAM-SHA-256 SCRAM-SHA-1 PLAIN]
	// <success/> for juliet
}
