package server

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/router"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/stream"
	"samtal.org/samtal/internal/xmlel"
)

// boundSession is a bound client session that records how it ended.
type boundSession struct {
	jid    jid.JID
	guest  bool
	closed *[]string
}

func (b *boundSession) JID() jid.JID        { return b.jid }
func (b *boundSession) Send(*xmlel.Element) {}
func (b *boundSession) Guest() bool         { return b.guest }
func (b *boundSession) CloseWithError(e stream.Error) {
	*b.closed = append(*b.closed, b.jid.String()+" "+e.Text)
}

// TestEndRevoked checks that the accounts bound here that another process
// disabled or removed have their sessions ended, and no one else: not an
// account as it was, not an IRC guest, who has no stored account.
func TestEndRevoked(t *testing.T) {
	ctx := context.Background()
	store := tempStore(t)
	keys := map[storage.Hash]storage.SCRAMKeys{storage.SHA256: {Salt: []byte("salt"), Iterations: 4096, StoredKey: []byte("k"), ServerKey: []byte("s")}}
	for _, u := range []string{"ada@localhost", "bob@localhost"} {
		if err := store.Accounts().Create(ctx, storage.Account{User: u, Keys: keys}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Accounts().SetDisabled(ctx, "ada@localhost", true); err != nil {
		t.Fatal(err)
	}
	r := router.New([]string{"localhost"})
	var closed []string
	for _, s := range []*boundSession{
		{jid: jid.MustParse("ada@localhost/phone")},
		{jid: jid.MustParse("bob@localhost/phone")},
		{jid: jid.MustParse("carl@localhost/phone")}, // removed
		{jid: jid.MustParse("visitor@localhost/irc-1"), guest: true},
	} {
		s.closed = &closed
		if _, err := r.Bind(s, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	endRevoked(ctx, r, store.Accounts())
	sort.Strings(closed)
	want := []string{"ada@localhost/phone account disabled", "carl@localhost/phone account removed"}
	if !slices.Equal(closed, want) {
		t.Errorf("sessions ended: %q, want %q", closed, want)
	}

	// An account named as revoked with nothing bound: a login under way
	// binds after, and is refused.
	if err := store.Accounts().Create(ctx, storage.Account{User: "dan@localhost", Keys: keys, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	began := &beganSession{boundSession{jid: jid.MustParse("dan@localhost/tablet"), closed: &closed}, time.Now()}
	endIfRevoked(ctx, r, jid.MustParse("dan@localhost"), store.Accounts())
	if _, err := r.Bind(began, false, 0); err == nil {
		t.Error("a login under way when dan was found disabled bound")
	}

	// Enabled again beside the server ("samtal user enable"): the store
	// says only that something changed, and the mark of dan, bound
	// nowhere, is lifted; the login binds. erin, removed and made again
	// after its mark, keeps its mark: a login from before the removal
	// does not bind to the new account.
	if err := store.Accounts().Create(ctx, storage.Account{User: "erin@localhost", Keys: keys}); err != nil {
		t.Fatal(err)
	}
	erinEarly := &beganSession{boundSession{jid: jid.MustParse("erin@localhost/tablet"), closed: &closed}, time.Now()}
	if err := store.Accounts().Delete(ctx, "erin@localhost"); err != nil {
		t.Fatal(err)
	}
	endIfRevoked(ctx, r, jid.MustParse("erin@localhost"), store.Accounts())
	time.Sleep(time.Millisecond)
	if err := store.Accounts().Create(ctx, storage.Account{User: "erin@localhost", Keys: keys}); err != nil {
		t.Fatal(err)
	}
	if err := store.Accounts().SetDisabled(ctx, "dan@localhost", false); err != nil {
		t.Fatal(err)
	}
	endRevoked(ctx, r, store.Accounts())
	if _, err := r.Bind(began, false, 0); err != nil {
		t.Errorf("a login under way when dan was enabled again: %v", err)
	}
	if _, err := r.Bind(erinEarly, false, 0); err == nil {
		t.Error("a login from before erin's removal bound to the account made again")
	}
}

// beganSession is a bound client session that began at a time
// (router.Beginner).
type beganSession struct {
	boundSession
	began time.Time
}

func (b *beganSession) Began() time.Time { return b.began }
