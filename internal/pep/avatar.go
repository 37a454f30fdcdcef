package pep

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"image"
	_ "image/gif"  // avatar dimensions (XEP-0084 §4.2.1)
	_ "image/jpeg" // avatar dimensions
	_ "image/png"  // avatar dimensions
	"strconv"
	"strings"

	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
)

// Avatar namespaces.
const (
	NSAvatarData   = "urn:xmpp:avatar:data"     // XEP-0084
	NSAvatarMeta   = "urn:xmpp:avatar:metadata" // XEP-0084
	NSVCard        = "vcard-temp"               // XEP-0054
	NSVCardUpdate  = "vcard-temp:x:update"      // XEP-0153
	NSVCardConvert = "urn:xmpp:pep-vcard-conversion:0"
)

// wrapVCard makes a vCard with a photo publish the avatar in PEP
// (XEP-0398 §3.2) and keeps the hash for presence.
func (s *Service) wrapVCard() {
	h := s.mux.Handler(iq.Account, NSVCard)
	if h == nil {
		return
	}
	s.mux.Handle(iq.Account, NSVCard, func(ctx context.Context, st *stanza.Stanza) (*xmlel.Element, error) {
		res, err := h(ctx, st)
		if err == nil && st.Type() == "set" && st.From.Bare().Equal(st.To) {
			s.vcardToAvatar(ctx, st.To.Bare(), st.Payload())
		}
		return res, err
	})
	s.mux.AddFeature(iq.Account, NSVCardConvert)
}

// photo returns the image of a vCard, its MIME type and its SHA-1 in
// hex (XEP-0153 §4.1); no image is no error.
func photo(vcard *xmlel.Element) (data []byte, typ, hash string, err error) {
	p := vcard.Child(NSVCard, "PHOTO")
	b64 := strings.Join(strings.Fields(p.ChildText(NSVCard, "BINVAL")), "")
	if b64 == "" {
		return nil, "", "", nil
	}
	data, err = base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, "", "", err
	}
	sum := sha1.Sum(data)
	return data, p.ChildText(NSVCard, "TYPE"), hex.EncodeToString(sum[:]), nil
}

// vcardToAvatar publishes the photo of a vCard that the user set as
// the XEP-0084 avatar: the data, then the metadata, whose notification
// tells contacts (XEP-0398 §3.2). A vCard without a photo disables the
// avatar (XEP-0084 §4.5).
func (s *Service) vcardToAvatar(ctx context.Context, user jid.JID, vcard *xmlel.Element) {
	data, typ, hash, err := photo(vcard)
	if err != nil {
		return // not an image: nothing to convert
	}
	s.setAvatarHash(user, hash)
	cur := ""
	if items, err := s.store.Pubsub().Items(ctx, user.String(), NSAvatarMeta, 1); err == nil && len(items) > 0 {
		if p, err := parseStored(items[0].Payload); err == nil {
			if info := p.Child(NSAvatarMeta, "info"); info != nil {
				cur = info.Attr("id")
			}
		}
	} else if hash == "" {
		return // no avatar before, none now
	}
	if cur == hash {
		return
	}
	// The vCard is readable by anyone (XEP-0054 §3.3), so the avatar
	// is as well; a node the user configured stays as it is.
	open := options("pubsub#access_model", AccessOpen, "pubsub#persist_items", "true")
	meta := xmlel.New(NSAvatarMeta, "metadata")
	if hash != "" {
		if typ == "" {
			typ = "image/png"
		}
		d := xmlel.TextElement(NSAvatarData, "data", base64.StdEncoding.EncodeToString(data))
		if _, err := s.publish(ctx, user, NSAvatarData, hash, d, open, true); err != nil {
			s.logConversion("avatar to PEP", err)
			return
		}
		info := xmlel.New(NSAvatarMeta, "info", "bytes", strconv.Itoa(len(data)), "id", hash, "type", typ)
		if c, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
			info.SetAttr("height", strconv.Itoa(c.Height))
			info.SetAttr("width", strconv.Itoa(c.Width))
		}
		meta.Append(info)
	}
	id := hash
	if id == "" {
		id = randomID()
	}
	if _, err := s.publish(ctx, user, NSAvatarMeta, id, meta, open, true); err != nil {
		s.logConversion("avatar to PEP", err)
	}
}

