-- A time maps to a position in one user's archive, not in all of them:
-- stored need only grow with seq within each archive, which is what a
-- copy from another store (ArchiveImporter) keeps, and the lookup of a
-- query's Start or End reads one step of this index.
CREATE INDEX archive_account_stored ON archive (account, stored, seq);
