// Package abuse turns spam and abuse reports (XEP-0377, Blocking Command
// Reports) into messages for the people who act on them: a host's
// administrators, and, when the reporter agrees, the server of the
// reported entity.
//
// A report reaches it from two sides. A local user blocks someone
// (XEP-0191) with a <report/> in the block item (the IM core's Blocked
// hook): the host's administrators get a message with a plain-text
// summary, the report in the current form naming the reported JID, and
// the messages the report names that are in the reporter's archive and
// were exchanged with the reported entity. With <report-origin/>, a
// reported entity of another server makes the same report go to that
// server's domain, with the messages the reported entity sent and without
// the reporter's address. And another server forwards a report about one
// of our users to our host's domain (the IM core's ServerMessage hook):
// the administrators get it the same way.
//
// It keeps nothing but, in memory, how many reports each reporter and
// each remote server sent lately: each may have a few processed at once
// and one more every ten minutes; past that a report still blocks (the
// IM core did that) but goes nowhere. A host without administrators
// offers no reporting at all: it does not advertise it, and forwards
// nothing, since no one would read the reports.
package abuse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"samtal.org/samtal/internal/archive"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/metrics"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// Defaults of Config.
const (
	DefaultBurst      = 5
	DefaultEvery      = 10 * time.Minute
	DefaultMaxTracked = 10000
	DefaultMaxBytes   = 128 << 10
)

