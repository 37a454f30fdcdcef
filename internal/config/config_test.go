package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	toml "github.com/pelletier/go-toml/v2"
)

const exampleFile = "samtal.example.toml"

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
}

func TestParseEmpty(t *testing.T) {
	c, err := Parse(nil, "samtal.toml")
	if err != nil {
		t.Fatalf("Parse(empty) = %v, want nil", err)
	}
	if !equalConfig(c, Default()) {
		t.Errorf("Parse(empty) = %+v, want Default() %+v", c, Default())
	}
}

func TestExampleFile(t *testing.T) {
	c, err := Load(exampleFile)
	if err != nil {
		t.Fatalf("Load(%q) = %v, want nil", exampleFile, err)
	}
	// The example shows the defaults, plus a contact, a component and an
	// external TURN service.
	want := Default()
	want.Hosts[0].Contact = Contact{
		Abuse: []string{"mailto:abuse@example.org"}, Admin: []string{"xmpp:admin@example.org"},
		Security: []string{}, Support: []string{}, Feedback: []string{}, Sales: []string{}, Status: []string{},
	}
	want.Hosts[0].Admins = []string{}
	want.Components = []Component{{Domain: "gateway.localhost", Secret: "change me"}}
	want.Listen.Component = []string{}
	want.Turn.Allow, want.Turn.Deny = []string{}, []string{}
	want.Turn.External = []ExternalService{{Type: "turn", Host: "turn.example.org", Port: 3478, Transport: "udp", Secret: "change me", Name: "coturn"}}
	want.Listen.S2S, want.Listen.S2STLS = []string{}, []string{}
	want.S2S.Peers = []Peer{{Domain: "spam.example", Policy: PolicyDeny}}
	want.S2S.Resolver.Hosts = map[string][]string{}
	want.S2S.Resolver.SRV = map[string][]string{}
	want.Web.HTTP = []string{}
	want.Web.AllowedOrigins = []string{}
	want.IRC.Listen, want.IRC.ListenPlain = []string{}, []string{}
	if !equalConfig(c, want) {
		t.Errorf("Load(%q) = %+v, want %+v", exampleFile, c, want)
	}
}

// TestExampleDocumentsEveryKey checks that the example file has every key
// of Config, so that a new key cannot go undocumented.
func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	d, err := scan(data, exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range leafKeys(reflect.TypeFor[Config](), "") {
		if _, ok := d.byKey[k]; !ok {
			t.Errorf("%s does not have key %s", exampleFile, k)
		}
	}
}

// leafKeys returns the keys of the values of t, with [0] for the first
// table of an array of tables.
func leafKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for _, f := range reflect.VisibleFields(t) {
		n := tomlName(f)
		if !f.IsExported() || n == "" || n == "-" {
			continue
		}
		k := dotKey(prefix, n)
		switch ft := f.Type; {
		case ft.Kind() == reflect.Struct:
			keys = append(keys, leafKeys(ft, k)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, leafKeys(ft.Elem(), k+"[0]")...)
		default:
			keys = append(keys, k)
		}
	}
	return keys
}

// TestRoundTrip checks that the tags and Duration's text survive
// encoding: a Config encoded as TOML decodes to the same Config.
func TestRoundTrip(t *testing.T) {
	c := Default()
	c.Retention.Offline = Duration(36 * time.Hour)
	c.Components = []Component{{Domain: "gw.localhost", Secret: "s"}}
	b, err := toml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b, "marshalled.toml")
	if err != nil {
		t.Fatalf("Parse(Marshal(c)) = %v, want nil\n%s", err, b)
	}
	// Compare the encodings: a nil and an empty slice encode alike.
	if b2, err := toml.Marshal(got); err != nil || !bytes.Equal(b2, b) {
		t.Errorf("Parse(Marshal(c)) encodes as\n%s, want\n%s", b2, b)
	}
}

// equalConfig compares configurations, without where they came from.
func equalConfig(a, b Config) bool {
	a.src, b.src = nil, nil
	return reflect.DeepEqual(a, b)
}

// mistake is a configuration file with one mistake.
type mistake struct {
	name string
	doc  string
	key  string // key of the problem
	line int
	col  int    // checked when not 0
	msg  string // part of the message
}

