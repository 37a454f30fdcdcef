-- The key that archive IDs are derived with (see archiveid.go). A message
-- archived from now on keeps its seq in hexadecimal behind a control
-- character as its stored id, which grows with seq, so that the unique
-- (account, id) index takes it at its end; the ID clients see is the
-- seq encrypted with this key. Messages archived before, and those
-- imported with an ID of their own, keep their ID as it is. The store
-- writes the key (16 random bytes) when it opens a store without one.
CREATE TABLE archive_key (
	k BLOB NOT NULL CHECK (length(k) = 16)
) STRICT;
