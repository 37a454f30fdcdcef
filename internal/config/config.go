package config

import (
	"path/filepath"
	"strings"
	"time"
)

// Config is the whole server configuration. Its zero value is not useful:
// start from Default, Load or Parse.
type Config struct {
	// LogLevel is one of "debug", "info", "warn" and "error".
	LogLevel string `toml:"log_level"`
	// DataDir holds certificates, the SQLite database and uploads.
	DataDir string `toml:"data_dir"`
	// Storage selects the database: "" for SQLite at <DataDir>/samtal.db,
	// "sqlite:PATH", or a PostgreSQL URL "postgres://...". See
	// StoragePath and StorageURL. It may hold a password: it is never
	// printed.
	Storage string `toml:"storage"`
	// Registration is the default in-band registration policy of hosts.
	Registration Policy `toml:"registration"`
	// SCRAMIterations is the PBKDF2 iteration count for new SCRAM keys.
	SCRAMIterations int `toml:"scram_iterations"`
	// HideVersion makes the server refuse XEP-0092 version queries.
	HideVersion bool `toml:"hide_version"`
	// SASLChannelBinding offers the SCRAM -PLUS mechanisms.
	SASLChannelBinding bool `toml:"sasl_channel_binding"`
	// ResourceConflict is ConflictReplace or ConflictReject.
	ResourceConflict string `toml:"resource_conflict"`

	Listen      Listen      `toml:"listen"`
	Hosts       []Host      `toml:"host"`
	Components  []Component `toml:"component"`
	Limits      Limits      `toml:"limits"`
	Stream      Stream      `toml:"stream"`
	Retention   Retention   `toml:"retention"`
	Archive     Archive     `toml:"archive"`
	Push        Push        `toml:"push"`
	Turn        Turn        `toml:"turn"`
	Bytestreams Bytestreams `toml:"bytestreams"`
	S2S         S2S         `toml:"s2s"`
	MUC         MUC         `toml:"muc"`
	Pubsub      Pubsub      `toml:"pubsub"`
	Web         Web         `toml:"web"`
	Upload      Upload      `toml:"upload"`
	Cluster     Cluster     `toml:"cluster"` // cluster.go
	IRC         IRC         `toml:"irc"`

	// src locates keys in the file the Config was parsed from and records
	// which keys the command line overrode. It is never modified once set:
	// copies of a Config share it.
	src *source
}

// Policy is an in-band registration policy (XEP-0077).
type Policy string

// Registration policies.
const (
	// PolicyClosed refuses in-band registration.
	PolicyClosed Policy = "closed"
	// PolicyInvite registers only with an invitation.
	PolicyInvite Policy = "invite"
	// PolicyOpen lets anyone register.
	PolicyOpen Policy = "open"
)

func (p Policy) valid() bool {
	return p == PolicyClosed || p == PolicyInvite || p == PolicyOpen
}

// Values of Config.ResourceConflict: what a bind of a resource that is
// already in use does (RFC 6120 §7.7.2.2).
const (
	// ConflictReplace terminates the old session and binds the new one
	// (§7.7.2.2, option 2b).
	ConflictReplace = "replace"
	// ConflictReject refuses the new bind with <conflict/>.
	ConflictReject = "reject"
)

// Listen is the [listen] section: the addresses the server listens on.
type Listen struct {
	// C2S are client listeners that offer STARTTLS.
	C2S []string `toml:"c2s"`
	// C2STLS are client listeners that start with TLS (XEP-0368).
	C2STLS []string `toml:"c2s_tls"`
	// S2S are server-to-server listeners that offer STARTTLS (port 5269).
	S2S []string `toml:"s2s"`
	// S2STLS are server-to-server listeners that start with TLS
	// (XEP-0368).
	S2STLS []string `toml:"s2s_tls"`
	// Component are listeners for external components (XEP-0114).
	Component []string `toml:"component"`
	// Admin serves Prometheus /metrics and health checks; "" disables it.
	Admin string `toml:"admin"`
	// AdminPublic allows Admin on an address that is not loopback.
	AdminPublic bool `toml:"admin_public"`
	// AdminProfiling also serves Go's runtime profiles (net/http/pprof)
	// under /debug/pprof/ on the admin listener, for finding where the
	// server spends its time. Off by default: a profile shows the
	// server's memory, which holds what its users send.
	AdminProfiling bool `toml:"admin_profiling"`
	// AllowPlaintext accepts clients that do not start TLS. Validation
	// allows it only when every C2S listener is on loopback.
	AllowPlaintext bool `toml:"allow_plaintext"`
}