// mistakes has every kind of mistake that Parse reports.
var mistakes = []mistake{
	{"cluster node", "[cluster]\nnats_url = \"nats://127.0.0.1:4222\"\nnode = \"a b\"\n", "cluster.node", 3, 0, "invalid node name"},
	{"cluster dead_after", "[cluster]\nnats_url = \"nats://127.0.0.1:4222\"\nheartbeat = \"2s\"\ndead_after = \"3s\"\n", "cluster.dead_after", 4, 0, "at least three heartbeats"},
	{"syntax", "log_level = \"info\"\ndata_dir = \n", "", 2, 12, "invalid TOML"},
	{"syntax unclosed table", "[limits\n", "", 1, 0, "invalid TOML"},
	{"unknown key", "log_levl = \"info\"\n", "log_levl", 1, 1, `unknown key (did you mean "log_level"?)`},
	{"unknown key in table", "[limits]\n  read_rat = 5\n", "limits.read_rat", 2, 3, "unknown key"},
	{"unknown key in second host", "[[host]]\ndomain = \"a.example\"\n[[host]]\ndomain = \"b.example\"\ncrt = \"x\"\n", "host[1].crt", 5, 1, "unknown key"},
	{"unknown key in inline table", "[[host]]\ndomain = \"a.example\"\ncontact = { abuses = [] }\n", "host[0].contact.abuses", 3, 0, "unknown key"},
	{"unknown table", "[limit]\nread_rate = 5\n", "limit", 1, 2, `unknown table (did you mean "limits"?)`},
	{"wrong type", "[limits]\nread_rate = \"fast\"\n", "limits.read_rate", 2, 0, "wrong type: got string, want integer"},
	{"wrong type bool", "hide_version = \"yes\"\n", "hide_version", 1, 0, "want boolean"},
	{"wrong type array", "[listen]\nc2s = \"127.0.0.1:5222\"\n", "listen.c2s", 2, 0, "want array of strings"},
	{"wrong type element", "[listen]\nc2s = [\"127.0.0.1:5222\", 5222]\n", "listen.c2s[1]", 2, 0, "got integer, want string"},
	{"wrong type table", "limits = 5\n", "limits", 1, 0, "want table"},
	{"array table for table", "[[limits]]\nread_rate = 1\n", "limits", 1, 3, "wrong type: got array of tables, want table"},
	{"unknown array table", "[[hots]]\ndomain = \"a.example\"\n", "hots", 1, 3, "unknown table"},
	{"duration as integer", "[limits]\nauth_timeout = 30\n", "limits.auth_timeout", 2, 16, "wrong type: got integer, want a duration"},
	{"invalid duration", "[limits]\nauth_timeout = \"30 seconds\"\n", "limits.auth_timeout", 2, 0, `invalid duration "30 seconds"`},
	{"integer too large", "scram_iterations = 99999999999999999999\n", "scram_iterations", 1, 0, "too large"},
	{"duplicate key", "log_level = \"info\"\nlog_level = \"debug\"\n", "log_level", 2, 0, "already defined"},
	{"invalid domain uppercase", "[[host]]\ndomain = \"Example.org\"\n", "host[0].domain", 2, 1, "invalid domain"},
	{"invalid domain empty label", "[[host]]\ndomain = \"a..example\"\n", "host[0].domain", 2, 0, "invalid domain"},
	{"invalid domain long label", "[[host]]\ndomain = \"" + strings.Repeat("a", 64) + ".example\"\n", "host[0].domain", 2, 0, "invalid domain"},
	{"invalid domain hyphen", "[[host]]\ndomain = \"-a.example\"\n", "host[0].domain", 2, 0, "invalid domain"},
	{"invalid domain missing", "[[host]]\ncert = \"\"\n", "host[0].domain", 1, 0, "invalid domain"},
	{"duplicate host", "[[host]]\ndomain = \"a.example\"\n[[host]]\ndomain = \"a.example\"\n", "host[1].domain", 4, 0, "duplicate domain"},
	{"component is host", "[[host]]\ndomain = \"a.example\"\n\n[[component]]\ndomain = \"a.example\"\nsecret = \"s\"\n", "component[0].domain", 5, 0, "host[0]"},
	{"duplicate component", "[[component]]\ndomain = \"gw.localhost\"\nsecret = \"s\"\n[[component]]\ndomain = \"gw.localhost\"\nsecret = \"s\"\n", "component[1].domain", 5, 0, "duplicate domain"},
	{"component invalid domain", "[[component]]\ndomain = \"gw_1.localhost\"\nsecret = \"s\"\n", "component[0].domain", 2, 0, "invalid domain"},
	{"empty secret", "[[component]]\ndomain = \"gw.localhost\"\nsecret = \"\"\n", "component[0].secret", 3, 0, "must be set"},
	{"missing secret", "[[component]]\ndomain = \"gw.localhost\"\n", "component[0].secret", 1, 0, "must be set"},
	{"cert without key", "[[host]]\ndomain = \"a.example\"\ncert = \"a.pem\"\n", "host[0].cert", 3, 0, "without key"},
	{"key without cert", "[[host]]\ndomain = \"a.example\"\nkey = \"a.key\"\n", "host[0].key", 3, 0, "without cert"},
	{"missing cert", "[[host]]\ndomain = \"a.example\"\ncert = \"testdata/nonexistent.pem\"\nkey = \"testdata/nonexistent.key\"\n", "host[0].cert", 3, 0, "no such file"},
	{"missing key", "[[host]]\ndomain = \"a.example\"\ncert = \"testdata/nonexistent.pem\"\nkey = \"testdata/nonexistent.key\"\n", "host[0].key", 4, 0, "no such file"},
	{"cert not a file", "[[host]]\ndomain = \"a.example\"\ncert = \"testdata\"\nkey = \"testdata\"\n", "host[0].cert", 3, 0, "not a regular file"},
	{"cert not PEM", "[[host]]\ndomain = \"a.example\"\ncert = \"" + exampleFile + "\"\nkey = \"" + exampleFile + "\"\n", "host[0].cert", 3, 0, "cannot load"},
	{"address without port", "[listen]\nc2s = [\"127.0.0.1\"]\n", "listen.c2s[0]", 2, 8, "invalid address"},
	{"address port 0", "[listen]\nc2s_tls = [\"127.0.0.1:0\"]\n", "listen.c2s_tls[0]", 2, 0, "invalid port"},
	{"address port too large", "[listen]\ncomponent = [\"127.0.0.1:65536\"]\n", "listen.component[0]", 2, 0, "invalid port"},
	{"address port name", "[listen]\nadmin = \"127.0.0.1:http\"\n", "listen.admin", 2, 0, "invalid port"},
	{"address host name", "[listen]\nc2s = [\"example.org:5222\"]\n", "listen.c2s[0]", 2, 0, "invalid host"},
	{"address twice", "[listen]\nc2s = [\"127.0.0.1:5222\"]\nc2s_tls = [\"127.0.0.1:5222\"]\n", "listen.c2s_tls[0]", 3, 0, "already used by listen.c2s[0]"},
	{"address twice in a list", "[listen]\nc2s = [\n  \"127.0.0.1:5222\",\n  \"127.0.0.1:5222\",\n]\n", "listen.c2s[1]", 4, 3, "already used"},
	{"address twice with wildcard", "[listen]\nc2s = [\"127.0.0.1:5222\", \"[::]:5222\"]\n", "listen.c2s[1]", 2, 0, "already used"},
	{"admin public", "[listen]\nadmin = \"0.0.0.0:5280\"\n", "listen.admin", 2, 0, "admin_public"},
	{"admin all interfaces", "[listen]\nadmin = \":5280\"\n", "listen.admin", 2, 0, "admin_public"},
	{"plaintext not on loopback", "[listen]\nc2s = [\"192.0.2.1:5222\"]\nallow_plaintext = true\n", "listen.allow_plaintext", 3, 0, "listen.c2s[0] is 192.0.2.1:5222"},
	{"log level", "log_level = \"verbose\"\n", "log_level", 1, 0, "unknown log level"},
	{"registration", "registration = \"public\"\n", "registration", 1, 0, "unknown policy"},
	{"host registration", "[[host]]\ndomain = \"a.example\"\nregistration = \"public\"\n", "host[0].registration", 3, 0, "unknown policy"},
	{"admin of another host", "[[host]]\ndomain = \"a.example\"\nadmins = [\"alice@b.example\"]\n", "host[0].admins[0]", 3, 0, "not an account of a.example"},
	{"admin not a JID", "[[host]]\ndomain = \"a.example\"\nadmins = [\"@a.example\"]\n", "host[0].admins[0]", 3, 0, "not a JID"},
	{"admin not normalized", "[[host]]\ndomain = \"a.example\"\nadmins = [\"Alice@a.example\"]\n", "host[0].admins[0]", 3, 0, "its normalized form"},
	{"admin with resource", "[[host]]\ndomain = \"a.example\"\nadmins = [\"alice@a.example/phone\"]\n", "host[0].admins[0]", 3, 0, "not an account"},
	{"resource conflict", "resource_conflict = \"kick\"\n", "resource_conflict", 1, 0, "unknown value"},
	{"scram iterations", "scram_iterations = 1000\n", "scram_iterations", 1, 0, "at least 4096"},
	{"empty data dir", "data_dir = \"\"\n", "data_dir", 1, 0, "must not be empty"},
	{"storage", "storage = \"mysql://user:hunter2@db\"\n", "storage", 1, 0, "unknown storage"},
	{"storage sqlite without path", "storage = \"sqlite:\"\n", "storage", 1, 0, "needs a path"},
	{"storage postgres bad URL", "storage = \"postgres://u:p@[::1/db\"\n", "storage", 1, 0, "does not parse"},
	{"zero hosts", "host = []\n", "host", 1, 0, "at least one"},
	{"limit zero", "[limits]\nread_rate = 0\n", "limits.read_rate", 2, 1, "must be positive"},
	{"pep subscribers zero", "[limits]\npep_subscribers = 0\n", "limits.pep_subscribers", 2, 0, "must be positive"},
	{"limit negative", "[limits]\nmax_depth = -1\n", "limits.max_depth", 2, 0, "must be positive"},
	{"limit duration zero", "[limits]\nidle_timeout = \"0s\"\n", "limits.idle_timeout", 2, 0, "must be positive"},
	{"limit dotted key", "limits.roster_items = 0\n", "limits.roster_items", 1, 1, "must be positive"},
	{"limits inconsistent", "[limits]\nunauth_per_ip = 3000\n", "limits.unauth_per_ip", 2, 0, "unauth_total"},
	{"out queue too small", "[limits]\nout_queue_bytes = 1000\n", "limits.out_queue_bytes", 2, 0, "max_stanza_bytes"},
	{"retention zero", "[retention]\noffline = \"0d\"\n", "retention.offline", 2, 0, "must be positive"},
	{"archive retention zero", "[archive]\nretention = \"0s\"\n", "archive.retention", 2, 0, "must be positive"},
	{"archive default", "[archive]\ndefault = \"sometimes\"\n", "archive.default", 2, 0, "unknown policy"},
	{"archive max page", "[archive]\nmax_page = 5000\n", "archive.max_page", 2, 0, "1 to 1000"},
	{"push max services", "[push]\nmax_services = 0\n", "push.max_services", 2, 0, "1 to 100"},
	{"turn address", "[turn]\nudp = [\"127.0.0.1\"]\n", "turn.udp[0]", 2, 0, "invalid address"},
	{"turn address twice", "[turn]\ntls = [\"127.0.0.1:5349\", \"127.0.0.1:5349\"]\n", "turn.tls[1]", 2, 0, "listed twice"},
	{"turn without listener", "[turn]\nudp = []\ntcp = []\ntls = []\n", "turn.enabled", 1, 0, "no listener"},
	{"turn relay ip", "[turn]\nrelay_ip = \"relay.example\"\n", "turn.relay_ip", 2, 0, "invalid address"},
	{"turn relay ip unspecified", "[turn]\nrelay_ip = \"0.0.0.0\"\n", "turn.relay_ip", 2, 0, "public IP"},
	{"turn relay ip loopback", "[turn]\nudp = [\"0.0.0.0:3478\"]\n", "turn.relay_ip", 1, 0, "loopback"},
	{"turn relay ports", "[turn]\nrelay_min_port = 60000\nrelay_max_port = 50000\n", "turn.relay_min_port", 2, 0, "more than relay_max_port"},
	{"turn relay port range", "[turn]\nrelay_max_port = 70000\n", "turn.relay_max_port", 2, 0, "invalid port"},
	{"turn external host", "[turn]\nexternal_host = \"turn host\"\n", "turn.external_host", 2, 0, "invalid host"},
	{"turn credential lifetime", "[turn]\ncredential_lifetime = \"0s\"\n", "turn.credential_lifetime", 2, 0, "must be positive"},
	{"turn quotas", "[turn]\nuser_allocations = 2000\n", "turn.user_allocations", 2, 0, "total_allocations"},
	{"turn allow", "[turn]\nallow = [\"10.0.0.0/33\"]\n", "turn.allow[0]", 2, 0, "invalid prefix"},
	{"turn external type", "[[turn.external]]\ntype = \"ftp\"\nhost = \"turn.example\"\nport = 3478\ntransport = \"udp\"\n", "turn.external[0].type", 2, 0, "unknown type"},
	{"turn external tls over udp", "[[turn.external]]\ntype = \"turns\"\nhost = \"turn.example\"\nport = 5349\ntransport = \"udp\"\n", "turn.external[0].transport", 5, 0, "needs tcp"},
	{"turn external port", "[[turn.external]]\ntype = \"turn\"\nhost = \"turn.example\"\ntransport = \"udp\"\n", "turn.external[0].port", 1, 0, "invalid port"},
	{"bytestreams address", "[bytestreams]\nlisten = [\"proxy:7777\"]\n", "bytestreams.listen[0]", 2, 0, "invalid host"},
	{"bytestreams rate", "[bytestreams]\nrate = 0\n", "bytestreams.rate", 2, 0, "must be positive"},
	{"bytestreams duration", "[bytestreams]\nmax_duration = \"0s\"\n", "bytestreams.max_duration", 2, 0, "must be positive"},
	{"proxy is a component", "[[component]]\ndomain = \"proxy.localhost\"\nsecret = \"s\"\n", "component[0].domain", 2, 0, "bytestream proxy"},
	{"proxy is a host", "[[host]]\ndomain = \"a.example\"\n[[host]]\ndomain = \"proxy.a.example\"\n", "host[1].domain", 4, 0, "bytestream proxy"},
	{"muc invalid domain", "[muc]\ndomain = \"conf_{host}\"\n", "muc.domain", 2, 0, "invalid domain"},
	{"muc fixed domain for two hosts", "[[host]]\ndomain = \"a.example\"\n[[host]]\ndomain = \"b.example\"\n[muc]\ndomain = \"chat.example\"\n", "muc.domain", 6, 0, "one domain for 2 hosts"},
	{"muc domain is a host", "[[host]]\ndomain = \"a.example\"\n[[host]]\ndomain = \"chat.a.example\"\n[muc]\ndomain = \"chat.{host}\"\n", "muc.domain", 6, 0, "the domain of host[1]"},
	{"muc domain is a component", "[[component]]\ndomain = \"conference.localhost\"\nsecret = \"s\"\n", "muc.domain", 0, 0, "the domain of component[0]"},
	{"muc domain is the proxy", "[muc]\ndomain = \"proxy.{host}\"\n", "muc.domain", 2, 0, "bytestream proxy"},
	{"muc history", "[muc]\nhistory_default = 500\n", "muc.history_default", 2, 0, "history_max"},
	{"muc occupants", "[muc]\nmax_occupants = 0\n", "muc.max_occupants", 2, 0, "must be positive"},
	{"muc retention", "[muc]\narchive_retention = \"0s\"\n", "muc.archive_retention", 2, 0, "bounded time"},
	{"pubsub invalid domain", "[pubsub]\ndomain = \"ps_{host}\"\n", "pubsub.domain", 2, 0, "invalid domain"},
	{"pubsub fixed domain for two hosts", "[[host]]\ndomain = \"a.example\"\n[[host]]\ndomain = \"b.example\"\n[pubsub]\ndomain = \"ps.example\"\n", "pubsub.domain", 6, 0, "one domain for 2 hosts"},
	{"pubsub domain is a host", "[[host]]\ndomain = \"a.example\"\n[[host]]\ndomain = \"ps.a.example\"\n[pubsub]\ndomain = \"ps.{host}\"\n", "pubsub.domain", 6, 0, "the domain of host[1]"},
	{"pubsub domain is a component", "[[component]]\ndomain = \"pubsub.localhost\"\nsecret = \"s\"\n", "pubsub.domain", 0, 0, "the domain of component[0]"},
	{"pubsub domain is the proxy", "[pubsub]\ndomain = \"proxy.{host}\"\n", "pubsub.domain", 2, 0, "bytestream proxy"},
	{"pubsub domain is the muc", "[pubsub]\ndomain = \"conference.{host}\"\n", "pubsub.domain", 2, 0, "its group chat domain"},
	{"pubsub create", "[pubsub]\ncreate = \"everyone\"\n", "pubsub.create", 2, 0, "must be"},
	{"pubsub items", "[pubsub]\nmax_items = 0\n", "pubsub.max_items", 2, 0, "must be positive"},
	{"pubsub user nodes", "[pubsub]\nmax_user_nodes = -1\n", "pubsub.max_user_nodes", 2, 0, "must be positive"},
	{"pubsub subscriptions", "[pubsub]\nmax_subscriptions = 0\n", "pubsub.max_subscriptions", 2, 0, "must be positive"},
	{"web http not loopback", "[web]\nhttp = [\"0.0.0.0:5280\"]\n", "web.http[0]", 2, 0, "not a loopback address"},
	{"web address twice", "[web]\nhttps = [\"127.0.0.1:5222\"]\n", "web.https[0]", 2, 0, "already used by listen.c2s[0]"},
	{"web public url", "[web]\npublic_url = \"chat.example.org\"\n", "web.public_url", 2, 0, "invalid URL"},
	{"web origin", "[web]\nallowed_origins = [\"https://app.example.org/page\"]\n", "web.allowed_origins[0]", 2, 0, "invalid origin"},
	{"upload without web", "[web]\nhttps = []\n", "upload.enabled", 0, 0, "needs a [web] listener"},
	{"upload quota", "[upload]\nquota = 10\n", "upload.quota", 2, 0, "less than max_file_size"},
	{"upload retention", "[upload]\nretention = \"0s\"\n", "upload.retention", 2, 0, "must be positive"},
	{"contact not a URI", "[[host]]\ndomain = \"a.example\"\ncontact = { abuse = [\"abuse@example.org\"] }\n", "host[0].contact.abuse[0]", 3, 22, "want a URI"},
	{"contact multi-line", "[[host]]\ndomain = \"a.example\"\n[host.contact]\nadmin = [\n  \"xmpp:admin@a.example\",\n  \"admin\",\n]\n", "host[0].contact.admin[1]", 6, 3, "want a URI"},
}