// avatarToVCard puts the avatar the user published in PEP into the
// vCard (XEP-0398 §3.1): the image of the info element without a URL,
// taken from the data node, if its hash matches and the data node is
// open (XEP-0398 §6). Empty metadata removes the photo.
func (s *Service) avatarToVCard(ctx context.Context, user jid.JID, meta *xmlel.Element) {
	if !meta.Is(NSAvatarMeta, "metadata") {
		return
	}
	var info *xmlel.Element
	for _, i := range meta.Elements() {
		if i.Is(NSAvatarMeta, "info") && i.Attr("url") == "" {
			info = i
			break
		}
	}
	var ph *xmlel.Element
	hash := ""
	if info != nil {
		cfg, err := s.node(ctx, user, NSAvatarData)
		if err != nil || cfg.AccessModel != AccessOpen {
			return
		}
		it, err := s.store.Pubsub().Item(ctx, user.String(), NSAvatarData, info.Attr("id"))
		if err != nil {
			return
		}
		d, err := parseStored(it.Payload)
		if err != nil {
			return
		}
		b64 := strings.Join(strings.Fields(d.Text()), "")
		data, err := base64.StdEncoding.DecodeString(b64)
		sum := sha1.Sum(data)
		if err != nil || hex.EncodeToString(sum[:]) != info.Attr("id") {
			return // XEP-0398 §3.1: the hash SHOULD be checked
		}
		hash = info.Attr("id")
		ph = xmlel.New(NSVCard, "PHOTO").Append(
			xmlel.TextElement(NSVCard, "TYPE", info.Attr("type")),
			xmlel.TextElement(NSVCard, "BINVAL", b64))
	}
	vc := xmlel.New(NSVCard, "vCard")
	old, err := s.store.VCards().Get(ctx, user.String())
	switch {
	case err == nil:
		if p, err := parseStored(old); err == nil {
			vc = p
		}
	case !errors.Is(err, storage.ErrNotFound):
		s.logConversion("avatar to vCard", err)
		return
	}
	if ph == nil && vc.Child(NSVCard, "PHOTO") == nil {
		return
	}
	vc.RemoveChildren(func(c *xmlel.Element) bool { return c.Is(NSVCard, "PHOTO") })
	vc.Append(ph)
	data := ""
	if len(vc.Children) > 0 {
		data = vc.String()
	}
	if len(data) > s.cfg.MaxVCardBytes {
		return
	}
	if err := s.store.VCards().Put(ctx, user.String(), data); err != nil {
		s.logConversion("avatar to vCard", err)
		return
	}
	s.setAvatarHash(user, hash)
}

// setAvatarHash updates the hash kept for a user with sessions.
func (s *Service) setAvatarHash(user jid.JID, hash string) {
	s.mu.Lock()
	if _, ok := s.users[user]; ok {
		s.avatars[user] = hash
	}
	s.mu.Unlock()
}

// avatarHash returns the hash of the user's vCard photo, "" for none.
func (s *Service) avatarHash(ctx context.Context, user jid.JID) string {
	s.mu.Lock()
	h, ok := s.avatars[user]
	s.mu.Unlock()
	if ok {
		return h
	}
	data, err := s.store.VCards().Get(ctx, user.String())
	if err == nil {
		if vc, err := parseStored(data); err == nil {
			_, _, h, _ = photo(vc)
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		s.log.Error("pep: vCard load failed", "err", err)
		return ""
	}
	s.mu.Lock()
	if _, ok := s.users[user]; ok {
		s.avatars[user] = h
	}
	s.mu.Unlock()
	return h
}

// injectAvatar puts the avatar hash into an available presence of the
// user (XEP-0398 §3.3): into every presence without a vcard-temp:x:update
// element, and into one whose element has no photo. A photo element the
// client set, empty or not, is left as it is.
func (s *Service) injectAvatar(ctx context.Context, user jid.JID, el *xmlel.Element) {
	x := el.Child(NSVCardUpdate, "x")
	if x != nil && x.Child(NSVCardUpdate, "photo") != nil {
		return
	}
	h := s.avatarHash(ctx, user)
	if x == nil {
		if h == "" {
			return // nothing to tell
		}
		x = xmlel.New(NSVCardUpdate, "x")
		el.Append(x)
	}
	x.Append(xmlel.TextElement(NSVCardUpdate, "photo", h))
}

// PresenceDirected puts the avatar hash into available presence that a
// user's resource directs to one entity, such as a room join
// (XEP-0398 §3.3): it is the im.Hooks PresenceDirected hook.
func (s *Service) PresenceDirected(ctx context.Context, st *stanza.Stanza) {
	if st.Type() == "" {
		s.injectAvatar(ctx, st.From.Bare(), st.El)
	}
}
