package migrate

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"samtal.org/samtal/internal/storage"
)

// servicesPage is how many pubsub services Copy lists at once; a
// variable for the tests.
var servicesPage = 500

// serviceNode is one node of a pubsub service with everything it holds:
// its items newest first, affiliations and subscriptions.
type serviceNode struct {
	Node          storage.PubsubNode
	Items         []storage.PubsubItem
	Affiliations  []storage.PubsubAffiliation
	Subscriptions []storage.PubsubSubscription
}

// pubsubServicesArea copies the nodes of every pubsub service, which
// belong to no account, node by node: each is checked as soon as it is
// written, and no more than one node is held at once.
type pubsubServicesArea struct{}

func (pubsubServicesArea) Name() string  { return "PubsubServices" }
func (pubsubServicesArea) PerUser() bool { return false }

// eachService calls fn with every service of s that has nodes, in pages.
func eachService(ctx context.Context, s storage.Store, fn func(service string) error) error {
	l, ok := s.PubsubServices().(storage.PubsubServiceLister)
	if !ok {
		return errNoExport("PubsubServiceLister")
	}
	after := ""
	for {
		svcs, err := l.Services(ctx, after, servicesPage)
		if err != nil {
			return err
		}
		for _, svc := range svcs {
			if err := fn(svc); err != nil {
				return err
			}
		}
		if len(svcs) < servicesPage {
			return nil
		}
		after = svcs[len(svcs)-1]
	}
}

func readServiceNode(ctx context.Context, s storage.Store, service string, n storage.PubsubNode) (serviceNode, error) {
	ps := s.PubsubServices()
	d := serviceNode{Node: n}
	var err error
	if d.Items, err = ps.Items(ctx, service, n.Name, 0); err != nil {
		return d, err
	}
	if d.Affiliations, err = ps.Affiliations(ctx, service, n.Name); err != nil {
		return d, err
	}
	d.Subscriptions, err = ps.Subscriptions(ctx, service, n.Name)
	return d, err
}

// writeServiceNode stores d in s, which does not have the node, and
// returns how many records it wrote.
func writeServiceNode(ctx context.Context, s storage.Store, service string, d serviceNode) (int, error) {
	ps := s.PubsubServices()
	if err := ps.CreateNode(ctx, service, d.Node, 0); err != nil {
		return 0, err
	}
	n := 1
	// Oldest first, so that the publication order is the same; Publish
	// keeps a Published time that is set, and the Publisher.
	for _, it := range slices.Backward(d.Items) {
		if err := ps.Publish(ctx, service, d.Node.Name, it, 0); err != nil {
			return n, err
		}
		n++
	}
	for _, a := range d.Affiliations {
		if err := ps.SetAffiliation(ctx, service, a); err != nil {
			return n, err
		}
		n++
	}
	for _, sub := range d.Subscriptions {
		if err := ps.Subscribe(ctx, service, sub); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (pubsubServicesArea) copy(ctx context.Context, src, dst storage.Store, _ string) (int, error) {
	n := 0
	err := eachService(ctx, src, func(svc string) error {
		nodes, err := src.PubsubServices().Nodes(ctx, svc)
		if err != nil {
			return fmt.Errorf("read %s: %w", svc, err)
		}
		for _, node := range nodes {
			data, err := readServiceNode(ctx, src, svc, node)
			if err != nil {
				return fmt.Errorf("read %s node %s: %w", svc, node.Name, err)
			}
			k, err := writeServiceNode(ctx, dst, svc, data)
			n += k
			if err != nil {
				return fmt.Errorf("write %s node %s: %w", svc, node.Name, err)
			}
			back, err := readServiceNode(ctx, dst, svc, node)
			if err != nil {
				return fmt.Errorf("read back %s node %s: %w", svc, node.Name, err)
			}
			if !equal(reflect.ValueOf(data), reflect.ValueOf(back)) {
				return fmt.Errorf("the copy of %s node %s differs from the original", svc, node.Name)
			}
		}
		// The nodes themselves, configurations included, and no more.
		back, err := dst.PubsubServices().Nodes(ctx, svc)
		if err != nil {
			return fmt.Errorf("read back %s: %w", svc, err)
		}
		if !equal(reflect.ValueOf(nodes), reflect.ValueOf(back)) {
			return fmt.Errorf("the copy of the nodes of %s differs from the original", svc)
		}
		return nil
	})
	return n, err
}

// empty reports whether s has no service with nodes.
func (pubsubServicesArea) empty(ctx context.Context, s storage.Store, _ string) (bool, error) {
	errSome := errors.New("a service")
	err := eachService(ctx, s, func(string) error { return errSome })
	if errors.Is(err, errSome) {
		return false, nil
	}
	return err == nil, err
}
