package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samtal.org/samtal/internal/register"
	"samtal.org/samtal/internal/storage/sqlite"
)

func TestInviteCreate(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	code := run([]string{"invite", "create", "--data-dir", dir, "--domain", "example.org", "--ttl", "2h"}, nil, &out, &errOut)
	if code != 0 {
		t.Fatalf("invite create = %d: %s", code, errOut.String())
	}
	fields := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, _ := strings.Cut(line, ":")
		fields[k] = strings.TrimSpace(v)
	}
	token := fields["token"]
	if len(token) < 20 {
		t.Fatalf("token %q in %q", token, out.String())
	}
	if want := "xmpp:example.org?register;preauth=" + token; fields["uri"] != want {
		t.Errorf("uri %q, want %q", fields["uri"], want)
	}
	exp, err := time.Parse(time.RFC3339, fields["expires"])
	if err != nil || exp.Before(time.Now().Add(119*time.Minute)) || exp.After(time.Now().Add(121*time.Minute)) {
		t.Errorf("expires %q (%v), want in two hours", fields["expires"], err)
	}
	// The default policy is closed: the command says the invitation needs
	// the invite policy.
	if !strings.Contains(errOut.String(), `"invite"`) {
		t.Errorf("no note about the registration policy: %q", errOut.String())
	}

	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "samtal.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	inv := register.StoredInvites{Store: store.Invites()}
	if ok, err := inv.Use(ctx, token, "other.example"); err != nil || ok {
		t.Errorf("the invitation works on another host: %v, %v", ok, err)
	}
	if ok, err := inv.Use(ctx, token, "example.org"); err != nil || !ok {
		t.Errorf("the invitation does not work: %v, %v", ok, err)
	}
	if ok, _ := inv.Use(ctx, token, "example.org"); ok {
		t.Error("the invitation works twice")
	}
}

func TestInviteCreateErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"invite"},
		{"invite", "delete"},
		{"invite", "create", "--data-dir", dir, "--ttl", "soon"},
		{"invite", "create", "--data-dir", dir, "--ttl", "-1h"},
		{"invite", "create", "--data-dir", dir, "extra"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, nil, &out, &errOut); code == 0 || out.Len() != 0 {
			t.Errorf("%q = %d, printed %q; want a failure", args, code, out.String())
		}
	}
}
