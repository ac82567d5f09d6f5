package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	bolt "go.etcd.io/bbolt"
)

// A journal file holds two buckets. headerBucket (as in a quota state
// file) holds formatKey, whose value is journalMagic followed by the
// format version (one byte), and checkpointKey once there is a
// checkpoint. entriesBucket holds one entry per revision after the
// checkpoint, without a gap:
//
//	key:        revision uint64
//	value:      data | CRC-32C of the key and the data (uint32)
//	checkpoint: revision uint64 | state | CRC-32C of the revision and the state (uint32)
//
// All integers are big-endian, so the keys sort by revision.
var (
	entriesBucket = []byte("journal")
	checkpointKey = []byte("checkpoint")
)

const (
	journalMagic   = "planguard registry journal\x00"
	journalVersion = 1
	crcLen         = 4
)

func journalFormatValue() []byte { return append([]byte(journalMagic), journalVersion) }

func entryKey(rev uint64) []byte { return binary.BigEndian.AppendUint64(nil, rev) }

func encodeEntry(k, data []byte) []byte {
	v := append(make([]byte, 0, len(data)+crcLen), data...)
	return binary.BigEndian.AppendUint32(v, crc32.Update(crc32.Checksum(k, castagnoli), castagnoli, data))
}

// errBadEntry is wrapped with ErrCorrupt by the callers.
var errBadEntry = errors.New("a journal entry or its checkpoint fails its checksum, or entries are missing")

// decodeEntry returns a copy of the data of the entry (k, v), which must
// be revision want.
func decodeEntry(k, v []byte, want uint64) ([]byte, error) {
	if len(k) != 8 || binary.BigEndian.Uint64(k) != want || len(v) < crcLen {
		return nil, fmt.Errorf("%w (revision %d)", errBadEntry, want)
	}
	data := v[:len(v)-crcLen]
	if binary.BigEndian.Uint32(v[len(data):]) != crc32.Update(crc32.Checksum(k, castagnoli), castagnoli, data) {
		return nil, fmt.Errorf("%w (revision %d)", errBadEntry, want)
	}
	return bytes.Clone(data), nil
}

func encodeCheckpoint(rev uint64, state []byte) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(state)+crcLen), rev)
	v = append(v, state...)
	return binary.BigEndian.AppendUint32(v, crc32.Checksum(v, castagnoli))
}

// readCheckpoint returns the checkpoint in tx (0 when there is none) and,
// if withState, a copy of its state.
func readCheckpoint(tx *bolt.Tx, withState bool) (uint64, []byte, error) {
	v := tx.Bucket(headerBucket).Get(checkpointKey)
	if v == nil {
		return 0, nil, nil
	}
	n := len(v) - crcLen
	if n < 8 || binary.BigEndian.Uint32(v[n:]) != crc32.Checksum(v[:n], castagnoli) {
		return 0, nil, fmt.Errorf("%w (the checkpoint)", errBadEntry)
	}
	rev := binary.BigEndian.Uint64(v)
	if !withState {
		return rev, nil, nil
	}
	return rev, bytes.Clone(v[8:n]), nil
}

// journalCorrupt returns an ErrCorrupt for the journal at path that says
// what was found and what to do.
func journalCorrupt(path, found string) error {
	return fmt.Errorf("%w: %s: %s. Restore it from a backup; or, to start with an empty registry, "+
		"move it away and start again (a missing journal is created)", ErrCorrupt, path, found)
}

// validateJournal checks that db is a journal of this format, that its
// checkpoint and every entry pass their checksums, that the entries
// follow the checkpoint without a gap, and bbolt's consistency check.
func validateJournal(path string, db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		hb := tx.Bucket(headerBucket)
		if hb == nil {
			return journalCorrupt(path, "it has no planguard header (another program's bbolt file?)")
		}
		switch f := hb.Get(formatKey); {
		case bytes.Equal(f, formatValue()):
			return journalCorrupt(path, "it is a planguard quota state file, not a journal")
		case bytes.Equal(f, journalFormatValue()):
		case len(f) == len(journalMagic)+1 && string(f[:len(journalMagic)]) == journalMagic:
			return fmt.Errorf("boltstore: %s: journal format %d; this build reads format %d (use the planguard version that wrote it)", path, f[len(journalMagic)], journalVersion)
		default:
			return journalCorrupt(path, "its planguard header is damaged")
		}
		if err := hb.ForEach(func(k, _ []byte) error {
			if !bytes.Equal(k, formatKey) && !bytes.Equal(k, checkpointKey) {
				return journalCorrupt(path, fmt.Sprintf("unexpected header key %q", k))
			}
			return nil
		}); err != nil {
			return err
		}
		eb := tx.Bucket(entriesBucket)
		if eb == nil {
			return journalCorrupt(path, "it has no journal bucket")
		}
		if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if !bytes.Equal(name, headerBucket) && !bytes.Equal(name, entriesBucket) {
				return journalCorrupt(path, fmt.Sprintf("unexpected bucket %q", name))
			}
			return nil
		}); err != nil {
			return err
		}
		ck, _, err := readCheckpoint(tx, false)
		if err != nil {
			return journalCorrupt(path, "its checkpoint fails its checksum")
		}
		want := ck + 1
		if err := eb.ForEach(func(k, v []byte) error {
			if _, err := decodeEntry(k, v, want); err != nil {
				return journalCorrupt(path, fmt.Sprintf("revision %d is missing or fails its checksum", want))
			}
			want++
			return nil
		}); err != nil {
			return err
		}
		if problem := pagesFit(tx); problem != "" {
			return journalCorrupt(path, problem)
		}
		var first error
		for err := range tx.Check() { // drain: Check runs until it is done
			if first == nil {
				first = journalCorrupt(path, "bbolt's consistency check failed: "+err.Error())
			}
		}
		return first
	})
}
