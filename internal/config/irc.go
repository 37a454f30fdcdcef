package config

import (
	"fmt"
	"os"
	"strings"
)

// IRC is the [irc] section: the IRC gateway, through which IRC clients
// log in with a samtal account, join rooms as channels and chat with
// XMPP users.
type IRC struct {
	// Listen are TLS listeners (port 6697) with the host certificates;
	// empty, the gateway is off unless ListenPlain has addresses.
	Listen []string `toml:"listen"`
	// ListenPlain are listeners without TLS. They must be on loopback
	// unless AllowPlaintext is set.
	ListenPlain []string `toml:"listen_plain"`
	// AllowPlaintext allows ListenPlain on addresses that are not
	// loopback: passwords then cross the network in the clear.
	AllowPlaintext bool `toml:"allow_plaintext"`
	// ServerName is the IRC server name; "" uses the first host's domain.
	ServerName string `toml:"server_name"`
	// Network is the network name announced in ISUPPORT.
	Network string `toml:"network"`
	// MOTD is the message of the day; "" sends none.
	MOTD string `toml:"motd"`
	// Guests lets clients in without an account, under their nick as
	// the localpart of the first host when no account has it. For tests
	// and deliberately open servers.
	Guests bool `toml:"guests"`
	// PersistentChannels makes the rooms that IRC clients create
	// persistent and archived, so that CHATHISTORY serves them.
	PersistentChannels bool `toml:"persistent_channels"`
	// PublicAddresses makes the rooms that IRC clients create show
	// every occupant's address to all occupants (non-anonymous rooms),
	// as IRC shows hostmasks and accounts. Off, only moderators see them.
	PublicAddresses bool `toml:"public_addresses"`
	// ClientCA is a PEM file of the authorities whose client
	// certificates log in with SASL EXTERNAL (the account is the
	// certificate's common name); "" offers no EXTERNAL.
	ClientCA string `toml:"client_ca"`
	// MaxChannels bounds the channels of one connection (CHANLIMIT).
	MaxChannels int `toml:"max_channels"`
	// MaxHistory bounds the messages of one CHATHISTORY request.
	MaxHistory int `toml:"max_history"`
	// LineRate is the commands per second one connection may send; the
	// burst is twice that. Faster clients are slowed down.
	LineRate int `toml:"line_rate"`
}

// Enabled reports whether the gateway has a listener.
func (c IRC) Enabled() bool { return len(c.Listen)+len(c.ListenPlain) > 0 }

// Validate returns a *Problems listing every problem of the section.
func (c IRC) Validate() error {
	var ps Problems
	for i, a := range c.Listen {
		if _, _, err := splitAddr(a); err != nil {
			ps.add(fmt.Sprintf("listen[%d]", i), "%v", err)
		}
	}
	for i, a := range c.ListenPlain {
		key := fmt.Sprintf("listen_plain[%d]", i)
		host, _, err := splitAddr(a)
		switch {
		case err != nil:
			ps.add(key, "%v", err)
		case !isLoopback(host) && !c.AllowPlaintext:
			ps.add(key, "%s is not a loopback address; set allow_plaintext = true to send passwords in the clear", a)
		}
	}
	if c.ServerName != "" && !validDomain(strings.ToLower(c.ServerName)) {
		ps.add("server_name", "invalid server name %q: want a domain name", c.ServerName)
	}
	if strings.ContainsAny(c.Network, " \r\n\x00") || len(c.Network) > 64 {
		ps.add("network", "must be one word of at most 64 bytes")
	}
	if len(c.MOTD) > 16384 {
		ps.add("motd", "is longer than 16384 bytes")
	}
	if c.ClientCA != "" {
		if _, err := os.Stat(c.ClientCA); err != nil {
			ps.add("client_ca", "cannot read %s: %v", c.ClientCA, err)
		}
	}
	for _, f := range []struct {
		key      string
		v, limit int
	}{{"max_channels", c.MaxChannels, 1000}, {"max_history", c.MaxHistory, MaxArchivePage}, {"line_rate", c.LineRate, 10000}} {
		if f.v < 1 || f.v > f.limit {
			ps.add(f.key, "must be from 1 to %d", f.limit)
		}
	}
	return ps.err()
}
