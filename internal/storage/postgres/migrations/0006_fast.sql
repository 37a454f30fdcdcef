-- FAST tokens (XEP-0484): at most two per client of a user, in the slots
-- 'new' (issued, not used yet) and 'current'. The seed is what the server
-- derives the token from with its secret key; the token itself is not
-- stored. Tokens belong to the account.

CREATE TABLE fast_tokens (
	account   text COLLATE "C" NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	client    bytea            NOT NULL,
	slot      text COLLATE "C" NOT NULL CHECK (slot IN ('new', 'current')),
	mechanism text             NOT NULL,
	seed      bytea            NOT NULL,
	expires   timestamptz      NOT NULL,
	count     bigint           NOT NULL DEFAULT 0,
	PRIMARY KEY (account, client, slot)
);

CREATE INDEX fast_tokens_expires ON fast_tokens (expires);