func TestMistakes(t *testing.T) {
	for _, m := range mistakes {
		t.Run(m.name, func(t *testing.T) {
			_, err := Parse([]byte(m.doc), "samtal.toml")
			var ps *Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Parse(%q) = %v, want *Problems", m.doc, err)
			}
			p, ok := findProblem(*ps, m.key)
			if !ok {
				t.Fatalf("Parse(%q) = %v, want a problem with key %q", m.doc, *ps, m.key)
			}
			if p.File != "samtal.toml" || p.Line != m.line || m.col != 0 && p.Col != m.col {
				t.Errorf("Parse(%q): %v at %s:%d:%d, want samtal.toml:%d:%d", m.doc, p, p.File, p.Line, p.Col, m.line, m.col)
			}
			if !strings.Contains(p.Msg, m.msg) {
				t.Errorf("Parse(%q): %v, want message with %q", m.doc, p, m.msg)
			}
		})
	}
}

func findProblem(ps Problems, key string) (Problem, bool) {
	for _, p := range ps {
		if p.Key == key {
			return p, true
		}
	}
	return Problem{}, false
}

// TestStorageSecret checks that a storage value, which may hold a
// password, is not repeated in problems.
func TestStorageSecret(t *testing.T) {
	for _, s := range []string{"mysql://u:hunter2@db/x", "postgres://u:hunter2@[db/x", "postgresql://u:hunter2@db:port/x"} {
		_, err := Parse([]byte("storage = \""+s+"\"\n"), "samtal.toml")
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Parse(storage = %q) = %v, want an error without the password", s, err)
		}
	}
}