// Host is one [[host]] table: a virtual host the server serves.
type Host struct {
	// Domain is the domain of the host, "example.org".
	Domain string `toml:"domain"`
	// Cert and Key are paths of the PEM certificate chain and private key,
	// relative to the working directory. Both empty means a self-signed
	// certificate generated in <DataDir>/certs/.
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
	// Registration overrides Config.Registration for this host when not
	// empty. See Policy.
	Registration Policy `toml:"registration"`
	// Contact holds the addresses published with XEP-0157.
	Contact Contact `toml:"contact"`
	// Admins are the accounts of the host ("alice@example.org") that may
	// run the service administration commands (XEP-0133) on its
	// accounts.
	Admins []string `toml:"admins"`
}

// Policy returns the registration policy of h, def when h has none of its
// own.
func (h Host) Policy(def Policy) Policy {
	if h.Registration != "" {
		return h.Registration
	}
	return def
}

// Contact holds the contact addresses of a host (XEP-0157), as URIs:
// "mailto:abuse@example.org", "xmpp:admin@example.org",
// "https://example.org/support".
type Contact struct {
	Abuse    []string `toml:"abuse"`
	Admin    []string `toml:"admin"`
	Feedback []string `toml:"feedback"`
	Sales    []string `toml:"sales"`
	Security []string `toml:"security"`
	Status   []string `toml:"status"`
	Support  []string `toml:"support"`
}

// Component is one [[component]] table: an external component (XEP-0114).
type Component struct {
	// Domain is the domain the component serves.
	Domain string `toml:"domain"`
	// Secret is the shared secret of the handshake.
	Secret string `toml:"secret"`
}

// Federation policies of S2S.Policy and Peer.Policy.
const (
	// PolicyDialback accepts peers with a valid certificate and, without
	// one, authenticates them with Server Dialback (XEP-0220).
	PolicyDialback = "dialback"
	// PolicyVerify requires a certificate valid for the peer's domain.
	PolicyVerify = "verify"
	// PolicyDeny refuses federation.
	PolicyDeny = "deny"
)

// S2S is the [s2s] section: federation with other servers.
type S2S struct {
	// Enabled sends stanzas for other domains to their servers. Off,
	// they are bounced and the s2s listeners are refused.
	Enabled bool `toml:"enabled"`
	// Policy is the federation policy of domains without a [[s2s.peer]]:
	// PolicyDialback, PolicyVerify or PolicyDeny.
	Policy string `toml:"policy"`
	// Peers set the policy of single domains.
	Peers []Peer `toml:"peer"`
	// CAFile is a PEM file of certificate authorities trusted for peers
	// in addition to the system's.
	CAFile string `toml:"ca_file"`
	// ConnectTimeout bounds finding and reaching a peer's server.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// IdleTimeout closes a stream that carried nothing for that long.
	IdleTimeout Duration `toml:"idle_timeout"`
	// QueueLength bounds the stanzas waiting for one peer's stream.
	QueueLength int `toml:"queue_length"`
	// MaxConnectionsPerDomain bounds the inbound streams of one peer
	// domain.
	MaxConnectionsPerDomain int `toml:"max_connections_per_domain"`
	// Resolver overrides DNS, for tests.
	Resolver Resolver `toml:"resolver"`
}

// Peer is one [[s2s.peer]] table: the policy for one remote domain.
type Peer struct {
	Domain string `toml:"domain"`
	Policy string `toml:"policy"`
}

