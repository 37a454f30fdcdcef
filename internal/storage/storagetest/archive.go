package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"samtal.org/samtal/internal/storage"
)

// archived appends n messages to user's archive, alternating between
// the contacts, and returns them as stored.
func archived(t *testing.T, s storage.Store, user string, n int, with ...string) []storage.ArchivedMessage {
	t.Helper()
	if len(with) == 0 {
		with = []string{bob + "/phone"}
	}
	var out []storage.ArchivedMessage
	for i := range n {
		m := storage.ArchivedMessage{
			ID:     fmt.Sprintf("%s-%d-%03d", user[:1], time.Now().UnixNano(), i),
			With:   with[i%len(with)],
			Stanza: msg(i),
		}
		got, err := s.Archive().Append(t.Context(), user, m)
		wantErr(t, "Archive.Append", err, nil)
		if got.ID != m.ID || got.With != m.With || got.Stanza != m.Stanza || !near(got.Stored) {
			t.Fatalf("Append(%+v) = %+v, want the message with Stored about now", m, got)
		}
		out = append(out, got)
	}
	return out
}

func query(t *testing.T, s storage.Store, user string, q storage.ArchiveQuery) storage.ArchivePage {
	t.Helper()
	p, err := s.Archive().Query(t.Context(), user, q)
	wantErr(t, "Archive.Query", err, nil)
	return p
}

