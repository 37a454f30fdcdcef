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

const (
	roomA = "coven@conference.example.org"
	roomB = "heath@conference.example.org"
	roomC = "other@chat.example.com"
)

func putRoom(t *testing.T, s storage.Store, jid string) {
	t.Helper()
	if err := s.Rooms().Put(t.Context(), storage.Room{JID: jid, Config: "{}"}); err != nil {
		t.Fatalf("Rooms.Put(%q) = %v", jid, err)
	}
}

func setAff(t *testing.T, s storage.Store, room string, a storage.RoomAffiliation) {
	t.Helper()
	if err := s.Rooms().SetAffiliation(t.Context(), room, a); err != nil {
		t.Fatalf("Rooms.SetAffiliation(%q, %+v) = %v", room, a, err)
	}
}

func checkAffs(t *testing.T, s storage.Store, room string, want ...storage.RoomAffiliation) {
	t.Helper()
	got, err := s.Rooms().Affiliations(t.Context(), room)
	if err != nil {
		t.Fatalf("Rooms.Affiliations(%q) = %v", room, err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Rooms.Affiliations(%q) = %+v, want %+v", room, got, want)
	}
}

var roomTests = []subtest{
	{"OutliveAccounts", func(t *testing.T, s storage.Store) {
		// Rooms and affiliations are not data of an account: deleting
		// the owner's account leaves them to Rooms.RemoveJID.
		create(t, s, alice)
		putRoom(t, s, roomA)
		setAff(t, s, roomA, storage.RoomAffiliation{JID: alice, Affiliation: storage.AffOwner})
		wantErr(t, "Accounts.Delete", s.Accounts().Delete(t.Context(), alice), nil)
		if _, err := s.Rooms().Get(t.Context(), roomA); err != nil {
			t.Fatalf("Rooms.Get after the owner's account was deleted = %v", err)
		}
		checkAffs(t, s, roomA, storage.RoomAffiliation{JID: alice, Affiliation: storage.AffOwner})
	}},
	{"PutGetList", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		_, err := s.Rooms().Get(ctx, roomA)
		wantErr(t, "Get of a missing room", err, storage.ErrNotFound)
		subjectTime := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
		r := storage.Room{JID: roomA, Config: `{"name":"A Dark Cave"}`, Subject: "Spells", SubjectNick: "firstwitch",
			SubjectTime: subjectTime, VCard: "<vCard xmlns='vcard-temp'/>"}
		wantErr(t, "Put", s.Rooms().Put(ctx, r), nil)
		got, err := s.Rooms().Get(ctx, roomA)
		wantErr(t, "Get", err, nil)
		if got.JID != r.JID || got.Config != r.Config || got.Subject != r.Subject || got.SubjectNick != r.SubjectNick ||
			!got.SubjectTime.Equal(subjectTime) || got.VCard != r.VCard || !near(got.Created) {
			t.Fatalf("Get = %+v, want %+v with Created now", got, r)
		}
		// Put again replaces the state and keeps Created.
		r2 := storage.Room{JID: roomA, Config: `{"name":"x"}`}
		wantErr(t, "second Put", s.Rooms().Put(ctx, r2), nil)
		got2, err := s.Rooms().Get(ctx, roomA)
		wantErr(t, "Get after second Put", err, nil)
		if got2.Config != r2.Config || got2.Subject != "" || !got2.SubjectTime.IsZero() || got2.VCard != "" || !got2.Created.Equal(got.Created) {
			t.Fatalf("Get after second Put = %+v, want config %q, no subject, Created %v", got2, r2.Config, got.Created)
		}
		putRoom(t, s, roomB)
		putRoom(t, s, roomC)
		list, err := s.Rooms().List(ctx, "conference.example.org")
		wantErr(t, "List", err, nil)
		var jids []string
		for _, r := range list {
			jids = append(jids, r.JID)
		}
		if !slices.Equal(jids, []string{roomA, roomB}) {
			t.Fatalf("List = %q, want %q", jids, []string{roomA, roomB})
		}
		list, err = s.Rooms().List(ctx, "nowhere.example.org")
		if err != nil || len(list) != 0 {
			t.Fatalf("List of an empty service = %v, %v, want none", list, err)
		}
	}},
	{"Affiliations", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		wantErr(t, "SetAffiliation in a missing room",
			s.Rooms().SetAffiliation(ctx, roomA, storage.RoomAffiliation{JID: alice, Affiliation: storage.AffOwner}), storage.ErrNotFound)
		putRoom(t, s, roomA)
		putRoom(t, s, roomB)
		owner := storage.RoomAffiliation{JID: alice, Affiliation: storage.AffOwner, Nick: "firstwitch"}
		member := storage.RoomAffiliation{JID: bob, Affiliation: storage.AffMember, Nick: "secondwitch", Reason: "worthy"}
		ban := storage.RoomAffiliation{JID: "evil.example", Affiliation: storage.AffOutcast, Reason: "spam"}
		setAff(t, s, roomA, owner)
		setAff(t, s, roomA, member)
		setAff(t, s, roomA, ban)
		setAff(t, s, roomB, storage.RoomAffiliation{JID: alice, Affiliation: storage.AffOwner})
		checkAffs(t, s, roomA, owner, member, ban)
		// Replacing keeps one row per JID.
		member.Affiliation = storage.AffAdmin
		setAff(t, s, roomA, member)
		checkAffs(t, s, roomA, owner, member, ban)
		// "none" and "" remove.
		setAff(t, s, roomA, storage.RoomAffiliation{JID: "evil.example", Affiliation: "none"})
		setAff(t, s, roomA, storage.RoomAffiliation{JID: "nobody@example.org"})
		checkAffs(t, s, roomA, owner, member)
		wantErr(t, "removing an affiliation in a missing room",
			s.Rooms().SetAffiliation(ctx, roomC, storage.RoomAffiliation{JID: alice}), storage.ErrNotFound)

		n, err := s.Rooms().CountOwned(ctx, alice)
		if err != nil || n != 2 {
			t.Fatalf("CountOwned(%q) = %d, %v, want 2", alice, n, err)
		}
		if n, err := s.Rooms().CountOwned(ctx, bob); err != nil || n != 0 {
			t.Fatalf("CountOwned(%q) = %d, %v, want 0", bob, n, err)
		}
		removed, err := s.Rooms().RemoveJID(ctx, alice)
		if err != nil || removed != 2 {
			t.Fatalf("RemoveJID(%q) = %d, %v, want 2", alice, removed, err)
		}
		checkAffs(t, s, roomA, member)
		checkAffs(t, s, roomB)
	}},
	{"DeleteRoom", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		wantErr(t, "Delete of a missing room", s.Rooms().Delete(ctx, roomA), storage.ErrNotFound)
		putRoom(t, s, roomA)
		putRoom(t, s, roomB)
		setAff(t, s, roomA, storage.RoomAffiliation{JID: alice, Affiliation: storage.AffOwner})
		setAff(t, s, roomB, storage.RoomAffiliation{JID: alice, Affiliation: storage.AffOwner})
		appendRoom(t, s, roomA, "a1", "x")
		appendRoom(t, s, roomB, "b1", "x")
		wantErr(t, "Delete", s.Rooms().Delete(ctx, roomA), nil)
		_, err := s.Rooms().Get(ctx, roomA)
		wantErr(t, "Get after Delete", err, storage.ErrNotFound)
		checkAffs(t, s, roomA)
		checkAffs(t, s, roomB, storage.RoomAffiliation{JID: alice, Affiliation: storage.AffOwner})
		if msgs, err := s.RoomArchive().Last(ctx, roomA, 10); err != nil || len(msgs) != 0 {
			t.Fatalf("archive of a deleted room = %v, %v, want empty", msgs, err)
		}
		if msgs, err := s.RoomArchive().Last(ctx, roomB, 10); err != nil || len(msgs) != 1 {
			t.Fatalf("archive of another room = %v, %v, want one message", msgs, err)
		}
		// A room deleted and stored again starts with no affiliations.
		putRoom(t, s, roomA)
		checkAffs(t, s, roomA)
	}},
}

