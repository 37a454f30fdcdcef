-- Invitations to register on invite-only hosts. Only the SHA-256 hash of
-- a token is stored. Invitations belong to no account.

CREATE TABLE invites (
	hash    bytea            NOT NULL PRIMARY KEY,
	host    text COLLATE "C" NOT NULL,
	expires timestamptz      NOT NULL
);

CREATE INDEX invites_expires ON invites (expires);
