package server

import (
	"context"
	"fmt"
	"time"

	"samtal.org/samtal/internal/adhoc"
	"samtal.org/samtal/internal/carbons"
	"samtal.org/samtal/internal/dataform"
	"samtal.org/samtal/internal/disco"
	"samtal.org/samtal/internal/im"
	"samtal.org/samtal/internal/iq"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/mam"
	"samtal.org/samtal/internal/push"
	"samtal.org/samtal/internal/storage"
)

// EmptyArchiveNode is the ad-hoc command node that empties the
// requester's message archive.
const EmptyArchiveNode = "urn:samtal:commands:empty-archive"

// messaging builds the message archive, carbons and push notifications
// and hooks them into the IM core. The order of the hooks matters: the
// archive stamps a sent message with its stanza-id, carbons copy it to
// the sender's other devices with the stamp, and the archive takes the
// stamp off before the message leaves (XEP-0313 §3.5).
func (s *Server) messaging(core *im.Service, mux *iq.Mux, d *disco.Disco, store storage.Store, commands *adhoc.Service) error {
	cfg := s.cfg
	if cfg.Archive.Enabled {
		maxPage := cfg.Archive.MaxPage
		mc := mam.Config{
			Default:     cfg.Archive.Default,
			DefaultPage: min(50, maxPage),
			MaxPage:     maxPage,
			// Half the session's queue: the page goes into it at once.
			MaxPageBytes: cfg.Limits.OutQueueBytes / 2,
			Retention:    time.Duration(cfg.Archive.Retention),
		}
		if err := mc.Validate(); err != nil {
			return err
		}
		s.archive = mam.New(mc, store.Archive(), store.Roster(), s.router, mux, s.log)
		core.AddHooks(im.Hooks{
			MessageSent:    s.archive.MessageSent,
			MessageArrived: s.archive.MessageArrived,
			RawMessage:     s.archive.RawMessage,
			PresenceSent:   s.archive.PresenceSent,
			OfflineMessage: s.archive.OfflineMessage,
			SessionEnded:   s.archive.SessionEnded,
		})
		commands.Add(emptyArchive(s.archive))
	}
	cb := carbons.New(s.router, mux)
	s.carbons = cb
	if s.cluster != nil {
		// The other nodes learn which sessions enabled carbons.
		cb.OnChange(s.cluster.Refresh)
	}
	core.AddHooks(im.Hooks{
		MessageSent:      cb.MessageSent,
		MessageDelivered: cb.MessageDelivered,
		RawMessage:       cb.RawMessage,
		SessionEnded:     cb.SessionEnded,
	})
	if s.archive != nil {
		core.AddHooks(im.Hooks{MessageSent: s.archive.AfterSent, RawMessage: s.archive.RawAfterSent})
	}
	if cfg.Push.Enabled {
		pc := push.Config{MaxServices: cfg.Push.MaxServices, Count: cfg.Push.Count}
		if err := pc.Validate(); err != nil {
			return err
		}
		p := push.New(pc, store.Push(), store.Offline(), s.router, mux, s.log)
		core.AddHooks(im.Hooks{MessageDelivered: p.MessageDelivered, RawMessage: p.RawMessage, IQResponse: p.IQResponse})
	}
	return nil
}

// emptyArchive is the command that empties the requester's archive: the
// way for users to have their history deleted now rather than when the
// retention period ends (XEP-0313 has no such request of its own).
func emptyArchive(a *mam.Service) adhoc.Command {
	return adhoc.Command{
		Node: EmptyArchiveNode,
		Name: "Empty my message archive",
		Form: func(context.Context, jid.JID) dataform.Form {
			return dataform.Form{
				Title:        "Empty my message archive",
				Instructions: "Every message in your archive on this server will be deleted, for good. Your devices keep the copies they have.",
				Fields: []dataform.Field{
					{Var: "confirm", Type: dataform.Boolean, Label: "Delete all my archived messages", Values: []string{"false"}},
				},
			}
		},
		Run: func(ctx context.Context, from jid.JID, f dataform.Form) (adhoc.Result, error) {
			if ok, _ := dataform.ParseBool(f.Value("confirm")); !ok {
				return adhoc.Note("Nothing was deleted."), nil
			}
			n, err := a.Empty(ctx, from)
			if err != nil {
				return adhoc.Result{}, err
			}
			return adhoc.Note(fmt.Sprintf("%d messages deleted.", n)), nil
		},
	}
}
