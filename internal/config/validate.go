package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"samtal.org/samtal/internal/dns"
	"samtal.org/samtal/internal/jid"
)

// MinSCRAMIterations is the least PBKDF2 iteration count for SCRAM keys
// (RFC 7677 §4 recommends at least 4096).
const MinSCRAMIterations = 4096

// Validate returns a *Problems listing every problem of c, nil if there is
// none. Problems with keys from a file carry its name and, best effort, the
// line and column of the key.
func (c Config) Validate() error {
	var ps Problems
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		ps.add("log_level", `unknown log level %q: want "debug", "info", "warn" or "error"`, c.LogLevel)
	}
	if c.DataDir == "" {
		ps.add("data_dir", "must not be empty")
	}
	ps.section("storage", validateStorage(c.Storage))
	if !c.Registration.valid() {
		ps.add("registration", "unknown policy %q: want %q, %q or %q", c.Registration, PolicyClosed, PolicyInvite, PolicyOpen)
	}
	if c.SCRAMIterations < MinSCRAMIterations {
		ps.add("scram_iterations", "must be at least %d", MinSCRAMIterations)
	}
	switch c.ResourceConflict {
	case ConflictReplace, ConflictReject:
	default:
		ps.add("resource_conflict", "unknown value %q: want %q or %q", c.ResourceConflict, ConflictReplace, ConflictReject)
	}

	ps.section("listen", c.Listen.Validate())

	if len(c.Hosts) == 0 {
		ps.add("host", "at least one [[host]] is needed")
	}
	hosts := make(map[string]int)
	for i, h := range c.Hosts {
		key := fmt.Sprintf("host[%d]", i)
		ps.section(key, h.Validate())
		if j, ok := hosts[h.Domain]; ok && h.Domain != "" {
			ps.add(key+".domain", "duplicate domain %q, also in host[%d]", h.Domain, j)
			continue
		}
		hosts[h.Domain] = i
	}
	components := make(map[string]int)
	for i, cp := range c.Components {
		key := fmt.Sprintf("component[%d]", i)
		ps.section(key, cp.Validate())
		if j, ok := hosts[cp.Domain]; ok && cp.Domain != "" {
			ps.add(key+".domain", "%q is the domain of host[%d]", cp.Domain, j)
			continue
		}
		if j, ok := components[cp.Domain]; ok && cp.Domain != "" {
			ps.add(key+".domain", "duplicate domain %q, also in component[%d]", cp.Domain, j)
			continue
		}
		components[cp.Domain] = i
	}

	if c.Bytestreams.Enabled {
		for i, h := range c.Hosts {
			proxy := ProxyPrefix + h.Domain
			if j, ok := hosts[proxy]; ok {
				ps.add(fmt.Sprintf("host[%d].domain", j), "%q is the bytestream proxy of host[%d]; disable [bytestreams] or rename the host", proxy, i)
			}
			if j, ok := components[proxy]; ok {
				ps.add(fmt.Sprintf("component[%d].domain", j), "%q is the bytestream proxy of host[%d]; disable [bytestreams] or rename the component", proxy, i)
			}
		}
	}

	ps.section("s2s", c.S2S.Validate())
	if !c.S2S.Enabled && len(c.Listen.S2S)+len(c.Listen.S2STLS) > 0 {
		ps.add("listen.s2s", "server-to-server listeners need s2s.enabled = true")
	}
	ps.section("limits", c.Limits.Validate())
	ps.section("stream", c.Stream.Validate())
	ps.section("retention", c.Retention.Validate())
	ps.section("archive", c.Archive.Validate())
	ps.section("push", c.Push.Validate())
	ps.section("turn", c.Turn.Validate())
	ps.section("bytestreams", c.Bytestreams.Validate())
	ps.section("muc", c.MUC.Validate())
	ps.section("cluster", c.Cluster.Validate())
	ps.section("irc", c.IRC.Validate())
	ps.section("pubsub", c.Pubsub.Validate())
	c.checkServiceDomain(&ps, "muc.domain", "group chat", c.MUC.Domain, c.MUCDomain, hosts, components)
	c.checkServiceDomain(&ps, "pubsub.domain", "pubsub", c.Pubsub.Domain, c.PubsubDomain, hosts, components)
	for i, h := range c.Hosts {
		if d := c.PubsubDomain(h.Domain); d != "" && validDomain(h.Domain) && d == c.MUCDomain(h.Domain) {
			ps.add("pubsub.domain", "the pubsub domain of host[%d] is %q, its group chat domain", i, d)
		}
	}
	ps.section("web", c.Web.Validate())
	ps.section("upload", c.Upload.Validate())
	c.checkWebAddrs(&ps)
	if c.Upload.Enabled && len(c.Web.HTTPS) == 0 && len(c.Web.HTTP) == 0 {
		ps.add("upload.enabled", "the upload service needs a [web] listener (web.https or web.http)")
	}
	if c.Upload.Enabled {
		for i, cp := range c.Components {
			for _, h := range c.Hosts {
				if cp.Domain == "upload."+h.Domain {
					ps.add(fmt.Sprintf("component[%d].domain", i), "%q is the upload service of host %q; turn [upload] off or choose another domain", cp.Domain, h.Domain)
				}
			}
		}
	}

	for i := range ps {
		ps[i] = c.src.locate(ps[i])
	}
	ps.sortByPosition()
	return ps.err()
}

