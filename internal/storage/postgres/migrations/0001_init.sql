-- Accounts and the first per-user areas.
--
-- Every table that holds data of one user references accounts (jid) with
-- ON DELETE CASCADE, directly or through a parent row, so that deleting the
-- account row removes everything of the user. A later migration that adds
-- an area does the same; TestSchemaCascade fails for a table that does not.
--
-- Names and addresses are text COLLATE "C": the contract sorts in byte
-- order, whatever the database's default collation. Times are timestamptz
-- (microseconds).

CREATE TABLE accounts (
	jid            text COLLATE "C" NOT NULL PRIMARY KEY,
	domain         text COLLATE "C" NOT NULL,
	created        timestamptz      NOT NULL,
	roster_version bigint           NOT NULL DEFAULT 0
);

CREATE INDEX accounts_domain ON accounts (domain, jid);

CREATE TABLE account_keys (
	account    text COLLATE "C" NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	hash       text COLLATE "C" NOT NULL,
	salt       bytea            NOT NULL,
	iterations integer          NOT NULL,
	stored_key bytea            NOT NULL,
	server_key bytea            NOT NULL,
	PRIMARY KEY (account, hash)
);

CREATE TABLE roster_items (
	account      text COLLATE "C" NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	contact      text COLLATE "C" NOT NULL,
	name         text             NOT NULL,
	subscription text             NOT NULL,
	ask          boolean          NOT NULL,
	approved     boolean          NOT NULL,
	groups       text[]           NOT NULL,
	PRIMARY KEY (account, contact)
);

-- seq keeps arrival order: a new row takes a larger one than every row
-- present, and an upsert keeps it.
CREATE TABLE roster_pending (
	seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account text COLLATE "C" NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	sender  text COLLATE "C" NOT NULL,
	stanza  text             NOT NULL,
	UNIQUE (account, sender)
);

CREATE INDEX roster_pending_order ON roster_pending (account, seq);

-- id comes from a sequence, so IDs are never reused. A Push takes its ID
-- while it holds the lock on the user's accounts row, so one user's
-- messages commit in the order of their IDs, and Offline.Delete(upTo)
-- cannot remove one that a List did not see yet.
CREATE TABLE offline_messages (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account text COLLATE "C" NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	stored  timestamptz      NOT NULL,
	stanza  text             NOT NULL
);

CREATE INDEX offline_messages_account ON offline_messages (account, id);
CREATE INDEX offline_messages_stored ON offline_messages (stored);

CREATE TABLE vcards (
	account text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES accounts (jid) ON DELETE CASCADE,
	vcard   text             NOT NULL
);

CREATE TABLE private_xml (
	account   text COLLATE "C" NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	namespace text COLLATE "C" NOT NULL,
	xml       text             NOT NULL,
	PRIMARY KEY (account, namespace)
);

CREATE TABLE blocklist (
	account text COLLATE "C" NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	blocked text COLLATE "C" NOT NULL,
	PRIMARY KEY (account, blocked)
);
