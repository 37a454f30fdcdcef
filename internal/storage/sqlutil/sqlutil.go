// Package sqlutil holds what the SQL backends of package storage do the
// same way around different SQL: loading and checking their numbered
// migrations, the seq ranges and pages of archive queries (XEP-0313
// through XEP-0059 result set management), the rows and limits of
// explicit PEP subscriptions, and the tables and operation names of the
// two kinds of pubsub nodes. It imports no database driver: each
// backend runs its own dialect and passes its results here.
package sqlutil

// JoinJID rebuilds a JID from its bare part and resource, which the
// archives keep in two columns so that a query by bare JID uses an index.
func JoinJID(bare, resource string) string {
	if resource == "" {
		return bare
	}
	return bare + "/" + resource
}
