package version

import (
	"context"
	"time"

	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/xmlel"
)

// NSTime is the Entity Time namespace (XEP-0202 §3).
const NSTime = "urn:xmpp:time"

// utcLayout is the XEP-0082 §3.3 DateTime profile in UTC, with
// milliseconds so that a client can estimate its clock skew.
const utcLayout = "2006-01-02T15:04:05.000Z"

type timeHandler struct{ now func() time.Time }

// handle answers an entity time query (XEP-0202 §3).
//
// NOTSPEC(XEP-0202 §3): <tzo/> is always +00:00 rather than the offset
// of the machine's local zone. XEP-0202 §6 notes that the offset leaks
// where the entity is; a server has no reason to tell, and UTC is what
// its logs and timestamps use anyway.
func (h timeHandler) handle(_ context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	if st.Type() != "get" || st.Payload().Local != "time" {
		// XEP-0202 §3 defines only the IQ-get of <time/>.
		return nil, stanza.E(stanza.BadRequest)
	}
	return xmlel.New(NSTime, "time").Append(
		xmlel.TextElement(NSTime, "tzo", "+00:00"),
		xmlel.TextElement(NSTime, "utc", h.now().UTC().Format(utcLayout)),
	), nil
}
