package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"samtal.org/samtal/internal/storage"
)

// The services of the PubsubServices tests: nobody's account.
const (
	service  = "pubsub.example.org"
	service2 = "pubsub.example.net"
)

func svcItem(id, payload, publisher string) storage.PubsubItem {
	return storage.PubsubItem{ID: id, Payload: payload, Publisher: publisher}
}

// sameItems reports whether got has the IDs, payloads and publishers of
// want, in order, each published recently.
func sameItems(got, want []storage.PubsubItem) bool {
	return slices.EqualFunc(got, want, func(g, w storage.PubsubItem) bool {
		return g.ID == w.ID && g.Payload == w.Payload && g.Publisher == w.Publisher && near(g.Published)
	})
}

// checkSvcItems checks Items(service, node, max).
func checkSvcItems(t *testing.T, s storage.Store, svc, node string, max int, want ...storage.PubsubItem) {
	t.Helper()
	got, err := s.PubsubServices().Items(t.Context(), svc, node, max)
	if err != nil || !sameItems(got, want) {
		t.Fatalf("PubsubServices.Items(%q, %q, %d) = %v, %v, want %v", svc, node, max, got, err, want)
	}
}

// checkSvcPage checks ItemPage(service, node, after, max).
func checkSvcPage(t *testing.T, s storage.Store, node, after string, max, total int, want ...storage.PubsubItem) {
	t.Helper()
	got, n, err := s.PubsubServices().ItemPage(t.Context(), service, node, after, max)
	if err != nil || n != total || !sameItems(got, want) {
		t.Fatalf("PubsubServices.ItemPage(%q, %q, %q, %d) = %v, %d, %v, want %v, %d", service, node, after, max, got, n, err, want, total)
	}
}

func createSvcNode(t *testing.T, s storage.Store, svc, node, config string) {
	t.Helper()
	if err := s.PubsubServices().CreateNode(t.Context(), svc, storage.PubsubNode{Name: node, Config: config}, 0); err != nil {
		t.Fatalf("PubsubServices.CreateNode(%q, %q) = %v", svc, node, err)
	}
}

func svcPublish(t *testing.T, s storage.Store, svc, node string, it storage.PubsubItem, max int) {
	t.Helper()
	if err := s.PubsubServices().Publish(t.Context(), svc, node, it, max); err != nil {
		t.Fatalf("PubsubServices.Publish(%q, %q, %q) = %v", svc, node, it.ID, err)
	}
}

func setSvcAff(t *testing.T, s storage.Store, svc, node, jid, aff string) {
	t.Helper()
	a := storage.PubsubAffiliation{Node: node, JID: jid, Affiliation: aff}
	if err := s.PubsubServices().SetAffiliation(t.Context(), svc, a); err != nil {
		t.Fatalf("PubsubServices.SetAffiliation(%q, %v) = %v", svc, a, err)
	}
}

func svcSubscribe(t *testing.T, s storage.Store, svc, node, jid, subid, state string) {
	t.Helper()
	sub := storage.PubsubSubscription{Node: node, JID: jid, SubID: subid, State: state}
	if err := s.PubsubServices().Subscribe(t.Context(), svc, sub); err != nil {
		t.Fatalf("PubsubServices.Subscribe(%q, %v) = %v", svc, sub, err)
	}
}

func checkSvcAffs(t *testing.T, s storage.Store, svc, node string, want ...storage.PubsubAffiliation) {
	t.Helper()
	got, err := s.PubsubServices().Affiliations(t.Context(), svc, node)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("PubsubServices.Affiliations(%q, %q) = %v, %v, want %v", svc, node, got, err, want)
	}
}

func checkSvcAffsOf(t *testing.T, s storage.Store, svc, jid string, want ...storage.PubsubAffiliation) {
	t.Helper()
	got, err := s.PubsubServices().AffiliationsOf(t.Context(), svc, jid)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("PubsubServices.AffiliationsOf(%q, %q) = %v, %v, want %v", svc, jid, got, err, want)
	}
}

