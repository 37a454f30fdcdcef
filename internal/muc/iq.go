package muc

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"

	"samtal.org/samtal/internal/archive"
	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/rsm"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

func itoa(n int) string { return strconv.Itoa(n) }

// handleIQ handles an iq to the room or to an occupant JID.
func (r *room) handleIQ(st *stanza.Stanza) {
	if st.To.Resource() != "" {
		r.occupantIQ(st)
		return
	}
	if !st.IsRequest() {
		return // the room sends no requests of its own
	}
	p := st.Payload()
	if p == nil || len(st.El.Elements()) != 1 {
		r.reply(st, nil, stanza.E(stanza.BadRequest))
		return
	}
	switch {
	case r.state == stateAbsent || r.state == stateGone:
		// §7.2.12 and §10.2: no such room.
		r.reply(st, nil, stanza.E(stanza.ItemNotFound))
		return
	case r.state == stateLocked && r.affOf(st.From) != affOwner:
		// §7.2.11: a locked room does not exist yet for others.
		r.reply(st, nil, stanza.E(stanza.ItemNotFound))
		return
	}
	var res *xmlel.Element
	var err error
	get := st.Type() == "get"
	switch {
	case p.Is(stanza.NSDiscoInfo, "query") && get:
		res, err = r.discoInfo(st)
	case p.Is(stanza.NSDiscoItems, "query") && get:
		// §6.5: the occupants are private.
		res = xmlel.New(stanza.NSDiscoItems, "query", "node", p.Attr("node"))
	case p.Space == NSAdmin:
		res, err = r.admin(st)
	case p.Space == NSOwner:
		res, err = r.owner(st)
	case p.Space == NSMAM:
		res, err = r.mam(st)
	case p.Space == NSRegister:
		res, err = r.register(st)
	case p.Is(NSVCard, "vCard"):
		res, err = r.vcardIQ(st)
	case p.Is(NSPing, "ping") && get:
	case p.Is(NSModerate, "moderate") && !get:
		if p.Child(NSRetract, "retract") == nil {
			err = stanza.E(stanza.FeatureNotImplemented)
			break
		}
		err = r.moderate(st, p.Attr("id"), p.ChildText(NSModerate, "reason"))
	case p.Is(NSFasten, "apply-to") && !get && p.Child(NSModerate0, "moderate") != nil:
		// The older form of XEP-0425 (moderate:0 inside apply-to).
		m := p.Child(NSModerate0, "moderate")
		if m.Child(NSRetract0, "retract") == nil {
			err = stanza.E(stanza.FeatureNotImplemented)
			break
		}
		err = r.moderate(st, p.Attr("id"), m.ChildText(NSModerate0, "reason"))
	default:
		err = stanza.E(stanza.ServiceUnavailable)
	}
	if errors.Is(err, errReplied) {
		return
	}
	r.reply(st, res, err)
}

// errReplied is returned by handlers that answered the request
// themselves, before doing what it asked: the requester hears of
// success first, then of its effects (§8.2: "After informing the
// moderator, the service MUST then inform all of the remaining
// occupants").
var errReplied = errors.New("muc: replied")