// TestAllMistakes checks that every mistake of a file is reported, in the
// order of the file: decoding goes on after a value of the wrong type,
// and validation runs on what was decoded.
func TestAllMistakes(t *testing.T) {
	doc := `log_level = "info"
hide_versions = true
[limits]
read_rate = 0
max_depth = "deep"
auth_timeout = 30
[[host]]
domain = "Example.org"
`
	_, err := Parse([]byte(doc), "samtal.toml")
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Parse = %v, want *Problems", err)
	}
	var got []string
	for _, p := range *ps {
		got = append(got, p.String())
	}
	want := []string{
		`samtal.toml:2:1: hide_versions: unknown key (did you mean "hide_version"?)`,
		`samtal.toml:4:1: limits.read_rate: must be positive`,
		`samtal.toml:5:13: limits.max_depth: wrong type: got string, want integer`,
		`samtal.toml:6:16: limits.auth_timeout: wrong type: got integer, want a duration such as "90s", "5m" or "30d"`,
		`samtal.toml:8:1: host[0].domain: invalid domain "Example.org": want lowercase letters, digits and hyphens in dot-separated labels of 1 to 63 characters`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Parse problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s, w := ps.Error(), want[0]+" (and 4 more)"; s != w {
		t.Errorf("Error() = %q, want %q", s, w)
	}
}

