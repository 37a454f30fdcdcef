-- FAST tokens (XEP-0484): at most two per client of a user, in the slots
-- 'new' (issued, not used yet) and 'current'. The seed is what the server
-- derives the token from with its secret key; the token itself is not
-- stored. Tokens belong to the account.

CREATE TABLE fast_tokens (
	account   TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	client    BLOB    NOT NULL,
	slot      TEXT    NOT NULL CHECK (slot IN ('new', 'current')),
	mechanism TEXT    NOT NULL,
	seed      BLOB    NOT NULL,
	expires   INTEGER NOT NULL,
	count     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (account, client, slot)
) STRICT, WITHOUT ROWID;

CREATE INDEX fast_tokens_expires ON fast_tokens (expires);