func appendRoom(t *testing.T, s storage.Store, room, id, nick string) storage.RoomMessage {
	t.Helper()
	m, err := s.RoomArchive().Append(t.Context(), room, storage.RoomMessage{
		ID: id, Nick: nick, Sender: nick + "@example.org", Stanza: "<message id='" + id + "'/>"})
	if err != nil {
		t.Fatalf("RoomArchive.Append(%q, %q) = %v", room, id, err)
	}
	return m
}

func roomIDs(msgs []storage.RoomMessage) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

// roomQuery runs a query and checks the IDs of the page, whether it is
// complete, and the count and index.
func roomQuery(t *testing.T, s storage.Store, room string, q storage.RoomArchiveQuery, want []string, complete bool, count, index int) {
	t.Helper()
	p, err := s.RoomArchive().Query(t.Context(), room, q)
	if err != nil {
		t.Fatalf("Query(%+v) = %v", q, err)
	}
	if got := roomIDs(p.Messages); !slices.Equal(got, want) || p.Complete != complete || p.Count != count || p.Index != index {
		t.Fatalf("Query(%+v) = %q complete %v count %d index %d, want %q complete %v count %d index %d",
			q, got, p.Complete, p.Count, p.Index, want, complete, count, index)
	}
}

var roomArchiveTests = []subtest{
	{"AppendGetLast", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		_, err := s.RoomArchive().Append(ctx, roomA, storage.RoomMessage{ID: "x", Stanza: "<message/>"})
		wantErr(t, "Append to a missing room", err, storage.ErrNotFound)
		putRoom(t, s, roomA)
		putRoom(t, s, roomB)
		var prev time.Time
		for i := range 5 {
			m := appendRoom(t, s, roomA, fmt.Sprintf("m%d", i), "nick")
			if !near(m.Stored) || m.Stored.Before(prev) {
				t.Fatalf("Append stored at %v after %v, want now and not earlier", m.Stored, prev)
			}
			prev = m.Stored
		}
		appendRoom(t, s, roomB, "m0", "other") // IDs are per room
		_, err = s.RoomArchive().Append(ctx, roomA, storage.RoomMessage{ID: "m1", Stanza: "<message/>"})
		wantErr(t, "Append of a taken ID", err, storage.ErrExists)

		m, err := s.RoomArchive().Get(ctx, roomA, "m2")
		wantErr(t, "Get", err, nil)
		if m.ID != "m2" || m.Nick != "nick" || m.Sender != "nick@example.org" || m.Stanza != "<message id='m2'/>" {
			t.Fatalf("Get = %+v", m)
		}
		_, err = s.RoomArchive().Get(ctx, roomA, "nope")
		wantErr(t, "Get of a missing message", err, storage.ErrNotFound)

		last, err := s.RoomArchive().Last(ctx, roomA, 3)
		if err != nil || !slices.Equal(roomIDs(last), []string{"m2", "m3", "m4"}) {
			t.Fatalf("Last(3) = %q, %v, want m2 m3 m4", roomIDs(last), err)
		}
		last, err = s.RoomArchive().Last(ctx, roomB, 3)
		if err != nil || !slices.Equal(roomIDs(last), []string{"m0"}) || last[0].Nick != "other" {
			t.Fatalf("Last of another room = %+v, %v", last, err)
		}

		wantErr(t, "Replace", s.RoomArchive().Replace(ctx, roomA, "m3", "<message id='m3'><retracted/></message>"), nil)
		m, err = s.RoomArchive().Get(ctx, roomA, "m3")
		if err != nil || m.Stanza != "<message id='m3'><retracted/></message>" {
			t.Fatalf("Get after Replace = %+v, %v", m, err)
		}
		wantErr(t, "Replace of a missing message", s.RoomArchive().Replace(ctx, roomA, "nope", "x"), storage.ErrNotFound)
		wantErr(t, "Replace in another room", s.RoomArchive().Replace(ctx, roomB, "m3", "x"), storage.ErrNotFound)
	}},
	{"Query", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		putRoom(t, s, roomA)
		putRoom(t, s, roomB)
		for i := range 10 {
			nick := "a"
			if i%2 == 1 {
				nick = "b"
			}
			appendRoom(t, s, roomA, fmt.Sprintf("m%d", i), nick)
		}
		appendRoom(t, s, roomB, "other", "a")
		all := []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"}
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 100}, all, true, 10, 0)
		// Forward paging with After.
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 4}, all[:4], false, 10, 0)
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 4, After: "m3"}, all[4:8], false, 10, 4)
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 4, After: "m7"}, all[8:], true, 10, 8)
		// Backward paging: the last page, then what precedes it.
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 4, Backward: true}, all[6:], false, 10, 6)
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 4, Backward: true, Before: "m6"}, all[2:6], false, 10, 2)
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 4, Backward: true, Before: "m2"}, all[:2], true, 10, 0)
		// Filters.
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 100, Nick: "b"}, []string{"m1", "m3", "m5", "m7", "m9"}, true, 5, 0)
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 100, Sender: "a@example.org"}, []string{"m0", "m2", "m4", "m6", "m8"}, true, 5, 0)
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 100, AfterID: "m2", BeforeID: "m6"}, []string{"m3", "m4", "m5"}, true, 3, 0)
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 100, IDs: []string{"m7", "m1"}}, []string{"m1", "m7"}, true, 2, 0)
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 2, Nick: "b", After: "m3"}, []string{"m5", "m7"}, false, 5, 2)
		// Count only.
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 0}, []string{}, false, 10, -1)
		// Times.
		m5, err := s.RoomArchive().Get(ctx, roomA, "m5")
		wantErr(t, "Get", err, nil)
		p, err := s.RoomArchive().Query(ctx, roomA, storage.RoomArchiveQuery{Max: 100, Start: m5.Stored})
		if err != nil || len(p.Messages) == 0 || p.Messages[len(p.Messages)-1].ID != "m9" || p.Messages[0].Stored.Before(m5.Stored) {
			t.Fatalf("Query from %v = %q, %v", m5.Stored, roomIDs(p.Messages), err)
		}
		p, err = s.RoomArchive().Query(ctx, roomA, storage.RoomArchiveQuery{Max: 100, End: m5.Stored})
		if err != nil || len(p.Messages) == 0 || p.Messages[0].ID != "m0" || p.Messages[len(p.Messages)-1].Stored.After(m5.Stored) {
			t.Fatalf("Query to %v = %q, %v", m5.Stored, roomIDs(p.Messages), err)
		}
		// Unknown IDs.
		for _, q := range []storage.RoomArchiveQuery{
			{Max: 10, After: "nope"}, {Max: 10, Before: "nope"}, {Max: 10, AfterID: "nope"},
			{Max: 10, BeforeID: "nope"}, {Max: 10, IDs: []string{"m1", "nope"}}, {Max: 10, After: "other"},
		} {
			_, err := s.RoomArchive().Query(ctx, roomA, q)
			wantErr(t, fmt.Sprintf("Query(%+v)", q), err, storage.ErrNotFound)
		}
		// An empty archive.
		roomQuery(t, s, roomC, storage.RoomArchiveQuery{Max: 10}, []string{}, true, 0, -1)
	}},
	{"Expire", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		putRoom(t, s, roomA)
		putRoom(t, s, roomB)
		appendRoom(t, s, roomA, "old", "a")
		appendRoom(t, s, roomB, "old", "a")
		time.Sleep(2 * time.Millisecond)
		cut := time.Now()
		time.Sleep(2 * time.Millisecond)
		appendRoom(t, s, roomA, "new", "a")
		n, err := s.RoomArchive().Expire(ctx, cut)
		if err != nil || n != 2 {
			t.Fatalf("Expire = %d, %v, want 2", n, err)
		}
		last, err := s.RoomArchive().Last(ctx, roomA, 10)
		if err != nil || !slices.Equal(roomIDs(last), []string{"new"}) {
			t.Fatalf("Last after Expire = %q, %v, want new", roomIDs(last), err)
		}
		// IDs are not reused: the expired ID is free again, but the new
		// message still sorts after the old ones.
		appendRoom(t, s, roomA, "old", "a")
		last, err = s.RoomArchive().Last(ctx, roomA, 10)
		if err != nil || !slices.Equal(roomIDs(last), []string{"new", "old"}) {
			t.Fatalf("Last after a new append = %q, %v, want new old", roomIDs(last), err)
		}
	}},
}

