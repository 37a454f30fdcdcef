-- Message archives (XEP-0313), archiving preferences (XEP-0441) and push
-- services (XEP-0357).

-- seq is the archive order, shared by every archive: AUTOINCREMENT, so it
-- grows and is never reused, even after the newest messages are deleted.
-- id is the archive ID that clients see: random, so that it tells nothing
-- (XEP-0359 §7), unique per archive. stored never decreases with seq (the
-- store clamps it), so that a time maps to a position in the archive.
-- with_bare and with_resource are the other party of the message.
CREATE TABLE archive (
	seq           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	account       TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	id            TEXT    NOT NULL,
	stored        INTEGER NOT NULL,
	with_bare     TEXT    NOT NULL,
	with_resource TEXT    NOT NULL,
	stanza        TEXT    NOT NULL,
	UNIQUE (account, id)
) STRICT;

CREATE INDEX archive_account ON archive (account, seq);
CREATE INDEX archive_with ON archive (account, with_bare, seq);
CREATE INDEX archive_stored ON archive (stored);

CREATE TABLE archive_prefs (
	account TEXT NOT NULL PRIMARY KEY REFERENCES accounts (jid) ON DELETE CASCADE,
	default_policy TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- always is 1 for the 'always' list, 0 for 'never'.
CREATE TABLE archive_prefs_jids (
	account TEXT    NOT NULL REFERENCES archive_prefs (account) ON DELETE CASCADE,
	jid     TEXT    NOT NULL,
	always  INTEGER NOT NULL,
	PRIMARY KEY (account, jid)
) STRICT, WITHOUT ROWID;

CREATE TABLE push_services (
	account TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	service TEXT NOT NULL,
	node    TEXT NOT NULL,
	options TEXT NOT NULL,
	PRIMARY KEY (account, service, node)
) STRICT, WITHOUT ROWID;
