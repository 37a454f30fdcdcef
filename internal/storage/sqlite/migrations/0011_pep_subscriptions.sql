-- Explicit subscriptions to the nodes of users' personal
-- publish-subscribe services (XEP-0163 §5, XEP-0060 §6.1). jid is the
-- subscriber as it subscribed, bare or full, local or remote; PEP offers
-- one subscription per JID and no pending state, so there is no subid or
-- state.
--
-- The rows go with the node, and with it with the owner's account (ON
-- DELETE CASCADE); a subscriber may be any JID, so nothing references
-- its account, and Accounts.Delete removes a local subscriber's rows
-- itself.

CREATE TABLE pubsub_subscriptions (
	account TEXT NOT NULL,
	node    TEXT NOT NULL,
	jid     TEXT NOT NULL,
	PRIMARY KEY (account, node, jid),
	FOREIGN KEY (account, node) REFERENCES pubsub_nodes (account, node) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- The subscriptions of a bare JID and its full JIDs, which sort right
-- after it: SubscriptionsOf, the per-subscriber limit of Subscribe, and
-- Accounts.Delete.
CREATE INDEX pubsub_subscriptions_jid ON pubsub_subscriptions (jid, account, node);
