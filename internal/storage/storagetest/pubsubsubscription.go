package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"samtal.org/samtal/internal/storage"
)

// pepSub is a subscription to a PEP node as Pubsub returns it: no SubID,
// always subscribed.
func pepSub(node, jid string) storage.PubsubSubscription {
	return storage.PubsubSubscription{Node: node, JID: jid, State: storage.SubscriptionSubscribed}
}

func pepSubscribe(t *testing.T, s storage.Store, user, node, jid string) {
	t.Helper()
	if err := s.Pubsub().Subscribe(t.Context(), user, pepSub(node, jid), 0, 0); err != nil {
		t.Fatalf("Pubsub.Subscribe(%q, %q, %q) = %v", user, node, jid, err)
	}
}

func checkPEPSubs(t *testing.T, s storage.Store, user, node string, want ...storage.PubsubSubscription) {
	t.Helper()
	got, err := s.Pubsub().Subscriptions(t.Context(), user, node)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Pubsub.Subscriptions(%q, %q) = %v, %v, want %v", user, node, got, err, want)
	}
}

func checkPEPSubsOf(t *testing.T, s storage.Store, user, bare string, want ...storage.PubsubSubscription) {
	t.Helper()
	got, err := s.Pubsub().SubscriptionsOf(t.Context(), user, bare)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Pubsub.SubscriptionsOf(%q, %q) = %v, %v, want %v", user, bare, got, err, want)
	}
}

// quotaRace runs try(0) … try(tries-1) at once and fails unless exactly
// limit of them succeed and the others fail with ErrQuota: writes that
// race for the last places under a limit never take more.
func quotaRace(t *testing.T, what string, limit, tries int, try func(i int) error) {
	t.Helper()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ok  int
		bad []error
	)
	for i := range tries {
		wg.Go(func() {
			err := try(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, storage.ErrQuota):
				bad = append(bad, err)
			}
		})
	}
	wg.Wait()
	if ok != limit || len(bad) > 0 {
		t.Fatalf("%d concurrent %s with limit %d: %d succeeded, errors %v; want %d and only ErrQuota", tries, what, limit, ok, bad, limit)
	}
}

const remote = "rem@remote.example" // a subscriber of another server

