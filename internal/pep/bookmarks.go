package pep

import (
	"context"
	"errors"
	"slices"

	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// Bookmark namespaces and the features of their conversions.
const (
	NSBookmarks2   = "urn:xmpp:bookmarks:1" // XEP-0402
	NSBookmarks    = "storage:bookmarks"    // XEP-0048, in private XML (XEP-0049) or PEP
	NSPrivate      = "jabber:iq:private"
	NSBookmarksCvt = "urn:xmpp:bookmarks-conversion:0" // XEP-0411
	bookmarksItem  = "current"                         // the item of the storage:bookmarks node
)

// bookmarks2Options are the publish options XEP-0402 §3.3 asks for.
func bookmarks2Options() form {
	return options("pubsub#persist_items", "true", "pubsub#max_items", "max",
		"pubsub#send_last_published_item", "never", "pubsub#access_model", AccessWhitelist)
}

// legacyOptions are those of the storage:bookmarks node: private
// (XEP-0223), one item.
func legacyOptions() form {
	return options("pubsub#persist_items", "true", "pubsub#access_model", AccessWhitelist)
}

// options returns publish options from name, value pairs.
func options(kv ...string) form {
	f := form{Type: FormPublishOptions}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return f
}

// wrapPrivate makes a change to bookmarks in Private XML Storage change
// the PEP bookmarks too (XEP-0402 §5.3, XEP-0411 §3).
func (s *Service) wrapPrivate() {
	h := s.mux.Handler(iq.Account, NSPrivate)
	if h == nil {
		return
	}
	s.mux.Handle(iq.Account, NSPrivate, func(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
		res, err := h(ctx, st)
		if err == nil && st.Type() == "set" {
			if b := st.Payload().Child(NSBookmarks, "storage"); b != nil {
				s.fromLegacy(ctx, st.To.Bare(), b, true)
			}
		}
		return res, err
	})
	s.mux.AddFeature(iq.Account, NSBookmarks2+"#compat", NSBookmarks2+"#compat-pep", NSBookmarksCvt)
}

// fromLegacy carries a whole list of bookmarks, set in private storage
// or published to the storage:bookmarks node, over to the other two
// places: each room becomes an item of the XEP-0402 node, with
// notifications for those that changed and retractions for those that
// went (XEP-0402 §5.3), and the storage:bookmarks node gets the list
// (XEP-0411 §3 asks for its notifications).
func (s *Service) fromLegacy(ctx context.Context, user jid.JID, list *xmlel.Element, fromPrivate bool) {
	if fromPrivate {
		if _, err := s.publish(ctx, user, NSBookmarks, bookmarksItem, list, legacyOptions(), false); err != nil {
			s.logConversion("bookmarks to PEP", err)
		}
	} else if err := s.putPrivateBookmarks(ctx, user, list); err != nil {
		s.logConversion("bookmarks to private storage", err)
	}
	cfg, err := s.node(ctx, user, NSBookmarks2)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		s.logConversion("bookmarks", err)
		return
	case cfg.AccessModel != AccessWhitelist:
		// XEP-0411 §4: the converted bookmarks stay the user's alone;
		// a node others may read is left alone.
		return
	}
	old := map[string]*xmlel.Element{}
	if err == nil {
		items, err := s.store.Pubsub().Items(ctx, user.String(), NSBookmarks2, 0)
		if err != nil {
			s.logConversion("bookmarks", err)
			return
		}
		for _, it := range items {
			if p, err := parseStored(it.Payload); err == nil {
				old[it.ID] = p
			}
		}
	}
	keep := map[string]bool{}
	for _, c := range list.Elements() {
		if !c.Is(NSBookmarks, "conference") {
			continue
		}
		room, err := jid.Parse(c.Attr("jid"))
		if err != nil || !room.IsBare() || keep[room.String()] {
			continue
		}
		id := room.String()
		keep[id] = true
		conf := conference2(c, old[id])
		if p := old[id]; p != nil && p.String() == conf.String() {
			continue // XEP-0402 §5.3: no notification for unchanged items
		}
		if _, err := s.publish(ctx, user, NSBookmarks2, id, conf, bookmarks2Options(), false); err != nil {
			s.logConversion("bookmarks to PEP", err)
			return
		}
	}
	for id := range old {
		if !keep[id] {
			t := true
			if _, err := s.retract(ctx, user, NSBookmarks2, id, &t); err != nil {
				s.logConversion("bookmarks to PEP", err)
			}
		}
	}
}

// conference2 converts a XEP-0048 conference to a XEP-0402 one, keeping
// the extensions of the item it replaces (XEP-0402 §3.2: clients MUST
// preserve them; a legacy client cannot).
func conference2(c, old *xmlel.Element) *xmlel.Element {
	out := xmlel.New(NSBookmarks2, "conference", "name", c.Attr("name"))
	if b, _ := dataform.ParseBool(c.Attr("autojoin")); b {
		out.SetAttr("autojoin", "true")
	}
	if n := c.ChildText(NSBookmarks, "nick"); n != "" {
		out.Append(xmlel.TextElement(NSBookmarks2, "nick", n))
	}
	if p := c.ChildText(NSBookmarks, "password"); p != "" {
		out.Append(xmlel.TextElement(NSBookmarks2, "password", p))
	}
	if old != nil {
		out.Append(old.Child(NSBookmarks2, "extensions"))
	}
	return out
}

