package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"

	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/register"
	"samtal.org/samtal/internal/server"
)

// inviteCmd makes invitations to register on a host with the invite
// policy (XEP-0401). The store keeps only a hash of each token, so the
// token is printed once, here.
func inviteCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, "usage: samtal invite create [--config FILE] [--domain D] [--ttl 7d]\n")
		return 2
	}
	var c commonFlags
	fs := c.newFlagSet("samtal invite create", false, stderr)
	ttlFlag := fs.String("ttl", "7d", "how long the invitation is valid (`duration`: 90m, 12h, 7d)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "samtal: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	ttl, err := config.ParseDuration(*ttlFlag)
	if err != nil || ttl <= 0 {
		fmt.Fprintf(stderr, "samtal: --ttl: want a positive duration such as 12h or 7d\n")
		return 2
	}
	// With a configuration file, --domain picks one of its hosts; without
	// one it names the single host, as it does for `samtal serve`.
	domain := c.o.Domain
	if c.configFile != "" {
		c.o.Domain = ""
	}
	cfg, ok := c.config(fs, stderr)
	if !ok {
		return 1
	}
	if domain == "" {
		domain = cfg.Hosts[0].Domain
	}
	h, ok := cfg.Host(domain)
	if !ok {
		fmt.Fprintf(stderr, "samtal: %s is not a host of this server\n", domain)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := server.OpenStore(ctx, cfg, nil, nil)
	if err != nil {
		fmt.Fprintf(stderr, "samtal: storage: %v\n", err)
		return 1
	}
	defer store.Close()
	now := time.Now()
	token, err := register.StoredInvites{Store: store.Invites(), Now: func() time.Time { return now }}.Create(ctx, domain, time.Duration(ttl))
	if err != nil {
		fmt.Fprintf(stderr, "samtal: %v\n", err)
		return 1
	}
	if p := h.Policy(cfg.Registration); p != config.PolicyInvite {
		fmt.Fprintf(stderr, "samtal: note: registration on %s is %q; the invitation works once it is \"invite\"\n", domain, p)
	}
	fmt.Fprintf(stdout, "token:   %s\n", token)
	fmt.Fprintf(stdout, "uri:     %s\n", inviteURI(domain, token))
	fmt.Fprintf(stdout, "expires: %s\n", now.Add(time.Duration(ttl)).UTC().Format(time.RFC3339))
	return 0
}

// inviteURI returns the XMPP URI of an invitation to register an account of
// one's choice on domain, in the form XEP-0401 §4.3 gives:
// xmpp:example.com?register;preauth=TOKEN.
func inviteURI(domain, token string) string {
	u := url.URL{Scheme: "xmpp", Opaque: domain, RawQuery: "register;preauth=" + url.QueryEscape(token)}
	return u.String()
}