// Resolver is the [s2s.resolver] section. It is for tests: made-up
// domains on loopback. Empty, the system's resolver answers.
type Resolver struct {
	// Nameserver is "host:port" of a DNS server to ask instead of the
	// system's.
	Nameserver string `toml:"nameserver"`
	// Hosts maps a host name to its IP addresses.
	Hosts map[string][]string `toml:"hosts,omitempty"`
	// SRV maps an SRV name to its records, "priority weight port target".
	SRV map[string][]string `toml:"srv,omitempty"`
}

// Limits is the [limits] section: the bounds that keep one client from
// taking the server down.
type Limits struct {
	// MaxStanzaBytes bounds the size of one stanza.
	MaxStanzaBytes int `toml:"max_stanza_bytes"`
	// MaxDepth bounds the nesting of XML elements in a stanza.
	MaxDepth int `toml:"max_depth"`
	// ReadRate and ReadBurst are the token bucket of bytes read per
	// connection: bytes per second and bucket size.
	ReadRate  int `toml:"read_rate"`
	ReadBurst int `toml:"read_burst"`
	// StanzaRate is the number of stanzas per second per session; the
	// burst is twice that.
	StanzaRate int `toml:"stanza_rate"`
	// SessionsPerAccount bounds the sessions bound at once to one account.
	SessionsPerAccount int `toml:"sessions_per_account"`
	// UnauthPerIP and UnauthTotal bound connections that have not
	// authenticated yet, per remote IP address and in total.
	UnauthPerIP int `toml:"unauth_per_ip"`
	UnauthTotal int `toml:"unauth_total"`
	// AuthTimeout is the time a connection has to authenticate.
	AuthTimeout Duration `toml:"auth_timeout"`
	// IdleTimeout is the silence after which the server pings a peer; a
	// peer silent for another minute is dead.
	IdleTimeout Duration `toml:"idle_timeout"`
	// AuthFailuresPerIP is the number of failed authentications from one
	// IP address before the back-off starts to grow.
	AuthFailuresPerIP int `toml:"auth_failures_per_ip"`
	// AuthFailuresPerAccount is the number of failed authentications
	// for one account, from anywhere, before the back-off starts to
	// grow. Only failures wait: a right password is answered at once,
	// so nobody can lock a user out.
	AuthFailuresPerAccount int `toml:"auth_failures_per_account"`
	// RosterItems bounds the roster of one account.
	RosterItems int `toml:"roster_items"`
	// OfflineMessages bounds the messages stored for one offline account.
	OfflineMessages int `toml:"offline_messages"`
	// VCardBytes bounds the size of one vCard.
	VCardBytes int `toml:"vcard_bytes"`
	// PrivateBytes bounds the private XML (XEP-0049) of one namespace,
	// and PrivateNamespaces the namespaces one account stores it in.
	PrivateBytes      int `toml:"private_bytes"`
	PrivateNamespaces int `toml:"private_namespaces"`
	// PEPNodes bounds the PEP nodes of one account (XEP-0163),
	// PEPItems the items one node keeps (what max_items "max" means),
	// and PEPItemBytes the size of one item. PEPSubscribers bounds the
	// explicit subscriptions to one node, PEPSubscriptions those of one
	// subscriber (a bare JID and its full JIDs) to every account's nodes.
	PEPNodes         int `toml:"pep_nodes"`
	PEPItems         int `toml:"pep_items"`
	PEPItemBytes     int `toml:"pep_item_bytes"`
	PEPSubscribers   int `toml:"pep_subscribers"`
	PEPSubscriptions int `toml:"pep_subscriptions"`
	// OutQueueBytes bounds the outgoing queue of one session; a reader
	// that does not keep up is disconnected.
	OutQueueBytes int `toml:"out_queue_bytes"`
}

