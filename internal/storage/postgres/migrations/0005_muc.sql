-- Group chat rooms (XEP-0045): the persistent rooms of every service with
-- their configuration, subject and vCard, the affiliations of users with
-- them, and their message archives (XEP-0313 on a room).
--
-- Rooms belong to no account: they outlive their owners' accounts. An
-- affiliation names a bare JID or a domain that need not be local, so it
-- does not reference accounts either; Rooms.RemoveJID removes those of a
-- removed account. Deleting a room removes its affiliations and archive.

CREATE TABLE rooms (
	jid          text COLLATE "C" NOT NULL PRIMARY KEY,
	service      text COLLATE "C" NOT NULL,
	config       text             NOT NULL,
	subject      text             NOT NULL,
	subject_nick text             NOT NULL,
	subject_time timestamptz,     -- NULL when never set
	vcard        text             NOT NULL,
	created      timestamptz      NOT NULL
);

CREATE INDEX rooms_service ON rooms (service, jid);

CREATE TABLE room_affiliations (
	room        text COLLATE "C" NOT NULL REFERENCES rooms (jid) ON DELETE CASCADE,
	jid         text COLLATE "C" NOT NULL,
	affiliation text COLLATE "C" NOT NULL,
	nick        text             NOT NULL,
	reason      text             NOT NULL,
	PRIMARY KEY (room, jid)
);

CREATE INDEX room_affiliations_jid ON room_affiliations (jid, affiliation);

-- seq is the archive order, from a sequence: it grows and is never
-- reused. RoomArchive.Append inserts while it holds the lock on the
-- room's row, so within one room seq order is commit order, and stored
-- (clamped under the same lock) never decreases with seq. id is the
-- stanza-id clients see, random and unique per room. The primary key is
-- (room, seq), as the archive's is (account, seq).
CREATE TABLE room_archive (
	seq    bigint GENERATED ALWAYS AS IDENTITY,
	room   text COLLATE "C" NOT NULL REFERENCES rooms (jid) ON DELETE CASCADE,
	id     text COLLATE "C" NOT NULL,
	stored timestamptz      NOT NULL,
	nick   text COLLATE "C" NOT NULL,
	sender text COLLATE "C" NOT NULL,
	stanza text             NOT NULL,
	PRIMARY KEY (room, seq),
	UNIQUE (room, id)
);

CREATE INDEX room_archive_room_stored ON room_archive (room, stored, seq);
CREATE INDEX room_archive_stored ON room_archive (stored);
