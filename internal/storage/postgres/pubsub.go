package postgres

import "samtal.org/samtal/internal/storage/sqlutil"

// pubsub keeps the nodes of users' own services (PEP), which hang on
// their accounts (a foreign key); their items keep no publisher.
// CreateNode with a limit counts a user's nodes under the lock of its
// account's row.
type pubsub struct{ pubsubNodes }

var pepTables = newNodeTables(sqlutil.PubsubTables{
	Nodes: "pubsub_nodes", Items: "pubsub_items", Owner: "account", Name: "pubsub",
}, lockAccount)
