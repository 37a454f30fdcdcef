package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/jid"
	"samtal.org/samtal/internal/storage"
	"samtal.org/samtal/internal/userdata"
)

// exportCmd writes an account's data in the XEP-0227 format. The file
// holds the SCRAM keys, which allow offline guessing of the password, and
// private data: it is written with mode 0600 (XEP-0227 §6).
func exportCmd(ctx context.Context, cfg config.Config, store storage.Store, user jid.JID, output string, stdout, stderr io.Writer) int {
	doc, err := userdata.Export(ctx, store, user, cfg.Limits.PEPItems)
	if errors.Is(err, storage.ErrNotFound) {
		fmt.Fprintf(stderr, "samtal: %s does not exist\n", user)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "samtal: export: %v\n", err)
		return 1
	}
	data := userdata.Marshal(doc)
	if output == "" {
		_, err = stdout.Write(data)
	} else {
		err = writeFile(output, data)
	}
	if err != nil {
		fmt.Fprintf(stderr, "samtal: export: %v\n", err)
		return 1
	}
	if output != "" {
		fmt.Fprintf(stdout, "exported %s to %s\n", user, output)
	}
	return 0
}

// writeFile writes data to a new file readable only by its owner, or
// replaces the contents of an existing one, which keeps its mode.
func writeFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// importCmd stores the users of XEP-0227 files; "-" reads standard
// input.
func importCmd(ctx context.Context, cfg config.Config, store storage.Store, files []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprint(stderr, "usage: samtal user import [flags] FILE...\n")
		return 2
	}
	l := cfg.Limits
	im := userdata.Importer{
		Store: store,
		Limits: userdata.Limits{RosterItems: l.RosterItems, OfflineMessages: l.OfflineMessages, PEPNodes: l.PEPNodes, PEPItems: l.PEPItems,
			PEPSubscribers: l.PEPSubscribers, PEPSubscriptions: l.PEPSubscriptions,
			ArchiveRetention: time.Duration(cfg.Archive.Retention), NoArchive: !cfg.Archive.Enabled},
		IsHost: func(d string) bool { _, ok := cfg.Host(d); return ok },
		Keys: func(pw string) (map[storage.Hash]storage.SCRAMKeys, error) {
			return deriveKeys(pw, cfg.SCRAMIterations)
		},
		Warn: func(format string, args ...any) {
			fmt.Fprintf(stderr, "samtal: import: warning: "+format+"\n", args...)
		},
	}
	code := 0
	for _, name := range files {
		var data []byte
		var err error
		if name == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			fmt.Fprintf(stderr, "samtal: import: %v\n", err)
			code = 1
			continue
		}
		doc, err := userdata.Parse(data)
		if err != nil {
			fmt.Fprintf(stderr, "samtal: import %s: %v\n", name, err)
			code = 1
			continue
		}
		done, err := im.Import(ctx, doc)
		for _, u := range done {
			fmt.Fprintf(stdout, "imported %s\n", u)
		}
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintf(stderr, "samtal: import %s: %s\n", name, line)
			}
			code = 1
		}
	}
	return code
}
