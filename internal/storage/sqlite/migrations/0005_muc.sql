-- Group chat rooms (XEP-0045): the persistent rooms of every service with
-- their configuration, subject and vCard, the affiliations of users with
-- them, and their message archives (XEP-0313 on a room).
--
-- Rooms belong to no account: they outlive their owners' accounts. An
-- affiliation names a bare JID or a domain that need not be local, so it
-- does not reference accounts either; Rooms.RemoveJID removes those of a
-- removed account. Deleting a room removes its affiliations and archive.

CREATE TABLE rooms (
	jid          TEXT    NOT NULL PRIMARY KEY,
	service      TEXT    NOT NULL,
	config       TEXT    NOT NULL,
	subject      TEXT    NOT NULL,
	subject_nick TEXT    NOT NULL,
	subject_time INTEGER NOT NULL, -- 0 when never set
	vcard        TEXT    NOT NULL,
	created      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX rooms_service ON rooms (service, jid);

CREATE TABLE room_affiliations (
	room        TEXT NOT NULL REFERENCES rooms (jid) ON DELETE CASCADE,
	jid         TEXT NOT NULL,
	affiliation TEXT NOT NULL,
	nick        TEXT NOT NULL,
	reason      TEXT NOT NULL,
	PRIMARY KEY (room, jid)
) STRICT, WITHOUT ROWID;

CREATE INDEX room_affiliations_jid ON room_affiliations (jid, affiliation);

-- seq is the archive order, shared by every room: AUTOINCREMENT, so that
-- it grows and is never reused. id is the stanza-id clients see, random
-- and unique per room. stored never decreases with seq (the store clamps
-- it), so that a time maps to a position in the archive.
CREATE TABLE room_archive (
	seq    INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	room   TEXT    NOT NULL REFERENCES rooms (jid) ON DELETE CASCADE,
	id     TEXT    NOT NULL,
	stored INTEGER NOT NULL,
	nick   TEXT    NOT NULL,
	sender TEXT    NOT NULL,
	stanza TEXT    NOT NULL,
	UNIQUE (room, id)
) STRICT;

CREATE INDEX room_archive_room ON room_archive (room, seq);
CREATE INDEX room_archive_stored ON room_archive (stored);
