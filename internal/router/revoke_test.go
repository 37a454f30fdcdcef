package router

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/stream"
)

// beganSession is a client session that began at a time.
type beganSession struct {
	*fakeSession
	began time.Time
}

func (b beganSession) Began() time.Time { return b.began }

func beganAt(full string, at time.Time) beganSession {
	return beganSession{sess(full), at}
}

var disabled = stream.Error{Condition: stream.NotAuthorized, Text: "account disabled"}

func TestRevoke(t *testing.T) {
	r := New([]string{"x"})
	early := time.Now()
	bound, other := beganAt("a@x/bound", early), beganAt("b@x/1", early)
	for _, s := range []Session{bound, other} {
		if _, err := r.Bind(s, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	r.Revoke(jid.MustParse("a@x"), disabled)

	if len(bound.closed) != 1 || bound.closed[0] != disabled {
		t.Errorf("the bound session was ended with %v, want %v", bound.closed, disabled)
	}
	if len(other.closed) != 0 {
		t.Errorf("another account's session was ended: %v", other.closed)
	}
	late := beganAt("a@x/late", early)
	_, err := r.Bind(late, false, 0)
	var rev *RevokedError
	if !errors.As(err, &rev) || rev.Stream != disabled {
		t.Fatalf("Bind of a session that began before the revocation = %v, want a RevokedError with %v", err, disabled)
	}
	if r.IsBound(late.jid) {
		t.Error("a refused session took its resource")
	}
	if _, err := r.Bind(beganAt("b@x/2", early), false, 0); err != nil {
		t.Errorf("Bind to another account = %v", err)
	}
	if _, err := r.Bind(beganAt("a@x/new", time.Now()), false, 0); err != nil {
		t.Errorf("Bind of a session that began after the revocation = %v", err)
	}
	// A cluster's proxy of a resource bound elsewhere knows no beginning:
	// its node decides.
	if _, err := r.Bind(sess("a@x/proxy"), false, 0); err != nil {
		t.Errorf("Bind of a session that is not a Beginner = %v", err)
	}

	r.Unrevoke(jid.MustParse("a@x"))
	if _, err := r.Bind(late, false, 0); err != nil {
		t.Errorf("Bind after Unrevoke = %v", err)
	}
}

func TestRevokeRebind(t *testing.T) {
	r := New([]string{"x"})
	old := beganAt("a@x/r", time.Now())
	if _, err := r.Bind(old, false, 0); err != nil {
		t.Fatal(err)
	}
	resumed := beganAt("a@x/r", time.Now())
	// A resumption that logged in before the account was revoked, and
	// reaches the resource before its old session has unbound.
	r.Revoke(jid.MustParse("a@x"), disabled)
	if r.Rebind(old, resumed) {
		t.Error("Rebind took the resource for a session that began before the revocation")
	}
	after := beganAt("a@x/r", time.Now())
	if !r.Rebind(old, after) {
		t.Error("Rebind refused a session that began after the revocation")
	}
}

func TestRevokeForgets(t *testing.T) {
	r := New([]string{"x"})
	r.SetBindWithin(time.Second)
	a, b := jid.MustParse("a@x"), jid.MustParse("b@x")
	r.Revoke(a, disabled)
	sh := r.table.shard(a)
	// Long enough ago that no session which began before it may still
	// bind.
	sh.revoked[a] = revocation{at: time.Now().Add(-time.Second - revocationMargin - time.Millisecond), why: disabled}
	r.forgetRevoked(sh, time.Now())
	if _, ok := sh.revoked[a]; ok {
		t.Error("an old mark was kept")
	}
	r.Revoke(b, disabled)
	r.forgetRevoked(r.table.shard(b), time.Now())
	if _, ok := r.table.shard(b).revoked[b]; !ok {
		t.Error("a fresh mark was forgotten")
	}
}

// TestUnrevokeWithin lifts a mark only when it was made between the two
// times given: after the account's creation and before the read that
// found it enabled.
func TestUnrevokeWithin(t *testing.T) {
	r := New([]string{"x"})
	a, b := jid.MustParse("a@x"), jid.MustParse("b@x")
	created := time.Now()
	time.Sleep(time.Millisecond)
	r.Revoke(a, disabled)
	r.Revoke(b, disabled)
	if got := r.Revoked(); len(got) != 2 {
		t.Fatalf("Revoked() = %v, want a and b", got)
	}
	read := time.Now()
	// Created after the mark: an account of the same name made again.
	if r.UnrevokeWithin(a, read, time.Now()) {
		t.Error("the mark of an account removed before it was created again was lifted")
	}
	// Read before the mark was made: the read may not have seen it.
	if r.UnrevokeWithin(a, created, created.Add(time.Microsecond)) {
		t.Error("a mark made after the read began was lifted")
	}
	early := beganAt("a@x/phone", created)
	if _, err := r.Bind(early, false, 0); err == nil {
		t.Fatal("a session that began before the mark bound")
	}
	if !r.UnrevokeWithin(a, created, read) {
		t.Fatal("the mark of an account enabled again was kept")
	}
	if _, err := r.Bind(early, false, 0); err != nil {
		t.Errorf("after the mark was lifted, bind: %v", err)
	}
	if got := r.Revoked(); len(got) != 1 || got[0] != b {
		t.Errorf("Revoked() = %v, want [b@x]", got)
	}
}

// TestRevokeRace binds sessions that began before a revocation while it
// happens: each one either fails to bind or is ended.
func TestRevokeRace(t *testing.T) {
	for round := range 50 {
		r := New([]string{"x"})
		began := time.Now()
		sessions := make([]beganSession, 8)
		results := make([]error, len(sessions))
		var wg sync.WaitGroup
		for i := range sessions {
			sessions[i] = beganAt(fmt.Sprintf("a@x/%d", i), began)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, results[i] = r.Bind(sessions[i], false, 0)
			}()
		}
		r.Revoke(jid.MustParse("a@x"), disabled)
		wg.Wait()
		for i, s := range sessions {
			switch {
			case results[i] == nil && len(s.closed) != 1:
				t.Fatalf("round %d: session %d bound and was ended %d times", round, i, len(s.closed))
			case results[i] != nil && len(s.closed) != 0:
				t.Fatalf("round %d: session %d was refused (%v) and ended", round, i, results[i])
			}
		}
	}
}