func ids(ms []storage.ArchivedMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// checkPage compares a page with the messages it should hold and its
// other fields.
func checkPage(t *testing.T, what string, p storage.ArchivePage, want []storage.ArchivedMessage, complete bool, count, index int) {
	t.Helper()
	if !slices.Equal(ids(p.Messages), ids(want)) {
		t.Fatalf("%s: messages %q, want %q", what, ids(p.Messages), ids(want))
	}
	for i, m := range p.Messages {
		w := want[i]
		if m.With != w.With || m.Stanza != w.Stanza || !m.Stored.Equal(w.Stored) || m.Stored.Location() != time.UTC {
			t.Fatalf("%s: message %d = %+v, want %+v", what, i, m, w)
		}
	}
	if p.Complete != complete || p.Count != count || p.Index != index {
		t.Fatalf("%s: complete %v count %d index %d, want %v %d %d", what, p.Complete, p.Count, p.Index, complete, count, index)
	}
}

var archiveTests = []subtest{
	{"AppendQuery", func(t *testing.T, s storage.Store) {
		create(t, s, alice, bob)
		ms := archived(t, s, alice, 5)
		for i := 1; i < len(ms); i++ {
			if ms[i].Stored.Before(ms[i-1].Stored) {
				t.Fatalf("Stored goes back: %v after %v", ms[i].Stored, ms[i-1].Stored)
			}
		}
		checkPage(t, "everything", query(t, s, alice, storage.ArchiveQuery{Max: 10}), ms, true, 5, 0)
		checkPage(t, "bob's archive", query(t, s, bob, storage.ArchiveQuery{Max: 10}), nil, true, 0, -1)
		checkPage(t, "ghost's archive", query(t, s, ghost, storage.ArchiveQuery{Max: 10}), nil, true, 0, -1)
	}},
	{"PageForward", func(t *testing.T, s storage.Store) {
		create(t, s, alice, bob)
		ms := archived(t, s, alice, 7)
		p := query(t, s, alice, storage.ArchiveQuery{Max: 3})
		checkPage(t, "first page", p, ms[:3], false, 7, 0)
		p = query(t, s, alice, storage.ArchiveQuery{Max: 3, After: ms[2].ID})
		checkPage(t, "second page", p, ms[3:6], false, 7, 3)
		p = query(t, s, alice, storage.ArchiveQuery{Max: 3, After: ms[5].ID})
		checkPage(t, "last page", p, ms[6:], true, 7, 6)
		p = query(t, s, alice, storage.ArchiveQuery{Max: 3, After: ms[6].ID})
		checkPage(t, "after the end", p, nil, true, 7, -1)
		p = query(t, s, alice, storage.ArchiveQuery{Max: 4, After: ms[2].ID})
		checkPage(t, "exactly the rest", p, ms[3:], true, 7, 3)
	}},
	{"PageBackward", func(t *testing.T, s storage.Store) {
		create(t, s, alice, bob)
		ms := archived(t, s, alice, 7)
		p := query(t, s, alice, storage.ArchiveQuery{Max: 3, Backward: true})
		checkPage(t, "last page", p, ms[4:], false, 7, 4)
		p = query(t, s, alice, storage.ArchiveQuery{Max: 3, Backward: true, Before: ms[4].ID})
		checkPage(t, "previous page", p, ms[1:4], false, 7, 1)
		p = query(t, s, alice, storage.ArchiveQuery{Max: 3, Backward: true, Before: ms[1].ID})
		checkPage(t, "first page", p, ms[:1], true, 7, 0)
		p = query(t, s, alice, storage.ArchiveQuery{Max: 3, Backward: true, Before: ms[0].ID})
		checkPage(t, "before the start", p, nil, true, 7, -1)
	}},
	{"CountOnly", func(t *testing.T, s storage.Store) {
		create(t, s, alice, bob)
		archived(t, s, alice, 4)
		checkPage(t, "max 0", query(t, s, alice, storage.ArchiveQuery{}), nil, false, 4, -1)
		checkPage(t, "max 0 of nothing", query(t, s, bob, storage.ArchiveQuery{}), nil, true, 0, -1)
	}},
	{"With", func(t *testing.T, s storage.Store) {
		create(t, s, alice, bob)
		ms := archived(t, s, alice, 6, bob+"/phone", "carol@example.com", bob+"/laptop")
		p := query(t, s, alice, storage.ArchiveQuery{With: bob, Max: 10})
		checkPage(t, "with bare", p, []storage.ArchivedMessage{ms[0], ms[2], ms[3], ms[5]}, true, 4, 0)
		p = query(t, s, alice, storage.ArchiveQuery{With: bob + "/laptop", Max: 10})
		checkPage(t, "with full", p, []storage.ArchivedMessage{ms[2], ms[5]}, true, 2, 0)
		p = query(t, s, alice, storage.ArchiveQuery{With: "carol@example.com", Max: 1, After: ms[1].ID})
		checkPage(t, "with and after", p, []storage.ArchivedMessage{ms[4]}, true, 2, 1)
		p = query(t, s, alice, storage.ArchiveQuery{With: "dave@example.com", Max: 10})
		checkPage(t, "with nobody", p, nil, true, 0, -1)
	}},
	{"IDRange", func(t *testing.T, s storage.Store) {
		create(t, s, alice, bob)
		ms := archived(t, s, alice, 8)
		p := query(t, s, alice, storage.ArchiveQuery{AfterID: ms[1].ID, BeforeID: ms[6].ID, Max: 2})
		checkPage(t, "range first page", p, ms[2:4], false, 4, 0)
		p = query(t, s, alice, storage.ArchiveQuery{AfterID: ms[1].ID, BeforeID: ms[6].ID, Max: 2, After: ms[3].ID})
		checkPage(t, "range second page", p, ms[4:6], true, 4, 2)
		p = query(t, s, alice, storage.ArchiveQuery{AfterID: ms[1].ID, BeforeID: ms[6].ID, Max: 3, Backward: true})
		checkPage(t, "range last page", p, ms[3:6], false, 4, 1)
		// BeforeID pages forward from the start of the range.
		p = query(t, s, alice, storage.ArchiveQuery{BeforeID: ms[6].ID, Max: 2})
		checkPage(t, "before-id", p, ms[:2], false, 6, 0)
		p = query(t, s, alice, storage.ArchiveQuery{IDs: []string{ms[5].ID, ms[1].ID, ms[1].ID}, Max: 10})
		checkPage(t, "ids", p, []storage.ArchivedMessage{ms[1], ms[5]}, true, 2, 0)
	}},
	{"UnknownIDs", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		ms := archived(t, s, alice, 3)
		bobs := archived(t, s, bob, 1)
		for _, q := range []storage.ArchiveQuery{
			{AfterID: "nope", Max: 1}, {BeforeID: "nope", Max: 1}, {After: "nope", Max: 1},
			{Before: "nope", Backward: true, Max: 1}, {IDs: []string{ms[0].ID, "nope"}, Max: 1},
			{After: bobs[0].ID, Max: 1}, // another archive's ID
		} {
			_, err := s.Archive().Query(ctx, alice, q)
			wantErr(t, fmt.Sprintf("Query(%+v)", q), err, storage.ErrNotFound)
		}
	}},
	{"DuplicateID", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		m := storage.ArchivedMessage{ID: "same", With: bob, Stanza: msg(1)}
		_, err := s.Archive().Append(ctx, alice, m)
		wantErr(t, "Append", err, nil)
		_, err = s.Archive().Append(ctx, alice, m)
		wantErr(t, "Append of a taken ID", err, storage.ErrExists)
		_, err = s.Archive().Append(ctx, bob, m)
		wantErr(t, "Append of the ID to another archive", err, nil)
	}},
	{"Bounds", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		_, _, err := s.Archive().Bounds(ctx, alice)
		wantErr(t, "Bounds of an empty archive", err, storage.ErrNotFound)
		ms := archived(t, s, alice, 3)
		first, last, err := s.Archive().Bounds(ctx, alice)
		wantErr(t, "Bounds", err, nil)
		if first.ID != ms[0].ID || !first.Stored.Equal(ms[0].Stored) || last.ID != ms[2].ID || !last.Stored.Equal(ms[2].Stored) {
			t.Fatalf("Bounds = %+v, %+v, want %s and %s", first, last, ms[0].ID, ms[2].ID)
		}
	}},
	{"DeleteAll", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		archived(t, s, alice, 5)
		bobs := archived(t, s, bob, 2)
		n, err := s.Archive().DeleteAll(ctx, alice)
		wantErr(t, "DeleteAll", err, nil)
		if n != 5 {
			t.Errorf("DeleteAll = %d, want 5", n)
		}
		checkPage(t, "after DeleteAll", query(t, s, alice, storage.ArchiveQuery{Max: 10}), nil, true, 0, -1)
		checkPage(t, "the other archive", query(t, s, bob, storage.ArchiveQuery{Max: 10}), bobs, true, 2, 0)
		// New messages come after the deleted ones; old IDs may be
		// reused by the caller, the store does not mind.
		more := archived(t, s, alice, 1)
		checkPage(t, "new message", query(t, s, alice, storage.ArchiveQuery{Max: 10}), more, true, 1, 0)
	}},
	{"Expire", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		archived(t, s, alice, 2)
		archived(t, s, bob, 1)
		time.Sleep(5 * time.Millisecond)
		cut := time.Now()
		time.Sleep(5 * time.Millisecond)
		fresh := archived(t, s, alice, 1)
		n, err := s.Archive().Expire(ctx, cut)
		wantErr(t, "Expire", err, nil)
		if n != 3 {
			t.Errorf("Expire = %d, want 3", n)
		}
		checkPage(t, "after Expire", query(t, s, alice, storage.ArchiveQuery{Max: 10}), fresh, true, 1, 0)
		checkPage(t, "bob after Expire", query(t, s, bob, storage.ArchiveQuery{Max: 10}), nil, true, 0, -1)
	}},
	{"Prefs", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		_, err := s.Archive().Prefs(ctx, alice)
		wantErr(t, "Prefs before any", err, storage.ErrNotFound)
		p := storage.ArchivePrefs{Default: storage.ArchiveRoster, Always: []string{bob, "carol@example.com"}, Never: []string{"dave@example.com/x"}}
		wantErr(t, "SetPrefs", s.Archive().SetPrefs(ctx, alice, p), nil)
		got, err := s.Archive().Prefs(ctx, alice)
		wantErr(t, "Prefs", err, nil)
		if got.Default != p.Default || !slices.Equal(got.Always, p.Always) || !slices.Equal(got.Never, p.Never) {
			t.Fatalf("Prefs = %+v, want %+v", got, p)
		}
		// Replacing forgets the old lists; a JID in both is never
		// archived.
		p = storage.ArchivePrefs{Default: storage.ArchiveNever, Always: []string{"erin@example.com"}, Never: []string{"erin@example.com"}}
		wantErr(t, "SetPrefs again", s.Archive().SetPrefs(ctx, alice, p), nil)
		got, err = s.Archive().Prefs(ctx, alice)
		wantErr(t, "Prefs", err, nil)
		if got.Default != storage.ArchiveNever || len(got.Always) != 0 || !slices.Equal(got.Never, []string{"erin@example.com"}) {
			t.Fatalf("Prefs after replace = %+v", got)
		}
		_, err = s.Archive().Prefs(ctx, bob)
		wantErr(t, "Prefs of another user", err, storage.ErrNotFound)
	}},
	{"ConcurrentAppends", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		const workers, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					user := alice
					if i%2 == 1 {
						user = bob
					}
					_, err := s.Archive().Append(ctx, user, storage.ArchivedMessage{
						ID: fmt.Sprintf("w%d-%d", w, i), With: "c@example.com", Stanza: msg(i),
					})
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent Append = %v", err)
			}
		}
		total := 0
		for _, u := range []string{alice, bob} {
			p := query(t, s, u, storage.ArchiveQuery{Max: workers * each})
			total += len(p.Messages)
			for i := 1; i < len(p.Messages); i++ {
				if p.Messages[i].Stored.Before(p.Messages[i-1].Stored) {
					t.Fatalf("Stored goes back in archive order")
				}
			}
		}
		if total != workers*each {
			t.Errorf("%d messages archived, want %d", total, workers*each)
		}
	}},
}

