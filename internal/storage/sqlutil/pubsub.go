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