// validateStorage checks Config.Storage. It never repeats the value, which
// may hold a password.
func validateStorage(s string) error {
	switch {
	case s == "":
		return nil
	case strings.HasPrefix(s, sqlitePrefix):
		if strings.TrimPrefix(s, sqlitePrefix) == "" {
			return errors.New(`"sqlite:" needs a path, "sqlite:/var/lib/samtal/samtal.db"`)
		}
		return nil
	case IsPostgresURL(s):
		// url.Parse's error would quote the URL.
		if _, err := url.Parse(s); err != nil {
			return errors.New("the PostgreSQL URL does not parse (it is not shown, as it may hold a password)")
		}
		return nil
	}
	return errors.New(`unknown storage: want "" for SQLite in data_dir, "sqlite:PATH", or "postgres://..." for PostgreSQL`)
}

// Validate returns a *Problems listing every problem of the [listen]
// section, nil if there is none.
func (l Listen) Validate() error {
	var ps Problems
	type bound struct {
		key  string
		host string // "" for every interface
		port int
	}
	var all []bound
	check := func(key, addr string) (loopback bool) {
		host, port, err := splitAddr(addr)
		if err != nil {
			ps.add(key, "%v", err)
			return true // reported already
		}
		if isWildcard(host) {
			host = ""
		}
		for _, b := range all {
			if b.port == port && (b.host == host || b.host == "" || host == "") {
				ps.add(key, "address %s is already used by listen.%s", addr, b.key)
				break
			}
		}
		all = append(all, bound{key, host, port})
		return isLoopback(host)
	}
	for i, a := range l.C2S {
		key := fmt.Sprintf("c2s[%d]", i)
		if !check(key, a) && l.AllowPlaintext {
			ps.add("allow_plaintext", "plaintext is only for loopback, and listen.%s is %s", key, a)
		}
	}
	for i, a := range l.C2STLS {
		check(fmt.Sprintf("c2s_tls[%d]", i), a)
	}
	for i, a := range l.S2S {
		check(fmt.Sprintf("s2s[%d]", i), a)
	}
	for i, a := range l.S2STLS {
		check(fmt.Sprintf("s2s_tls[%d]", i), a)
	}
	for i, a := range l.Component {
		check(fmt.Sprintf("component[%d]", i), a)
	}
	if l.Admin != "" && !check("admin", l.Admin) && !l.AdminPublic {
		ps.add("admin", "%s is not a loopback address; set admin_public = true to serve metrics on it", l.Admin)
	}
	return ps.err()
}