// occupantIQ handles an iq to an occupant JID: a self-ping (XEP-0410) is
// answered by the room; other requests between occupants go on to the
// addressee with the sender's occupant JID, and their answers come back
// (§17.4 rule 3).
func (r *room) occupantIQ(st *stanza.Stanza) {
	if !st.IsRequest() {
		p, ok := r.pending[st.ID()]
		if !ok || !p.target.Equal(st.From) {
			return
		}
		delete(r.pending, st.ID())
		el := st.El.ShallowCopy()
		el.SetAttr("id", p.id)
		r.send(el, r.occupantJID(p.nick), p.from)
		return
	}
	sender := r.sessions[st.From]
	p := st.Payload()
	if sender == nil {
		if p != nil && (p.Space == stanza.NSDiscoInfo || p.Space == stanza.NSDiscoItems) {
			// §6.7: disco of an occupant from a non-occupant.
			r.reply(st, nil, stanza.E(stanza.BadRequest))
			return
		}
		// XEP-0410 §3.2: a non-occupant is told it is not joined.
		r.reply(st, nil, stanza.E(stanza.NotAcceptable))
		return
	}
	target := r.occupantByNick(st.To.Resource())
	if target == nil {
		r.reply(st, nil, stanza.E(stanza.ItemNotFound))
		return
	}
	if target == sender && p != nil && p.Is(NSPing, "ping") {
		// XEP-0410 §3.3: the room answers a self-ping itself.
		r.reply(st, nil, nil)
		return
	}
	if len(r.pending) >= maxPendingIQs {
		r.reply(st, nil, stanza.E(stanza.ResourceConstraint))
		return
	}
	dest := target.sessions[0]
	if p != nil && p.Is(NSVCard, "vCard") {
		// vCards belong to the account: its server answers for it.
		dest = target.bare
	}
	id := newID()
	r.pending[id] = pendingIQ{from: st.From, id: st.ID(), target: dest, nick: target.nick, expires: r.s.now().Add(pendingIQTimeout)}
	el := st.El.ShallowCopy()
	el.SetAttr("id", id)
	r.send(el, r.occupantJID(sender.nick), dest)
}

// discoInfo answers disco#info to the room (§6.4), and the
// x-roomuser-item node (§7.12).
func (r *room) discoInfo(st *stanza.Stanza) (*xmlel.Element, error) {
	node := st.Payload().Attr("node")
	q := xmlel.New(stanza.NSDiscoInfo, "query", "node", node)
	switch node {
	case "":
	case "x-roomuser-item":
		if e, ok := r.affs[st.From.Bare().String()]; ok && e.nick != "" && e.aff >= affMember {
			q.Append(xmlel.New(stanza.NSDiscoInfo, "identity", "category", "conference", "type", "text", "name", e.nick))
		}
		return q, nil
	case NS + "#traffic":
		// §16.1.1: the room discards no namespaces.
		return nil, stanza.E(stanza.ServiceUnavailable)
	default:
		return nil, stanza.E(stanza.ItemNotFound)
	}
	name := r.cfg.Name
	if name == "" {
		name = r.jid.Local()
	}
	q.Append(xmlel.New(stanza.NSDiscoInfo, "identity", "category", "conference", "type", "text", "name", name))
	features := []string{
		stanza.NSDiscoInfo, stanza.NSDiscoItems, NS, NSStableID, NSSelfPing, NSOccupant, NSStanzaID,
		NSModerate, NSModerate0, NSRetract, NSRetract0, NSVCard, NSPing, NSRegister,
	}
	if r.cfg.archiving() {
		features = append(features, NSMAM, NSMAMExt)
	}
	features = append(features, r.cfg.features()...)
	slices.Sort(features)
	for _, f := range features {
		q.Append(xmlel.New(stanza.NSDiscoInfo, "feature", "var", f))
	}
	// §6.4: the muc#roominfo form (XEP-0128).
	fields := []dataform.Field{
		{Var: dataform.FormTypeVar, Type: dataform.Hidden, Values: []string{formRoomInfo}},
		{Var: "muc#roominfo_description", Label: "Description", Values: []string{r.cfg.Desc}},
		{Var: "muc#roominfo_subject", Label: "Subject", Values: []string{r.subj.text}},
		{Var: "muc#roominfo_occupants", Label: "Number of occupants", Values: []string{itoa(len(r.occ))}},
		{Var: "muc#roomconfig_changesubject", Label: "Occupants may change the subject", Values: []string{boolValue(r.cfg.ChangeSubject)}},
		{Var: "muc#roomconfig_allowinvites", Label: "Members may invite", Values: []string{boolValue(r.cfg.AllowInvites)}},
		{Var: "muc#maxhistoryfetch", Label: "History sent on joining", Values: []string{itoa(min(r.cfg.MaxHistoryFetch, r.s.cfg.HistoryMax))}},
	}
	if r.cfg.Lang != "" {
		fields = append(fields, dataform.Field{Var: "muc#roominfo_lang", Label: "Language", Values: []string{r.cfg.Lang}})
	}
	if r.cfg.Name != "" {
		fields = append(fields, dataform.Field{Var: "muc#roomconfig_roomname", Label: "Name", Values: []string{r.cfg.Name}})
	}
	if r.avatar != "" {
		// XEP-0486 §3: the hash of the room's avatar.
		fields = append(fields, dataform.Field{Var: "muc#roominfo_avatarhash", Type: "text-multi", Label: "Avatar hash", Values: []string{r.avatar}})
	}
	q.Append(dataform.Form{Type: dataform.TypeResult, Fields: fields}.Element())
	return q, nil
}

