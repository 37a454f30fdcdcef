// Package cluster lets several samtal nodes serve one set of domains, on
// one shared store, with NATS between them (DESIGN.md: a cluster is built
// on existing engines, never on a home-made consensus protocol).
//
// What it keeps in NATS:
//
//   - Liveness: every node publishes a heartbeat on samtal.hb; a node not
//     heard for Config.DeadAfter is dead, and one whose deliveries find no
//     responder (its subscriptions went with its connection) is dead at
//     once.
//   - The session directory: a JetStream key-value bucket (samtal_sessions)
//     with one key per bound resource, "<node>.<full JID in base64url>",
//     holding its presence, priority and interest flags. Each node
//     mirrors the entries of the other live nodes into its own
//     router.Router as remote sessions, so the IM core applies RFC 6121
//     (presence broadcast, delivery by priority, carbons) over the
//     resources of every node without knowing of the cluster. Entries of
//     a dead node vanish from every mirror and the bucket.
//   - Delivery: a stanza for a remote session goes to its node on
//     samtal.node.<node>.deliver. Chat and normal messages, which the
//     sender's stream management may acknowledge once routed (XEP-0198),
//     are sent as requests: the receiving node answers once the stanza is
//     in the session's queue, and a message that finds no session (the
//     node died or the session ended) goes back to the IM core as
//     undelivered (the user's other resources, or offline storage).
//   - Resumption: a node's heartbeat carries its location, the address
//     where clients reach it (XEP-0198); a client that tries to resume
//     a session of another live node is sent there (see-other-host),
//     since a session's state lives on its node.
//   - Conflicts: when a client binds a resource that is bound on another
//     node (it came back elsewhere and could not resume, XEP-0198 §5),
//     its node asks that node to end the old session, naming itself and
//     the time of the bind. The old node routes the resource to the new one before it
//     ends the session, without waiting for the directory, so that the
//     stanzas the old session's client did not acknowledge reach the new
//     session rather than offline storage (RFC 6120 §7.7.2.2). A message
//     that a third node sent to the old node before it heard of the move
//     is answered with the new node's name, and the sender sends it on
//     there, once.
//   - Group chat rooms: each room is owned by one node at a time, by a
//     lease in the bucket samtal_rooms (created with compare-and-set);
//     stanzas for a room go to its owner on samtal.node.<node>.room, and
//     the lease of a dead owner is taken over by the next node that gets
//     a stanza for the room, which loads the room from the store.
//
// Outgoing s2s needs nothing here: every node has its own outbound pool.
package cluster
