package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"samtal.org/samtal/internal/storage"
)

func pubItem(id, payload string) storage.PubsubItem {
	return storage.PubsubItem{ID: id, Payload: payload}
}

// checkPubItems checks the IDs and payloads of Items(user, node, max).
func checkPubItems(t *testing.T, s storage.Store, user, node string, max int, want ...storage.PubsubItem) {
	t.Helper()
	got, err := s.Pubsub().Items(t.Context(), user, node, max)
	if err != nil {
		t.Fatalf("Pubsub.Items(%q, %q, %d) = %v", user, node, max, err)
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].ID == want[i].ID && got[i].Payload == want[i].Payload && near(got[i].Published)
	}
	if !ok {
		t.Fatalf("Pubsub.Items(%q, %q, %d) = %v, want %v", user, node, max, got, want)
	}
}

func createNode(t *testing.T, s storage.Store, user, node, config string) {
	t.Helper()
	if err := s.Pubsub().CreateNode(t.Context(), user, storage.PubsubNode{Name: node, Config: config}, 0); err != nil {
		t.Fatalf("Pubsub.CreateNode(%q, %q) = %v", user, node, err)
	}
}

func publish(t *testing.T, s storage.Store, user, node string, it storage.PubsubItem, max int) {
	t.Helper()
	if err := s.Pubsub().Publish(t.Context(), user, node, it, max); err != nil {
		t.Fatalf("Pubsub.Publish(%q, %q, %q) = %v", user, node, it.ID, err)
	}
}