func TestThreeMistakes(t *testing.T) {
	doc := "[listen]\nadmin = \"192.0.2.1:5280\"\n\n[[host]]\ndomain = \"a.example\"\ncert = \"a.pem\"\n\n[limits]\nread_rate = 0\n"
	_, err := Parse([]byte(doc), "samtal.toml")
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Parse = %v, want *Problems", err)
	}
	want := []Problem{
		{File: "samtal.toml", Line: 2, Col: 1, Key: "listen.admin"},
		{File: "samtal.toml", Line: 6, Col: 1, Key: "host[0].cert"},
		{File: "samtal.toml", Line: 9, Col: 1, Key: "limits.read_rate"},
	}
	if len(*ps) != len(want) {
		t.Fatalf("Parse = %d problems %v, want %d", len(*ps), *ps, len(want))
	}
	for i, p := range *ps {
		p.Msg = ""
		if p != want[i] {
			t.Errorf("problem %d = %+v, want %+v", i, p, want[i])
		}
	}
}

func TestGoodFiles(t *testing.T) {
	cert, key := writeKeyPair(t)
	docs := []string{
		"[listen]\nadmin = \"0.0.0.0:5280\"\nadmin_public = true\n",
		"[listen]\nc2s = [\"127.0.0.1:5222\", \"[::1]:5222\", \"localhost:5224\"]\nallow_plaintext = true\n",
		"[listen]\nc2s = [\":5222\"]\nc2s_tls = [\":5223\"]\nadmin = \"\"\n",
		"[[host]]\ndomain = \"bücher.example\"\n[[host]]\ndomain = \"xn--bcher-kva.example\"\n",
		"[[host]]\ndomain = \"a.example\"\ncert = " + strconv.Quote(cert) + "\nkey = " + strconv.Quote(key) + "\n",
		"storage = \"sqlite:/var/lib/samtal/samtal.db\"\nregistration = \"open\"\nresource_conflict = \"reject\"\n",
		"[retention]\noffline = \"1d12h\"\n[limits]\nidle_timeout = \"90s\"\n",
		"[archive]\nenabled = false\nretention = \"30d\"\ndefault = \"roster\"\nmax_page = 50\n[push]\nenabled = false\ncount = true\n",
		"# comment only\n\n",
		"[[host]]\ndomain = \"a.example\"\nadmins = [\"alice@a.example\", \"bob@a.example\"]\n",
	}
	for _, doc := range docs {
		if _, err := Parse([]byte(doc), "samtal.toml"); err != nil {
			t.Errorf("Parse(%q) = %v, want nil", doc, err)
		}
	}
}