// splitAddr splits a listen address "host:port". The host must be an IP
// address, "localhost", or empty for every interface: a listener on a
// name that resolves to several addresses would bind only one of them.
func splitAddr(addr string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("invalid address %q: want host:port", addr)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("invalid port in %q: want 1 to 65535", addr)
	}
	if host == "" || host == "localhost" {
		return host, port, nil
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return "", 0, fmt.Errorf("invalid host in %q: want an IP address, localhost, or none for every interface", addr)
	}
	return host, port, nil
}

func isWildcard(host string) bool {
	a, err := netip.ParseAddr(host)
	return host == "" || err == nil && a.IsUnspecified()
}

func isLoopback(host string) bool {
	a, err := netip.ParseAddr(host)
	return host == "localhost" || err == nil && a.IsLoopback()
}

// Validate returns a *Problems listing every problem of the host, nil if
// there is none. It reads the certificate and key files.
func (h Host) Validate() error {
	var ps Problems
	if !validDomain(h.Domain) {
		ps.add("domain", "invalid domain %q: want lowercase letters, digits and hyphens in dot-separated labels of 1 to 63 characters", h.Domain)
	}
	if h.Registration != "" && !h.Registration.valid() {
		ps.add("registration", "unknown policy %q: want %q, %q, %q, or \"\" for the default", h.Registration, PolicyClosed, PolicyInvite, PolicyOpen)
	}
	switch {
	case h.Cert != "" && h.Key == "":
		ps.add("cert", "set without key: give both, or neither for a self-signed certificate")
	case h.Cert == "" && h.Key != "":
		ps.add("key", "set without cert: give both, or neither for a self-signed certificate")
	case h.Cert != "":
		certOK := checkFile(&ps, "cert", h.Cert)
		keyOK := checkFile(&ps, "key", h.Key)
		if certOK && keyOK {
			if _, err := tls.LoadX509KeyPair(h.Cert, h.Key); err != nil {
				ps.add("cert", "cannot load %s with key %s: %v", h.Cert, h.Key, strings.TrimPrefix(err.Error(), "tls: "))
			}
		}
	}
	ps.section("contact", h.Contact.Validate())
	for i, a := range h.Admins {
		j, err := jid.Parse(a)
		switch {
		case err != nil:
			ps.add(fmt.Sprintf("admins[%d]", i), "%q is not a JID: %v", a, err)
		case j.Local() == "" || j.IsFull() || j.Domain() != h.Domain:
			ps.add(fmt.Sprintf("admins[%d]", i), "%q is not an account of %s (want name@%s)", a, h.Domain, h.Domain)
		case j.String() != a:
			ps.add(fmt.Sprintf("admins[%d]", i), "write %q as %q, its normalized form", a, j.String())
		}
	}
	return ps.err()
}

// checkFile reports whether path is a regular file, adding a problem if it
// is not. Anything else (a device, a pipe) could block the reading.
func checkFile(ps *Problems, key, path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		ps.add(key, "%s: %v", path, err)
		return false
	}
	if !fi.Mode().IsRegular() {
		ps.add(key, "%s is not a regular file", path)
		return false
	}
	return true
}

// validDomain reports whether s is a domain samtal can serve: dot-separated
// labels of 1 to 63 characters that are lowercase letters, digits and
// hyphens (not first or last). Letters may be Unicode, for IDNs in their
// Unicode form. It is not a full IDNA check.
func validDomain(s string) bool {
	if s == "" || len(s) > 253 || !utf8.ValidString(s) {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if n := utf8.RuneCountInString(label); n < 1 || n > 63 {
			return false
		}
		if strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			case r < utf8.RuneSelf:
				return false
			case unicode.IsUpper(r) || unicode.IsTitle(r):
				return false
			case unicode.IsLetter(r), unicode.IsDigit(r), unicode.IsMark(r):
			default:
				return false
			}
		}
	}
	return true
}