// Config configures the reports.
type Config struct {
	// Admins lists the administrators of each host, by host domain: they
	// receive its reports. A host with none offers no reporting.
	Admins map[string][]jid.JID
	// Burst is how many reports a reporter, or a remote server, may have
	// processed at once; one more is allowed every Every. Zero means
	// DefaultBurst, DefaultEvery.
	Burst int
	Every time.Duration
	// MaxTracked bounds the reporters, and apart the remote servers,
	// whose recent reports are counted; zero means DefaultMaxTracked.
	MaxTracked int
	// MaxBytes bounds the reported messages that one report carries, in
	// bytes of XML, so that the report stays a stanza other servers and
	// clients accept; zero means DefaultMaxBytes.
	MaxBytes int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validate reports every problem of c.
func (c Config) Validate() error {
	var errs []error
	if c.Burst < 0 || c.Every < 0 || c.MaxTracked < 0 || c.MaxBytes < 0 {
		errs = append(errs, errors.New("abuse: limits must not be negative"))
	}
	for host, admins := range c.Admins {
		for _, a := range admins {
			if a.Local() == "" || !a.IsBare() {
				errs = append(errs, fmt.Errorf("abuse: host %s: administrator %s is not an account's bare JID", host, a))
			}
		}
	}
	return errors.Join(errs...)
}

// Archive is what reports read of the users' archives; storage.Archive
// has it.
type Archive interface {
	Query(ctx context.Context, user string, q storage.ArchiveQuery) (storage.ArchivePage, error)
}

// Metrics count reports. They hold no addresses.
type Metrics struct {
	// Reports counts the reports received, by source (user: a local
	// user's block; server: another server) and result (forwarded,
	// limited, malformed).
	Reports *metrics.CounterVec
	// ToOrigin counts the reports sent on to the reported entity's
	// server.
	ToOrigin *metrics.Counter
}

// NewMetrics registers the metrics of reports in reg.
func NewMetrics(reg *metrics.Registry) *Metrics {
	return &Metrics{
		Reports:  reg.NewCounter("samtal_abuse_reports_total", "Spam and abuse reports (XEP-0377), by source and by what became of them.", "source", "result"),
		ToOrigin: reg.NewCounter("samtal_abuse_reports_to_origin_total", "Reports sent on to the reported entity's server at the reporter's request.").With(),
	}
}

// Sources and results of the Reports metric.
const (
	fromUser   = "user"
	fromServer = "server"

	forwarded = "forwarded"
	limited   = "limited"
	malformed = "malformed"
)

// Service forwards reports. It is safe for concurrent use.
type Service struct {
	cfg     Config
	router  *router.Router
	archive Archive // nil when there is no archive
	log     *slog.Logger
	m       *Metrics // nil: nothing counted

	users   *limiter // by reporter's bare JID
	servers *limiter // by remote domain
}

// New returns the service. archive may be nil (no message archive: a
// report carries no messages), and m too (nothing counted).
func New(cfg Config, r *router.Router, a Archive, log *slog.Logger, m *Metrics) *Service {
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Every == 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.MaxTracked == 0 {
		cfg.MaxTracked = DefaultMaxTracked
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{
		cfg: cfg, router: r, archive: a, log: log, m: m,
		users:   newLimiter(cfg.Burst, cfg.Every, cfg.MaxTracked),
		servers: newLimiter(cfg.Burst, cfg.Every, cfg.MaxTracked),
	}
}

// Features returns the disco features of reporting for a host domain:
// none for a host without administrators. The legacy ones tell older
// clients that their form of report is understood too.
func (s *Service) Features(domain string) []string {
	if len(s.cfg.Admins[domain]) == 0 {
		return nil
	}
	return []string{NS, NSLegacy, "urn:xmpp:reporting:reason:spam:0", "urn:xmpp:reporting:reason:abuse:0"}
}

func (s *Service) count(source, result string) {
	if s.m != nil {
		s.m.Reports.With(source, result).Inc()
	}
}

// ours reports whether a domain is served here: a host, or a service or
// component of one.
func (s *Service) ours(domain string) bool {
	return s.router.IsLocal(domain) || s.router.HasDomain(domain)
}

// Blocked is the IM core's hook for the items of a block command that
// carry more than a JID: each item with a report is a report about its
// JID, made by user.
func (s *Service) Blocked(ctx context.Context, user jid.JID, items []*xmlel.Element) {
	if len(s.cfg.Admins[user.Domain()]) == 0 {
		return
	}
	for _, it := range items {
		el := Find(it)
		if el == nil {
			continue
		}
		reported, err := jid.Parse(it.Attr("jid"))
		if err != nil {
			continue // the block was refused; the core does not get here
		}
		r, err := Parse(el)
		if err != nil {
			s.count(fromUser, malformed)
			continue
		}
		if !s.users.allow(user.String(), s.cfg.Now()) {
			s.count(fromUser, limited)
			continue
		}
		r.JID = reported
		s.report(ctx, user, r)
		s.count(fromUser, forwarded)
	}
}

// report sends a local user's report to the host's administrators and,
// when asked, to the reported entity's server.
func (s *Service) report(ctx context.Context, user jid.JID, r Report) {
	msgs := s.messages(ctx, user, r)
	host, _ := jid.New("", user.Domain(), "")
	toOrigin := r.ReportOrigin && !s.ours(r.JID.Domain())

	var b strings.Builder
	fmt.Fprintf(&b, "%s reported %s", user, describe(r))
	writeText(&b, r)
	writeMessages(&b, msgs)
	if toOrigin {
		fmt.Fprintf(&b, "\n\nAs the reporter asked, the report went to %s too, without the reporter's address.", r.JID.Domain())
	}
	var fwd []*xmlel.Element
	for _, m := range msgs {
		fwd = append(fwd, archive.Forwarded(m.stamp, m.el))
	}
	// The administrators see which messages of the reporter's archive
	// the report named.
	for i := range r.StanzaIDs {
		r.StanzaIDs[i].By = user
	}
	s.toAdmins(ctx, host, b.String(), r, fwd)
	if toOrigin {
		s.toOrigin(ctx, host, r, msgs)
	}
}

// toAdmins sends a report to the administrators of host: to each one's
// bare JID, so that one who is offline finds it later.
func (s *Service) toAdmins(ctx context.Context, host jid.JID, body string, r Report, fwd []*xmlel.Element) {
	for _, admin := range s.cfg.Admins[host.Domain()] {
		msg := xmlel.New("", stanza.Message, "type", "normal", "from", host.String(), "to", admin.String(), "id", storage.NewID()).
			Append(xmlel.TextElement("", "body", body), r.Element())
		for _, f := range fwd {
			msg.Append(f.Copy())
		}
		s.router.Route(ctx, &stanza.Stanza{El: msg, From: host, To: admin})
	}
}

// toOrigin sends a report to the reported entity's domain (XEP-0377 §5,
// report-origin), as Prosody's report forwarding does, without the
// reporter's address: XEP-0377 §5 allows one way to hide it, removing
// the 'to' of the reported messages, so only messages the reported
// entity sent go (one the reporter sent names the reporter in 'from'),
// and the report does not say which archive its stanza-ids came from
// (they would name the reporter in 'by', and mean nothing there).
func (s *Service) toOrigin(ctx context.Context, host jid.JID, r Report, msgs []message) {
	origin := r.JID.Domainpart()
	r.StanzaIDs = nil
	var b strings.Builder
	fmt.Fprintf(&b, "A user of %s reported %s", host, describe(r))
	writeText(&b, r)
	msg := xmlel.New("", stanza.Message, "type", "normal", "from", host.String(), "to", origin.String(), "id", storage.NewID()).
		Append(xmlel.TextElement("", "body", b.String()), r.Element())
	for _, m := range msgs {
		if !m.fromReported {
			continue
		}
		el := m.el.Copy()
		el.SetAttr("to", "")
		msg.Append(archive.Forwarded(m.stamp, el))
	}
	s.router.Route(ctx, &stanza.Stanza{El: msg, From: host, To: origin})
	if s.m != nil {
		s.m.ToOrigin.Inc()
	}
}

// ServerMessage is the IM core's hook for messages to a host: a report
// from another server about one of the host's users goes to the host's
// administrators. Only the current form, which names the reported JID,
// travels between servers.
func (s *Service) ServerMessage(ctx context.Context, st *stanza.Stanza) bool {
	el := st.El.Child(NS, "report")
	if el == nil || !st.To.IsDomain() || !st.From.IsDomain() || s.ours(st.From.Domain()) ||
		stanza.MessageType(st.Type()) == "error" {
		return false
	}
	host := st.To
	if len(s.cfg.Admins[host.Domain()]) == 0 {
		return true
	}
	r, err := Parse(el)
	if err != nil || r.JID.Local() == "" || r.JID.Domain() != host.Domain() {
		// Not about one of this host's users: nothing for its
		// administrators to act on.
		s.count(fromServer, malformed)
		return true
	}
	if !s.servers.allow(st.From.Domain(), s.cfg.Now()) {
		s.count(fromServer, limited)
		return true
	}
	// The messages a server sends with its report, as Prosody does (in
	// the message) or inside the report.
	var fwd []*xmlel.Element
	size := 0
	for _, parent := range []*xmlel.Element{st.El, el} {
		for _, f := range parent.Elements() {
			if !f.Is(archive.NSForward, "forwarded") || f.Child("", stanza.Message) == nil || len(fwd) == MaxMessages {
				continue
			}
			if size += len(f.String()); size > s.cfg.MaxBytes {
				break
			}
			fwd = append(fwd, f)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The server %s reported %s", st.From, describe(r))
	writeText(&b, r)
	if len(fwd) > 0 {
		fmt.Fprintf(&b, "\n\nIt sent %d of the messages it is about with the report.", len(fwd))
	}
	s.toAdmins(ctx, host, b.String(), r, fwd)
	s.count(fromServer, forwarded)
	return true
}

// message is a reported message from the reporter's archive.
type message struct {
	el           *xmlel.Element
	stamp        time.Time
	fromReported bool // the reported entity sent it
}

// messages returns the messages that r names which are in user's archive
// and were exchanged with the reported entity, in archive order, as many
// as fit in MaxBytes. Nothing else of the archive goes in a report: the
// reporter chose these.
func (s *Service) messages(ctx context.Context, user jid.JID, r Report) []message {
	if s.archive == nil || len(r.StanzaIDs) == 0 {
		return nil
	}
	ids := make([]string, len(r.StanzaIDs))
	for i, sid := range r.StanzaIDs {
		ids[i] = sid.ID
	}
	q := storage.ArchiveQuery{IDs: ids, Max: MaxMessages}
	if r.JID.Local() != "" {
		q.With = r.JID.String()
	}
	page, err := s.archive.Query(ctx, user.String(), q)
	if errors.Is(err, storage.ErrNotFound) && len(ids) > 1 {
		// An ID the archive does not hold (expired, or never there)
		// fails the whole query; the others still count.
		page.Messages = nil
		for _, id := range ids {
			q.IDs = []string{id}
			p, err := s.archive.Query(ctx, user.String(), q)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				s.log.Error("abuse: archive query failed", "err", err)
				return nil
			}
			page.Messages = append(page.Messages, p.Messages...)
		}
		err = nil
	}
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.log.Error("abuse: archive query failed", "err", err)
		}
		return nil
	}
	var out []message
	size := 0
	for _, m := range page.Messages {
		with, err := jid.Parse(m.With)
		if err != nil || !matches(r.JID, with) {
			continue
		}
		if size += len(m.Stanza); size > s.cfg.MaxBytes {
			break
		}
		el, err := xmlstream.ParseStored(m.Stanza)
		if err != nil {
			s.log.Error("abuse: archived message unreadable", "err", err)
			continue
		}
		from, err := jid.Parse(el.Attr("from"))
		out = append(out, message{el: el, stamp: m.Stored, fromReported: err == nil && matches(r.JID, from)})
	}
	return out
}

// matches reports whether a JID is the reported entity's: a reported
// bare JID covers its resources, a domain everyone at it.
func matches(reported, j jid.JID) bool {
	switch {
	case reported.Local() == "":
		return j.Domain() == reported.Domain()
	case reported.IsFull():
		return j.Equal(reported)
	default:
		return j.Bare().Equal(reported)
	}
}

// describe says what a report is about, for the plain-text body.
func describe(r Report) string {
	switch r.Reason {
	case Spam:
		return "spam from " + r.JID.String()
	case Abuse:
		return "abuse by " + r.JID.String()
	}
	return r.JID.String() + " (reason: " + r.Reason + ")"
}

func writeText(b *strings.Builder, r Report) {
	if t := r.Text(); t != "" {
		b.WriteString(": ")
		b.WriteString(t)
	}
}

// maxQuoteBytes bounds each message's text in the plain-text body.
const maxQuoteBytes = 500

// writeMessages quotes the reported messages in the plain-text body, for
// clients that show nothing of forwarded messages.
func writeMessages(b *strings.Builder, msgs []message) {
	if len(msgs) == 0 {
		return
	}
	fmt.Fprintf(b, "\n\nThe reported messages (%d), from the reporter's archive:", len(msgs))
	for _, m := range msgs {
		text := clip(strings.TrimSpace(m.el.ChildText("", "body")), maxQuoteBytes)
		if text == "" {
			text = "(no text: encrypted, or not a text message)"
		}
		fmt.Fprintf(b, "\n%s %s: %s", archive.FormatTime(m.stamp), m.el.Attr("from"), text)
	}
}
