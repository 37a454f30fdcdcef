package sqlite

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
)

// Archive IDs (XEP-0359). An ID must be unique in its archive, stable,
// unpredictable, and tell nothing about the archive (§7): a random UUID
// does all that, but stored in the unique (account, id) index it lands
// at a random place, so every message archived dirties another page of
// that index, and writing those pages was most of the cost of archiving.
//
// So the store does not keep the ID of a message it names itself: its
// stored id is its seq in fixed-width hexadecimal behind a control
// character (nativePrefix; XML cannot carry it, so no ID from a client
// or another server has it), which grows with seq and goes to the end of
// the index; the ID clients see is the seq encrypted under the store's
// key with AES (one block, the seq and eight zero bytes), in base64url.
// Without the key it is 128 bits that look random; with it the store
// finds the row again without an index of its own. IDs given by the
// caller (imports, messages archived before) are stored as they are.

const nativePrefix = "\x01"

type archiveIDs struct{ block cipher.Block }

// loadArchiveKey reads the store's ID key, writing a new one first into a
// store that has none.
func loadArchiveKey(ctx context.Context, w *sql.DB) (archiveIDs, error) {
	var k [16]byte
	_, _ = rand.Read(k[:]) // never fails on supported platforms
	if _, err := w.ExecContext(ctx, "INSERT INTO archive_key (k) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM archive_key)", k[:]); err != nil {
		return archiveIDs{}, fmt.Errorf("sqlite: archive key: %w", err)
	}
	var key []byte
	if err := w.QueryRowContext(ctx, "SELECT k FROM archive_key LIMIT 1").Scan(&key); err != nil {
		return archiveIDs{}, fmt.Errorf("sqlite: archive key: %w", err)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return archiveIDs{}, fmt.Errorf("sqlite: archive key: %w", err)
	}
	return archiveIDs{b}, nil
}

// nativeID is the stored id of a message the store named.
func nativeID(seq int64) string {
	return nativePrefix + fmt.Sprintf("%016x", uint64(seq))
}

// public returns the ID clients see of the message with seq.
func (k archiveIDs) public(seq int64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(seq))
	k.block.Encrypt(b[:], b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// decode returns the seq an ID the store made stands for, or false when
// it is not one (the zero half does not come out by chance: 2^-64).
func (k archiveIDs) decode(id string) (int64, bool) {
	if len(id) != 22 {
		return 0, false
	}
	var b [16]byte
	if n, err := base64.RawURLEncoding.Decode(b[:], []byte(id)); err != nil || n != 16 {
		return 0, false
	}
	k.block.Decrypt(b[:], b[:])
	if binary.BigEndian.Uint64(b[8:]) != 0 {
		return 0, false
	}
	seq := int64(binary.BigEndian.Uint64(b[:8]))
	return seq, seq > 0
}

// shown returns the ID clients see of a row.
func (k archiveIDs) shown(seq int64, stored string) string {
	if strings.HasPrefix(stored, nativePrefix) {
		return k.public(seq)
	}
	return stored
}

// storedIDs returns the stored ids an ID a client gave may be: the
// native id of the seq it stands for, when it is one of the store's,
// then the ID itself (imported as it was given).
func (k archiveIDs) storedIDs(id string) []string {
	if seq, ok := k.decode(id); ok {
		return []string{nativeID(seq), id}
	}
	return []string{id}
}
