package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"samtal.org/samtal/internal/config"
	"samtal.org/samtal/internal/storage/sqlite"
)

// BackupManifest is the file Backup writes last into a backup: the
// SHA-256 of every other file, in the format of sha256sum, so that
// `sha256sum -c SHA256SUMS` in the backup checks it. A backup without it
// was interrupted and is not to be restored.
const BackupManifest = "SHA256SUMS"

// BackupDB is the name of the database's snapshot in a backup: the name
// the server gives it in the data directory when storage is not set.
const BackupDB = "samtal.db"

// BackupItem is one thing Backup wrote: a file, or a directory of the
// data directory with every file under it.
type BackupItem struct {
	Name  string // relative to the backup; a directory's ends in "/"
	Files int
	Bytes int64
	Note  string // what it is, when that needs saying
}

// Backup writes into dir a copy of everything the server keeps, which a
// server started on it finds as it was, while the server may be running.
// dir must be empty or not exist; it and what Backup creates in it get
// mode 0700 and 0600, as they hold every account's keys and messages.
// wrote is told of each thing written.
//
// The SQLite database goes in as a checked snapshot (sqlite.Backup),
// named BackupDB; a PostgreSQL database is not copied (pg_dump does
// that). From the data directory:
//
//   - secret: the FAST tokens (XEP-0484) are derived from it and seeds
//     in the database, and it keys the MUC occupant IDs (XEP-0421), the
//     dialback keys, the bind2 resources and the fake SCRAM salts of
//     unknown users. With a new one every client's token would fail,
//     occupant IDs would change, and an observer could tell the accounts
//     that existed before from those that did not.
//   - turn-secret: signs the TURN credentials, and names users' quotas;
//     another TURN server may share it.
//   - certs/: the self-signed certificates and their keys samtal made; a
//     client that accepted one trusts it again after a restore.
//   - uploads/: the users' files and their records (meta.json). An upload
//     in progress (a directory without meta.json, a *.tmp file) is
//     incomplete and stays out; the server deletes those.
//   - anything else: copied, since the operator may keep there files a
//     restore needs; missing one then would be worse than a file too many.
//
// Left out: the database file and its -wal, -shm and -journal, as the
// snapshot holds what they held, and old pages of the WAL placed beside
// the snapshot would corrupt it; the -accounts-changed stamp beside it,
// which only tells running processes to forget the keys they cached (a
// restored server has none); with PostgreSQL, a samtal.db left from
// before the move, which the server no longer reads; BackupManifest,
// which is the manifest of the backup the data directory was restored
// from; and what is neither a file nor a directory (sockets).
//
// The manifest is written last, after every file was synced: a backup
// is complete when it has one. When Backup fails, it removes what it
// wrote.
func Backup(ctx context.Context, cfg config.Config, dir string, wrote func(BackupItem)) (err error) {
	data, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	top, err := os.Stat(data)
	if err != nil {
		return fmt.Errorf("backup: data directory: %w", err)
	}
	if !top.IsDir() {
		return fmt.Errorf("backup: data directory %s: not a directory", data)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if rel, err := filepath.Rel(data, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("backup: %s is inside the data directory %s: the next backup would copy it", dir, data)
	}
	created, err := prepareBackupDir(dir)
	if err != nil {
		return err
	}
	b := &backup{ctx: ctx, data: data, dir: dir, skip: make(map[string]bool), dirs: []string{dir}}
	defer func() {
		if err != nil {
			b.remove(created)
			err = fmt.Errorf("%w; nothing of the backup is left in %s", err, dir)
		}
	}()
	if b.target, err = os.Stat(dir); err != nil {
		return fmt.Errorf("backup: %w", err)
	}

	db := filepath.Join(data, BackupDB)
	if cfg.StorageURL() == "" {
		if db, err = filepath.Abs(cfg.StoragePath()); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if err := b.snapshot(db, wrote); err != nil {
			return err
		}
	}
	// The default file too when the database is elsewhere: the server
	// does not read it, and the snapshot takes its name in the backup.
	for _, p := range []string{db, filepath.Join(data, BackupDB)} {
		// Both paths are absolute, so Rel cannot fail; one outside the
		// data directory gives a path that never matches.
		rel, _ := filepath.Rel(data, p)
		for _, suffix := range []string{"", "-wal", "-shm", "-journal", "-accounts-changed"} {
			b.skip[filepath.ToSlash(rel)+suffix] = true
		}
	}
	b.skip[BackupManifest] = true
	upRel, err := filepath.Rel(cfg.DataDir, UploadDir(cfg))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	b.uploads = filepath.ToSlash(upRel)

	entries, err := os.ReadDir(data)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	for _, e := range entries {
		it := BackupItem{Name: e.Name()}
		if !dataFile(e.Name()) {
			it.Note = "not samtal's: copied as found"
		}
		ok, err := b.copy(e.Name(), []os.FileInfo{top}, &it)
		if err != nil {
			return err
		}
		if ok {
			wrote(it)
		}
	}
	return b.finish(wrote)
}

// dataFile reports whether name is one samtal gives what it writes in
// the data directory, besides the database.
func dataFile(name string) bool {
	switch name {
	case "secret", "turn-secret", "certs", "uploads":
		return true
	}
	return false
}

// prepareBackupDir makes sure dir exists with mode 0700 and is empty,
// and says whether it created it.
func prepareBackupDir(dir string) (created bool, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("backup: %w", err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	if len(entries) > 0 {
		return false, fmt.Errorf("backup: %s is not empty (it holds %s): a backup goes into a new or empty directory", dir, entries[0].Name())
	}
	// The operator made it, maybe readable by others; what goes in is
	// not.
	if err := os.Chmod(dir, 0o700); err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	return false, nil
}

// backup is one run of Backup.
type backup struct {
	ctx     context.Context
	data    string          // the data directory, absolute
	dir     string          // the backup's directory, absolute
	target  os.FileInfo     // dir, never copied into itself
	skip    map[string]bool // paths left out, relative to data, with slashes
	uploads string          // the upload directory, relative to data
	sums    []string        // the lines of the manifest
	dirs    []string        // the directories made, to be synced
}

// snapshot writes the checked snapshot of the SQLite database at db.
func (b *backup) snapshot(db string, wrote func(BackupItem)) error {
	dst := filepath.Join(b.dir, BackupDB)
	schema, err := sqlite.Backup(b.ctx, db, dst)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f, err := os.Open(dst)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	b.sum(h, BackupDB)
	wrote(BackupItem{Name: BackupDB, Files: 1, Bytes: n,
		Note: fmt.Sprintf("snapshot of %s, schema %d, integrity checked", db, schema)})
	return nil
}

// copy copies the file or directory at rel in the data directory into
// the backup, counting into it, and says whether it copied anything.
// parents are the directories above rel, so that a symbolic link to one
// of them does not copy forever.
func (b *backup) copy(rel string, parents []os.FileInfo, it *BackupItem) (bool, error) {
	if err := b.ctx.Err(); err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	if b.skip[rel] {
		return false, nil
	}
	src := filepath.Join(b.data, filepath.FromSlash(rel))
	dst := filepath.Join(b.dir, filepath.FromSlash(rel))
	// Stat, not Lstat: the server follows a symbolic link (an uploads
	// directory on another disk), so the backup holds what it points to.
	fi, err := os.Stat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // deleted since it was listed: an expired upload
	}
	if err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	if fi.Mode().IsRegular() {
		if strings.HasPrefix(rel, b.uploads+"/") && strings.HasSuffix(rel, ".tmp") {
			return false, nil // an upload being written
		}
		return b.copyFile(src, dst, rel, it)
	}
	// Sockets and devices hold nothing to copy; the backup's own
	// directory may be reached through a symbolic link.
	if !fi.IsDir() || os.SameFile(fi, b.target) {
		return false, nil
	}
	for _, p := range parents {
		if os.SameFile(fi, p) {
			return false, nil
		}
	}
	if path.Dir(rel) == b.uploads {
		if _, err := os.Stat(filepath.Join(src, "meta.json")); err != nil {
			return false, nil // an upload in progress, or one deleted since
		}
	}
	entries, err := os.ReadDir(src)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	b.dirs = append(b.dirs, dst)
	if it.Name == rel { // the entry of the data directory it counts
		it.Name += "/"
	}
	parents = append(parents, fi)
	for _, e := range entries {
		if _, err := b.copy(rel+"/"+e.Name(), parents, it); err != nil {
			return false, err
		}
	}
	return true, nil
}

// copyFile copies the file src into the new file dst, synced.
func (b *backup) copyFile(src, dst, rel string, it *BackupItem) (bool, error) {
	in, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err != nil {
		err = fmt.Errorf("backup: copying %s: %w", src, err)
	} else if err = out.Sync(); err != nil {
		err = fmt.Errorf("backup: %w", err)
	}
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("backup: %w", cerr)
	}
	if err != nil {
		return false, err
	}
	b.sum(h, rel)
	it.Files++
	it.Bytes += n
	return true, nil
}