// Stream is the [stream] section: what a client session keeps for its
// client, and how long: stream management (XEP-0198), client state
// indication (XEP-0352) and FAST tokens (XEP-0484).
type Stream struct {
	// ResumeWindow is how long a session whose connection was lost waits
	// for its client to resume it; "0s" offers no resumption.
	ResumeWindow Duration `toml:"resume_window"`
	// MaxUnacked and MaxUnackedBytes bound the stanzas one session keeps
	// until its client acknowledges them; past either the session ends.
	MaxUnacked      int `toml:"max_unacked"`
	MaxUnackedBytes int `toml:"max_unacked_bytes"`
	// AckEvery and AckDelay decide when the server asks the client for
	// an ack: once that many stanzas wait for one, or that long after the
	// first.
	AckEvery int      `toml:"ack_every"`
	AckDelay Duration `toml:"ack_delay"`
	// Location is where clients should resume their sessions,
	// "host:port" of this node's client listener; "" for anywhere.
	Location string `toml:"location"`
	// CSIBuffer bounds the stanzas held back while a client says it is
	// inactive; a full buffer is sent.
	CSIBuffer int `toml:"csi_buffer"`
	// FASTTokenLifetime is how long a FAST token lets a client log in
	// without its password.
	FASTTokenLifetime Duration `toml:"fast_token_lifetime"`
}

// Retention is the [retention] section: how long stored data is kept.
type Retention struct {
	// Offline is how long an offline message waits for its recipient.
	Offline Duration `toml:"offline"`
}

// Archive policies for users who set no archiving preferences
// (XEP-0441).
const (
	ArchiveAlways = "always"
	ArchiveRoster = "roster"
	ArchiveNever  = "never"
)

// Archive is the [archive] section: the message archive of every user
// (XEP-0313).
type Archive struct {
	// Enabled archives messages and answers archive queries.
	Enabled bool `toml:"enabled"`
	// Retention is how long a message stays in the archive.
	Retention Duration `toml:"retention"`
	// Default is the policy of users who set no preferences:
	// ArchiveAlways, ArchiveRoster (only messages with contacts in the
	// roster) or ArchiveNever.
	Default string `toml:"default"`
	// MaxPage is the most messages one query returns.
	MaxPage int `toml:"max_page"`
}

// Push is the [push] section: push notifications to the app servers of
// mobile clients (XEP-0357).
type Push struct {
	// Enabled lets users enable push services.
	Enabled bool `toml:"enabled"`
	// MaxServices bounds the push services one account may enable.
	MaxServices int `toml:"max_services"`
	// Count adds the number of waiting messages to notifications; they
	// never carry a sender or a body.
	Count bool `toml:"count"`
}

// HostPlaceholder stands for a host's domain in MUC.Domain.
const HostPlaceholder = "{host}"

// MUC is the [muc] section: the group chat service of each host
// (XEP-0045).
type MUC struct {
	// Domain is the domain of the service of each host, with
	// HostPlaceholder standing for the host's domain; "" turns group
	// chat off.
	Domain string `toml:"domain"`
	// MaxRoomsPerUser bounds the rooms one user owns or created and that
	// still exist.
	MaxRoomsPerUser int `toml:"max_rooms_per_user"`
	// DefaultOccupants is the occupant limit of a new room, and
	// MaxOccupants the highest limit an owner may configure.
	DefaultOccupants int `toml:"default_occupants"`
	MaxOccupants     int `toml:"max_occupants"`
	// HistoryDefault is how many messages a new occupant gets when the
	// client asks for no particular history, and HistoryMax the most
	// any client gets; the room keeps that many in memory.
	HistoryDefault int `toml:"history_default"`
	HistoryMax     int `toml:"history_max"`
	// ArchiveDefault archives the messages of new persistent rooms
	// (which their owners can change), so that MAM queries on the room
	// find them.
	ArchiveDefault bool `toml:"archive_default"`
	// ArchiveRetention is how long a message stays in a room archive.
	ArchiveRetention Duration `toml:"archive_retention"`
	// MaxPage is the most messages one archive query returns.
	MaxPage int `toml:"max_page"`
}

// MUCDomain returns the group chat domain of a host, "" when group chat
// is off.
func (c Config) MUCDomain(host string) string {
	return strings.ReplaceAll(c.MUC.Domain, HostPlaceholder, host)
}

// Who may create nodes of the pubsub service (Pubsub.Create).
const (
	// CreateLocal lets the users of the service's host create nodes.
	CreateLocal = "local"
	// CreateAdmins lets only the host's administrators create nodes.
	CreateAdmins = "admins"
)