// Validate returns a *Problems listing every address that is not a URI,
// nil if there is none.
func (c Contact) Validate() error {
	var ps Problems
	lists := []struct {
		key   string
		addrs []string
	}{
		{"abuse", c.Abuse}, {"admin", c.Admin}, {"feedback", c.Feedback},
		{"sales", c.Sales}, {"security", c.Security}, {"status", c.Status},
		{"support", c.Support},
	}
	for _, l := range lists {
		for i, a := range l.addrs {
			u, err := url.Parse(a)
			if err != nil || u.Scheme == "" || u.Opaque == "" && u.Host == "" && u.Path == "" {
				ps.add(fmt.Sprintf("%s[%d]", l.key, i), "invalid address %q: want a URI such as \"mailto:abuse@example.org\" or \"xmpp:admin@example.org\"", a)
			}
		}
	}
	return ps.err()
}

// Validate returns a *Problems listing every problem of the component,
// nil if there is none.
func (c Component) Validate() error {
	var ps Problems
	if !validDomain(c.Domain) {
		ps.add("domain", "invalid domain %q: want lowercase letters, digits and hyphens in dot-separated labels of 1 to 63 characters", c.Domain)
	}
	if c.Secret == "" {
		ps.add("secret", "must be set: the component authenticates with it")
	}
	return ps.err()
}

// Validate returns a *Problems listing every problem of the [limits]
// section, nil if there is none.
func (l Limits) Validate() error {
	var ps Problems
	ints := []struct {
		key string
		v   int
	}{
		{"max_stanza_bytes", l.MaxStanzaBytes},
		{"max_depth", l.MaxDepth},
		{"read_rate", l.ReadRate},
		{"read_burst", l.ReadBurst},
		{"stanza_rate", l.StanzaRate},
		{"sessions_per_account", l.SessionsPerAccount},
		{"unauth_per_ip", l.UnauthPerIP},
		{"unauth_total", l.UnauthTotal},
		{"auth_failures_per_ip", l.AuthFailuresPerIP},
		{"auth_failures_per_account", l.AuthFailuresPerAccount},
		{"roster_items", l.RosterItems},
		{"offline_messages", l.OfflineMessages},
		{"vcard_bytes", l.VCardBytes},
		{"private_bytes", l.PrivateBytes},
		{"private_namespaces", l.PrivateNamespaces},
		{"pep_nodes", l.PEPNodes},
		{"pep_items", l.PEPItems},
		{"pep_item_bytes", l.PEPItemBytes},
		{"pep_subscribers", l.PEPSubscribers},
		{"pep_subscriptions", l.PEPSubscriptions},
		{"out_queue_bytes", l.OutQueueBytes},
	}
	for _, f := range ints {
		if f.v <= 0 {
			ps.add(f.key, "must be positive")
		}
	}
	if l.AuthTimeout <= 0 {
		ps.add("auth_timeout", "must be positive")
	}
	if l.IdleTimeout <= 0 {
		ps.add("idle_timeout", "must be positive")
	}
	if l.UnauthPerIP > l.UnauthTotal && l.UnauthTotal > 0 {
		ps.add("unauth_per_ip", "is more than unauth_total (%d)", l.UnauthTotal)
	}
	if l.OutQueueBytes < l.MaxStanzaBytes && l.OutQueueBytes > 0 {
		ps.add("out_queue_bytes", "is less than max_stanza_bytes (%d): one stanza would not fit", l.MaxStanzaBytes)
	}
	return ps.err()
}

// Validate returns a *Problems listing every problem of the [stream]
// section, nil if there is none.
func (st Stream) Validate() error {
	var ps Problems
	if st.ResumeWindow < 0 {
		ps.add("resume_window", "must not be negative")
	}
	for _, f := range []struct {
		key string
		v   int
	}{
		{"max_unacked", st.MaxUnacked},
		{"max_unacked_bytes", st.MaxUnackedBytes},
		{"ack_every", st.AckEvery},
		{"csi_buffer", st.CSIBuffer},
	} {
		if f.v <= 0 {
			ps.add(f.key, "must be positive")
		}
	}
	if st.AckEvery > st.MaxUnacked && st.MaxUnacked > 0 {
		ps.add("ack_every", "is more than max_unacked (%d)", st.MaxUnacked)
	}
	if st.AckDelay <= 0 {
		ps.add("ack_delay", "must be positive")
	}
	if st.FASTTokenLifetime <= 0 {
		ps.add("fast_token_lifetime", "must be positive")
	}
	if st.Location != "" {
		host, port, err := net.SplitHostPort(st.Location)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			ps.add("location", "%q is not host:port", st.Location)
		}
	}
	return ps.err()
}

