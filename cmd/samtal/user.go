package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/sasl"
	"samtal.org/samtal/internal/server"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/upload"
)

// userCmd administers accounts directly in the store. SQLite's locking,
// or PostgreSQL's, makes this safe while the server runs.
func userCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: samtal user add|passwd|disable|enable|remove|export|list|import [flags] [JID|DOMAIN|FILE]\n")
		return 2
	}
	sub := args[0]
	var c commonFlags
	fs := c.newFlagSet("samtal user "+sub, false, stderr)
	output := ""
	if sub == "export" {
		fs.StringVar(&output, "output", "", "write to this file (mode 0600) instead of standard output")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, ok := c.config(fs, stderr)
	if !ok {
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := server.OpenAdminStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "samtal: storage: %v\n", err)
		return 1
	}
	defer store.Close()

	if sub == "import" {
		return importCmd(ctx, cfg, store, fs.Args(), stdin, stdout, stderr)
	}
	if sub == "list" {
		domains := fs.Args()
		if len(domains) == 0 {
			for _, h := range cfg.Hosts {
				domains = append(domains, h.Domain)
			}
		}
		for _, d := range domains {
			users, err := store.Accounts().List(ctx, d)
			if err != nil {
				fmt.Fprintf(stderr, "samtal: %v\n", err)
				return 1
			}
			for _, u := range users {
				fmt.Fprintln(stdout, u)
			}
		}
		return 0
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "usage: samtal user %s [flags] JID\n", sub)
		return 2
	}
	user, err := jid.Parse(fs.Arg(0))
	if err != nil || user.Local() == "" || user.Resource() != "" {
		fmt.Fprintf(stderr, "samtal: %q is not a valid account address (user@domain)\n", fs.Arg(0))
		return 1
	}
	if _, ok := cfg.Host(user.Domain()); !ok {
		fmt.Fprintf(stderr, "samtal: %s is not a host of this server\n", user.Domain())
		return 1
	}
	switch sub {
	case "add", "passwd":
		password, err := readPassword(stdin, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "samtal: %v\n", err)
			return 1
		}
		keys, err := deriveKeys(password, cfg.SCRAMIterations)
		if err != nil {
			fmt.Fprintf(stderr, "samtal: %v\n", err)
			return 1
		}
		if sub == "add" {
			err = store.Accounts().Create(ctx, storage.Account{User: user.String(), Created: time.Now(), Keys: keys})
			if errors.Is(err, storage.ErrExists) {
				fmt.Fprintf(stderr, "samtal: %s already exists\n", user)
				return 1
			}
		} else {
			err = store.Accounts().SetKeys(ctx, user.String(), keys)
		}
		if failed(stderr, user, err) {
			return 1
		}
		if sub == "add" {
			fmt.Fprintf(stdout, "created %s\n", user)
		} else {
			fmt.Fprintf(stdout, "password of %s changed\n", user)
		}
	case "disable", "enable":
		if failed(stderr, user, store.Accounts().SetDisabled(ctx, user.String(), sub == "disable")) {
			return 1
		}
		if sub == "enable" {
			fmt.Fprintf(stdout, "enabled %s\n", user)
			break
		}
		fmt.Fprintf(stdout, "disabled %s: no login succeeds, and a running server ends its sessions\n", user)
	case "export":
		return exportCmd(ctx, cfg, store, user, output, stdout, stderr)
	case "remove":
		if err := store.Accounts().Delete(ctx, user.String()); errors.Is(err, storage.ErrNotFound) {
			fmt.Fprintf(stderr, "samtal: %s does not exist\n", user)
			return 1
		} else if err != nil {
			fmt.Fprintf(stderr, "samtal: %v\n", err)
			return 1
		}
		// Group chat affiliations name the user but are not data of the
		// account: they go too. A running server forgets them in its
		// active rooms when the rooms next load.
		if _, err := store.Rooms().RemoveJID(ctx, user.String()); err != nil {
			fmt.Fprintf(stderr, "samtal: removing group chat affiliations: %v\n", err)
			return 1
		}
		// The account's uploads go with it (the server's own removal
		// path does the same through the upload service).
		if _, err := upload.RemoveOwner(server.UploadDir(cfg), user); err != nil {
			fmt.Fprintf(stderr, "samtal: removing the uploads of %s: %v\n", user, err)
		}
		fmt.Fprintf(stdout, "removed %s\n", user)
	default:
		fmt.Fprintf(stderr, "samtal: unknown user command %q\n", sub)
		return 2
	}
	return 0
}

// failed reports an account command's error, naming a missing account;
// it says whether there was one.
func failed(stderr io.Writer, user jid.JID, err error) bool {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		fmt.Fprintf(stderr, "samtal: %s does not exist\n", user)
	case err != nil:
		fmt.Fprintf(stderr, "samtal: %v\n", err)
	}
	return err != nil
}

// deriveKeys computes the stored SCRAM keys of both hashes for a password.
func deriveKeys(password string, iterations int) (map[storage.Hash]storage.SCRAMKeys, error) {
	keys := make(map[storage.Hash]storage.SCRAMKeys, 2)
	for _, h := range []sasl.Hash{sasl.SHA1, sasl.SHA256} {
		k, err := sasl.DeriveKeys(h, password, sasl.NewSalt(), iterations)
		if err != nil {
			return nil, fmt.Errorf("password: %w", err)
		}
		keys[storage.Hash(h)] = storage.SCRAMKeys{Salt: k.Salt, Iterations: k.Iterations, StoredKey: k.StoredKey, ServerKey: k.ServerKey}
	}
	return keys, nil
}

// readPassword asks twice on a terminal, without echo, or reads the first
// line of standard input when it is not a terminal (for scripts).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		if len(a) == 0 {
			return "", errors.New("empty password")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty password (give it on standard input)")
	}
	return line, nil
}