// mayView reports whether a user may learn about a room beyond its
// disco#info: whoever may read its archive.
func (r *room) mayView(from jid.JID) bool {
	return canReadArchive(&r.cfg, r.affOf(from), r.sessions[from] != nil)
}

// vcardIQ gets or sets the room's vCard, its avatar (XEP-0054 on the
// room JID; XEP-0486). Owners set it.
func (r *room) vcardIQ(st *stanza.Stanza) (*xmlel.Element, error) {
	if st.Type() == "get" {
		if !r.mayView(st.From) {
			return nil, stanza.E(stanza.Forbidden)
		}
		if r.vcard == "" {
			return xmlel.New(NSVCard, "vCard"), nil
		}
		el, err := xmlstream.ParseStored(r.vcard)
		if err != nil {
			return nil, err
		}
		return el, nil
	}
	if r.affOf(st.From) != affOwner {
		return nil, stanza.E(stanza.Forbidden).WithText("only owners set the room's vCard")
	}
	v := st.Payload()
	data := v.String()
	if len(data) > r.s.cfg.MaxVCardBytes && r.s.cfg.MaxVCardBytes > 0 {
		return nil, stanza.E(stanza.NotAcceptable).WithText("the vCard is too large")
	}
	if len(v.Children) == 0 {
		data = ""
	}
	r.vcard = data
	r.avatar = avatarHash(data)
	r.save()
	// XEP-0486 §4: occupants learn of the new avatar by presence from the
	// room's bare JID.
	upd := xmlel.New(NSVCardUpd, "x")
	if r.avatar != "" {
		upd.Append(xmlel.TextElement(NSVCardUpd, "photo", r.avatar))
	} else {
		upd.Append(xmlel.New(NSVCardUpd, "photo"))
	}
	pres := xmlel.New("", stanza.Presence, "id", newID()).Append(upd)
	for _, o := range r.occ {
		for _, full := range o.sessions {
			r.sendCopy(pres, r.jid, full)
		}
	}
	return nil, nil
}

// avatarHash returns the hex SHA-1 of the photo in a vCard, "" for none
// (XEP-0153 §4.1).
func avatarHash(vcard string) string {
	if vcard == "" {
		return ""
	}
	el, err := xmlstream.ParseStored(vcard)
	if err != nil {
		return ""
	}
	b64 := el.Child(NSVCard, "PHOTO").ChildText(NSVCard, "BINVAL")
	b64 = strings.Map(func(c rune) rune {
		if c == ' ' || c == '\n' || c == '\r' || c == '\t' {
			return -1
		}
		return c
	}, b64)
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(data) == 0 {
		return ""
	}
	sum := sha1.Sum(data)
	return hex.EncodeToString(sum[:])
}