// writeKeyPair writes a self-signed certificate and its key as PEM files,
// and returns their paths.
func writeKeyPair(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "a.example"},
		DNSNames:     []string{"a.example"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestMismatchedKeyPair(t *testing.T) {
	cert, _ := writeKeyPair(t)
	_, key := writeKeyPair(t)
	doc := "[[host]]\ndomain = \"a.example\"\ncert = " + strconv.Quote(cert) + "\nkey = " + strconv.Quote(key) + "\n"
	_, err := Parse([]byte(doc), "samtal.toml")
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Parse = %v, want *Problems", err)
	}
	if p, ok := findProblem(*ps, "host[0].cert"); !ok || p.Line != 3 || !strings.Contains(p.Msg, "does not match") {
		t.Errorf("Parse = %v, want host[0].cert at line 3: private key does not match", *ps)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samtal.toml")
	_, err := Load(path)
	var ps *Problems
	if !errors.As(err, &ps) || len(*ps) != 1 {
		t.Fatalf("Load(%q) = %v, want one problem", path, err)
	}
	if got, want := (*ps)[0].String(), path+": cannot read: no such file or directory"; got != want {
		t.Errorf("Load(%q) = %q, want %q", path, got, want)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "samtal.toml", Line: 12, Col: 1, Key: "limits.read_rate", Msg: "must be positive"}, "samtal.toml:12:1: limits.read_rate: must be positive"},
		{Problem{File: "samtal.toml", Key: "host[0].domain", Msg: "invalid"}, "samtal.toml: host[0].domain: invalid"},
		{Problem{File: "samtal.toml", Line: 3, Msg: "invalid TOML"}, "samtal.toml:3: invalid TOML"},
		{Problem{Key: "log_level", Msg: "unknown"}, "log_level: unknown"},
	}
	for _, tc := range tests {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.p, got, tc.want)
		}
	}
	ps := &Problems{tests[0].p}
	if got, want := ps.Error(), tests[0].want; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestOverridesApply(t *testing.T) {
	yes := true
	doc := "[listen]\nc2s = [\"127.0.0.1:5222\"]\n\n[[host]]\ndomain = \"a.example\"\nregistration = \"open\"\n[[host]]\ndomain = \"b.example\"\n"
	c, err := Parse([]byte(doc), "samtal.toml")
	if err != nil {
		t.Fatal(err)
	}
	Overrides{
		Domain:         "chat.example",
		DataDir:        "/var/lib/samtal",
		Registration:   "invite",
		LogLevel:       "debug",
		C2S:            []string{"127.0.0.1:15222", "[::1]:15222"},
		C2STLS:         []string{},
		Admin:          "127.0.0.1:15280",
		AllowPlaintext: &yes,
	}.Apply(&c)
	want := Default()
	want.Hosts = []Host{{Domain: "chat.example"}}
	want.DataDir = "/var/lib/samtal"
	want.Registration = PolicyInvite
	want.LogLevel = "debug"
	want.Listen.C2S = []string{"127.0.0.1:15222", "[::1]:15222"}
	want.Listen.C2STLS = nil
	want.Listen.Admin = "127.0.0.1:15280"
	want.Listen.AllowPlaintext = true
	if !equalConfig(c, want) {
		t.Errorf("Apply = %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after Apply = %v, want nil", err)
	}

	// Empty overrides change nothing.
	d := Default()
	Overrides{}.Apply(&d)
	if !equalConfig(d, Default()) {
		t.Errorf("Overrides{}.Apply = %+v, want Default()", d)
	}
}

