package userdata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stanza"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/xmlel"
	"samtal.org/samtal/internal/xmlstream"
)

// The message archive (XEP-0313) travels as XEP-0227 §3.11 has it: an
// <archive xmlns='urn:xmpp:pie:0#mam'/> of XEP-0313 <result/> elements,
// oldest first, each a <forwarded/> message with the <delay/> of when it
// was archived.
const (
	NSArchive   = "urn:xmpp:pie:0#mam" // XEP-0227 §3.11
	nsMAM       = "urn:xmpp:mam:2"
	nsForward   = "urn:xmpp:forward:0"
	archivePage = 500
)

// exportArchive appends the user's archive to u, when it holds anything.
func exportArchive(ctx context.Context, st storage.Store, bare string, u *xmlel.Element) error {
	var arch *xmlel.Element
	after := ""
	for {
		page, err := st.Archive().Query(ctx, bare, storage.ArchiveQuery{After: after, Max: archivePage})
		if err != nil {
			return fmt.Errorf("userdata: archive: %w", err)
		}
		for _, m := range page.Messages {
			el, err := xmlstream.ParseStored(m.Stanza)
			if err != nil {
				return fmt.Errorf("userdata: archived message %s: %w", m.ID, err)
			}
			if arch == nil {
				arch = xmlel.New(NSArchive, "archive")
			}
			arch.Append(xmlel.New(nsMAM, "result", "id", m.ID).Append(
				xmlel.New(nsForward, "forwarded").Append(
					xmlel.New(stanza.NSDelay, "delay", "stamp", m.Stored.UTC().Format(time.RFC3339Nano)),
					el)))
			after = m.ID
		}
		if page.Complete || len(page.Messages) == 0 {
			break
		}
	}
	if arch != nil {
		u.Append(arch)
	}
	return nil
}

// archive imports an exported archive, oldest message first.
//
// NOTSPEC(XEP-0227 §3.11): the archive keeps its messages in the order
// and at the time it stores them, the same for every account, so an
// imported message is archived at the time of the import, not at the
// time of its <delay/>. That time goes into the message as its own
// <delay/> (XEP-0203), unless it has one, so that clients show when it
// was sent; queries by time see the import time. Messages older than the
// archive's retention are not imported: they would have been deleted
// here, and importing them would keep them for a whole retention again.
// The IDs of the results are kept, so that what clients hold of the
// archive (XEP-0359 stanza-ids) still matches.
func (im *Importer) archive(ctx context.Context, user jid.JID, arch *xmlel.Element) error {
	bare := user.String()
	if im.Limits.NoArchive {
		im.warn("%s: the message archive is off: its %d archived messages were not imported", bare, len(arch.Elements()))
		return nil
	}
	skipped := 0
	for _, r := range arch.Elements() {
		fw := r.Child(nsForward, "forwarded")
		var msg *xmlel.Element
		if fw != nil {
			msg = fw.Child("", stanza.Message)
		}
		if !r.Is(nsMAM, "result") || msg == nil {
			im.warn("%s: ignoring <%s xmlns='%s'> in the archive", bare, r.Local, r.Space)
			continue
		}
		var stamp time.Time
		if d := fw.Child(stanza.NSDelay, "delay"); d != nil {
			stamp, _ = time.Parse(time.RFC3339Nano, d.Attr("stamp")) // no stamp: kept as new
		}
		if im.Limits.ArchiveRetention > 0 && !stamp.IsZero() && time.Since(stamp) > im.Limits.ArchiveRetention {
			skipped++
			continue
		}
		// The other party: the recipient of what the user sent, the
		// sender of what the user got.
		from, _ := jid.Parse(msg.Attr("from")) // checked through with below
		to, _ := jid.Parse(msg.Attr("to"))
		with := from
		if from.IsZero() || from.Bare().Equal(user) {
			with = to
		}
		if with.IsZero() {
			im.warn("%s: ignoring an archived message %q without another party", bare, r.Attr("id"))
			continue
		}
		if msg.Child(stanza.NSDelay, "delay") == nil && !stamp.IsZero() {
			msg.Append(xmlel.New(stanza.NSDelay, "delay", "from", user.Domain(), "stamp", stamp.UTC().Format(time.RFC3339Nano)))
		}
		id := r.Attr("id")
		if id == "" || len(id) > 128 {
			id = newArchiveID()
		}
		m := storage.ArchivedMessage{ID: id, With: with.String(), Stanza: msg.String()}
		_, err := im.Store.Archive().Append(ctx, bare, m)
		if errors.Is(err, storage.ErrExists) {
			m.ID = newArchiveID()
			_, err = im.Store.Archive().Append(ctx, bare, m)
		}
		if err != nil {
			return fmt.Errorf("archived message: %w", err)
		}
	}
	if skipped > 0 {
		im.warn("%s: %d archived messages older than the archive's retention were not imported", bare, skipped)
	}
	return nil
}

// newArchiveID returns a random (version 4) UUID, as the archive gives
// its messages (XEP-0359 §2.1).
func newArchiveID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