// mam answers archive requests to the room (XEP-0313 on a room JID): the
// results go to the requester as messages from the room, then the iq
// result with <fin/>.
func (r *room) mam(st *stanza.Stanza) (*xmlel.Element, error) {
	if !r.cfg.archiving() {
		return nil, stanza.E(stanza.ServiceUnavailable).WithText("this room keeps no archive")
	}
	occ := r.sessions[st.From]
	aff := r.affOf(st.From)
	if !canReadArchive(&r.cfg, aff, occ != nil) {
		// XEP-0313 §6.1.2: only who may enter may read.
		return nil, stanza.E(stanza.Forbidden)
	}
	see := r.cfg.WhoIs == whoisAnyone || aff >= affAdmin || occ != nil && occ.role == roleModerator
	p := st.Payload()
	switch {
	case p.Local == "query" && st.Type() == "get":
		return archive.FieldsForm(false), nil
	case p.Local == "metadata" && st.Type() == "get":
		return r.mamMetadata()
	case p.Local != "query" || st.Type() != "set":
		return nil, stanza.E(stanza.BadRequest)
	}
	q, err := archive.Parse(p)
	if err != nil {
		return nil, err
	}
	if q.Node != "" {
		return nil, stanza.E(stanza.ItemNotFound)
	}
	max := q.Page.Max
	switch {
	case max < 0:
		max = r.s.cfg.MaxPage
	case max > r.s.cfg.MaxPage:
		max = r.s.cfg.MaxPage
	}
	rq := storage.RoomArchiveQuery{
		Start: q.Start, End: q.End, AfterID: q.AfterID, BeforeID: q.BeforeID, IDs: q.IDs,
		After: q.Page.After, Before: q.Page.Before, Backward: q.Page.Backward(), Max: max,
	}
	if !q.With.IsZero() {
		switch {
		case q.With.Bare().Equal(r.jid):
			// §4.1.1: in a room archive, with names the publisher, an
			// occupant JID.
			rq.Nick = q.With.Resource()
		case see:
			rq.Sender = q.With.Bare().String()
		default:
			return nil, stanza.E(stanza.Forbidden).WithText("the real JIDs of this room are not yours to see")
		}
	}
	page, err := r.s.archive.Query(r.ctx, r.jid.String(), rq)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, stanza.E(stanza.ItemNotFound)
	}
	if err != nil {
		return nil, err
	}
	msgs := page.Messages
	if q.Flip {
		msgs = slices.Clone(msgs)
		slices.Reverse(msgs)
	}
	for _, m := range msgs {
		el, err := xmlstream.ParseStored(m.Stanza)
		if err != nil {
			r.s.log.Error("muc: archived message unreadable", "err", err)
			continue
		}
		// XEP-0313 §6.1.2: the real JID of the sender, to those who may
		// see it, in an <x/> of the room's own making.
		el.RemoveChildren(func(c *xmlel.Element) bool { return c.Is(NSUser, "x") && c.Child(NSUser, "item") != nil })
		if see && m.Sender != "" && m.Nick != "" {
			el.Append(xmlel.New(NSUser, "x").Append(xmlel.New(NSUser, "item", "jid", m.Sender)))
		}
		res := xmlel.New("", stanza.Message, "id", newID()).Append(archive.Result(q.QueryID, m.ID, m.Stored, el))
		r.send(res, r.jid, st.From)
	}
	out := rsm.Page{FirstIndex: page.Index, Count: page.Count}
	if n := len(page.Messages); n > 0 {
		out.First, out.Last = page.Messages[0].ID, page.Messages[n-1].ID
	}
	r.reply(st, archive.Fin(out, page.Complete), nil)
	return nil, errReplied
}

// mamMetadata answers a metadata request (XEP-0313 §5).
func (r *room) mamMetadata() (*xmlel.Element, error) {
	first, err := r.s.archive.Query(r.ctx, r.jid.String(), storage.RoomArchiveQuery{Max: 1})
	if err != nil {
		return nil, err
	}
	last, err := r.s.archive.Last(r.ctx, r.jid.String(), 1)
	if err != nil {
		return nil, err
	}
	if len(first.Messages) == 0 || len(last) == 0 {
		return archive.Metadata(nil, nil), nil
	}
	f, l := first.Messages[0], last[0]
	return archive.Metadata(&archive.Bound{ID: f.ID, Stamp: f.Stored}, &archive.Bound{ID: l.ID, Stamp: l.Stored}), nil
}