var pubsubSubscriptionTests = []subtest{
	{"Subscriptions", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		ps := s.Pubsub()
		create(t, s, alice, bob)
		createNode(t, s, alice, "n", "")
		createNode(t, s, alice, "m", "")
		createNode(t, s, bob, "n", "")
		checkPEPSubs(t, s, alice, "n")
		pepSubscribe(t, s, alice, "n", bob+"/phone")
		pepSubscribe(t, s, alice, "n", bob)
		pepSubscribe(t, s, alice, "n", remote+"/r")
		pepSubscribe(t, s, alice, "m", bob+"/desk")
		pepSubscribe(t, s, bob, "n", bob)
		// JIDs that start like bob's but are not his.
		pepSubscribe(t, s, alice, "n", "bob@example.org.evil")
		pepSubscribe(t, s, alice, "n", "bob@example.orgx/r")
		checkPEPSubs(t, s, alice, "n",
			pepSub("n", bob),
			pepSub("n", "bob@example.org.evil"), // '.' < '/'
			pepSub("n", bob+"/phone"),
			pepSub("n", "bob@example.orgx/r"),
			pepSub("n", remote+"/r"))
		checkPEPSubsOf(t, s, alice, bob, pepSub("m", bob+"/desk"), pepSub("n", bob), pepSub("n", bob+"/phone"))
		checkPEPSubsOf(t, s, bob, bob, pepSub("n", bob))
		checkPEPSubsOf(t, s, alice, remote, pepSub("n", remote+"/r"))
		checkPEPSubsOf(t, s, alice, "dave@example.org")
		// Subscribing again changes nothing; a SubID or a state given
		// is not kept.
		err := ps.Subscribe(ctx, alice, storage.PubsubSubscription{Node: "m", JID: bob + "/desk", SubID: "x", State: storage.SubscriptionPending}, 0, 0)
		wantErr(t, "Subscribe again", err, nil)
		checkPEPSubs(t, s, alice, "m", pepSub("m", bob+"/desk"))
		wantErr(t, "Unsubscribe", ps.Unsubscribe(ctx, alice, "n", bob), nil)
		wantErr(t, "Unsubscribe again", ps.Unsubscribe(ctx, alice, "n", bob), storage.ErrNotFound)
		wantErr(t, "Unsubscribe from a missing node", ps.Unsubscribe(ctx, alice, "x", bob), storage.ErrNotFound)
		checkPEPSubsOf(t, s, alice, bob, pepSub("m", bob+"/desk"), pepSub("n", bob+"/phone"))
		_, err = ps.Subscriptions(ctx, alice, "x")
		wantErr(t, "Subscriptions of a missing node", err, storage.ErrNotFound)
		wantErr(t, "Subscribe to a missing node", ps.Subscribe(ctx, alice, pepSub("x", bob), 0, 0), storage.ErrNotFound)
		wantErr(t, "Subscribe to a node of no account", ps.Subscribe(ctx, ghost, pepSub("n", bob), 0, 0), storage.ErrNotFound)
	}},
	{"Limits", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		ps := s.Pubsub()
		create(t, s, alice, bob)
		for _, n := range []string{"p", "q", "r"} {
			createNode(t, s, alice, n, "")
		}
		createNode(t, s, bob, "p", "")
		// Per node: every JID, bare or full, counts.
		wantErr(t, "Subscribe", ps.Subscribe(ctx, alice, pepSub("p", bob), 2, 0), nil)
		wantErr(t, "Subscribe", ps.Subscribe(ctx, alice, pepSub("p", bob+"/phone"), 2, 0), nil)
		wantErr(t, "Subscribe past the node's limit", ps.Subscribe(ctx, alice, pepSub("p", remote), 2, 0), storage.ErrQuota)
		wantErr(t, "Subscribe again at the node's limit", ps.Subscribe(ctx, alice, pepSub("p", bob), 2, 0), nil)
		wantErr(t, "Subscribe to another node", ps.Subscribe(ctx, alice, pepSub("q", remote), 2, 0), nil)
		// Per subscriber: its bare and full JIDs, to every user's nodes.
		wantErr(t, "Subscribe", ps.Subscribe(ctx, alice, pepSub("r", remote+"/a"), 0, 2), nil)
		wantErr(t, "Subscribe past the subscriber's limit", ps.Subscribe(ctx, bob, pepSub("p", remote+"/b"), 0, 2), storage.ErrQuota)
		wantErr(t, "Subscribe again at the subscriber's limit", ps.Subscribe(ctx, alice, pepSub("q", remote), 0, 2), nil)
		wantErr(t, "Subscribe of a JID that starts alike", ps.Subscribe(ctx, bob, pepSub("p", remote+".evil"), 0, 1), nil)
		wantErr(t, "Subscribe under a larger limit", ps.Subscribe(ctx, bob, pepSub("p", remote+"/b"), 0, 3), nil)
		checkPEPSubsOf(t, s, alice, remote, pepSub("q", remote), pepSub("r", remote+"/a"))
		checkPEPSubsOf(t, s, bob, remote, pepSub("p", remote+"/b"))
	}},
	{"LimitsConcurrent", func(t *testing.T, s storage.Store) {
		create(t, s, alice, bob)
		createNode(t, s, alice, "n", "")
		quotaRace(t, "Subscribe to one node", 3, 8, func(i int) error {
			return s.Pubsub().Subscribe(t.Context(), alice, pepSub("n", fmt.Sprintf("u%d@example.net", i)), 3, 0)
		})
		for i := range 8 {
			createNode(t, s, bob, fmt.Sprint(i), "")
		}
		quotaRace(t, "Subscribe of one subscriber", 3, 8, func(i int) error {
			return s.Pubsub().Subscribe(t.Context(), bob, pepSub(fmt.Sprint(i), fmt.Sprintf("%s/%d", remote, i)), 0, 3)
		})
	}},
	{"DeleteNodeCascades", func(t *testing.T, s storage.Store) {
		create(t, s, alice, bob)
		createNode(t, s, alice, "n", "")
		createNode(t, s, bob, "n", "")
		pepSubscribe(t, s, alice, "n", remote)
		pepSubscribe(t, s, bob, "n", remote)
		wantErr(t, "DeleteNode", s.Pubsub().DeleteNode(t.Context(), alice, "n"), nil)
		checkPEPSubsOf(t, s, alice, remote)
		// A new node of that name has no subscribers.
		createNode(t, s, alice, "n", "")
		checkPEPSubs(t, s, alice, "n")
		checkPEPSubs(t, s, bob, "n", pepSub("n", remote))
	}},
	{"DeleteAccount", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		createNode(t, s, alice, "n", "")
		createNode(t, s, bob, "n", "")
		// alice's subscriptions to bob's node, and bob's to hers.
		pepSubscribe(t, s, bob, "n", alice)
		pepSubscribe(t, s, bob, "n", alice+"/phone")
		pepSubscribe(t, s, bob, "n", "alice@example.org.evil")
		pepSubscribe(t, s, bob, "n", remote)
		pepSubscribe(t, s, alice, "n", bob)
		wantErr(t, "Accounts.Delete", s.Accounts().Delete(ctx, alice), nil)
		checkPEPSubs(t, s, bob, "n", pepSub("n", "alice@example.org.evil"), pepSub("n", remote))
		// Her nodes went with their subscriptions: a new account of the
		// same name has none.
		create(t, s, alice)
		createNode(t, s, alice, "n", "")
		checkPEPSubs(t, s, alice, "n")
		checkPEPSubsOf(t, s, alice, bob)
	}},
	{"DeleteMissingAccount", func(t *testing.T, s storage.Store) {
		// An Accounts.Delete that finds no account changes nothing.
		create(t, s, alice)
		createNode(t, s, alice, "n", "")
		pepSubscribe(t, s, alice, "n", ghost+"/r")
		wantErr(t, "Accounts.Delete of no account", s.Accounts().Delete(t.Context(), ghost), storage.ErrNotFound)
		checkPEPSubs(t, s, alice, "n", pepSub("n", ghost+"/r"))
	}},
}