// archiveTimeTests check the Start and End filters against the times the store
// gave.
var archiveTimeTests = []subtest{
	{"StartEnd", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		var ms []storage.ArchivedMessage
		for i := range 4 {
			m, err := s.Archive().Append(ctx, alice, storage.ArchivedMessage{ID: fmt.Sprint("t", i), With: bob, Stanza: msg(i)})
			wantErr(t, "Append", err, nil)
			ms = append(ms, m)
			time.Sleep(3 * time.Millisecond) // distinct times
		}
		p := query(t, s, alice, storage.ArchiveQuery{Start: ms[1].Stored, Max: 10})
		checkPage(t, "start inclusive", p, ms[1:], true, 3, 0)
		p = query(t, s, alice, storage.ArchiveQuery{End: ms[2].Stored, Max: 10})
		checkPage(t, "end inclusive", p, ms[:3], true, 3, 0)
		p = query(t, s, alice, storage.ArchiveQuery{Start: ms[1].Stored.Add(time.Microsecond), End: ms[2].Stored, Max: 10})
		checkPage(t, "between", p, ms[2:3], true, 1, 0)
		p = query(t, s, alice, storage.ArchiveQuery{Start: ms[3].Stored.Add(time.Second), Max: 10})
		checkPage(t, "start after everything", p, nil, true, 0, -1)
		p = query(t, s, alice, storage.ArchiveQuery{End: ms[0].Stored.Add(-time.Second), Max: 10})
		checkPage(t, "end before everything", p, nil, true, 0, -1)
		p = query(t, s, alice, storage.ArchiveQuery{Start: ms[1].Stored, Max: 1, Backward: true})
		checkPage(t, "start, last page", p, ms[3:], false, 3, 2)
		// Another user's messages in the same time do not count.
		_, err := s.Archive().Append(ctx, bob, storage.ArchivedMessage{ID: "b", With: alice, Stanza: msg(9)})
		wantErr(t, "Append", err, nil)
		p = query(t, s, alice, storage.ArchiveQuery{Start: ms[0].Stored, Max: 10})
		checkPage(t, "start, all of alice's", p, ms, true, 4, 0)
	}},
}

