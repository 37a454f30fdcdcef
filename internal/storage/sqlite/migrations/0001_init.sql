-- Accounts and the first per-user areas.
--
-- Every table that holds data of one user references accounts (jid) with
-- ON DELETE CASCADE, directly or through a parent row, so that deleting the
-- account row removes everything of the user. A later migration that adds
-- an area does the same; TestSchemaCascade fails for a table that does not.
--
-- Times are Unix microseconds (UTC). Booleans are 0 or 1.

CREATE TABLE accounts (
	jid            TEXT    NOT NULL PRIMARY KEY,
	domain         TEXT    NOT NULL,
	created        INTEGER NOT NULL,
	roster_version INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX accounts_domain ON accounts (domain, jid);

CREATE TABLE account_keys (
	account    TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	hash       TEXT    NOT NULL,
	salt       BLOB    NOT NULL,
	iterations INTEGER NOT NULL,
	stored_key BLOB    NOT NULL,
	server_key BLOB    NOT NULL,
	PRIMARY KEY (account, hash)
) STRICT, WITHOUT ROWID;

CREATE TABLE roster_items (
	account      TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	contact      TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	subscription TEXT    NOT NULL,
	ask          INTEGER NOT NULL,
	approved     INTEGER NOT NULL,
	group_names  TEXT    NOT NULL, -- see encodeGroups in roster.go
	PRIMARY KEY (account, contact)
) STRICT, WITHOUT ROWID;

-- seq (the rowid) keeps arrival order: a new row gets a larger one than
-- every row present, and an upsert keeps it.
CREATE TABLE roster_pending (
	seq     INTEGER NOT NULL PRIMARY KEY,
	account TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	sender  TEXT    NOT NULL,
	stanza  TEXT    NOT NULL,
	UNIQUE (account, sender)
) STRICT;

-- AUTOINCREMENT: IDs are never reused, so Offline.Delete(upTo) cannot hit
-- a message that arrived after the List it follows.
CREATE TABLE offline_messages (
	id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	account TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	stored  INTEGER NOT NULL,
	stanza  TEXT    NOT NULL
) STRICT;

CREATE INDEX offline_messages_account ON offline_messages (account, id);
CREATE INDEX offline_messages_stored ON offline_messages (stored);

CREATE TABLE vcards (
	account TEXT NOT NULL PRIMARY KEY REFERENCES accounts (jid) ON DELETE CASCADE,
	vcard   TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE private_xml (
	account   TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	namespace TEXT NOT NULL,
	xml       TEXT NOT NULL,
	PRIMARY KEY (account, namespace)
) STRICT, WITHOUT ROWID;

CREATE TABLE blocklist (
	account TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	blocked TEXT NOT NULL,
	PRIMARY KEY (account, blocked)
) STRICT, WITHOUT ROWID;
