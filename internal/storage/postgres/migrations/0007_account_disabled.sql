-- An account an administrator disabled (XEP-0133 §4.3): it keeps all it
-- holds, but nobody logs in to it until it is enabled again.
ALTER TABLE accounts ADD COLUMN disabled boolean NOT NULL DEFAULT false;