// archiveEnqueueTests check Enqueue: every callback comes once with the
// stored message, a query right after the calls sees them all in order,
// and an unknown account fails like Append.
var archiveEnqueueTests = []subtest{
	{"ReadYourWrites", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		const n = 300
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		wg.Add(n + 1)
		for i := range n {
			s.Archive().Enqueue(ctx, alice, storage.ArchivedMessage{ID: fmt.Sprint("e", i), With: bob, Stanza: msg(i)},
				func(m storage.ArchivedMessage, err error) {
					defer wg.Done()
					mu.Lock()
					defer mu.Unlock()
					if err != nil || m.Stored.IsZero() {
						t.Errorf("Enqueue %s: stored %v, %v", m.ID, m.Stored, err)
					}
					got[m.ID]++
				})
		}
		// Read your writes: no waiting for the callbacks.
		p := query(t, s, alice, storage.ArchiveQuery{Max: n + 10})
		if len(p.Messages) != n {
			t.Fatalf("query right after %d Enqueue calls found %d", n, len(p.Messages))
		}
		for i, m := range p.Messages {
			if m.ID != fmt.Sprint("e", i) {
				t.Fatalf("message %d is %s", i, m.ID)
			}
		}
		first, last, err := s.Archive().Bounds(ctx, alice)
		if err != nil || first.ID != "e0" || last.ID != fmt.Sprint("e", n-1) {
			t.Errorf("Bounds = %s, %s, %v", first.ID, last.ID, err)
		}
		s.Archive().Enqueue(ctx, ghost, storage.ArchivedMessage{ID: "g", With: alice, Stanza: msg(1)},
			func(_ storage.ArchivedMessage, err error) {
				defer wg.Done()
				if !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("Enqueue for a ghost: %v, want ErrNotFound", err)
				}
			})
		wg.Wait()
		for i := range n {
			if c := got[fmt.Sprint("e", i)]; c != 1 {
				t.Errorf("callback of e%d came %d times", i, c)
			}
		}
	}},
}