// toLegacy writes the XEP-0402 items as one XEP-0048 list to private
// storage and to the storage:bookmarks node (XEP-0402 §5.3: "the server
// MAY collate all items, casting them into the 'storage:bookmarks'
// namespace and setting the jid attribute to the item id").
func (s *Service) toLegacy(ctx context.Context, user jid.JID) {
	items, err := s.store.Pubsub().Items(ctx, user.String(), NSBookmarks2, 0)
	if err != nil {
		s.logConversion("bookmarks", err)
		return
	}
	list := xmlel.New(NSBookmarks, "storage")
	slices.Reverse(items) // oldest first, the order they were added in
	for _, it := range items {
		p, err := parseStored(it.Payload)
		if err != nil || !p.Is(NSBookmarks2, "conference") {
			continue
		}
		c := xmlel.New(NSBookmarks, "conference", "jid", it.ID, "name", p.Attr("name"))
		if b, _ := dataform.ParseBool(p.Attr("autojoin")); b {
			c.SetAttr("autojoin", "true")
		} else {
			c.SetAttr("autojoin", "false")
		}
		if n := p.ChildText(NSBookmarks2, "nick"); n != "" {
			c.Append(xmlel.TextElement(NSBookmarks, "nick", n))
		}
		if pw := p.ChildText(NSBookmarks2, "password"); pw != "" {
			c.Append(xmlel.TextElement(NSBookmarks, "password", pw))
		}
		list.Append(c)
	}
	// URL bookmarks have no XEP-0402 form: keep those private storage
	// has.
	if old, err := s.privateBookmarks(ctx, user); err == nil && old != nil {
		for _, c := range old.Elements() {
			if !c.Is(NSBookmarks, "conference") {
				list.Append(c)
			}
		}
	}
	if err := s.putPrivateBookmarks(ctx, user, list); err != nil {
		s.logConversion("bookmarks to private storage", err)
	}
	if _, err := s.publish(ctx, user, NSBookmarks, bookmarksItem, list, legacyOptions(), false); err != nil {
		s.logConversion("bookmarks to PEP", err)
	}
}

// privateBookmarks returns the <storage/> of private storage, nil if
// there is none.
func (s *Service) privateBookmarks(ctx context.Context, user jid.JID) (*xmlel.Element, error) {
	data, err := s.store.Private().Get(ctx, user.String(), NSBookmarks)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// Private storage keeps a namespace's data as a <query/> holding
	// what the client set.
	q, err := parseStored(data)
	if err != nil {
		return nil, err
	}
	return q.Child(NSBookmarks, "storage"), nil
}

// putPrivateBookmarks stores a list in private storage in the form the
// private storage service keeps it.
func (s *Service) putPrivateBookmarks(ctx context.Context, user jid.JID, list *xmlel.Element) error {
	q := xmlel.New(NSPrivate, "query").Append(list)
	return s.store.Private().Put(ctx, user.String(), NSBookmarks, q.String())
}

// migrateBookmarks copies bookmarks that only private storage has into
// PEP before the user's client looks for them there (XEP-0411 §3: "the
// server should make sure that the data gets copied from Private XML to
// PEP before the user logs in").
func (s *Service) migrateBookmarks(ctx context.Context, user jid.JID) {
	if _, err := s.store.Pubsub().Node(ctx, user.String(), NSBookmarks2); !errors.Is(err, storage.ErrNotFound) {
		return
	}
	list, err := s.privateBookmarks(ctx, user)
	if err != nil {
		s.logConversion("bookmarks", err)
		return
	}
	if list == nil || list.Child(NSBookmarks, "conference") == nil {
		return
	}
	if _, err := s.store.Pubsub().Node(ctx, user.String(), NSBookmarks); errors.Is(err, storage.ErrNotFound) {
		if _, err := s.publish(ctx, user, NSBookmarks, bookmarksItem, list, legacyOptions(), false); err != nil {
			s.logConversion("bookmarks to PEP", err)
		}
	}
	// Create the node first, so that the items below are not taken for
	// a new list again.
	cfg := DefaultConfig()
	if err := cfg.Apply(bookmarks2Options(), rules(s.cfg.MaxItems)); err != nil {
		return
	}
	unlock := s.lock(user)
	err = s.createNode(ctx, user, NSBookmarks2, cfg)
	unlock()
	if err != nil {
		return // made in between: nothing to migrate
	}
	s.fromLegacy(ctx, user, list, false)
}

// logConversion logs a failed conversion; a stanza error (a node
// configured otherwise, a full quota) is the user's business.
func (s *Service) logConversion(what string, err error) {
	var se stanza.Error
	if errors.As(err, &se) {
		s.log.Debug("pep: conversion skipped", "what", what, "condition", se.Condition)
		return
	}
	s.log.Error("pep: conversion failed", "what", what, "err", err)
}

// afterPublish runs the conversions a client's publication starts.
func (s *Service) afterPublish(ctx context.Context, user jid.JID, p published) {
	switch p.node {
	case NSBookmarks2:
		if p.cfg.AccessModel == AccessWhitelist {
			s.toLegacy(ctx, user)
		}
	case NSBookmarks:
		if p.cfg.AccessModel == AccessWhitelist && p.payload.Is(NSBookmarks, "storage") {
			s.fromLegacy(ctx, user, p.payload, false)
		}
	case NSAvatarMeta:
		s.avatarToVCard(ctx, user, p.payload)
	}
}

// afterRetract runs the conversions a client's retraction starts.
func (s *Service) afterRetract(ctx context.Context, user jid.JID, node, _ string, cfg NodeConfig) {
	if node == NSBookmarks2 && cfg.AccessModel == AccessWhitelist {
		s.toLegacy(ctx, user)
	}
}
