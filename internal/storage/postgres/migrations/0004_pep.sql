-- The personal publish-subscribe service of each user (XEP-0163): nodes
-- with their configuration, and their items in publication order.
--
-- seq is the publication order: a new row takes a larger one than every
-- row present (a Publish holds the lock on its node's row while it takes
-- one), and an item published again is deleted and inserted, so that it
-- becomes the newest (XEP-0060 §12.1). Items reach accounts through their
-- node, so deleting the account or the node removes them.

CREATE TABLE pubsub_nodes (
	account text COLLATE "C" NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	node    text COLLATE "C" NOT NULL,
	config  text             NOT NULL,
	PRIMARY KEY (account, node)
);

CREATE TABLE pubsub_items (
	seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account   text COLLATE "C" NOT NULL,
	node      text COLLATE "C" NOT NULL,
	item      text COLLATE "C" NOT NULL,
	published timestamptz      NOT NULL,
	payload   text             NOT NULL,
	UNIQUE (account, node, item),
	FOREIGN KEY (account, node) REFERENCES pubsub_nodes (account, node) ON DELETE CASCADE
);

CREATE INDEX pubsub_items_order ON pubsub_items (account, node, seq);