// archiveIDTests check the IDs a store gives messages archived without
// one: distinct, found again by every way a query names a message, and
// only in their own archive.
var archiveIDTests = []subtest{
	{"StoreNamed", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		var given []string
		for i := range 3 {
			m, err := s.Archive().Append(ctx, alice, storage.ArchivedMessage{With: bob, Stanza: msg(i)})
			wantErr(t, "Append", err, nil)
			given = append(given, m.ID)
		}
		var wg sync.WaitGroup
		for i := 3; i < 5; i++ {
			wg.Add(1)
			id := s.Archive().Enqueue(ctx, alice, storage.ArchivedMessage{With: bob, Stanza: msg(i)},
				func(_ storage.ArchivedMessage, err error) {
					defer wg.Done()
					wantErr(t, "Enqueue", err, nil)
				})
			given = append(given, id)
		}
		wg.Wait()
		seen := map[string]bool{}
		for _, id := range given {
			if id == "" || seen[id] {
				t.Fatalf("IDs given: %q", given)
			}
			seen[id] = true
		}
		p := query(t, s, alice, storage.ArchiveQuery{Max: 10})
		if got := ids(p.Messages); !slices.Equal(got, given) {
			t.Fatalf("query IDs = %q, want %q", got, given)
		}
		p = query(t, s, alice, storage.ArchiveQuery{AfterID: given[1], Max: 10})
		if len(p.Messages) != 3 || p.Messages[0].ID != given[2] {
			t.Errorf("after-id %s: %d messages", given[1], len(p.Messages))
		}
		p = query(t, s, alice, storage.ArchiveQuery{After: given[0], Before: given[4], Max: 10})
		if len(p.Messages) != 3 || p.Messages[0].ID != given[1] {
			t.Errorf("after %s before %s: %d messages", given[0], given[4], len(p.Messages))
		}
		p = query(t, s, alice, storage.ArchiveQuery{IDs: []string{given[3], given[0]}, Max: 10})
		if len(p.Messages) != 2 || p.Messages[0].ID != given[0] || p.Messages[1].ID != given[3] {
			t.Errorf("given %s, %s: %v", given[3], given[0], p.Messages)
		}
		first, last, err := s.Archive().Bounds(ctx, alice)
		if err != nil || first.ID != given[0] || last.ID != given[4] {
			t.Errorf("Bounds = %s, %s, %v", first.ID, last.ID, err)
		}
		// Another archive knows none of them.
		m, err := s.Archive().Append(ctx, bob, storage.ArchivedMessage{With: alice, Stanza: msg(9)})
		wantErr(t, "Append", err, nil)
		if seen[m.ID] {
			t.Errorf("bob's message got alice's ID %s", m.ID)
		}
		_, err = s.Archive().Query(ctx, bob, storage.ArchiveQuery{AfterID: given[0], Max: 10})
		wantErr(t, "bob's query after alice's ID", err, storage.ErrNotFound)
		_, err = s.Archive().Query(ctx, bob, storage.ArchiveQuery{IDs: []string{given[0]}, Max: 10})
		wantErr(t, "bob's query for alice's ID", err, storage.ErrNotFound)
	}},
}