var pubsubTests = []subtest{
	{"Nodes", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		ps := s.Pubsub()
		if ns, err := ps.Nodes(ctx, alice); err != nil || len(ns) != 0 {
			t.Fatalf("Nodes of a new account = %v, %v, want none", ns, err)
		}
		createNode(t, s, alice, "urn:b", `{"b":1}`)
		createNode(t, s, alice, "urn:a", `{"a":1}`)
		createNode(t, s, bob, "urn:a", `{"bob":1}`)
		err := ps.CreateNode(ctx, alice, storage.PubsubNode{Name: "urn:a", Config: "x"}, 0)
		wantErr(t, "CreateNode of an existing node", err, storage.ErrExists)
		ns, err := ps.Nodes(ctx, alice)
		want := []storage.PubsubNode{{Name: "urn:a", Config: `{"a":1}`}, {Name: "urn:b", Config: `{"b":1}`}}
		if err != nil || !slices.Equal(ns, want) {
			t.Fatalf("Nodes = %v, %v, want %v", ns, err, want)
		}
		n, err := ps.Node(ctx, bob, "urn:a")
		if err != nil || n.Config != `{"bob":1}` {
			t.Fatalf("Node(bob, urn:a) = %v, %v", n, err)
		}
		_, err = ps.Node(ctx, bob, "urn:b")
		wantErr(t, "Node of a missing node", err, storage.ErrNotFound)
		wantErr(t, "ConfigureNode", ps.ConfigureNode(ctx, alice, storage.PubsubNode{Name: "urn:a", Config: "new"}, 0), nil)
		if n, _ := ps.Node(ctx, alice, "urn:a"); n.Config != "new" {
			t.Fatalf("Node after ConfigureNode = %v, want config new", n)
		}
		wantErr(t, "ConfigureNode of a missing node", ps.ConfigureNode(ctx, alice, storage.PubsubNode{Name: "urn:c"}, 0), storage.ErrNotFound)
		wantErr(t, "DeleteNode", ps.DeleteNode(ctx, alice, "urn:a"), nil)
		wantErr(t, "DeleteNode again", ps.DeleteNode(ctx, alice, "urn:a"), storage.ErrNotFound)
		if _, err := ps.Node(ctx, bob, "urn:a"); err != nil {
			t.Fatalf("bob's node went with alice's: %v", err)
		}
	}},
	{"NodeLimit", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		ps := s.Pubsub()
		for i := range 3 {
			wantErr(t, "CreateNode", ps.CreateNode(ctx, alice, storage.PubsubNode{Name: fmt.Sprint(i)}, 3), nil)
		}
		wantErr(t, "CreateNode over the limit", ps.CreateNode(ctx, alice, storage.PubsubNode{Name: "3"}, 3), storage.ErrQuota)
		wantErr(t, "CreateNode of an existing node at the limit", ps.CreateNode(ctx, alice, storage.PubsubNode{Name: "1"}, 3), storage.ErrExists)
		wantErr(t, "CreateNode without a limit", ps.CreateNode(ctx, alice, storage.PubsubNode{Name: "3"}, 0), nil)
	}},
	{"ItemsOrder", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		createNode(t, s, alice, "n", "")
		checkPubItems(t, s, alice, "n", 0)
		a, b, c := pubItem("a", "<a/>"), pubItem("b", "<b/>"), pubItem("c", "<c/>")
		publish(t, s, alice, "n", a, 0)
		publish(t, s, alice, "n", b, 0)
		publish(t, s, alice, "n", c, 0)
		checkPubItems(t, s, alice, "n", 0, c, b, a)
		checkPubItems(t, s, alice, "n", 2, c, b)
		// Publishing an ID again replaces the item and makes it newest.
		a2 := pubItem("a", "<a2/>")
		publish(t, s, alice, "n", a2, 0)
		checkPubItems(t, s, alice, "n", 0, a2, c, b)
		it, err := s.Pubsub().Item(ctx, alice, "n", "a")
		if err != nil || it.Payload != "<a2/>" || !near(it.Published) {
			t.Fatalf("Item(a) = %v, %v", it, err)
		}
		_, err = s.Pubsub().Item(ctx, alice, "n", "zz")
		wantErr(t, "Item of a missing item", err, storage.ErrNotFound)
		_, err = s.Pubsub().Item(ctx, alice, "nn", "a")
		wantErr(t, "Item of a missing node", err, storage.ErrNotFound)
		_, err = s.Pubsub().Items(ctx, alice, "nn", 0)
		wantErr(t, "Items of a missing node", err, storage.ErrNotFound)
		// An empty payload is kept as such.
		publish(t, s, alice, "n", pubItem("e", ""), 0)
		checkPubItems(t, s, alice, "n", 1, pubItem("e", ""))
		wantErr(t, "Publish to a missing node", s.Pubsub().Publish(ctx, alice, "nn", a, 0), storage.ErrNotFound)
	}},
	{"PublishedTime", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		createNode(t, s, alice, "n", "")
		when := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("x", 3600))
		publish(t, s, alice, "n", storage.PubsubItem{ID: "a", Published: when}, 0)
		it, err := s.Pubsub().Item(ctx, alice, "n", "a")
		if err != nil || !it.Published.Equal(when) || it.Published.Location() != time.UTC {
			t.Fatalf("Item = %v, %v, want published %v in UTC", it, err, when)
		}
	}},
	{"MaxItems", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		createNode(t, s, alice, "n", "")
		createNode(t, s, alice, "m", "")
		var all []storage.PubsubItem
		for i := range 5 {
			it := pubItem(fmt.Sprint(i), fmt.Sprintf("<p n='%d'/>", i))
			all = append([]storage.PubsubItem{it}, all...)
			publish(t, s, alice, "n", it, 3)
			publish(t, s, alice, "m", it, 0)
		}
		checkPubItems(t, s, alice, "n", 0, all[:3]...)
		checkPubItems(t, s, alice, "m", 0, all...)
		// Configuring a smaller maximum drops the oldest items.
		wantErr(t, "ConfigureNode", s.Pubsub().ConfigureNode(ctx, alice, storage.PubsubNode{Name: "m"}, 2), nil)
		checkPubItems(t, s, alice, "m", 0, all[:2]...)
		checkPubItems(t, s, alice, "n", 0, all[:3]...)
	}},
	{"RetractPurge", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice)
		createNode(t, s, alice, "n", "")
		createNode(t, s, alice, "m", "")
		a, b := pubItem("a", "<a/>"), pubItem("b", "<b/>")
		publish(t, s, alice, "n", a, 0)
		publish(t, s, alice, "n", b, 0)
		publish(t, s, alice, "m", a, 0)
		wantErr(t, "Retract", s.Pubsub().Retract(ctx, alice, "n", "a"), nil)
		wantErr(t, "Retract again", s.Pubsub().Retract(ctx, alice, "n", "a"), storage.ErrNotFound)
		wantErr(t, "Retract on a missing node", s.Pubsub().Retract(ctx, alice, "x", "a"), storage.ErrNotFound)
		checkPubItems(t, s, alice, "n", 0, b)
		checkPubItems(t, s, alice, "m", 0, a)
		wantErr(t, "Purge", s.Pubsub().Purge(ctx, alice, "n"), nil)
		checkPubItems(t, s, alice, "n", 0)
		checkPubItems(t, s, alice, "m", 0, a)
		wantErr(t, "Purge of a missing node", s.Pubsub().Purge(ctx, alice, "x"), storage.ErrNotFound)
		// Deleting a node deletes its items: a new node of that name is
		// empty.
		wantErr(t, "DeleteNode", s.Pubsub().DeleteNode(ctx, alice, "m"), nil)
		createNode(t, s, alice, "m", "")
		checkPubItems(t, s, alice, "m", 0)
	}},
	{"NoAccount", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		ps := s.Pubsub()
		wantErr(t, "CreateNode", ps.CreateNode(ctx, ghost, storage.PubsubNode{Name: "n"}, 0), storage.ErrNotFound)
		wantErr(t, "CreateNode with a limit", ps.CreateNode(ctx, ghost, storage.PubsubNode{Name: "n"}, 5), storage.ErrNotFound)
		wantErr(t, "Publish", ps.Publish(ctx, ghost, "n", pubItem("a", ""), 0), storage.ErrNotFound)
		if ns, err := ps.Nodes(ctx, ghost); err != nil || len(ns) != 0 {
			t.Fatalf("Nodes(ghost) = %v, %v", ns, err)
		}
	}},
	{"DeleteAccount", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		for _, u := range []string{alice, bob} {
			createNode(t, s, u, "n", "c")
			publish(t, s, u, "n", pubItem("a", "<a/>"), 0)
		}
		wantErr(t, "Accounts.Delete", s.Accounts().Delete(ctx, alice), nil)
		create(t, s, alice)
		if ns, err := s.Pubsub().Nodes(ctx, alice); err != nil || len(ns) != 0 {
			t.Fatalf("Nodes after the account was deleted and made again = %v, %v", ns, err)
		}
		_, err := s.Pubsub().Item(ctx, alice, "n", "a")
		wantErr(t, "Item after the account was deleted", err, storage.ErrNotFound)
		checkPubItems(t, s, bob, "n", 0, pubItem("a", "<a/>"))
	}},
}
