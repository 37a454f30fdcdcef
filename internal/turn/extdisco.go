package turn

import (
	"context"
	"strconv"
	"time"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// NS is the namespace of External Service Discovery (XEP-0215).
const NS = "urn:xmpp:extdisco:2"

// Service is one STUN or TURN service announced to clients.
type Service struct {
	// Type is "stun", "stuns", "turn" or "turns" (XEP-0215 §7.2).
	Type string
	// Host is where clients reach it; "" is the domain of the host they
	// asked.
	Host      string
	Port      int
	Transport string // "udp" or "tcp"
	Name      string
	// Secret, when set, gives clients time-limited credentials for the
	// service (see Credentials).
	Secret string
}

// DiscoveryConfig configures External Service Discovery.
type DiscoveryConfig struct {
	// Services are announced to every local user, in this order.
	Services []Service
	// Lifetime is how long credentials stay valid.
	Lifetime time.Duration
	// UserSecret derives the pseudonym a user goes by in usernames.
	UserSecret string
}

// Discovery answers XEP-0215 requests: the list of services, with
// credentials, and credentials for one service. It is immutable once
// made.
type Discovery struct {
	cfg DiscoveryConfig
	now func() time.Time
}

// NewDiscovery registers the XEP-0215 handler and feature in mux.
func NewDiscovery(cfg DiscoveryConfig, mux *iq.Mux) *Discovery {
	d := &Discovery{cfg: cfg, now: time.Now}
	mux.Handle(iq.Server, NS, d.handle)
	mux.AddFeature(iq.Server, NS)
	return d
}

func (d *Discovery) handle(_ context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	// Services and credentials are for the users of this host: a relay
	// is a resource its operator pays for, and the requests are gets
	// (§3.1, §3.3; a set is the push of §3.2, which goes to clients).
	if st.From.Local() == "" || st.From.Domain() != st.To.Domain() {
		return nil, stanza.E(stanza.Forbidden)
	}
	if st.Type() != "get" {
		return nil, stanza.E(stanza.BadRequest)
	}
	q := st.Payload()
	switch q.Local {
	case "services":
		typ := q.Attr("type")
		out := xmlel.New(NS, "services")
		if typ != "" {
			out.SetAttr("type", typ)
		}
		for _, s := range d.cfg.Services {
			if typ == "" || s.Type == typ {
				out.Append(d.service(st, s))
			}
		}
		return out, nil
	case "credentials":
		// §3.3: each <service/> names a service by host and type, and
		// by port when several share them.
		out := xmlel.New(NS, "credentials")
		for _, want := range q.Elements() {
			if want.Space != NS || want.Local != "service" || want.Attr("host") == "" || want.Attr("type") == "" {
				return nil, stanza.E(stanza.BadRequest)
			}
			for _, s := range d.cfg.Services {
				host := s.Host
				if host == "" {
					host = st.To.Domain()
				}
				if host != want.Attr("host") || s.Type != want.Attr("type") {
					continue
				}
				if p := want.Attr("port"); p != "" && p != strconv.Itoa(s.Port) {
					continue
				}
				out.Append(d.service(st, s))
			}
		}
		if len(out.Elements()) == 0 {
			return nil, stanza.E(stanza.ItemNotFound)
		}
		return out, nil
	}
	return nil, stanza.E(stanza.BadRequest)
}

// service describes s to the requester of st, with fresh credentials when
// it has a secret.
func (d *Discovery) service(st *stanza.Stanza, s Service) *xmlel.Element {
	host := s.Host
	if host == "" {
		host = st.To.Domain()
	}
	el := xmlel.New(NS, "service", "type", s.Type, "host", host,
		"port", strconv.Itoa(s.Port), "transport", s.Transport, "name", s.Name)
	if s.Secret == "" {
		return el
	}
	expiry := d.now().Add(d.cfg.Lifetime).Truncate(time.Second)
	user, pass := Credentials(s.Secret, Pseudonym(d.cfg.UserSecret, st.From.Bare().String()), expiry)
	// §3.1: restricted says credentials are needed; they are here
	// already, valid until expires (XEP-0082 DateTime, UTC).
	el.SetAttr("restricted", "1")
	el.SetAttr("username", user)
	el.SetAttr("password", pass)
	el.SetAttr("expires", expiry.UTC().Format(time.RFC3339))
	return el
}
