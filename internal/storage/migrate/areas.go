package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"samtal.org/samtal/internal/storage"
)

// Areas are the areas Copy copies, in order: the account first, as the
// others belong to it. An area added to storage.Store gets an entry here.
var Areas = []Area{
	area[storage.Account]{name: "Accounts", perUser: true, read: readAccount, write: writeAccount},
	area[rosterData]{name: "Roster", perUser: true, read: readRoster, write: writeRoster},
	area[[]storage.OfflineMessage]{name: "Offline", perUser: true, read: readOffline, write: writeOffline},
	area[string]{name: "VCards", perUser: true, read: readVCard, write: writeVCard},
	area[[]privateXML]{name: "Private", perUser: true, read: readPrivate, write: writePrivate},
	area[[]string]{name: "Blocklist", perUser: true, read: readBlocklist, write: writeBlocklist},
	area[[]pubsubNode]{name: "Pubsub", perUser: true, read: readPubsub, write: writePubsub},
	area[[]storage.FastToken]{name: "FastTokens", perUser: true, read: readFast, write: writeFast},
	archiveArea{},
	area[[]storage.PushService]{name: "Push", perUser: true, read: readPush, write: writePush},
	area[[]storage.Invite]{name: "Invites", read: readInvites, write: writeInvites},
	pubsubServicesArea{},
	// The rooms before their archives.
	area[[]roomData]{name: "Rooms", read: readRooms, write: writeRooms},
	roomArchiveArea{},
}

// errNoExport says that a backend lacks an export interface of package
// storage.
func errNoExport(what string) error {
	return fmt.Errorf("the store's backend does not implement storage.%s", what)
}

func readAccount(ctx context.Context, s storage.Store, user string) (storage.Account, error) {
	return s.Accounts().Get(ctx, user)
}

func writeAccount(ctx context.Context, s storage.Store, user string, a storage.Account) (int, error) {
	return 1, s.Accounts().Create(ctx, a)
}

// rosterData is a roster with its version and the pending subscription
// requests, in their order.
type rosterData struct {
	Version int64
	Items   []storage.RosterItem
	Pending []storage.PendingSubscription
}

func readRoster(ctx context.Context, s storage.Store, user string) (rosterData, error) {
	var (
		d   rosterData
		err error
	)
	if d.Items, d.Version, err = s.Roster().Items(ctx, user); err != nil {
		return d, err
	}
	// Items' order is the backend's; sorted, two stores compare.
	slices.SortFunc(d.Items, func(a, b storage.RosterItem) int { return strings.Compare(a.Contact, b.Contact) })
	d.Pending, err = s.Roster().Pending(ctx, user)
	return d, err
}

func writeRoster(ctx context.Context, s storage.Store, user string, d rosterData) (int, error) {
	imp, ok := s.Roster().(storage.RosterImporter)
	if !ok {
		return 0, errNoExport("RosterImporter")
	}
	for _, it := range d.Items {
		if _, err := s.Roster().Put(ctx, user, it, 0); err != nil {
			return 0, err
		}
	}
	for _, p := range d.Pending {
		if err := s.Roster().AddPending(ctx, user, p); err != nil {
			return 0, err
		}
	}
	// After the Puts, which counted versions of their own: clients that
	// cached the roster at this version must find it unchanged.
	return len(d.Items) + len(d.Pending), imp.SetVersion(ctx, user, d.Version)
}

func readOffline(ctx context.Context, s storage.Store, user string) ([]storage.OfflineMessage, error) {
	msgs, err := s.Offline().List(ctx, user)
	for i := range msgs {
		msgs[i].ID = 0 // the target gives IDs of its own
	}
	return msgs, err
}

func writeOffline(ctx context.Context, s storage.Store, user string, msgs []storage.OfflineMessage) (int, error) {
	imp, ok := s.Offline().(storage.OfflineImporter)
	if !ok {
		return 0, errNoExport("OfflineImporter")
	}
	for i, m := range msgs {
		if err := imp.Import(ctx, user, m); err != nil {
			return i, err
		}
	}
	return len(msgs), nil
}

