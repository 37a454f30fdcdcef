package migrate

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"samtal.org/samtal/internal/storage"
)

// archivePage is how many archived messages Copy holds at once: archives
// are the largest areas, and are copied page by page, each checked as it
// is written; a variable for the tests.
var archivePage = 500

// archiveArea copies a user's archiving preferences and message archive.
type archiveArea struct{}

func (archiveArea) Name() string  { return "Archive" }
func (archiveArea) PerUser() bool { return true }

func readPrefs(ctx context.Context, s storage.Store, user string) (*storage.ArchivePrefs, error) {
	p, err := s.Archive().Prefs(ctx, user)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return &p, err
}

// archivePageOf reads the page after the message with the ID after.
func archivePageOf(ctx context.Context, s storage.Store, user, after string) ([]storage.ArchivedMessage, error) {
	p, err := s.Archive().Query(ctx, user, storage.ArchiveQuery{After: after, Max: archivePage})
	return p.Messages, err
}

func (archiveArea) copy(ctx context.Context, src, dst storage.Store, user string) (int, error) {
	n := 0
	prefs, err := readPrefs(ctx, src, user)
	if err != nil {
		return n, fmt.Errorf("read preferences: %w", err)
	}
	if prefs != nil {
		if err := dst.Archive().SetPrefs(ctx, user, *prefs); err != nil {
			return n, fmt.Errorf("write preferences: %w", err)
		}
		back, err := readPrefs(ctx, dst, user)
		if err != nil {
			return n, fmt.Errorf("read back preferences: %w", err)
		}
		if !equal(reflect.ValueOf(prefs), reflect.ValueOf(back)) {
			return n, errors.New("the copy of the preferences differs from the original")
		}
		n++
	}
	imp, ok := dst.Archive().(storage.ArchiveImporter)
	if !ok {
		return n, errNoExport("ArchiveImporter")
	}
	after := ""
	for {
		msgs, err := archivePageOf(ctx, src, user, after)
		if err != nil {
			return n, fmt.Errorf("read: %w", err)
		}
		if len(msgs) == 0 {
			return n, nil
		}
		if err := imp.Import(ctx, user, msgs); err != nil {
			return n, fmt.Errorf("write: %w", err)
		}
		back, err := archivePageOf(ctx, dst, user, after)
		if err != nil {
			return n, fmt.Errorf("read back: %w", err)
		}
		if !equal(reflect.ValueOf(msgs), reflect.ValueOf(back)) {
			return n, errors.New("the copy of the archive differs from the original")
		}
		n += len(msgs)
		after = msgs[len(msgs)-1].ID
	}
}

func (archiveArea) empty(ctx context.Context, s storage.Store, user string) (bool, error) {
	prefs, err := readPrefs(ctx, s, user)
	if err != nil || prefs != nil {
		return false, err
	}
	msgs, err := archivePageOf(ctx, s, user, "")
	return len(msgs) == 0, err
}

func readPush(ctx context.Context, s storage.Store, user string) ([]storage.PushService, error) {
	return s.Push().List(ctx, user)
}

func writePush(ctx context.Context, s storage.Store, user string, svcs []storage.PushService) (int, error) {
	for i, svc := range svcs {
		if err := s.Push().Enable(ctx, user, svc, 0); err != nil {
			return i, err
		}
	}
	return len(svcs), nil
}

// roomData is a stored room with its affiliations.
type roomData struct {
	Room         storage.Room
	Affiliations []storage.RoomAffiliation
}

// roomsPage is how many rooms Copy lists at once.
var roomsPage = 500

// eachRoom calls fn with every room of s, in pages.
func eachRoom(ctx context.Context, s storage.Store, fn func(storage.Room) error) error {
	l, ok := s.Rooms().(storage.RoomLister)
	if !ok {
		return errNoExport("RoomLister")
	}
	after := ""
	for {
		rooms, err := l.All(ctx, after, roomsPage)
		if err != nil {
			return err
		}
		for _, r := range rooms {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(rooms) < roomsPage {
			return nil
		}
		after = rooms[len(rooms)-1].JID
	}
}

func readRooms(ctx context.Context, s storage.Store, _ string) ([]roomData, error) {
	var out []roomData
	err := eachRoom(ctx, s, func(r storage.Room) error {
		affs, err := s.Rooms().Affiliations(ctx, r.JID)
		out = append(out, roomData{r, affs})
		return err
	})
	return out, err
}

func writeRooms(ctx context.Context, s storage.Store, _ string, rooms []roomData) (int, error) {
	n := 0
	for _, r := range rooms {
		// Put keeps a Created time that is set.
		if err := s.Rooms().Put(ctx, r.Room); err != nil {
			return n, err
		}
		n++
		for _, a := range r.Affiliations {
			if err := s.Rooms().SetAffiliation(ctx, r.Room.JID, a); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// roomArchiveArea copies the archives of every stored room; the rooms
// themselves come first, in the area Rooms.
type roomArchiveArea struct{}

func (roomArchiveArea) Name() string  { return "RoomArchive" }
func (roomArchiveArea) PerUser() bool { return false }

func roomPageOf(ctx context.Context, s storage.Store, room, after string) ([]storage.RoomMessage, error) {
	p, err := s.RoomArchive().Query(ctx, room, storage.RoomArchiveQuery{After: after, Max: archivePage})
	return p.Messages, err
}

func (roomArchiveArea) copy(ctx context.Context, src, dst storage.Store, _ string) (int, error) {
	imp, ok := dst.RoomArchive().(storage.RoomArchiveImporter)
	if !ok {
		return 0, errNoExport("RoomArchiveImporter")
	}
	n := 0
	err := eachRoom(ctx, src, func(r storage.Room) error {
		after := ""
		for {
			msgs, err := roomPageOf(ctx, src, r.JID, after)
			if err != nil {
				return fmt.Errorf("read %s: %w", r.JID, err)
			}
			if len(msgs) == 0 {
				return nil
			}
			if err := imp.Import(ctx, r.JID, msgs); err != nil {
				return fmt.Errorf("write %s: %w", r.JID, err)
			}
			back, err := roomPageOf(ctx, dst, r.JID, after)
			if err != nil {
				return fmt.Errorf("read back %s: %w", r.JID, err)
			}
			if !equal(reflect.ValueOf(msgs), reflect.ValueOf(back)) {
				return fmt.Errorf("the copy of the archive of %s differs from the original", r.JID)
			}
			n += len(msgs)
			after = msgs[len(msgs)-1].ID
		}
	})
	return n, err
}

// empty reports whether no stored room has a message; a store without
// rooms has none.
func (roomArchiveArea) empty(ctx context.Context, s storage.Store, _ string) (bool, error) {
	errSome := errors.New("a message")
	err := eachRoom(ctx, s, func(r storage.Room) error {
		msgs, err := s.RoomArchive().Last(ctx, r.JID, 1)
		if err == nil && len(msgs) > 0 {
			err = errSome
		}
		return err
	})
	if errors.Is(err, errSome) {
		return false, nil
	}
	return err == nil, err
}