// sum adds the file at rel, whose content h hashed, to the manifest.
func (b *backup) sum(h hash.Hash, rel string) {
	b.sums = append(b.sums, hex.EncodeToString(h.Sum(nil))+"  "+rel+"\n")
}

// finish syncs the directories, so that every file is there for good,
// then writes the manifest that marks the backup complete.
func (b *backup) finish(wrote func(BackupItem)) error {
	for _, d := range b.dirs {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	manifest := filepath.Join(b.dir, BackupManifest)
	content := strings.Join(b.sums, "")
	f, err := os.OpenFile(manifest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	_, err = f.WriteString(content)
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("backup: %s: %w", manifest, err)
	}
	if err := syncDir(b.dir); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	wrote(BackupItem{Name: BackupManifest, Files: 1, Bytes: int64(len(content)), Note: "written last: the backup is complete"})
	return nil
}

// remove deletes what a failed backup wrote: the directory when it made
// it, else what it put in it, which was empty.
func (b *backup) remove(created bool) {
	if created {
		_ = os.RemoveAll(b.dir) // the backup's error is the one to report
		return
	}
	entries, _ := os.ReadDir(b.dir) // what cannot be listed cannot be removed
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(b.dir, e.Name())) // as above
	}
}

// syncDir makes the entries of the directory dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
