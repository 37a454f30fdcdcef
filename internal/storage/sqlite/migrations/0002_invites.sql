-- Invitations to register on invite-only hosts. Only the SHA-256 hash of
-- a token is stored. Invitations belong to no account.

CREATE TABLE invites (
	hash    BLOB    NOT NULL PRIMARY KEY,
	host    TEXT    NOT NULL,
	expires INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX invites_expires ON invites (expires);
