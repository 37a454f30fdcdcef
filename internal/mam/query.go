package mam

import (
	"context"
	"errors"
	"slices"

	"samtal.org/samtal/internal/archive"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/rsm"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// handle answers the requests of the urn:xmpp:mam:2 namespace to a
// user's bare JID: queries, the query form, metadata and preferences.
func (s *Service) handle(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	// §8.1: an archive is the user's alone.
	if !st.From.Bare().Equal(st.To) {
		return nil, stanza.E(stanza.Forbidden)
	}
	p := st.Payload()
	switch {
	case p.Local == "query" && st.Type() == "set":
		return s.query(ctx, st)
	case p.Local == "query" && st.Type() == "get":
		return archive.FieldsForm(true), nil
	case p.Local == "metadata" && st.Type() == "get":
		return s.metadata(ctx, st.To)
	case p.Local == "prefs" && st.Type() == "get":
		prefs, err := s.prefs(ctx, st.To)
		if err != nil {
			return nil, err
		}
		return prefsElement(prefs), nil
	case p.Local == "prefs" && st.Type() == "set":
		return s.setPrefs(ctx, st.To, p)
	}
	return nil, stanza.E(stanza.BadRequest)
}

// query answers an archive query (§4): the results go to the requesting
// session as messages, then the iq result carries <fin/>.
func (s *Service) query(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
	q, err := archive.Parse(st.Payload())
	if err != nil {
		return nil, err
	}
	if q.Node != "" {
		return nil, stanza.E(stanza.ItemNotFound) // no pubsub archives here
	}
	sess := s.router.Session(st.From)
	if sess == nil {
		return nil, stanza.E(stanza.ServiceUnavailable)
	}
	max := q.Page.Max
	switch {
	case max < 0:
		max = s.cfg.DefaultPage
	case max > s.cfg.MaxPage:
		// §4.3.1: the server may limit a page; <fin/> says so.
		max = s.cfg.MaxPage
	}
	sq := storage.ArchiveQuery{
		Start: q.Start, End: q.End,
		AfterID: q.AfterID, BeforeID: q.BeforeID, IDs: q.IDs,
		After: q.Page.After, Before: q.Page.Before, Backward: q.Page.Backward(),
		Max: max,
	}
	if !q.With.IsZero() {
		sq.With = q.With.String()
	}
	// q.IncludeGroupchat changes nothing: group chat messages are never
	// in a user's archive.
	page, err := s.store.Query(ctx, st.To.String(), sq)
	if errors.Is(err, storage.ErrNotFound) {
		// §4.1.3, §4.3.2: an ID the archive does not hold.
		return nil, stanza.E(stanza.ItemNotFound)
	}
	if err != nil {
		return nil, err
	}
	s.fitPage(&page, sq.Backward)
	msgs := page.Messages
	if q.Flip {
		msgs = slices.Clone(msgs)
		slices.Reverse(msgs) // §4.3.4: the same page, sent the other way
	}
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		el, err := xmlstream.ParseStored(m.Stanza)
		if err != nil {
			s.log.Error("mam: archived message unreadable", "err", err)
			continue
		}
		sess.Send(xmlel.New("", stanza.Message, "to", st.From.String(), "from", st.To.String(), "id", newID()).
			Append(archive.Result(q.QueryID, m.ID, m.Stored, el)))
		ids = append(ids, m.ID)
	}
	s.served(sess, ids)
	out := rsm.Page{FirstIndex: page.Index, Count: page.Count}
	if n := len(page.Messages); n > 0 {
		out.First, out.Last = page.Messages[0].ID, page.Messages[n-1].ID
	}
	return archive.Fin(out, page.Complete), nil
}

// fitPage cuts a page down to Config.MaxPageBytes of messages, keeping
// at least one: the session's queue holds the whole page at once, and a
// client too slow for it would be disconnected. The cut keeps the end
// the client pages from (§4.3.1: the server may limit a page).
func (s *Service) fitPage(page *storage.ArchivePage, backward bool) {
	if s.cfg.MaxPageBytes <= 0 {
		return
	}
	msgs := page.Messages
	size, keep := 0, 0
	for i := range msgs {
		m := msgs[i]
		if backward {
			m = msgs[len(msgs)-1-i]
		}
		size += len(m.Stanza)
		if keep > 0 && size > s.cfg.MaxPageBytes {
			break
		}
		keep++
	}
	if keep == len(msgs) {
		return
	}
	cut := len(msgs) - keep
	page.Complete = false
	if backward {
		page.Messages = msgs[cut:]
		if page.Index >= 0 {
			page.Index += cut
		}
		return
	}
	page.Messages = msgs[:keep]
}

// metadata answers a metadata request (§5).
func (s *Service) metadata(ctx context.Context, user jid.JID) (*xmlel.Element, error) {
	first, last, err := s.store.Bounds(ctx, user.String())
	if errors.Is(err, storage.ErrNotFound) {
		return archive.Metadata(nil, nil), nil
	}
	if err != nil {
		return nil, err
	}
	return archive.Metadata(&archive.Bound{ID: first.ID, Stamp: first.Stored}, &archive.Bound{ID: last.ID, Stamp: last.Stored}), nil
}

// prefsElement writes preferences (XEP-0441 §3).
func prefsElement(p storage.ArchivePrefs) *xmlel.Element {
	list := func(name string, jids []string) *xmlel.Element {
		el := xmlel.New(NS, name)
		for _, j := range jids {
			el.Append(xmlel.TextElement(NS, "jid", j))
		}
		return el
	}
	return xmlel.New(NS, "prefs", "default", p.Default).Append(list("always", p.Always), list("never", p.Never))
}

// setPrefs replaces the user's preferences (XEP-0441 §3) and answers
// with what is now in effect.
func (s *Service) setPrefs(ctx context.Context, user jid.JID, el *xmlel.Element) (*xmlel.Element, error) {
	p := storage.ArchivePrefs{Default: el.Attr("default")}
	switch p.Default {
	case storage.ArchiveAlways, storage.ArchiveRoster, storage.ArchiveNever:
	default:
		return nil, stanza.E(stanza.BadRequest).WithText("default must be always, never or roster")
	}
	never := map[string]bool{}
	read := func(name string) ([]string, error) {
		var out []string
		for _, l := range el.Elements() {
			if !l.Is(NS, name) {
				continue
			}
			for _, j := range l.Elements() {
				if !j.Is(NS, "jid") {
					continue
				}
				parsed, err := jid.Parse(j.Text())
				if err != nil {
					return nil, stanza.E(stanza.JIDMalformed)
				}
				out = append(out, parsed.String())
			}
		}
		slices.Sort(out)
		return slices.Compact(out), nil
	}
	var err error
	if p.Never, err = read("never"); err != nil {
		return nil, err
	}
	for _, j := range p.Never {
		never[j] = true
	}
	always, err := read("always")
	if err != nil {
		return nil, err
	}
	// A JID in both lists is never archived: the stricter choice wins.
	for _, j := range always {
		if !never[j] {
			p.Always = append(p.Always, j)
		}
	}
	if len(p.Always)+len(p.Never) > maxPrefsJIDs {
		return nil, stanza.E(stanza.PolicyViolation).WithText("too many JIDs")
	}
	err = s.store.SetPrefs(ctx, user.String(), p)
	s.forgetPrefs(user)
	if err != nil {
		return nil, err
	}
	return prefsElement(p), nil
}
