package sqlite

import (
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlutil"
)

// pubsub keeps the nodes of users' own services (PEP), which hang on
// their accounts (a foreign key); their items keep no publisher.
type pubsub struct{ pubsubNodes }

var pepTables = newNodeTables(sqlutil.PubsubTables{
	Nodes: "pubsub_nodes", Items: "pubsub_items", Owner: "account", Name: "pubsub",
})

// Pubsub returns the personal pubsub area.
func (s *Store) Pubsub() storage.Pubsub { return pubsub{pubsubNodes{s, pepTables}} }
