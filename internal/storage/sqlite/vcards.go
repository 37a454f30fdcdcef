package sqlite

import (
	"context"
	"time"
)

type vcards struct{ s *Store }

func (v vcards) Get(ctx context.Context, user string) (string, error) {
	defer v.s.done("vcards.get", time.Now())
	var vcard string
	err := v.s.r.QueryRowContext(ctx, "SELECT vcard FROM vcards WHERE account = ?", user).Scan(&vcard)
	if err != nil {
		return "", wrapErr("vcards get", err)
	}
	return vcard, nil
}

func (v vcards) Put(ctx context.Context, user, vcard string) error {
	defer v.s.done("vcards.put", time.Now())
	if vcard == "" {
		_, err := v.s.w.ExecContext(ctx, "DELETE FROM vcards WHERE account = ?", user)
		return wrapErr("vcards put", err)
	}
	_, err := v.s.w.ExecContext(ctx, `
INSERT INTO vcards (account, vcard) VALUES (?, ?)
ON CONFLICT (account) DO UPDATE SET vcard = excluded.vcard`, user, vcard)
	return wrapErr("vcards put", err)
}

type private struct{ s *Store }

func (p private) Get(ctx context.Context, user, namespace string) (string, error) {
	defer p.s.done("private.get", time.Now())
	var xml string
	err := p.s.r.QueryRowContext(ctx,
		"SELECT xml FROM private_xml WHERE account = ? AND namespace = ?", user, namespace).Scan(&xml)
	if err != nil {
		return "", wrapErr("private get", err)
	}
	return xml, nil
}

func (p private) Put(ctx context.Context, user, namespace, xml string) error {
	defer p.s.done("private.put", time.Now())
	_, err := p.s.w.ExecContext(ctx, `
INSERT INTO private_xml (account, namespace, xml) VALUES (?, ?, ?)
ON CONFLICT (account, namespace) DO UPDATE SET xml = excluded.xml`, user, namespace, xml)
	return wrapErr("private put", err)
}
