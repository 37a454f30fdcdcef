package version

import (
	"context"
	"runtime"
	"time"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// NS is the Software Version namespace (XEP-0092 §2).
const NS = "jabber:iq:version"

// Name is the software name the server reports.
const Name = "samtal"

// Config says what a version request reveals.
type Config struct {
	// ShowOS adds the operating system to the answer. XEP-0092 §5 asks
	// that it can be turned off; samtal keeps it off unless asked.
	ShowOS bool
	// Hide turns version requests off altogether: they are answered with
	// service-unavailable and jabber:iq:version is not advertised.
	//
	// XEP-0092 §2 makes <version/> REQUIRED in a result, so a result with
	// the name alone would not be valid; the error that §3 names for an
	// entity that does not support the protocol is the one answer that
	// reveals nothing and stays within the specification.
	Hide bool
}

// Validate reports problems of c; every Config is valid.
func (c Config) Validate() error { return nil }

// New registers the version (unless cfg.Hide) and entity time handlers for
// hosts in mux. version is the server's version string, for example
// "0.3.1"; an empty one is reported as "unknown", since XEP-0092 §2
// requires the element. now is the clock entity time reads; nil is
// time.Now.
func New(mux *iq.Mux, version string, cfg Config, now func() time.Time) {
	if version == "" {
		version = "unknown"
	}
	if now == nil {
		now = time.Now
	}
	if !cfg.Hide {
		v := &versionHandler{version: version}
		if cfg.ShowOS {
			v.os = runtime.GOOS
		}
		mux.Handle(iq.Server, NS, v.handle)
		mux.AddFeature(iq.Server, NS)
	}
	t := timeHandler{now: now}
	mux.Handle(iq.Server, NSTime, t.handle)
	mux.AddFeature(iq.Server, NSTime)
}

type versionHandler struct {
	version string
	os      string
}

// handle answers a version query (XEP-0092 §2).
func (v *versionHandler) handle(_ context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	if st.Type() != "get" || st.Payload().Local != "query" {
		// XEP-0092 §2 defines only the IQ-get of <query/>.
		return nil, stanza.E(stanza.BadRequest)
	}
	q := xmlel.New(NS, "query").Append(
		xmlel.TextElement(NS, "name", Name),
		xmlel.TextElement(NS, "version", v.version),
	)
	if v.os != "" {
		q.Append(xmlel.TextElement(NS, "os", v.os))
	}
	return q, nil
}