func checkSvcSubs(t *testing.T, s storage.Store, svc, node string, want ...storage.PubsubSubscription) {
	t.Helper()
	got, err := s.PubsubServices().Subscriptions(t.Context(), svc, node)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("PubsubServices.Subscriptions(%q, %q) = %v, %v, want %v", svc, node, got, err, want)
	}
}

func checkSvcSubsOf(t *testing.T, s storage.Store, svc, bare string, want ...storage.PubsubSubscription) {
	t.Helper()
	got, err := s.PubsubServices().SubscriptionsOf(t.Context(), svc, bare)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("PubsubServices.SubscriptionsOf(%q, %q) = %v, %v, want %v", svc, bare, got, err, want)
	}
}

func svcAff(node, jid, a string) storage.PubsubAffiliation {
	return storage.PubsubAffiliation{Node: node, JID: jid, Affiliation: a}
}

func svcSub(node, jid, subid, state string) storage.PubsubSubscription {
	return storage.PubsubSubscription{Node: node, JID: jid, SubID: subid, State: state}
}

var pubsubServiceTests = []subtest{
	{"Nodes", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		ps := s.PubsubServices()
		if ns, err := ps.Nodes(ctx, service); err != nil || len(ns) != 0 {
			t.Fatalf("Nodes of a new service = %v, %v, want none", ns, err)
		}
		// No account is needed: the service is nobody's.
		createSvcNode(t, s, service, "b", `{"b":1}`)
		createSvcNode(t, s, service, "a", `{"a":1}`)
		createSvcNode(t, s, service, "B", `{"B":1}`)
		createSvcNode(t, s, service2, "a", `{"other":1}`)
		err := ps.CreateNode(ctx, service, storage.PubsubNode{Name: "a", Config: "x"}, 0)
		wantErr(t, "CreateNode of an existing node", err, storage.ErrExists)
		ns, err := ps.Nodes(ctx, service)
		// Byte order: upper case first.
		want := []storage.PubsubNode{{Name: "B", Config: `{"B":1}`}, {Name: "a", Config: `{"a":1}`}, {Name: "b", Config: `{"b":1}`}}
		if err != nil || !slices.Equal(ns, want) {
			t.Fatalf("Nodes = %v, %v, want %v", ns, err, want)
		}
		n, err := ps.Node(ctx, service2, "a")
		if err != nil || n != (storage.PubsubNode{Name: "a", Config: `{"other":1}`}) {
			t.Fatalf("Node(service2, a) = %v, %v", n, err)
		}
		_, err = ps.Node(ctx, service2, "b")
		wantErr(t, "Node of a missing node", err, storage.ErrNotFound)
		wantErr(t, "ConfigureNode", ps.ConfigureNode(ctx, service, storage.PubsubNode{Name: "a", Config: "new"}, 0), nil)
		if n, _ := ps.Node(ctx, service, "a"); n.Config != "new" {
			t.Fatalf("Node after ConfigureNode = %v, want config new", n)
		}
		if n, _ := ps.Node(ctx, service2, "a"); n.Config != `{"other":1}` {
			t.Fatalf("ConfigureNode changed the node of another service: %v", n)
		}
		wantErr(t, "ConfigureNode of a missing node", ps.ConfigureNode(ctx, service, storage.PubsubNode{Name: "c"}, 0), storage.ErrNotFound)
		wantErr(t, "DeleteNode", ps.DeleteNode(ctx, service, "a"), nil)
		wantErr(t, "DeleteNode again", ps.DeleteNode(ctx, service, "a"), storage.ErrNotFound)
		if _, err := ps.Node(ctx, service2, "a"); err != nil {
			t.Fatalf("the node of another service went too: %v", err)
		}
		// The users' own services are another area.
		create(t, s, alice)
		createNode(t, s, alice, "a", "")
		if ns, err := ps.Nodes(ctx, alice); err != nil || len(ns) != 0 {
			t.Fatalf("PubsubServices.Nodes(%q) = %v, %v, want none of the user's own nodes", alice, ns, err)
		}
		if ns, err := s.Pubsub().Nodes(ctx, service); err != nil || len(ns) != 0 {
			t.Fatalf("Pubsub.Nodes(%q) = %v, %v, want none of the service's nodes", service, ns, err)
		}
	}},
	{"NodeLimit", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		ps := s.PubsubServices()
		for i := range 3 {
			wantErr(t, "CreateNode", ps.CreateNode(ctx, service, storage.PubsubNode{Name: fmt.Sprint(i)}, 3), nil)
		}
		wantErr(t, "CreateNode over the limit", ps.CreateNode(ctx, service, storage.PubsubNode{Name: "3"}, 3), storage.ErrQuota)
		wantErr(t, "CreateNode of an existing node at the limit", ps.CreateNode(ctx, service, storage.PubsubNode{Name: "1"}, 3), storage.ErrExists)
		// The limit counts the nodes of one service.
		wantErr(t, "CreateNode in another service", ps.CreateNode(ctx, service2, storage.PubsubNode{Name: "3"}, 3), nil)
		wantErr(t, "CreateNode without a limit", ps.CreateNode(ctx, service, storage.PubsubNode{Name: "3"}, 0), nil)
	}},
	{"NodeLimitConcurrent", func(t *testing.T, s storage.Store) {
		quotaRace(t, "CreateNode", 3, 8, func(i int) error {
			return s.PubsubServices().CreateNode(t.Context(), service, storage.PubsubNode{Name: fmt.Sprint(i)}, 3)
		})
	}},
	{"ItemsOrder", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		ps := s.PubsubServices()
		createSvcNode(t, s, service, "n", "")
		createSvcNode(t, s, service2, "n", "")
		checkSvcItems(t, s, service, "n", 0)
		a, b, c := svcItem("a", "<a/>", alice), svcItem("b", "<b/>", bob), svcItem("c", "<c/>", alice)
		svcPublish(t, s, service, "n", a, 0)
		svcPublish(t, s, service, "n", b, 0)
		svcPublish(t, s, service2, "n", svcItem("x", "<x/>", bob), 0)
		svcPublish(t, s, service, "n", c, 0)
		checkSvcItems(t, s, service, "n", 0, c, b, a)
		checkSvcItems(t, s, service, "n", 2, c, b)
		checkSvcItems(t, s, service2, "n", 0, svcItem("x", "<x/>", bob))
		// Publishing an ID again replaces the item, publisher and all,
		// and makes it the newest (XEP-0060 §12.1).
		a2 := svcItem("a", "<a2/>", bob)
		svcPublish(t, s, service, "n", a2, 0)
		checkSvcItems(t, s, service, "n", 0, a2, c, b)
		it, err := ps.Item(ctx, service, "n", "a")
		if err != nil || !sameItems([]storage.PubsubItem{it}, []storage.PubsubItem{a2}) {
			t.Fatalf("Item(a) = %v, %v, want %v", it, err, a2)
		}
		_, err = ps.Item(ctx, service, "n", "zz")
		wantErr(t, "Item of a missing item", err, storage.ErrNotFound)
		_, err = ps.Item(ctx, service, "nn", "a")
		wantErr(t, "Item of a missing node", err, storage.ErrNotFound)
		_, err = ps.Item(ctx, service2, "n", "a")
		wantErr(t, "Item of another service", err, storage.ErrNotFound)
		_, err = ps.Items(ctx, service, "nn", 0)
		wantErr(t, "Items of a missing node", err, storage.ErrNotFound)
		// An empty payload and an empty publisher are kept as such.
		svcPublish(t, s, service, "n", svcItem("e", "", ""), 0)
		checkSvcItems(t, s, service, "n", 1, svcItem("e", "", ""))
		wantErr(t, "Publish to a missing node", ps.Publish(ctx, service, "nn", a, 0), storage.ErrNotFound)
		wantErr(t, "Publish to a node of another service", ps.Publish(ctx, "pubsub.example.com", "n", a, 0), storage.ErrNotFound)
	}},
	{"PublishedTime", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		createSvcNode(t, s, service, "n", "")
		when := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("x", 3600))
		svcPublish(t, s, service, "n", storage.PubsubItem{ID: "a", Published: when, Publisher: alice}, 0)
		it, err := s.PubsubServices().Item(ctx, service, "n", "a")
		if err != nil || !it.Published.Equal(when) || it.Published.Location() != time.UTC || it.Publisher != alice {
			t.Fatalf("Item = %v, %v, want published %v in UTC by %s", it, err, when, alice)
		}
	}},
	{"ItemPage", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		createSvcNode(t, s, service, "n", "")
		createSvcNode(t, s, service, "empty", "")
		var all []storage.PubsubItem // newest first
		for i := range 5 {
			it := svcItem(fmt.Sprint(i), fmt.Sprintf("<p n='%d'/>", i), alice)
			all = append([]storage.PubsubItem{it}, all...)
			svcPublish(t, s, service, "n", it, 0)
		}
		checkSvcPage(t, s, "n", "", 0, 5, all...)
		checkSvcPage(t, s, "n", "", 2, 5, all[:2]...)
		checkSvcPage(t, s, "n", all[1].ID, 2, 5, all[2:4]...)
		checkSvcPage(t, s, "n", all[3].ID, 2, 5, all[4])
		checkSvcPage(t, s, "n", all[4].ID, 2, 5)
		checkSvcPage(t, s, "n", all[0].ID, 0, 5, all[1:]...)
		checkSvcPage(t, s, "empty", "", 10, 0)
		// An item published again moves to the front of the pages.
		svcPublish(t, s, service, "n", all[2], 0)
		checkSvcPage(t, s, "n", all[2].ID, 2, 5, all[0], all[1])
		checkSvcPage(t, s, "n", all[1].ID, 0, 5, all[3], all[4])
		_, _, err := s.PubsubServices().ItemPage(ctx, service, "n", "nope", 2)
		wantErr(t, "ItemPage after an unknown item", err, storage.ErrNotFound)
		_, _, err = s.PubsubServices().ItemPage(ctx, service, "missing", "", 2)
		wantErr(t, "ItemPage of a missing node", err, storage.ErrNotFound)
		_, _, err = s.PubsubServices().ItemPage(ctx, service2, "n", "", 2)
		wantErr(t, "ItemPage of a node of another service", err, storage.ErrNotFound)
	}},
	{"MaxItems", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		createSvcNode(t, s, service, "n", "")
		createSvcNode(t, s, service, "m", "")
		var all []storage.PubsubItem
		for i := range 5 {
			it := svcItem(fmt.Sprint(i), fmt.Sprintf("<p n='%d'/>", i), bob)
			all = append([]storage.PubsubItem{it}, all...)
			svcPublish(t, s, service, "n", it, 3)
			svcPublish(t, s, service, "m", it, 0)
		}
		checkSvcItems(t, s, service, "n", 0, all[:3]...)
		checkSvcItems(t, s, service, "m", 0, all...)
		checkSvcPage(t, s, "n", "", 0, 3, all[:3]...)
		// Configuring a smaller maximum drops the oldest items.
		wantErr(t, "ConfigureNode", s.PubsubServices().ConfigureNode(ctx, service, storage.PubsubNode{Name: "m"}, 2), nil)
		checkSvcItems(t, s, service, "m", 0, all[:2]...)
		checkSvcItems(t, s, service, "n", 0, all[:3]...)
	}},
	{"RetractPurge", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		ps := s.PubsubServices()
		createSvcNode(t, s, service, "n", "")
		createSvcNode(t, s, service, "m", "")
		a, b := svcItem("a", "<a/>", alice), svcItem("b", "<b/>", alice)
		svcPublish(t, s, service, "n", a, 0)
		svcPublish(t, s, service, "n", b, 0)
		svcPublish(t, s, service, "m", a, 0)
		wantErr(t, "Retract", ps.Retract(ctx, service, "n", "a"), nil)
		wantErr(t, "Retract again", ps.Retract(ctx, service, "n", "a"), storage.ErrNotFound)
		wantErr(t, "Retract on a missing node", ps.Retract(ctx, service, "x", "a"), storage.ErrNotFound)
		checkSvcItems(t, s, service, "n", 0, b)
		checkSvcItems(t, s, service, "m", 0, a)
		wantErr(t, "Purge", ps.Purge(ctx, service, "n"), nil)
		checkSvcItems(t, s, service, "n", 0)
		checkSvcItems(t, s, service, "m", 0, a)
		wantErr(t, "Purge of a missing node", ps.Purge(ctx, service, "x"), storage.ErrNotFound)
	}},
	{"Affiliations", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		ps := s.PubsubServices()
		createSvcNode(t, s, service, "n", "")
		createSvcNode(t, s, service, "m", "")
		createSvcNode(t, s, service2, "n", "")
		checkSvcAffs(t, s, service, "n")
		setSvcAff(t, s, service, "n", bob, storage.AffiliationPublisher)
		setSvcAff(t, s, service, "n", alice, storage.AffiliationOwner)
		setSvcAff(t, s, service, "n", "carol@example.net", storage.AffiliationOutcast)
		setSvcAff(t, s, service, "m", alice, storage.AffiliationMember)
		setSvcAff(t, s, service2, "n", alice, storage.AffiliationPublishOnly)
		checkSvcAffs(t, s, service, "n",
			svcAff("n", alice, storage.AffiliationOwner),
			svcAff("n", bob, storage.AffiliationPublisher),
			svcAff("n", "carol@example.net", storage.AffiliationOutcast))
		checkSvcAffsOf(t, s, service, alice,
			svcAff("m", alice, storage.AffiliationMember),
			svcAff("n", alice, storage.AffiliationOwner))
		checkSvcAffsOf(t, s, service2, alice, svcAff("n", alice, storage.AffiliationPublishOnly))
		checkSvcAffsOf(t, s, service, "dave@example.org")
		// Setting one again replaces it; none removes it.
		setSvcAff(t, s, service, "n", bob, storage.AffiliationMember)
		setSvcAff(t, s, service, "n", "carol@example.net", storage.AffiliationNone)
		setSvcAff(t, s, service, "n", "dave@example.org", storage.AffiliationNone) // none there: no error
		checkSvcAffs(t, s, service, "n",
			svcAff("n", alice, storage.AffiliationOwner),
			svcAff("n", bob, storage.AffiliationMember))
		_, err := ps.Affiliations(ctx, service, "x")
		wantErr(t, "Affiliations of a missing node", err, storage.ErrNotFound)
		for _, a := range []string{storage.AffiliationOwner, storage.AffiliationNone} {
			err := ps.SetAffiliation(ctx, service, svcAff("x", alice, a))
			wantErr(t, "SetAffiliation "+a+" on a missing node", err, storage.ErrNotFound)
		}
	}},
	{"Subscriptions", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		ps := s.PubsubServices()
		createSvcNode(t, s, service, "n", "")
		createSvcNode(t, s, service, "m", "")
		createSvcNode(t, s, service2, "n", "")
		checkSvcSubs(t, s, service, "n")
		svcSubscribe(t, s, service, "n", alice+"/phone", "2", storage.SubscriptionSubscribed)
		svcSubscribe(t, s, service, "n", alice, "1", storage.SubscriptionPending)
		svcSubscribe(t, s, service, "n", alice, "0", storage.SubscriptionSubscribed)
		svcSubscribe(t, s, service, "n", bob, "1", storage.SubscriptionSubscribed)
		svcSubscribe(t, s, service, "m", alice+"/desk", "3", storage.SubscriptionSubscribed)
		svcSubscribe(t, s, service2, "n", alice, "4", storage.SubscriptionSubscribed)
		// JIDs that start like alice's but are not hers.
		svcSubscribe(t, s, service, "n", "alice@example.org.evil", "5", storage.SubscriptionSubscribed)
		svcSubscribe(t, s, service, "n", "alice@example.orgx/r", "6", storage.SubscriptionSubscribed)
		checkSvcSubs(t, s, service, "n",
			svcSub("n", alice, "0", storage.SubscriptionSubscribed),
			svcSub("n", alice, "1", storage.SubscriptionPending),
			svcSub("n", "alice@example.org.evil", "5", storage.SubscriptionSubscribed), // '.' < '/'
			svcSub("n", alice+"/phone", "2", storage.SubscriptionSubscribed),
			svcSub("n", "alice@example.orgx/r", "6", storage.SubscriptionSubscribed),
			svcSub("n", bob, "1", storage.SubscriptionSubscribed))
		checkSvcSubsOf(t, s, service, alice,
			svcSub("m", alice+"/desk", "3", storage.SubscriptionSubscribed),
			svcSub("n", alice, "0", storage.SubscriptionSubscribed),
			svcSub("n", alice, "1", storage.SubscriptionPending),
			svcSub("n", alice+"/phone", "2", storage.SubscriptionSubscribed))
		checkSvcSubsOf(t, s, service2, alice, svcSub("n", alice, "4", storage.SubscriptionSubscribed))
		checkSvcSubsOf(t, s, service, "dave@example.org")
		// Subscribe with the same node, JID and SubID replaces.
		svcSubscribe(t, s, service, "n", alice, "1", storage.SubscriptionSubscribed)
		checkSvcSubsOf(t, s, service, alice,
			svcSub("m", alice+"/desk", "3", storage.SubscriptionSubscribed),
			svcSub("n", alice, "0", storage.SubscriptionSubscribed),
			svcSub("n", alice, "1", storage.SubscriptionSubscribed),
			svcSub("n", alice+"/phone", "2", storage.SubscriptionSubscribed))
		wantErr(t, "Unsubscribe", ps.Unsubscribe(ctx, service, "n", alice, "0"), nil)
		wantErr(t, "Unsubscribe again", ps.Unsubscribe(ctx, service, "n", alice, "0"), storage.ErrNotFound)
		wantErr(t, "Unsubscribe of another SubID", ps.Unsubscribe(ctx, service, "n", bob, "9"), storage.ErrNotFound)
		wantErr(t, "Unsubscribe from a missing node", ps.Unsubscribe(ctx, service, "x", bob, "1"), storage.ErrNotFound)
		checkSvcSubsOf(t, s, service, alice,
			svcSub("m", alice+"/desk", "3", storage.SubscriptionSubscribed),
			svcSub("n", alice, "1", storage.SubscriptionSubscribed),
			svcSub("n", alice+"/phone", "2", storage.SubscriptionSubscribed))
		_, err := ps.Subscriptions(ctx, service, "x")
		wantErr(t, "Subscriptions of a missing node", err, storage.ErrNotFound)
		err = ps.Subscribe(ctx, service, svcSub("x", alice, "1", storage.SubscriptionSubscribed))
		wantErr(t, "Subscribe to a missing node", err, storage.ErrNotFound)
	}},
	{"DeleteNodeCascades", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		ps := s.PubsubServices()
		for _, svc := range []string{service, service2} {
			createSvcNode(t, s, svc, "n", "")
			svcPublish(t, s, svc, "n", svcItem("a", "<a/>", alice), 0)
			setSvcAff(t, s, svc, "n", alice, storage.AffiliationOwner)
			svcSubscribe(t, s, svc, "n", bob, "1", storage.SubscriptionSubscribed)
		}
		wantErr(t, "DeleteNode", ps.DeleteNode(ctx, service, "n"), nil)
		checkSvcAffsOf(t, s, service, alice)
		checkSvcSubsOf(t, s, service, bob)
		// A new node of that name starts empty.
		createSvcNode(t, s, service, "n", "")
		checkSvcItems(t, s, service, "n", 0)
		checkSvcAffs(t, s, service, "n")
		checkSvcSubs(t, s, service, "n")
		// The other service's node keeps everything.
		checkSvcItems(t, s, service2, "n", 0, svcItem("a", "<a/>", alice))
		checkSvcAffs(t, s, service2, "n", svcAff("n", alice, storage.AffiliationOwner))
		checkSvcSubs(t, s, service2, "n", svcSub("n", bob, "1", storage.SubscriptionSubscribed))
	}},
	{"DeleteAccount", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		for _, svc := range []string{service, service2} {
			createSvcNode(t, s, svc, "n", "c")
			svcPublish(t, s, svc, "n", svcItem("a", "<a/>", alice), 0)
			setSvcAff(t, s, svc, "n", alice, storage.AffiliationOwner)
			setSvcAff(t, s, svc, "n", bob, storage.AffiliationPublisher)
			svcSubscribe(t, s, svc, "n", alice, "1", storage.SubscriptionSubscribed)
			svcSubscribe(t, s, svc, "n", alice+"/phone", "2", storage.SubscriptionPending)
			svcSubscribe(t, s, svc, "n", bob+"/desk", "3", storage.SubscriptionSubscribed)
			svcSubscribe(t, s, svc, "n", "alice@example.org.evil", "4", storage.SubscriptionSubscribed)
		}
		wantErr(t, "Accounts.Delete", s.Accounts().Delete(ctx, alice), nil)
		for _, svc := range []string{service, service2} {
			checkSvcAffsOf(t, s, svc, alice)
			checkSvcSubsOf(t, s, svc, alice)
			// The nodes, their items, and what others hold stay.
			if n, err := s.PubsubServices().Node(ctx, svc, "n"); err != nil || n.Config != "c" {
				t.Fatalf("Node(%q, n) after Accounts.Delete = %v, %v", svc, n, err)
			}
			checkSvcItems(t, s, svc, "n", 0, svcItem("a", "<a/>", alice))
			checkSvcAffs(t, s, svc, "n", svcAff("n", bob, storage.AffiliationPublisher))
			checkSvcSubs(t, s, svc, "n",
				svcSub("n", "alice@example.org.evil", "4", storage.SubscriptionSubscribed),
				svcSub("n", bob+"/desk", "3", storage.SubscriptionSubscribed))
		}
		wantErr(t, "Accounts.Delete again", s.Accounts().Delete(ctx, alice), storage.ErrNotFound)
	}},
	{"DeleteMissingAccount", func(t *testing.T, s storage.Store) {
		// An Accounts.Delete that finds no account changes nothing.
		createSvcNode(t, s, service, "n", "")
		setSvcAff(t, s, service, "n", ghost, storage.AffiliationOwner)
		svcSubscribe(t, s, service, "n", ghost+"/r", "1", storage.SubscriptionSubscribed)
		wantErr(t, "Accounts.Delete of no account", s.Accounts().Delete(t.Context(), ghost), storage.ErrNotFound)
		checkSvcAffs(t, s, service, "n", svcAff("n", ghost, storage.AffiliationOwner))
		checkSvcSubs(t, s, service, "n", svcSub("n", ghost+"/r", "1", storage.SubscriptionSubscribed))
	}},
	{"UsersPubsubKeepsNoPublisher", func(t *testing.T, s storage.Store) {
		// Pubsub (the users' own services) does not keep Publisher.
		create(t, s, alice)
		createNode(t, s, alice, "n", "")
		publish(t, s, alice, "n", svcItem("a", "<a/>", bob), 0)
		it, err := s.Pubsub().Item(t.Context(), alice, "n", "a")
		if err != nil || it.Publisher != "" {
			t.Fatalf("Pubsub.Item = %v, %v, want no publisher", it, err)
		}
	}},
}
