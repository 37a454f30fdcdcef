package postgres

import (
	"context"
	"time"
)

type vcards struct{ s *Store }

func (v vcards) Get(ctx context.Context, user string) (string, error) {
	defer v.s.done("vcards.get", time.Now())
	var vcard string
	err := v.s.pool.QueryRow(ctx, "SELECT vcard FROM vcards WHERE account = $1", user).Scan(&vcard)
	if err != nil {
		return "", wrapErr("vcards get", err)
	}
	return vcard, nil
}

func (v vcards) Put(ctx context.Context, user, vcard string) error {
	defer v.s.done("vcards.put", time.Now())
	if vcard == "" {
		_, err := v.s.pool.Exec(ctx, "DELETE FROM vcards WHERE account = $1", user)
		return wrapErr("vcards put", err)
	}
	_, err := v.s.pool.Exec(ctx, `
INSERT INTO vcards (account, vcard) VALUES ($1, $2)
ON CONFLICT (account) DO UPDATE SET vcard = excluded.vcard`, user, vcard)
	return wrapErr("vcards put", err)
}

type private struct{ s *Store }

func (p private) Get(ctx context.Context, user, namespace string) (string, error) {
	defer p.s.done("private.get", time.Now())
	var xml string
	err := p.s.pool.QueryRow(ctx,
		"SELECT xml FROM private_xml WHERE account = $1 AND namespace = $2", user, namespace).Scan(&xml)
	if err != nil {
		return "", wrapErr("private get", err)
	}
	return xml, nil
}

func (p private) Put(ctx context.Context, user, namespace, xml string) error {
	defer p.s.done("private.put", time.Now())
	_, err := p.s.pool.Exec(ctx, `
INSERT INTO private_xml (account, namespace, xml) VALUES ($1, $2, $3)
ON CONFLICT (account, namespace) DO UPDATE SET xml = excluded.xml`, user, namespace, xml)
	return wrapErr("private put", err)
}
