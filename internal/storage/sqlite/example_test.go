package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/storage/sqlite"
)

func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "samtal")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := sqlite.Open(ctx, filepath.Join(dir, "samtal.db"), sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if err := s.Accounts().Create(ctx, storage.Account{User: "juliet@example.com"}); err != nil {
		log.Fatal(err)
	}
	err = s.Offline().Push(ctx, "juliet@example.com", `<message><body>Wherefore?</body></message>`, 100)
	if err != nil {
		log.Fatal(err)
	}
	n, err := s.Offline().Count(ctx, "juliet@example.com")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "message waiting")
	// Output: 1 message waiting
}
