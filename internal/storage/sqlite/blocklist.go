package sqlite

import (
	"context"
	"encoding/json"
	"time"
)

type blocklist struct{ s *Store }

func (b blocklist) List(ctx context.Context, user string) ([]string, error) {
	defer b.s.done("blocklist.list", time.Now())
	jids, err := queryStrings(ctx, b.s.r,
		"SELECT blocked FROM blocklist WHERE account = ? ORDER BY blocked", user)
	return jids, wrapErr("blocklist list", err)
}

// Add and Remove pass the JIDs as one JSON array that json_each unpacks,
// so that each is one statement (atomic without an explicit transaction)
// whatever the number of JIDs.

func (b blocklist) Add(ctx context.Context, user string, jids []string) error {
	defer b.s.done("blocklist.add", time.Now())
	if len(jids) == 0 {
		return nil
	}
	arr, err := json.Marshal(jids)
	if err != nil {
		return wrapErr("blocklist add", err)
	}
	// "WHERE true" tells the parser that ON CONFLICT is the upsert clause,
	// not part of a join (https://sqlite.org/lang_upsert.html, parsing
	// ambiguity).
	_, err = b.s.w.ExecContext(ctx, `
INSERT INTO blocklist (account, blocked)
SELECT ?, value FROM json_each(?) WHERE true
ON CONFLICT DO NOTHING`, user, string(arr))
	return wrapErr("blocklist add", err)
}

func (b blocklist) Remove(ctx context.Context, user string, jids []string) error {
	defer b.s.done("blocklist.remove", time.Now())
	if len(jids) == 0 {
		_, err := b.s.w.ExecContext(ctx, "DELETE FROM blocklist WHERE account = ?", user)
		return wrapErr("blocklist remove", err)
	}
	arr, err := json.Marshal(jids)
	if err != nil {
		return wrapErr("blocklist remove", err)
	}
	_, err = b.s.w.ExecContext(ctx, `
DELETE FROM blocklist WHERE account = ? AND blocked IN (SELECT value FROM json_each(?))`,
		user, string(arr))
	return wrapErr("blocklist remove", err)
}