// Pubsub is the [pubsub] section: the publish-subscribe service of each
// host (XEP-0060), apart from every account's own (PEP, [limits]).
type Pubsub struct {
	// Domain is the domain of the service of each host, with
	// HostPlaceholder standing for the host's domain; "" turns the
	// service off.
	Domain string `toml:"domain"`
	// Create says who may create nodes: CreateLocal or CreateAdmins. The
	// host's administrators own every node either way.
	Create string `toml:"create"`
	// MaxNodes bounds the nodes of one service, MaxUserNodes the nodes
	// one user may own there (administrators are not counted), MaxItems
	// the items one node keeps (what max_items "max" means),
	// MaxItemBytes the size of one item, and MaxSubscriptions the
	// subscriptions to one node (a remote server may subscribe any
	// number of JIDs of its domain).
	MaxNodes         int `toml:"max_nodes"`
	MaxUserNodes     int `toml:"max_user_nodes"`
	MaxItems         int `toml:"max_items"`
	MaxItemBytes     int `toml:"max_item_bytes"`
	MaxSubscriptions int `toml:"max_subscriptions"`
}

// PubsubDomain returns the pubsub domain of a host, "" when the service
// is off.
func (c Config) PubsubDomain(host string) string {
	return strings.ReplaceAll(c.Pubsub.Domain, HostPlaceholder, host)
}

// Web is the [web] section: the HTTP server with XMPP over WebSocket
// (RFC 7395) and BOSH (XEP-0206), connection discovery (XEP-0156), the
// upload service's files (XEP-0363) and the built-in web client.
type Web struct {
	// HTTPS are listeners with TLS, with the hosts' certificates.
	HTTPS []string `toml:"https"`
	// HTTP are listeners without TLS, only on loopback: for development
	// or behind a reverse proxy on the same machine that terminates TLS.
	HTTP []string `toml:"http"`
	// PublicURL is the base URL clients reach the web server at
	// ("https://chat.example.org"), when a proxy stands in front; ""
	// means the address each request came to.
	PublicURL string `toml:"public_url"`
	// AllowedOrigins are the browser origins ("https://app.example.org")
	// that may open WebSocket and BOSH sessions besides the server's own
	// pages.
	AllowedOrigins []string `toml:"allowed_origins"`
	// Client serves the built-in web client at /.
	Client bool `toml:"client"`
}

// Upload is the [upload] section: HTTP file upload (XEP-0363) at
// upload.<host> for each host, served by the web server.
type Upload struct {
	// Enabled turns the upload service on; it needs a [web] listener.
	Enabled bool `toml:"enabled"`
	// MaxFileSize is the largest file, in bytes.
	MaxFileSize int64 `toml:"max_file_size"`
	// Quota is what one account may have stored at once, in bytes.
	Quota int64 `toml:"quota"`
	// Retention is how long an uploaded file is kept.
	Retention Duration `toml:"retention"`
}

