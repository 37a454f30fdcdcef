-- The personal publish-subscribe service of each user (XEP-0163): nodes
-- with their configuration, and their items in publication order.
--
-- seq (the rowid) is the publication order: a new row gets a larger one
-- than every row present, and an item published again is deleted and
-- inserted, so that it becomes the newest (XEP-0060 §12.1). Items reach
-- accounts through their node, so deleting the account or the node
-- removes them.

CREATE TABLE pubsub_nodes (
	account TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	node    TEXT NOT NULL,
	config  TEXT NOT NULL,
	PRIMARY KEY (account, node)
) STRICT, WITHOUT ROWID;

CREATE TABLE pubsub_items (
	seq       INTEGER NOT NULL PRIMARY KEY,
	account   TEXT    NOT NULL,
	node      TEXT    NOT NULL,
	item      TEXT    NOT NULL,
	published INTEGER NOT NULL,
	payload   TEXT    NOT NULL,
	UNIQUE (account, node, item),
	FOREIGN KEY (account, node) REFERENCES pubsub_nodes (account, node) ON DELETE CASCADE
) STRICT;

CREATE INDEX pubsub_items_order ON pubsub_items (account, node, seq);