// roomEnqueued enqueues a message to a room's archive and calls check
// with the outcome, then marks it done in wg. A test waits for wg before
// it ends, so that no callback reports to a finished test.
func roomEnqueued(t *testing.T, s storage.Store, wg *sync.WaitGroup, room, id string, check func(storage.RoomMessage, error)) {
	wg.Add(1)
	s.RoomArchive().Enqueue(t.Context(), room, storage.RoomMessage{
		ID: id, Nick: "nick", Sender: "nick@example.org", Stanza: "<message id='" + id + "'/>"},
		func(m storage.RoomMessage, err error) {
			defer wg.Done()
			check(m, err)
		})
}

// roomArchiveEnqueueTests check RoomArchive.Enqueue: every callback
// comes once with the stored message, and whatever is called right after
// (a query, a retraction, the room's deletion) sees every message
// enqueued before, without waiting for the callbacks.
var roomArchiveEnqueueTests = []subtest{
	{"ReadYourWrites", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		putRoom(t, s, roomA)
		const n = 300
		var (
			mu  sync.Mutex
			got = map[string][]storage.RoomMessage{}
			wg  sync.WaitGroup
		)
		defer wg.Wait()
		for i := range n {
			roomEnqueued(t, s, &wg, roomA, fmt.Sprint("e", i), func(m storage.RoomMessage, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil || !near(m.Stored) {
					t.Errorf("Enqueue %s: stored %v, %v", m.ID, m.Stored, err)
				}
				got[m.ID] = append(got[m.ID], m)
			})
		}
		p, err := s.RoomArchive().Query(ctx, roomA, storage.RoomArchiveQuery{Max: n + 10})
		if err != nil || len(p.Messages) != n {
			t.Fatalf("Query right after %d Enqueue calls = %d messages, %v", n, len(p.Messages), err)
		}
		for i, m := range p.Messages {
			if m.ID != fmt.Sprint("e", i) {
				t.Fatalf("message %d is %s", i, m.ID)
			}
			if i > 0 && m.Stored.Before(p.Messages[i-1].Stored) {
				t.Fatalf("%s stored at %v, before %s at %v", m.ID, m.Stored, p.Messages[i-1].ID, p.Messages[i-1].Stored)
			}
		}
		wg.Wait()
		for _, want := range p.Messages {
			if c := got[want.ID]; len(c) != 1 || !c[0].Stored.Equal(want.Stored) {
				t.Errorf("callbacks of %s: %+v, want one stored at %v", want.ID, c, want.Stored)
			}
		}
	}},
	{"Errors", func(t *testing.T, s storage.Store) {
		putRoom(t, s, roomA)
		var wg sync.WaitGroup
		defer wg.Wait()
		roomEnqueued(t, s, &wg, roomC, "x", func(_ storage.RoomMessage, err error) {
			if !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Enqueue to a room not stored: %v, want ErrNotFound", err)
			}
		})
		roomEnqueued(t, s, &wg, roomA, "m1", func(_ storage.RoomMessage, err error) {
			if err != nil {
				t.Errorf("Enqueue: %v", err)
			}
		})
		roomEnqueued(t, s, &wg, roomA, "m1", func(_ storage.RoomMessage, err error) {
			if !errors.Is(err, storage.ErrExists) {
				t.Errorf("Enqueue of a taken ID: %v, want ErrExists", err)
			}
		})
		wg.Wait()
		roomQuery(t, s, roomA, storage.RoomArchiveQuery{Max: 10}, []string{"m1"}, true, 1, 0)
		roomQuery(t, s, roomC, storage.RoomArchiveQuery{Max: 10}, []string{}, true, 0, -1)
	}},
	{"RetractRightAfter", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		putRoom(t, s, roomA)
		var wg sync.WaitGroup
		defer wg.Wait()
		noErr := func(_ storage.RoomMessage, err error) {
			if err != nil {
				t.Errorf("Enqueue: %v", err)
			}
		}
		roomEnqueued(t, s, &wg, roomA, "m0", noErr)
		const tomb = "<message id='m0'><retracted/></message>"
		wantErr(t, "Replace right after Enqueue", s.RoomArchive().Replace(ctx, roomA, "m0", tomb), nil)
		m, err := s.RoomArchive().Get(ctx, roomA, "m0")
		if err != nil || m.Stanza != tomb {
			t.Fatalf("Get after Replace = %+v, %v, want the tombstone", m, err)
		}
		roomEnqueued(t, s, &wg, roomA, "m1", noErr)
		if m, err := s.RoomArchive().Get(ctx, roomA, "m1"); err != nil || m.ID != "m1" {
			t.Fatalf("Get right after Enqueue = %+v, %v", m, err)
		}
		roomEnqueued(t, s, &wg, roomA, "m2", noErr)
		if last, err := s.RoomArchive().Last(ctx, roomA, 1); err != nil || !slices.Equal(roomIDs(last), []string{"m2"}) {
			t.Fatalf("Last right after Enqueue = %q, %v, want m2", roomIDs(last), err)
		}
	}},
	{"DeleteRightAfter", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		putRoom(t, s, roomA)
		var wg sync.WaitGroup
		defer wg.Wait()
		for i := range 50 {
			roomEnqueued(t, s, &wg, roomA, fmt.Sprint("e", i), func(m storage.RoomMessage, err error) {
				if err != nil {
					t.Errorf("Enqueue %s: %v", m.ID, err)
				}
			})
		}
		// The messages go with the room, and none lands in the room
		// stored again under its JID.
		wantErr(t, "Rooms.Delete right after Enqueue", s.Rooms().Delete(ctx, roomA), nil)
		putRoom(t, s, roomA)
		wg.Wait()
		if last, err := s.RoomArchive().Last(ctx, roomA, 100); err != nil || len(last) != 0 {
			t.Fatalf("archive of the room stored again = %q, %v, want empty", roomIDs(last), err)
		}
	}},
}