// Default returns the configuration of a zero-config start: one host
// "localhost" with a self-signed certificate, client listeners on loopback
// and data in ./samtal-data.
func Default() Config {
	return Config{
		LogLevel:           "info",
		DataDir:            "./samtal-data",
		Registration:       PolicyClosed,
		SCRAMIterations:    10000,
		SASLChannelBinding: true,
		ResourceConflict:   ConflictReplace,
		Listen: Listen{
			C2S:    []string{"127.0.0.1:5222"},
			C2STLS: []string{"127.0.0.1:5223"},
			Admin:  "127.0.0.1:5280",
		},
		Hosts: []Host{{Domain: "localhost"}},
		Limits: Limits{
			MaxStanzaBytes:         262144,
			MaxDepth:               32,
			ReadRate:               65536,
			ReadBurst:              262144,
			StanzaRate:             200,
			SessionsPerAccount:     10,
			UnauthPerIP:            20,
			UnauthTotal:            2000,
			AuthTimeout:            Duration(30 * time.Second),
			IdleTimeout:            Duration(5 * time.Minute),
			AuthFailuresPerIP:      10,
			AuthFailuresPerAccount: 5,
			RosterItems:            1000,
			OfflineMessages:        1000,
			VCardBytes:             131072,
			PrivateBytes:           131072,
			PrivateNamespaces:      64,
			PEPNodes:               100,
			PEPItems:               1000,
			PEPItemBytes:           131072,
			PEPSubscribers:         1000,
			PEPSubscriptions:       1000,
			OutQueueBytes:          1048576,
		},
		Stream: Stream{
			ResumeWindow:      Duration(5 * time.Minute),
			MaxUnacked:        1000,
			MaxUnackedBytes:   1048576,
			AckEvery:          5,
			AckDelay:          Duration(2 * time.Second),
			CSIBuffer:         100,
			FASTTokenLifetime: Duration(21 * 24 * time.Hour),
		},
		S2S: S2S{
			Enabled:                 true,
			Policy:                  PolicyDialback,
			ConnectTimeout:          Duration(30 * time.Second),
			IdleTimeout:             Duration(10 * time.Minute),
			QueueLength:             1000,
			MaxConnectionsPerDomain: 8,
		},
		Retention: Retention{
			Offline: Duration(30 * 24 * time.Hour),
		},
		Archive: Archive{
			Enabled:   true,
			Retention: Duration(365 * 24 * time.Hour),
			Default:   ArchiveAlways,
			MaxPage:   100,
		},
		Push: Push{
			Enabled:     true,
			MaxServices: 10,
		},
		Turn:        defaultTurn(),
		Bytestreams: defaultBytestreams(),
		IRC:         IRC{Network: "samtal", PersistentChannels: true, MaxChannels: 50, MaxHistory: 100, LineRate: 20},
		MUC: MUC{
			Domain:           "conference." + HostPlaceholder,
			MaxRoomsPerUser:  50,
			DefaultOccupants: 200,
			MaxOccupants:     5000,
			HistoryDefault:   20,
			HistoryMax:       100,
			ArchiveDefault:   true,
			ArchiveRetention: Duration(365 * 24 * time.Hour),
			MaxPage:          100,
		},
		Pubsub: Pubsub{
			Domain:       "pubsub." + HostPlaceholder,
			Create:       CreateLocal,
			MaxNodes:     1000,
			MaxUserNodes: 100,
			MaxItems:     1000,
			MaxItemBytes: 131072,
			// Far more than a large community has.
			MaxSubscriptions: 10000,
		},
		Web: Web{
			HTTPS:  []string{"127.0.0.1:5443"},
			Client: true,
		},
		Upload: Upload{
			Enabled:     true,
			MaxFileSize: 20 << 20,
			Quota:       200 << 20,
			Retention:   Duration(30 * 24 * time.Hour),
		},
		Cluster: defaultCluster(),
	}
}

// Host returns the host with the given domain, which must be in the
// canonical form the configuration uses (lowercase, Unicode for IDNs).
func (c Config) Host(domain string) (Host, bool) {
	for _, h := range c.Hosts {
		if h.Domain == domain {
			return h, true
		}
	}
	return Host{}, false
}

// ProxyPrefix is the label before a host's domain that names its SOCKS5
// bytestream proxy: proxy.example.org.
const ProxyPrefix = "proxy."

// sqlitePrefix introduces an explicit SQLite path in Config.Storage.
const sqlitePrefix = "sqlite:"

// StoragePath returns the path of the SQLite database: PATH for
// "sqlite:PATH", <DataDir>/samtal.db when Storage is empty, and "" when
// the storage is not SQLite. A relative path is relative to the working
// directory, as DataDir is.
func (c Config) StoragePath() string {
	switch {
	case c.Storage == "":
		return filepath.Join(c.DataDir, "samtal.db")
	case strings.HasPrefix(c.Storage, sqlitePrefix):
		return strings.TrimPrefix(c.Storage, sqlitePrefix)
	}
	return ""
}

// StorageURL returns the connection URL of the PostgreSQL database that
// Storage names, or "" when the storage is not PostgreSQL.
func (c Config) StorageURL() string {
	if IsPostgresURL(c.Storage) {
		return c.Storage
	}
	return ""
}

// IsPostgresURL reports whether s names a PostgreSQL database: a
// postgres:// or postgresql:// URL.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}
