package server

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/register"
	"samtal.org/samtal/internal/storage"
)

// The hourly retention job removes offline messages past their retention
// and invitations past their expiry, and nothing else.
func TestExpire(t *testing.T) {
	ctx := context.Background()
	store := tempStore(t)
	cfg := config.Default()
	cfg.Retention.Offline = config.Duration(24 * time.Hour)
	s := &Server{cfg: cfg, store: store, log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	start := time.Now()
	at := start
	invites := register.StoredInvites{Store: store.Invites(), Now: func() time.Time { return at }}
	short, err := invites.Create(ctx, "localhost", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	long, err := invites.Create(ctx, "localhost", 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Accounts().Create(ctx, storage.Account{User: "juliet@localhost"}); err != nil {
		t.Fatal(err)
	}
	if err := store.Offline().Push(ctx, "juliet@localhost", "<message/>", 0); err != nil {
		t.Fatal(err)
	}

	// Two hours later: the short invitation is gone, even for a clock
	// that would still accept it; the message stays.
	s.expire(ctx, start.Add(2*time.Hour))
	at = start
	if ok, err := invites.Use(ctx, short, "localhost"); err != nil || ok {
		t.Errorf("an expired invitation survived the retention job: %v, %v", ok, err)
	}
	if n, _ := store.Offline().Count(ctx, "juliet@localhost"); n != 1 {
		t.Errorf("%d offline messages after two hours, want 1", n)
	}
	// Two days later: the message is gone, the long invitation is not.
	s.expire(ctx, start.Add(48*time.Hour))
	if n, _ := store.Offline().Count(ctx, "juliet@localhost"); n != 0 {
		t.Errorf("%d offline messages after two days, want 0", n)
	}
	if ok, err := invites.Use(ctx, long, "localhost"); err != nil || !ok {
		t.Errorf("a valid invitation was removed: %v, %v", ok, err)
	}
}

// The retention job expires room archives after [muc] archive_retention.
func TestExpireRoomArchive(t *testing.T) {
	ctx := context.Background()
	store := tempStore(t)
	cfg := config.Default()
	cfg.MUC.ArchiveRetention = config.Duration(24 * time.Hour)
	s := &Server{cfg: cfg, store: store, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	const room = "coven@conference.localhost"
	if err := store.Rooms().Put(ctx, storage.Room{JID: room, Config: "{}"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RoomArchive().Append(ctx, room, storage.RoomMessage{ID: "a", Stanza: "<message/>"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.expire(ctx, start.Add(time.Hour))
	if msgs, _ := store.RoomArchive().Last(ctx, room, 10); len(msgs) != 1 {
		t.Fatalf("%d archived room messages after an hour, want 1", len(msgs))
	}
	s.expire(ctx, start.Add(48*time.Hour))
	if msgs, _ := store.RoomArchive().Last(ctx, room, 10); len(msgs) != 0 {
		t.Fatalf("%d archived room messages after two days, want 0", len(msgs))
	}
	if _, err := store.Rooms().Get(ctx, room); err != nil {
		t.Fatalf("the room itself went with its messages: %v", err)
	}
}