// TestOverridesProblems checks that a problem with an overridden value
// blames the command line, not the file's line of the key it replaced.
func TestOverridesProblems(t *testing.T) {
	doc := "log_level = \"info\"\n[[host]]\ndomain = \"a.example\"\n[limits]\nread_rate = 0\n"
	c, err := Parse([]byte(doc), "samtal.toml")
	if err == nil {
		t.Fatal("Parse = nil, want read_rate problem")
	}
	Overrides{Domain: "Bad_Domain", LogLevel: "loud"}.Apply(&c)
	var ps *Problems
	if !errors.As(c.Validate(), &ps) {
		t.Fatalf("Validate = nil, want problems")
	}
	want := []string{
		"samtal.toml:5:1: limits.read_rate: must be positive",
		`command line: log_level: unknown log level "loud": want "debug", "info", "warn" or "error"`,
		`command line: host[0].domain: invalid domain "Bad_Domain": want lowercase letters, digits and hyphens in dot-separated labels of 1 to 63 characters`,
	}
	var got []string
	for _, p := range *ps {
		got = append(got, p.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("Validate problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestHostLookup(t *testing.T) {
	c := Default()
	c.Hosts = append(c.Hosts, Host{Domain: "a.example", Registration: PolicyOpen})
	if h, ok := c.Host("a.example"); !ok || h.Domain != "a.example" {
		t.Errorf("Host(a.example) = %v, %v, want a.example, true", h, ok)
	}
	if _, ok := c.Host("b.example"); ok {
		t.Errorf("Host(b.example) = _, true, want false")
	}
	h, _ := c.Host("localhost")
	if got := h.Policy(PolicyInvite); got != PolicyInvite {
		t.Errorf("Host{}.Policy(invite) = %q, want invite", got)
	}
	h, _ = c.Host("a.example")
	if got := h.Policy(PolicyClosed); got != PolicyOpen {
		t.Errorf("Host{open}.Policy(closed) = %q, want open", got)
	}
}

func TestStoragePath(t *testing.T) {
	tests := []struct {
		storage, dataDir, want string
	}{
		{"", "./samtal-data", filepath.Join("samtal-data", "samtal.db")},
		{"", "/var/lib/samtal", "/var/lib/samtal/samtal.db"},
		{"sqlite:/srv/chat.db", "/var/lib/samtal", "/srv/chat.db"},
		{"sqlite:chat.db", "/var/lib/samtal", "chat.db"},
		{"postgres://db/samtal", "/var/lib/samtal", ""},
	}
	for _, tc := range tests {
		c := Default()
		c.Storage, c.DataDir = tc.storage, tc.dataDir
		if got := c.StoragePath(); got != tc.want {
			t.Errorf("StoragePath(%q, %q) = %q, want %q", tc.storage, tc.dataDir, got, tc.want)
		}
	}
}

func TestStorageURL(t *testing.T) {
	for _, tc := range []struct{ storage, want string }{
		{"", ""},
		{"sqlite:/srv/chat.db", ""},
		{"postgres://samtal@db.example/samtal?sslmode=verify-full", "postgres://samtal@db.example/samtal?sslmode=verify-full"},
		{"postgresql:///samtal?host=/run/postgresql", "postgresql:///samtal?host=/run/postgresql"},
	} {
		c := Default()
		c.Storage = tc.storage
		if got := c.StorageURL(); got != tc.want {
			t.Errorf("StorageURL(%q) = %q, want %q", tc.storage, got, tc.want)
		}
		if tc.want != "" {
			if err := c.Validate(); err != nil {
				t.Errorf("Validate(storage = %q) = %v, want no problem", tc.storage, err)
			}
		}
	}
}

func TestDomain(t *testing.T) {
	tests := []struct {
		domain string
		want   bool
	}{
		{"localhost", true},
		{"example.org", true},
		{"chat-1.example.org", true},
		{"bücher.example", true},
		{"пример.рф", true},
		{"例子.测试", true},
		{strings.Repeat("a", 63) + ".example", true},
		{"", false},
		{"Example.org", false},
		{"Bücher.example", false},
		{"bÜcher.example", false},
		{"example.org.", false},
		{".example.org", false},
		{"exa mple.org", false},
		{"exa_mple.org", false},
		{"example-.org", false},
		{"user@example.org", false},
		{strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("a.", 127) + "example", false},
		{"\xff.example", false},
	}
	for _, tc := range tests {
		if got := validDomain(tc.domain); got != tc.want {
			t.Errorf("validDomain(%q) = %v, want %v", tc.domain, got, tc.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"5m", 5 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"30d", 30 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"0", 0, true},
		{"-1d", -24 * time.Hour, true},
		{"", 0, false},
		{"5", 0, false},
		{"d", 0, false},
		{"5x", 0, false},
		{"1d-2h", 0, false},
		{"1e3d", 0, false},
		{"NaNd", 0, false},
		{"1dd", 0, false},
		{"999999999999d", 0, false},
		{"30 days", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || time.Duration(got) != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v, want %v, ok %v", tc.in, time.Duration(got), err, tc.want, tc.ok)
		}
	}
	for _, d := range []Duration{Duration(30 * 24 * time.Hour), Duration(36 * time.Hour), Duration(90 * time.Second), 0, Duration(time.Nanosecond)} {
		s := d.String()
		if back, err := ParseDuration(s); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v, want %v", s, back, err, d)
		}
	}
	if got := Duration(30 * 24 * time.Hour).String(); got != "30d" {
		t.Errorf("String() = %q, want 30d", got)
	}
}
