-- Message archives (XEP-0313), archiving preferences (XEP-0441) and push
-- services (XEP-0357).

-- seq is the archive order: from a sequence, so it grows and is never
-- reused, even after the newest messages are deleted. Sequence values are
-- taken in insert order, not commit order; Archive.Append inserts while it
-- holds the lock on the user's accounts row, so within one archive seq
-- order is commit order. id is the archive ID that clients see: random, so
-- that it tells nothing (XEP-0359 §7), unique per archive. stored never
-- decreases with seq within one archive (Append clamps it under the same
-- lock), so that a time maps to a position in the archive. with_bare and
-- with_resource are the other party of the message.
--
-- The primary key is (account, seq), not seq: an index on seq alone
-- would tempt the planner to walk every archive in seq order, filtering
-- on the account, which costs the whole table for a quiet user.
CREATE TABLE archive (
	seq           bigint GENERATED ALWAYS AS IDENTITY,
	account       text COLLATE "C" NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	id            text COLLATE "C" NOT NULL,
	stored        timestamptz      NOT NULL,
	with_bare     text COLLATE "C" NOT NULL,
	with_resource text COLLATE "C" NOT NULL,
	stanza        text             NOT NULL,
	PRIMARY KEY (account, seq),
	UNIQUE (account, id)
);

-- Besides the primary key, which pages one archive in order: pages of
-- one conversation; a time to a position in one archive; and retention,
-- oldest first across archives.
CREATE INDEX archive_with ON archive (account, with_bare, seq);
CREATE INDEX archive_account_stored ON archive (account, stored, seq);
CREATE INDEX archive_stored ON archive (stored);

CREATE TABLE archive_prefs (
	account        text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES accounts (jid) ON DELETE CASCADE,
	default_policy text             NOT NULL
);

-- always is true for the 'always' list, false for 'never'.
CREATE TABLE archive_prefs_jids (
	account text COLLATE "C" NOT NULL REFERENCES archive_prefs (account) ON DELETE CASCADE,
	jid     text COLLATE "C" NOT NULL,
	always  boolean          NOT NULL,
	PRIMARY KEY (account, jid)
);

CREATE TABLE push_services (
	account text COLLATE "C" NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	service text COLLATE "C" NOT NULL,
	node    text COLLATE "C" NOT NULL,
	options text             NOT NULL,
	PRIMARY KEY (account, service, node)
);