var pushTests = []subtest{
	{"EnableList", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		create(t, s, alice, bob)
		a := storage.PushService{JID: "push.example.com", Node: "n1", Options: "<x/>"}
		b := storage.PushService{JID: "push.example.com", Node: "n2"}
		c := storage.PushService{JID: "app.example.net", Node: ""}
		for _, p := range []storage.PushService{a, b, c} {
			wantErr(t, "Enable", s.Push().Enable(ctx, alice, p, 3), nil)
		}
		checkPush(t, s, alice, c, a, b)
		checkPush(t, s, bob)
		// The same JID and node again replaces the options, even at the
		// limit.
		a.Options = "<x>new</x>"
		wantErr(t, "Enable again", s.Push().Enable(ctx, alice, a, 3), nil)
		checkPush(t, s, alice, c, a, b)
		err := s.Push().Enable(ctx, alice, storage.PushService{JID: "third.example"}, 3)
		wantErr(t, "Enable over the limit", err, storage.ErrQuota)
		wantErr(t, "Disable one node", s.Push().Disable(ctx, alice, "push.example.com", "n1"), nil)
		checkPush(t, s, alice, c, b)
		wantErr(t, "Enable", s.Push().Enable(ctx, alice, a, 0), nil)
		wantErr(t, "Disable every node", s.Push().Disable(ctx, alice, "push.example.com", ""), nil)
		checkPush(t, s, alice, c)
		wantErr(t, "Disable what is not there", s.Push().Disable(ctx, alice, "none.example", ""), nil)
	}},
}

func checkPush(t *testing.T, s storage.Store, user string, want ...storage.PushService) {
	t.Helper()
	got, err := s.Push().List(t.Context(), user)
	wantErr(t, "Push.List", err, nil)
	if !slices.Equal(got, want) {
		t.Fatalf("Push.List(%q) = %+v, want %+v", user, got, want)
	}
}

// archiveNoAccount checks the archive and push areas for a user without
// an account.
func archiveNoAccount(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, err := s.Archive().Append(ctx, ghost, storage.ArchivedMessage{ID: "x", With: alice, Stanza: msg(1)})
	wantErr(t, "Archive.Append", err, storage.ErrNotFound)
	wantErr(t, "Archive.SetPrefs", s.Archive().SetPrefs(ctx, ghost, storage.ArchivePrefs{Default: storage.ArchiveAlways}), storage.ErrNotFound)
	wantErr(t, "Push.Enable", s.Push().Enable(ctx, ghost, storage.PushService{JID: "p.example"}, 0), storage.ErrNotFound)
	checkPage(t, "ghost's archive", query(t, s, ghost, storage.ArchiveQuery{Max: 5}), nil, true, 0, -1)
	_, err = s.Archive().Prefs(ctx, ghost)
	wantErr(t, "Archive.Prefs", err, storage.ErrNotFound)
	checkPush(t, s, ghost)
	n, err := s.Archive().DeleteAll(ctx, ghost)
	if err != nil || n != 0 {
		t.Fatalf("Archive.DeleteAll = %d, %v", n, err)
	}
	wantErr(t, "Push.Disable", s.Push().Disable(ctx, ghost, "p.example", ""), nil)
}

// archiveDeleteAccount checks that deleting an account removes its
// archive, preferences and push services, and nobody else's.
func archiveDeleteAccount(t *testing.T, s storage.Store) {
	ctx := t.Context()
	create(t, s, alice, bob)
	archived(t, s, alice, 3)
	reused := storage.ArchivedMessage{ID: "reused", With: bob, Stanza: msg(1)}
	if _, err := s.Archive().Append(ctx, alice, reused); err != nil {
		t.Fatalf("Append = %v", err)
	}
	bobs := archived(t, s, bob, 2, alice)
	wantErr(t, "SetPrefs", s.Archive().SetPrefs(ctx, alice, storage.ArchivePrefs{Default: storage.ArchiveRoster, Always: []string{bob}}), nil)
	wantErr(t, "Push.Enable", s.Push().Enable(ctx, alice, storage.PushService{JID: "p.example", Node: "n"}, 0), nil)
	wantErr(t, "Accounts.Delete", s.Accounts().Delete(ctx, alice), nil)
	create(t, s, alice)
	checkPage(t, "archive of the new account", query(t, s, alice, storage.ArchiveQuery{Max: 10}), nil, true, 0, -1)
	_, err := s.Archive().Prefs(ctx, alice)
	wantErr(t, "Prefs of the new account", err, storage.ErrNotFound)
	checkPush(t, s, alice)
	checkPage(t, "bob's archive", query(t, s, bob, storage.ArchiveQuery{Max: 10}), bobs, true, 2, 0)
	if _, err := s.Archive().Append(ctx, alice, reused); err != nil {
		t.Fatalf("Append of an ID of the deleted account = %v", err)
	}
}
