package sqlutil

import (
	"fmt"
	"strings"

	"samtal.org/samtal/internal/storage"
)

// PEPSubscription is a row of pubsub_subscriptions as storage.Pubsub
// gives it: PEP keeps neither SubID nor a pending state.
func PEPSubscription(node, jid string) storage.PubsubSubscription {
	return storage.PubsubSubscription{Node: node, JID: jid, State: storage.SubscriptionSubscribed}
}

// PEPSubscriptions returns the subscriptions of jids to node.
func PEPSubscriptions(node string, jids []string) []storage.PubsubSubscription {
	var out []storage.PubsubSubscription
	for _, jid := range jids {
		out = append(out, PEPSubscription(node, jid))
	}
	return out
}

// The limits of storage.Pubsub.Subscribe.
var (
	ErrNodeSubscriptions       = fmt.Errorf("too many subscriptions to the node: %w", storage.ErrQuota)
	ErrSubscriberSubscriptions = fmt.Errorf("too many subscriptions of the subscriber: %w", storage.ErrQuota)
)

// BareJID returns the bare JID of a JID: what comes before the first '/'
// (a domain cannot contain one, RFC 7622 §3.2).
func BareJID(jid string) string {
	bare, _, _ := strings.Cut(jid, "/")
	return bare
}

// PubsubTables describes where a backend keeps one kind of nodes of
// storage.PubsubNodes: users' own (PEP) or the pubsub services'. Both
// kinds have the same columns but for the one that names the service
// (a user or a JID) and the publisher the services' items keep, so each
// backend implements PubsubNodes once, on the queries it makes from
// this.
type PubsubTables struct {
	Nodes, Items string // the tables of the nodes and of their items
	Owner        string // the column that names the service
	Publisher    bool   // whether the items keep their publisher
	// Name begins the names under which the operations are reported,
	// which operators see: "pubsub services" gives the errors'
	// "pubsub services publish" and the metrics' "pubsubservices.publish".
	Name string
}

// Expand returns query with {nodes}, {items} and {owner} replaced by
// the names of t, and {publisher} by the items' publisher column, or by
// an empty string literal where the items keep none, so that one query
// reads both kinds. The backends expand their queries once, not at
// every call.
func (t PubsubTables) Expand(query string) string {
	publisher := "''"
	if t.Publisher {
		publisher = "publisher"
	}
	return strings.NewReplacer(
		"{nodes}", t.Nodes, "{items}", t.Items, "{owner}", t.Owner, "{publisher}", publisher,
	).Replace(query)
}

// PubsubOp is the names of one operation of storage.PubsubNodes: Metric
// for the backend's Observe, Err to begin its errors.
type PubsubOp struct{ Metric, Err string }

// PubsubOps names the operations of storage.PubsubNodes.
type PubsubOps struct {
	Nodes, Node, CreateNode, ConfigureNode, DeleteNode PubsubOp
	Publish, Items, Item, Retract, Purge               PubsubOp
}

// Ops returns the names of the operations on t's nodes: Err is Name and
// the operation in words ("pubsub create node"), Metric the same without
// spaces and a dot between them ("pubsub.createnode").
func (t PubsubTables) Ops() PubsubOps {
	op := func(words string) PubsubOp {
		return PubsubOp{
			Metric: strings.ReplaceAll(t.Name, " ", "") + "." + strings.ReplaceAll(words, " ", ""),
			Err:    t.Name + " " + words,
		}
	}
	return PubsubOps{
		Nodes: op("nodes"), Node: op("node"), CreateNode: op("create node"),
		ConfigureNode: op("configure node"), DeleteNode: op("delete node"),
		Publish: op("publish"), Items: op("items"), Item: op("item"),
		Retract: op("retract"), Purge: op("purge"),
	}
}