func readVCard(ctx context.Context, s storage.Store, user string) (string, error) {
	v, err := s.VCards().Get(ctx, user)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	return v, err
}

func writeVCard(ctx context.Context, s storage.Store, user string, v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	return 1, s.VCards().Put(ctx, user, v)
}

type privateXML struct{ Namespace, XML string }

func readPrivate(ctx context.Context, s storage.Store, user string) ([]privateXML, error) {
	nss, err := s.Private().Namespaces(ctx, user)
	if err != nil {
		return nil, err
	}
	var out []privateXML
	for _, ns := range nss {
		x, err := s.Private().Get(ctx, user, ns)
		if err != nil {
			return nil, err
		}
		out = append(out, privateXML{ns, x})
	}
	return out, nil
}

func writePrivate(ctx context.Context, s storage.Store, user string, xs []privateXML) (int, error) {
	for i, x := range xs {
		if err := s.Private().Put(ctx, user, x.Namespace, x.XML); err != nil {
			return i, err
		}
	}
	return len(xs), nil
}

func readBlocklist(ctx context.Context, s storage.Store, user string) ([]string, error) {
	return s.Blocklist().List(ctx, user)
}

func writeBlocklist(ctx context.Context, s storage.Store, user string, jids []string) (int, error) {
	return len(jids), s.Blocklist().Add(ctx, user, jids)
}

// pubsubNode is a node with its items, newest first, and its explicit
// subscriptions.
type pubsubNode struct {
	Node  storage.PubsubNode
	Items []storage.PubsubItem
	Subs  []storage.PubsubSubscription
}

func readPubsub(ctx context.Context, s storage.Store, user string) ([]pubsubNode, error) {
	nodes, err := s.Pubsub().Nodes(ctx, user)
	if err != nil {
		return nil, err
	}
	var out []pubsubNode
	for _, n := range nodes {
		items, err := s.Pubsub().Items(ctx, user, n.Name, 0)
		if err != nil {
			return nil, err
		}
		subs, err := s.Pubsub().Subscriptions(ctx, user, n.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, pubsubNode{n, items, subs})
	}
	return out, nil
}

func writePubsub(ctx context.Context, s storage.Store, user string, nodes []pubsubNode) (int, error) {
	n := 0
	for _, node := range nodes {
		if err := s.Pubsub().CreateNode(ctx, user, node.Node, 0); err != nil {
			return n, err
		}
		n++
		// Oldest first, so that the publication order is the same.
		for _, it := range slices.Backward(node.Items) {
			if err := s.Pubsub().Publish(ctx, user, node.Node.Name, it, 0); err != nil {
				return n, err
			}
			n++
		}
		// No limits: the source kept those it had when each was made.
		for _, sub := range node.Subs {
			if err := s.Pubsub().Subscribe(ctx, user, sub, 0, 0); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func readFast(ctx context.Context, s storage.Store, user string) ([]storage.FastToken, error) {
	l, ok := s.FastTokens().(storage.FastTokenLister)
	if !ok {
		return nil, errNoExport("FastTokenLister")
	}
	return l.All(ctx, user)
}

func writeFast(ctx context.Context, s storage.Store, user string, ts []storage.FastToken) (int, error) {
	for i, t := range ts {
		if err := s.FastTokens().Put(ctx, user, t, 0); err != nil {
			return i, err
		}
	}
	return len(ts), nil
}

func readInvites(ctx context.Context, s storage.Store, _ string) ([]storage.Invite, error) {
	l, ok := s.Invites().(storage.InviteLister)
	if !ok {
		return nil, errNoExport("InviteLister")
	}
	return l.All(ctx)
}

func writeInvites(ctx context.Context, s storage.Store, _ string, invs []storage.Invite) (int, error) {
	for i, inv := range invs {
		if err := s.Invites().Add(ctx, inv.Hash, inv.Host, inv.Expires); err != nil {
			return i, err
		}
	}
	return len(invs), nil
}