func validPolicy(p string) bool {
	return p == PolicyDialback || p == PolicyVerify || p == PolicyDeny
}

// Validate returns a *Problems listing every problem of the [s2s]
// section, nil if there is none. It reads the CA file.
func (s S2S) Validate() error {
	var ps Problems
	if !validPolicy(s.Policy) {
		ps.add("policy", "unknown policy %q: want %q, %q or %q", s.Policy, PolicyDialback, PolicyVerify, PolicyDeny)
	}
	seen := make(map[string]int)
	for i, p := range s.Peers {
		key := fmt.Sprintf("peer[%d]", i)
		if !validDomain(p.Domain) {
			ps.add(key+".domain", "invalid domain %q", p.Domain)
		} else if j, ok := seen[p.Domain]; ok {
			ps.add(key+".domain", "duplicate domain %q, also in peer[%d]", p.Domain, j)
		}
		seen[p.Domain] = i
		if !validPolicy(p.Policy) {
			ps.add(key+".policy", "unknown policy %q: want %q, %q or %q", p.Policy, PolicyDialback, PolicyVerify, PolicyDeny)
		}
	}
	if s.CAFile != "" && checkFile(&ps, "ca_file", s.CAFile) {
		if data, err := os.ReadFile(s.CAFile); err != nil {
			ps.add("ca_file", "%s: %v", s.CAFile, err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(data) {
			ps.add("ca_file", "%s has no PEM certificate", s.CAFile)
		}
	}
	if s.ConnectTimeout <= 0 {
		ps.add("connect_timeout", "must be positive")
	}
	if s.IdleTimeout <= 0 {
		ps.add("idle_timeout", "must be positive")
	}
	if s.QueueLength <= 0 {
		ps.add("queue_length", "must be positive")
	}
	if s.MaxConnectionsPerDomain <= 0 {
		ps.add("max_connections_per_domain", "must be positive")
	}
	ps.section("resolver", s.Resolver.Validate())
	return ps.err()
}

// Validate returns a *Problems listing every problem of the
// [s2s.resolver] section, nil if there is none.
func (r Resolver) Validate() error {
	var ps Problems
	if r.Nameserver != "" {
		if _, _, err := splitAddr(r.Nameserver); err != nil {
			ps.add("nameserver", "%v", err)
		}
	}
	for h, addrs := range r.Hosts {
		for i, a := range addrs {
			if _, err := netip.ParseAddr(a); err != nil {
				ps.add(fmt.Sprintf("hosts.%s[%d]", h, i), "%q is not an IP address", a)
			}
		}
	}
	for name, recs := range r.SRV {
		if !strings.HasPrefix(name, "_") || strings.Count(name, ".") < 2 {
			ps.add("srv."+name, "%q is not an SRV name such as \"_xmpp-server._tcp.example.org\"", name)
		}
		for i, rec := range recs {
			if _, err := dns.ParseSRV(rec); err != nil {
				ps.add(fmt.Sprintf("srv.%s[%d]", name, i), "%v", err)
			}
		}
	}
	return ps.err()
}

// Validate returns a *Problems listing every problem of the [retention]
// section, nil if there is none.
func (r Retention) Validate() error {
	var ps Problems
	if r.Offline <= 0 {
		ps.add("offline", "must be positive")
	}
	return ps.err()
}

// MaxArchivePage bounds [archive] max_page: a page is sent as that many
// messages at once.
const MaxArchivePage = 1000

// Validate returns a *Problems listing every problem of the [archive]
// section, nil if there is none.
func (a Archive) Validate() error {
	var ps Problems
	if a.Retention <= 0 {
		ps.add("retention", "must be positive: the archive is kept for a limited time")
	}
	switch a.Default {
	case ArchiveAlways, ArchiveRoster, ArchiveNever:
	default:
		ps.add("default", "unknown policy %q: want %q, %q or %q", a.Default, ArchiveAlways, ArchiveRoster, ArchiveNever)
	}
	if a.MaxPage < 1 || a.MaxPage > MaxArchivePage {
		ps.add("max_page", "must be 1 to %d", MaxArchivePage)
	}
	return ps.err()
}

// Validate returns a *Problems listing every problem of the [push]
// section, nil if there is none.
func (p Push) Validate() error {
	var ps Problems
	if p.MaxServices < 1 || p.MaxServices > 100 {
		ps.add("max_services", "must be 1 to 100")
	}
	return ps.err()
}

// Validate returns a *Problems listing every problem of the [web]
// section, nil if there is none.
func (w Web) Validate() error {
	var ps Problems
	seen := make(map[string]string)
	check := func(key, addr string) (loopback bool) {
		host, port, err := splitAddr(addr)
		if err != nil {
			ps.add(key, "%v", err)
			return true
		}
		k := net.JoinHostPort(host, strconv.Itoa(port))
		if other, ok := seen[k]; ok {
			ps.add(key, "address %s is already used by web.%s", addr, other)
		}
		seen[k] = key
		return isLoopback(host)
	}
	for i, a := range w.HTTPS {
		check(fmt.Sprintf("https[%d]", i), a)
	}
	for i, a := range w.HTTP {
		key := fmt.Sprintf("http[%d]", i)
		if !check(key, a) {
			ps.add(key, "%s is not a loopback address: plain HTTP carries passwords in the clear; use https, or a reverse proxy with TLS on this machine", a)
		}
	}
	if w.PublicURL != "" {
		u, err := url.Parse(w.PublicURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
			ps.add("public_url", "invalid URL %q: want https://host[:port][/path]", w.PublicURL)
		}
	}
	for i, o := range w.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || strings.TrimSuffix(u.Path, "/") != "" {
			ps.add(fmt.Sprintf("allowed_origins[%d]", i), "invalid origin %q: want scheme://host[:port], e.g. \"https://app.example.org\"", o)
		}
	}
	return ps.err()
}

// Validate returns a *Problems listing every problem of the [muc]
// section, nil if there is none.
func (m MUC) Validate() error {
	var ps Problems
	if m.Domain != "" && !validDomain(strings.ReplaceAll(m.Domain, HostPlaceholder, "example.org")) {
		ps.add("domain", "invalid domain %q: want a domain such as \"conference.%s\", or \"\" to turn group chat off", m.Domain, HostPlaceholder)
	}
	ints := []struct {
		key string
		v   int
	}{
		{"max_rooms_per_user", m.MaxRoomsPerUser},
		{"default_occupants", m.DefaultOccupants},
		{"max_occupants", m.MaxOccupants},
		{"history_max", m.HistoryMax},
	}
	for _, f := range ints {
		if f.v <= 0 {
			ps.add(f.key, "must be positive")
		}
	}
	if m.HistoryDefault < 0 {
		ps.add("history_default", "must not be negative")
	} else if m.HistoryDefault > m.HistoryMax && m.HistoryMax > 0 {
		ps.add("history_default", "is more than history_max (%d)", m.HistoryMax)
	}
	if m.DefaultOccupants > m.MaxOccupants && m.MaxOccupants > 0 {
		ps.add("default_occupants", "is more than max_occupants (%d)", m.MaxOccupants)
	}
	if m.ArchiveRetention <= 0 {
		ps.add("archive_retention", "must be positive: room archives are kept for a bounded time")
	}
	if m.MaxPage < 1 || m.MaxPage > MaxArchivePage {
		ps.add("max_page", "must be 1 to %d", MaxArchivePage)
	}
	return ps.err()
}

// checkServiceDomain reports a service domain (pattern, of each host
// by domainOf) that is one domain for several hosts, or that is a host,
// a component or a bytestream proxy.
func (c Config) checkServiceDomain(ps *Problems, key, what, pattern string, domainOf func(string) string, hosts, components map[string]int) {
	if pattern != "" && !strings.Contains(pattern, HostPlaceholder) && len(c.Hosts) > 1 {
		ps.add(key, "%q is one domain for %d hosts: put %s in it, as in \"%s.%s\"",
			pattern, len(c.Hosts), HostPlaceholder, strings.Split(pattern, ".")[0], HostPlaceholder)
	}
	for i, h := range c.Hosts {
		d := domainOf(h.Domain)
		if d == "" || !validDomain(h.Domain) {
			continue
		}
		if j, ok := hosts[d]; ok {
			ps.add(key, "the %s domain of host[%d] is %q, the domain of host[%d]", what, i, d, j)
		}
		if j, ok := components[d]; ok {
			ps.add(key, "the %s domain of host[%d] is %q, the domain of component[%d]", what, i, d, j)
		}
		if c.Bytestreams.Enabled && d == ProxyPrefix+h.Domain {
			ps.add(key, "the %s domain of host[%d] is %q, its bytestream proxy", what, i, d)
		}
	}
}

// Validate returns a *Problems listing every problem of the [pubsub]
// section, nil if there is none.
func (p Pubsub) Validate() error {
	var ps Problems
	if p.Domain != "" && !validDomain(strings.ReplaceAll(p.Domain, HostPlaceholder, "example.org")) {
		ps.add("domain", "invalid domain %q: want a domain such as \"pubsub.%s\", or \"\" to turn the service off", p.Domain, HostPlaceholder)
	}
	if p.Create != CreateLocal && p.Create != CreateAdmins {
		ps.add("create", "must be %q or %q", CreateLocal, CreateAdmins)
	}
	for _, f := range []struct {
		key string
		v   int
	}{{"max_nodes", p.MaxNodes}, {"max_user_nodes", p.MaxUserNodes}, {"max_items", p.MaxItems}, {"max_item_bytes", p.MaxItemBytes}, {"max_subscriptions", p.MaxSubscriptions}} {
		if f.v <= 0 {
			ps.add(f.key, "must be positive")
		}
	}
	return ps.err()
}

// checkWebAddrs reports web listeners on an address a [listen] listener
// uses.
func (c Config) checkWebAddrs(ps *Problems) {
	used := make(map[string]string)
	add := func(key string, addrs ...string) {
		for i, a := range addrs {
			if h, p, err := splitAddr(a); err == nil {
				used[net.JoinHostPort(h, strconv.Itoa(p))] = fmt.Sprintf("%s[%d]", key, i)
			}
		}
	}
	add("listen.c2s", c.Listen.C2S...)
	add("listen.c2s_tls", c.Listen.C2STLS...)
	add("listen.component", c.Listen.Component...)
	add("listen.s2s", c.Listen.S2S...)
	add("listen.s2s_tls", c.Listen.S2STLS...)
	if c.Listen.Admin != "" {
		if h, p, err := splitAddr(c.Listen.Admin); err == nil {
			used[net.JoinHostPort(h, strconv.Itoa(p))] = "listen.admin"
		}
	}
	for _, l := range []struct {
		key   string
		addrs []string
	}{{"web.https", c.Web.HTTPS}, {"web.http", c.Web.HTTP}} {
		for i, a := range l.addrs {
			h, p, err := splitAddr(a)
			if err != nil {
				continue
			}
			if other, ok := used[net.JoinHostPort(h, strconv.Itoa(p))]; ok {
				ps.add(fmt.Sprintf("%s[%d]", l.key, i), "address %s is already used by %s", a, other)
			}
		}
	}
}

// Validate returns a *Problems listing every problem of the [upload]
// section, nil if there is none.
func (u Upload) Validate() error {
	var ps Problems
	if u.MaxFileSize <= 0 {
		ps.add("max_file_size", "must be positive")
	}
	if u.Quota < u.MaxFileSize {
		ps.add("quota", "is less than max_file_size (%d)", u.MaxFileSize)
	}
	if u.Retention <= 0 {
		ps.add("retention", "must be positive: uploaded files are not kept forever")
	}
	return ps.err()
}
