-- The nodes of publish-subscribe services that are nobody's own account
-- (XEP-0060), such as a host's pubsub.example.org: nodes with their
-- configuration, their items in publication order with who published
-- them, and the affiliations with and subscriptions to each node. The
-- SQLite backend's migration 0010 makes the same tables.
--
-- A service is not an account, and affiliations and subscriptions may
-- name remote JIDs, so nothing here references accounts: the rows of a
-- node go with the node (ON DELETE CASCADE), and Accounts.Delete removes
-- a local user's affiliations and subscriptions itself.
--
-- seq is the publication order, as in pubsub_items: a new row takes a
-- larger one than every row present (a Publish holds the lock on its
-- node's row while it takes one), and an item published again is deleted
-- and inserted, so that it becomes the newest (XEP-0060 §12.1).

CREATE TABLE pubsub_service_nodes (
	service text COLLATE "C" NOT NULL,
	node    text COLLATE "C" NOT NULL,
	config  text             NOT NULL,
	PRIMARY KEY (service, node)
);

CREATE TABLE pubsub_service_items (
	seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	service   text COLLATE "C" NOT NULL,
	node      text COLLATE "C" NOT NULL,
	item      text COLLATE "C" NOT NULL,
	published timestamptz      NOT NULL,
	publisher text COLLATE "C" NOT NULL,
	payload   text             NOT NULL,
	UNIQUE (service, node, item),
	FOREIGN KEY (service, node) REFERENCES pubsub_service_nodes (service, node) ON DELETE CASCADE
);

CREATE INDEX pubsub_service_items_order ON pubsub_service_items (service, node, seq);

-- XEP-0060 §4.1; "none" is no row.
CREATE TABLE pubsub_service_affiliations (
	service     text COLLATE "C" NOT NULL,
	node        text COLLATE "C" NOT NULL,
	jid         text COLLATE "C" NOT NULL,
	affiliation text COLLATE "C" NOT NULL CHECK (affiliation IN ('owner', 'publisher', 'publish-only', 'member', 'outcast')),
	PRIMARY KEY (service, node, jid),
	FOREIGN KEY (service, node) REFERENCES pubsub_service_nodes (service, node) ON DELETE CASCADE
);

-- The affiliations of one JID: AffiliationsOf, and Accounts.Delete in
-- every service.
CREATE INDEX pubsub_service_affiliations_jid ON pubsub_service_affiliations (jid, service, node);

-- jid is the subscriber as it subscribed, bare or full (XEP-0060 §6.1).
CREATE TABLE pubsub_service_subscriptions (
	service text COLLATE "C" NOT NULL,
	node    text COLLATE "C" NOT NULL,
	jid     text COLLATE "C" NOT NULL,
	subid   text COLLATE "C" NOT NULL,
	state   text COLLATE "C" NOT NULL CHECK (state IN ('subscribed', 'pending')),
	PRIMARY KEY (service, node, jid, subid),
	FOREIGN KEY (service, node) REFERENCES pubsub_service_nodes (service, node) ON DELETE CASCADE
);

-- The subscriptions of a bare JID and its full JIDs, which sort right
-- after it in byte order: SubscriptionsOf, and Accounts.Delete in every
-- service.
CREATE INDEX pubsub_service_subscriptions_jid ON pubsub_service_subscriptions (jid, service, node);
