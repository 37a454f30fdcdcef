-- The nodes of publish-subscribe services that are nobody's own account
-- (XEP-0060), such as a host's pubsub.example.org: nodes with their
-- configuration, their items in publication order with who published
-- them, and the affiliations with and subscriptions to each node.
--
-- A service is not an account, and affiliations and subscriptions may
-- name remote JIDs, so nothing here references accounts: the rows of a
-- node go with the node (ON DELETE CASCADE), and Accounts.Delete removes
-- a local user's affiliations and subscriptions itself.
--
-- seq (the rowid) is the publication order, as in pubsub_items: a new
-- row gets a larger one than every row present, and an item published
-- again is deleted and inserted, so that it becomes the newest
-- (XEP-0060 §12.1).

CREATE TABLE pubsub_service_nodes (
	service TEXT NOT NULL,
	node    TEXT NOT NULL,
	config  TEXT NOT NULL,
	PRIMARY KEY (service, node)
) STRICT, WITHOUT ROWID;

CREATE TABLE pubsub_service_items (
	seq       INTEGER NOT NULL PRIMARY KEY,
	service   TEXT    NOT NULL,
	node      TEXT    NOT NULL,
	item      TEXT    NOT NULL,
	published INTEGER NOT NULL,
	publisher TEXT    NOT NULL,
	payload   TEXT    NOT NULL,
	UNIQUE (service, node, item),
	FOREIGN KEY (service, node) REFERENCES pubsub_service_nodes (service, node) ON DELETE CASCADE
) STRICT;

CREATE INDEX pubsub_service_items_order ON pubsub_service_items (service, node, seq);

-- XEP-0060 §4.1; "none" is no row.
CREATE TABLE pubsub_service_affiliations (
	service     TEXT NOT NULL,
	node        TEXT NOT NULL,
	jid         TEXT NOT NULL,
	affiliation TEXT NOT NULL CHECK (affiliation IN ('owner', 'publisher', 'publish-only', 'member', 'outcast')),
	PRIMARY KEY (service, node, jid),
	FOREIGN KEY (service, node) REFERENCES pubsub_service_nodes (service, node) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- The affiliations of one JID: AffiliationsOf, and Accounts.Delete in
-- every service.
CREATE INDEX pubsub_service_affiliations_jid ON pubsub_service_affiliations (jid, service, node);

-- jid is the subscriber as it subscribed, bare or full (XEP-0060 §6.1).
CREATE TABLE pubsub_service_subscriptions (
	service TEXT NOT NULL,
	node    TEXT NOT NULL,
	jid     TEXT NOT NULL,
	subid   TEXT NOT NULL,
	state   TEXT NOT NULL CHECK (state IN ('subscribed', 'pending')),
	PRIMARY KEY (service, node, jid, subid),
	FOREIGN KEY (service, node) REFERENCES pubsub_service_nodes (service, node) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- The subscriptions of a bare JID and its full JIDs, which sort right
-- after it: SubscriptionsOf, and Accounts.Delete in every service.
CREATE INDEX pubsub_service_subscriptions_jid ON pubsub_service_subscriptions (jid, service, node);
